"""``coursekit collect ASSIGNMENT ARCHIVE_OR_FOLDER``: an LMS download into ``submitted/``.

Reads a Canvas or Moodle bulk download (a zip or tar archive, or the folder it
was unpacked into) and places each student's notebooks in
``submitted/<student>/<assignment>/`` with nbgrader's ``timestamp.txt``, ready
for ``coursekit grade``.

Names it recognises (``--lms auto`` tries both on every file):

- Canvas: ``name_[late_]userid_submissionid_file`` (``smithjane_late_4711_99001_softmax.ipynb``);
  a resubmitted file gets ``-1``, ``-2`` before its extension (``softmax-1.ipynb``);
- Moodle: ``Full Name_12345_assignsubmission_file_/softmax.ipynb`` (a folder per
  student; also the flat ``..._assignsubmission_file_softmax.ipynb``);
- anything else with ``--regex``: a Python regular expression with named groups
  ``student`` (an nbgrader id) or ``lms_id`` (looked up in the roster), and
  ``file``; optionally ``timestamp``. It must match the whole path inside the
  archive (or, failing that, the file's name).

Browser renames (``softmax (1).ipynb``) and resubmissions are versions of the
same notebook; the latest is kept (latest submission time, then highest
version number). A roster (``--roster``, CSV with ``student_id`` and
``lms_id`` columns) maps LMS ids to student ids; without one, the LMS id is the
student id. Submission times come from ``--timestamps`` (CSV: ``lms_id`` or
``student_id``, and ``timestamp``), a ``timestamp`` regex group, or the
archive's (or folder's) file times, taken as UTC, in that order.

Safety: nothing is extracted as the archive says. Member names are checked
(no absolute paths, no ``..``, no drive letters); links, devices and other
special members are refused; sizes are capped per file and in total **before**
reading, and each read is capped again (archives can lie about sizes). Files
are written only under names built from validated student ids and the
release's own notebook names. An existing submission is replaced only by a
strictly newer one (or with ``--force``), as a whole, atomically.
"""
from __future__ import annotations

import csv
import io
import os
import re
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from urllib.parse import unquote_plus

from coursekit.instructor.store.atomic import replace_folder
from coursekit.instructor.course import Course, MissingInput
from coursekit.instructor.intake.deadlines import format_time, parse_time

__all__ = ["collect", "Plan", "Placement", "format_plan", "CANVAS", "MOODLE", "MAX_FILE_BYTES",
           "MAX_TOTAL_BYTES", "MAX_MEMBERS", "valid_student_id"]

CANVAS = re.compile(r"^(?:.*/)?(?P<name>[^/_]+)_(?:(?P<late>late|LATE)_)?(?P<lms_id>\d+)_(?P<submission_id>\d+)_"
                    r"(?P<file>[^/]+)$")
MOODLE = re.compile(r"^(?:.*/)?(?P<name>[^/]+?)_(?P<lms_id>\d+)_assignsubmission_file_/?(?:[^/]+/)*(?P<file>[^/]+)$")
MAX_FILE_BYTES = 64 << 20          # as the grader's intake: a bigger notebook is not graded anyway
MAX_TOTAL_BYTES = 8 << 30
MAX_MEMBERS = 100_000
_JUNK = ("__MACOSX/", ".DS_Store", "Thumbs.db", ".ipynb_checkpoints/")
_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_BROWSER = re.compile(r"^(?P<stem>.*?) ?\((?P<n>\d+)\)$")
_RESUBMIT = re.compile(r"^(?P<stem>.*?)-(?P<n>\d+)$")


def valid_student_id(sid: str) -> bool:
    """Usable as a folder name and an nbgrader id (no ``/``, no ``+``, no leading dot)."""
    return bool(_STUDENT_ID.match(sid)) and ".." not in sid


@dataclass
class _Member:
    path: str                 # posix path inside the archive / folder
    size: int
    mtime: datetime | None    # naive, taken as UTC
    reader: object            # () -> bytes (capped)


@dataclass
class _Candidate:
    member: _Member
    student: str
    lms_id: str
    notebook: str             # release notebook file name
    version: tuple
    timestamp: datetime | None
    late_flag: bool


@dataclass
class Placement:
    """One student's submission as collected (or as it would be, in a dry run)."""

    student: str
    lms_id: str
    files: dict[str, str]                 # notebook -> origin path
    timestamp: datetime | None
    action: str                           # new, replaced, unchanged, kept (existing is newer), forced
    note: str = ""


