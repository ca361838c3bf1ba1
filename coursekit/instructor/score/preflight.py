"""Preflight: before grading a class, grade the reference and the blank release the same way.

``coursekit grade`` first grades two submissions it makes itself, in the same
sandbox, with the same limits and workers as the students':

- the **reference**: ``solutions/<id>/`` as it is. It must score full marks;
  if not, the reference or the grader is wrong (a bug in ``solutions/``, a
  kernel that cannot start, a sandbox that cannot import coursekit) and every
  student's grade would be wrong with it;
- the **blank release**: ``assignments/<id>/`` as students get it. It must
  score 0; if not, a test passes without any work.

Either fails: nothing is graded, the command exits non-zero and says why
(the failing tests' messages, the sandbox's own error output).

A preflight that passed is remembered in ``autograded/.preflight/<id>.json``
under a fingerprint of everything it depends on: the files of
``solutions/<id>`` and ``assignments/<id>``, coursekit's code and version, the
tests recorded in the gradebook, the limits and the isolation level. The next
run with the same fingerprint does not pay for it again.

``$COURSEKIT_PREFLIGHT_CACHE`` names a folder (the instructor's own) where passing
preflights are also remembered by fingerprint alone, so several copies of one
course (a test suite's scratch courses, a staging copy) pay for it once.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from coursekit.instructor.course import Course

__all__ = ["PreflightFailed", "Preflight", "preflight_key", "cached", "prepare", "check", "remember"]

REFERENCE, BLANK = "(reference)", "(blank release)"
_IGNORED = (".ipynb_checkpoints", "__pycache__")


class PreflightFailed(RuntimeError):
    """The reference did not score full marks, or the blank release scored points."""


@dataclass
class Preflight:
    key: str
    folder: Path                 # autograded/.preflight/<assignment>
    record: Path                 # autograded/.preflight/<assignment>.json


def _hash_tree(h, base: Path) -> None:
    if not base.is_dir():
        h.update(b"<missing>")
        return
    for root, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if d not in _IGNORED)
        for name in sorted(files):
            p = Path(root) / name
            h.update(p.relative_to(base).as_posix().encode() + b"\0")
            if p.is_symlink():
                h.update(b"link:" + os.readlink(p).encode())
            else:
                h.update(hashlib.sha256(p.read_bytes()).digest())


def preflight_key(course: Course, assignment: str, specs_digest: str, limits, isolation: str) -> str:
    """Fingerprint of what a preflight result depends on."""
    import coursekit

    h = hashlib.sha256()
    h.update(json.dumps({"assignment": assignment, "coursekit": coursekit.__version__,
                         "limits": limits.to_dict(), "isolation": isolation}, sort_keys=True).encode())
    h.update(specs_digest.encode())
    _hash_tree(h, course.solutions / assignment)
    _hash_tree(h, course.release / assignment)
    _hash_tree(h, Path(coursekit.__file__).resolve().parent)     # the grader's own code (editable installs)
    return h.hexdigest()


def _paths(course: Course, assignment: str) -> tuple[Path, Path]:
    base = course.directory("autograded") / ".preflight"
    return base / assignment, base / f"{assignment}.json"


CACHE_VARIABLE = "COURSEKIT_PREFLIGHT_CACHE"


def _shared_record(key: str) -> Path | None:
    folder = os.environ.get(CACHE_VARIABLE, "").strip()
    return Path(folder) / f"{key}.json" if folder else None


def cached(course: Course, assignment: str, key: str) -> dict | None:
    """The remembered passing preflight with this fingerprint, or None."""
    _, record = _paths(course, assignment)
    for path in (record, _shared_record(key)):
        if path is None:
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("key") == key and data.get("ok"):
            return data
    return None


def prepare(course: Course, assignment: str, key: str) -> tuple[Preflight, dict[str, Path]]:
    """Copies of the reference and the blank release to grade as two submissions."""
    folder, record = _paths(course, assignment)
    if folder.exists():
        shutil.rmtree(folder)
    subs = {}
    for who, src in ((REFERENCE, course.solutions / assignment), (BLANK, course.release / assignment)):
        dst = folder / ("reference" if who == REFERENCE else "blank")
        if not src.is_dir():
            raise PreflightFailed(f"preflight: {src} is missing")
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*_IGNORED), symlinks=True)
        subs[who] = dst
    return Preflight(key, folder, record), subs


def _total(result: dict) -> tuple[float, float]:
    """Autograded points ``(scored, possible)``; written answers wait for a person and do not count."""
    grades = [g for nb in result.get("notebooks", {}).values() for g in nb.get("grades", {}).values()
              if not g.get("manual")]
    return sum(float(g.get("score") or 0.0) for g in grades), sum(float(g.get("max") or 0.0) for g in grades)


def _failing(result: dict, passed: bool) -> list[str]:
    """Tests that did (passed=True) or did not (False) pass, with their messages."""
    out = []
    for name, nb in sorted(result.get("notebooks", {}).items()):
        for gid, g in sorted(nb.get("grades", {}).items()):
            if not g.get("manual") and bool(g.get("passed")) == passed:
                msg = str(g.get("message") or "").strip().replace("\n", " ")
                out.append(f"{name}.ipynb {gid}" + (f": {msg[:400]}" if msg else ""))
    return out


def check(results: dict[str, dict]) -> tuple[bool, str]:
    """``(ok, summary)`` from the two results; the summary says why when not ok."""
    from coursekit.instructor.execute.sandbox import printable

    lines, ok = [], True
    for who in (REFERENCE, BLANK):
        r = results.get(who) or {"status": "error", "error": "no result"}
        if r.get("status") != "graded":
            ok = False
            detail = printable(str(r.get("error", "unknown error")))
            tb = printable(str(r.get("traceback", "") or ""))
            if detail.startswith("SandboxError"):      # its message already says what the sandbox said
                tb = ""
            lines.append(f"{who} could not be graded: the grader itself failed: {detail}"
                         + (f"\n{tb[-1500:]}" if tb else ""))
            continue
        got, total = _total(r)
        notes = [printable(str(n)) for n in list(r.get("events", [])) + list(r.get("problems", []))]
        if who == REFERENCE and (total <= 0 or got < total):
            ok = False
            bad = _failing(r, passed=False)
            lines.append(f"the reference (solutions/) scored {got:g}/{total:g}, not full marks; failing:\n  "
                         + "\n  ".join(bad[:20]) + ("\n  grader notes: " + " | ".join(notes[:5]) if notes else ""))
        elif who == BLANK and got > 0:
            ok = False
            good = _failing(r, passed=True)
            lines.append(f"the blank release (assignments/) scored {got:g}/{total:g}, not 0; passing without "
                         "any work:\n  " + "\n  ".join(good[:20]))
        else:
            lines.append(f"{'reference' if who == REFERENCE else 'blank release'} {got:g}/{total:g}")
    return ok, "\n".join(lines)


def remember(pre: Preflight, summary: str, seconds: float, isolation: str) -> None:
    pre.record.parent.mkdir(parents=True, exist_ok=True)
    tmp = pre.record.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"key": pre.key, "ok": True, "summary": summary, "seconds": round(seconds, 3),
                               "isolation": isolation, "at": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1))
    os.replace(tmp, pre.record)
    shared = _shared_record(pre.key)
    if shared is not None:
        shared.parent.mkdir(parents=True, exist_ok=True)
        tmp = shared.with_suffix(f".tmp-{os.getpid()}")
        shutil.copyfile(pre.record, tmp)
        os.replace(tmp, shared)
    shutil.rmtree(pre.folder, ignore_errors=True)