@dataclass
class Plan:
    assignment: str
    placed: list[Placement] = field(default_factory=list)
    unplaced: list[tuple[str, str]] = field(default_factory=list)      # (origin, why)
    superseded: list[tuple[str, str]] = field(default_factory=list)    # (origin, kept instead)


# -- reading the source safely --------------------------------------------------------------------
def _utc(seconds: float) -> datetime:
    """A file time as naive UTC."""
    return datetime.fromtimestamp(seconds, timezone.utc).replace(tzinfo=None)


def _check_name(name: str) -> str | None:
    """Why this member name is refused, or None."""
    if "\x00" in name or "\\" in name:
        return "unsafe name (NUL or backslash)"
    p = PurePosixPath(name)
    if p.is_absolute() or re.match(r"^[A-Za-z]:", name):
        return "unsafe name (absolute path)"
    if any(part == ".." for part in p.parts):
        return "unsafe name (.. in the path)"
    return None


def _capped(read_stream, limit: int) -> bytes:
    data = read_stream(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit} bytes")
    return data


def _members_zip(path: Path, refused: list) -> list[_Member]:
    zf = zipfile.ZipFile(path)
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ValueError(f"{path.name}: {len(infos)} members, more than the {MAX_MEMBERS} allowed")
    declared = sum(i.file_size for i in infos)
    if declared > MAX_TOTAL_BYTES:
        raise ValueError(f"{path.name}: unpacks to {declared} bytes, more than {MAX_TOTAL_BYTES}")
    out = []
    for info in infos:
        if info.is_dir():
            continue
        mode = info.external_attr >> 16
        why = _check_name(info.filename)
        if why is None and mode and not (stat.S_ISREG(mode) or mode & 0o170000 == 0):
            why = "not a regular file (link or special file): refused"
        if why is None and info.file_size > MAX_FILE_BYTES:
            why = f"too large ({info.file_size} bytes > {MAX_FILE_BYTES})"
        if why:
            refused.append((info.filename, why))
            continue

        def reader(info=info):
            with zf.open(info) as fh:
                return _capped(fh.read, MAX_FILE_BYTES)
        try:
            mtime = datetime(*info.date_time)
        except ValueError:
            mtime = None
        out.append(_Member(info.filename, info.file_size, mtime, reader))
    return out


def _members_tar(path: Path, refused: list) -> list[_Member]:
    tf = tarfile.open(path)
    members = []
    total = 0
    for i, m in enumerate(tf):
        if i >= MAX_MEMBERS:
            raise ValueError(f"{path.name}: more than {MAX_MEMBERS} members")
        if m.isdir():
            continue
        why = _check_name(m.name)
        if why is None and not m.isreg():
            why = "not a regular file (link or special file): refused"
        if why is None and m.size > MAX_FILE_BYTES:
            why = f"too large ({m.size} bytes > {MAX_FILE_BYTES})"
        if why:
            refused.append((m.name, why))
            continue
        total += m.size
        if total > MAX_TOTAL_BYTES:
            raise ValueError(f"{path.name}: unpacks to more than {MAX_TOTAL_BYTES} bytes")

        def reader(m=m):
            fh = tf.extractfile(m)
            return _capped(fh.read, MAX_FILE_BYTES)
        members.append(_Member(m.name, m.size, _utc(m.mtime), reader))
    return members


def _members_folder(root: Path, refused: list) -> list[_Member]:
    out = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                refused.append((os.path.relpath(os.path.join(dirpath, d), root), "symbolic link: refused"))
                dirnames.remove(d)
        for f in filenames:
            full = os.path.join(dirpath, f)
            rel = Path(os.path.relpath(full, root)).as_posix()
            st = os.lstat(full)
            if not stat.S_ISREG(st.st_mode):
                refused.append((rel, "not a regular file (link or special file): refused"))
                continue
            if st.st_size > MAX_FILE_BYTES:
                refused.append((rel, f"too large ({st.st_size} bytes > {MAX_FILE_BYTES})"))
                continue
            total += st.st_size
            if total > MAX_TOTAL_BYTES or len(out) >= MAX_MEMBERS:
                raise ValueError(f"{root}: more than {MAX_TOTAL_BYTES} bytes or {MAX_MEMBERS} files")

            def reader(full=full):
                fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                with os.fdopen(fd, "rb") as fh:
                    return _capped(fh.read, MAX_FILE_BYTES)
            out.append(_Member(rel, st.st_size, _utc(st.st_mtime), reader))
    return out


def _members(source: Path, refused: list) -> list[_Member]:
    if source.is_dir():
        return _members_folder(source, refused)
    if zipfile.is_zipfile(source):
        return _members_zip(source, refused)
    if tarfile.is_tarfile(source):
        return _members_tar(source, refused)
    raise ValueError(f"{source}: not a folder, a zip or a tar archive")


# -- names -----------------------------------------------------------------------------------------
def _notebook_and_version(filename: str, notebooks: list[str]) -> tuple[str | None, tuple]:
    """The release notebook a file is a version of (``softmax (1).ipynb`` -> softmax.ipynb, (0, 1))."""
    name = unquote_plus(filename) if ("%" in filename or "+" in filename) else filename
    stem, ext = os.path.splitext(name)
    if ext.lower() != ".ipynb":
        return None, ()
    lower = {os.path.splitext(n)[0].lower(): n for n in notebooks}
    browser = resubmit = 0
    s = stem.strip()
    for _ in range(3):
        if s.lower() in lower:
            return lower[s.lower()], (resubmit, browser)
        m = _BROWSER.match(s)
        if m and not browser:
            s, browser = m["stem"].strip(), int(m["n"])
            continue
        m = _RESUBMIT.match(s)
        if m and not resubmit:
            s, resubmit = m["stem"], int(m["n"])
            continue
        break
    return (lower[s.lower()], (resubmit, browser)) if s.lower() in lower else (None, ())


def _read_times(path: str | None) -> dict[str, datetime]:
    if not path:
        return {}
    out = {}
    for row in csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8-sig"))):
        row = {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k}
        key = row.get("lms_id") or row.get("student_id")
        if key and row.get("timestamp"):
            out[key] = parse_time(row["timestamp"])
    return out


def _match(path: str, kind: str, regex: re.Pattern | None) -> dict | None:
    if regex is not None:
        m = regex.fullmatch(path) or regex.fullmatch(PurePosixPath(path).name)
        return m.groupdict() if m else None
    for k, pattern in (("moodle", MOODLE), ("canvas", CANVAS)):
        if kind in ("auto", k):
            m = pattern.match(path)
            if m:
                return m.groupdict()
    return None


# -- the plan and its execution --------------------------------------------------------------------
def collect(course: Course, assignment: str, source: Path, *, kind: str = "auto", regex: str | None = None,
            roster: str | None = None, dry_run: bool = False, force: bool = False,
            timestamps: str | None = None) -> Plan:
    """Place the submissions found in ``source``; return what was (or would be) done."""
    from coursekit.instructor.report.lms_export import read_roster

    release = course.release / assignment
    notebooks = sorted(p.name for p in release.glob("*.ipynb"))
    if not notebooks:
        raise MissingInput(f"no release notebooks in {release}: unknown assignment {assignment!r}?")
    pattern = re.compile(regex) if regex else None
    if pattern is not None and not ({"file"} <= set(pattern.groupindex)
                                    and ({"student", "lms_id"} & set(pattern.groupindex))):
        raise ValueError("--regex needs named groups 'file' and 'student' (or 'lms_id')")
    rows = read_roster(roster)
    by_lms = {r["lms_id"]: r["student_id"] for r in rows if r.get("lms_id")}
    times = _read_times(timestamps)
    plan = Plan(assignment)
    members = _members(Path(source), plan.unplaced)
    chosen: dict[tuple[str, str], _Candidate] = {}
    for m in members:
        if any(j in m.path for j in _JUNK):
            continue
        g = _match(m.path, kind, pattern)
        if g is None:
            plan.unplaced.append((m.path, "name not recognised (Canvas, Moodle" + (", --regex" if pattern else "")
                                  + ")"))
            continue
        lms_id = (g.get("lms_id") or "").strip()
        student = (g.get("student") or "").strip()
        if not student:
            if rows:
                student = by_lms.get(lms_id, "")
                if not student:
                    plan.unplaced.append((m.path, f"LMS id {lms_id} is not on the roster"))
                    continue
            else:
                student = lms_id
        if not valid_student_id(student):
            plan.unplaced.append((m.path, f"unusable student id {student[:40]!r}"))
            continue
        notebook, version = _notebook_and_version(PurePosixPath(g["file"]).name, notebooks)
        if notebook is None:
            plan.unplaced.append((m.path, f"not a notebook of {assignment} (expected {', '.join(notebooks)})"))
            continue
        ts = times.get(lms_id) or times.get(student)
        if ts is None and g.get("timestamp"):
            try:
                ts = parse_time(g["timestamp"])
            except (ValueError, OverflowError):
                ts = None
        if ts is None:
            ts = m.mtime
        cand = _Candidate(m, student, lms_id, notebook, version, ts, bool(g.get("late")))
        key = (student, notebook)
        old = chosen.get(key)
        if old is None:
            chosen[key] = cand
            continue
        rank = lambda c: (c.timestamp or datetime.min, c.version)  # noqa: E731
        newer, older = (cand, old) if rank(cand) > rank(old) else (old, cand)
        chosen[key] = newer
        plan.superseded.append((older.member.path, f"older version; kept {newer.member.path}"))

    by_student: dict[str, list[_Candidate]] = {}
    for (student, _), cand in sorted(chosen.items()):
        by_student.setdefault(student, []).append(cand)
    submitted = course.directory("submitted")
    for student, cands in sorted(by_student.items()):
        stamps = [c.timestamp for c in cands if c.timestamp]
        ts = max(stamps) if stamps else None
        files = {c.notebook: c.member.path for c in cands}
        dest = submitted / student / assignment
        existing_ts = None
        if dest.exists():
            try:
                existing_ts = parse_time((dest / "timestamp.txt").read_text()[:200])
            except (OSError, ValueError, OverflowError):
                existing_ts = None
        note = "the LMS marked it late" if any(c.late_flag for c in cands) else ""
        try:
            data = {c.notebook: c.member.reader() for c in cands}
        except (OSError, ValueError, zipfile.BadZipFile, tarfile.TarError) as err:
            for c in cands:
                plan.unplaced.append((c.member.path, f"could not be read: {err}"))
            continue
        if not dest.exists():
            action = "new"
        elif force:
            action = "forced"
        elif ts is not None and existing_ts is not None and ts > existing_ts:
            action = "replaced"
        elif ts is not None and existing_ts is not None and ts == existing_ts and all(
                (dest / nb).is_file() and (dest / nb).read_bytes() == blob for nb, blob in data.items()):
            action = "unchanged"
        else:
            action = "kept"
            why = ("a submission as recent or more recent is already there"
                   if existing_ts is not None and ts is not None else
                   "a submission is already there and the times cannot be compared")
            note = f"{why} ({format_time(existing_ts)[:19] if existing_ts else 'no timestamp'}); --force replaces it"
            for c in cands:
                plan.unplaced.append((c.member.path, f"not placed: {why} (submitted/{student}/{assignment})"))
        plan.placed.append(Placement(student, cands[0].lms_id, files, ts, action, note))
        if dry_run or action in ("kept", "unchanged"):
            continue
        _write_submission(dest, data, ts)
    return plan


def _write_submission(dest: Path, data: dict[str, bytes], ts: datetime | None) -> None:
    """Replace ``dest`` as a whole: written aside, then renamed into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.collect-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    for name, blob in data.items():
        (tmp / name).write_bytes(blob)
    if ts is not None:
        (tmp / "timestamp.txt").write_text(format_time(ts))
    replace_folder(tmp, dest)


def format_plan(plan: Plan, dry_run: bool = False) -> str:
    """The tables ``coursekit collect`` prints: placed submissions, then files it could not place."""
    lines = []
    verb = "would collect" if dry_run else "collected"
    counts: dict[str, int] = {}
    for p in plan.placed:
        counts[p.action] = counts.get(p.action, 0) + 1
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "nothing"
    lines.append(f"{verb} {plan.assignment}: {summary}" + (" (dry run: nothing written)" if dry_run else ""))
    if plan.placed:
        w = max(7, *(len(p.student) for p in plan.placed))
        lines.append(f"  {'student':<{w}}  {'lms id':<8}  {'submitted (UTC)':<19}  {'action':<9}  files")
        for p in plan.placed:
            when = format_time(p.timestamp)[:19] if p.timestamp else "unknown"
            files = ", ".join(f"{nb} <- {src}" for nb, src in sorted(p.files.items()))
            lines.append(f"  {p.student:<{w}}  {p.lms_id:<8}  {when:<19}  {p.action:<9}  {files}"
                         + (f"  [{p.note}]" if p.note else ""))
    if plan.superseded:
        lines.append(f"{len(plan.superseded)} older version(s) not used:")
        lines += [f"  {src}: {why}" for src, why in plan.superseded]
    if plan.unplaced:
        lines.append(f"{len(plan.unplaced)} file(s) could not be placed:")
        w = min(70, max(len(s) for s, _ in plan.unplaced))
        lines += [f"  {src:<{w}}  {why}" for src, why in plan.unplaced]
    return "\n".join(lines)
