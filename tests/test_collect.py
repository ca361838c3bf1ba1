"""``coursekit collect``: Canvas / Moodle / --regex downloads into submitted/, safely."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from coursekit.instructor.intake import collect as collect_mod
from coursekit.instructor.intake.collect import collect, format_plan
from coursekit.instructor.course import Course
from coursekit.instructor.intake.deadlines import parse_time

from .conftest import ROOT, make_course, run_coursekit

A = "01_softmax"


def notebook_bytes(tag: str) -> bytes:
    nb = json.loads((ROOT / "assignments" / A / "softmax.ipynb").read_text())
    nb["metadata"]["collect_test_tag"] = tag
    return json.dumps(nb).encode()


def tag_of(path: Path) -> str:
    return json.loads(path.read_text())["metadata"].get("collect_test_tag")


def add(zf: zipfile.ZipFile, name: str, data: bytes, when=(2026, 3, 1, 10, 0, 0), mode=None):
    info = zipfile.ZipInfo(name, date_time=when)
    if mode is not None:
        info.external_attr = mode << 16
    zf.writestr(info, data)


@pytest.fixture
def course(tmp_path):
    return Course(make_course(tmp_path / "course", [A]))


def canvas_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        add(zf, "adaada_4701_9001_softmax.ipynb", notebook_bytes("ada"))
        # resubmission: Canvas names the second upload softmax-1.ipynb
        add(zf, "benben_late_4702_9002_softmax.ipynb", notebook_bytes("ben-first"), (2026, 3, 2, 9, 0, 0))
        add(zf, "benben_late_4702_9003_softmax-1.ipynb", notebook_bytes("ben-second"), (2026, 3, 2, 11, 0, 0))
        # browser rename, same time: the higher version wins
        add(zf, "cycy_4703_9004_softmax.ipynb", notebook_bytes("cy-0"))
        add(zf, "cycy_4703_9005_softmax (1).ipynb", notebook_bytes("cy-1"))
        add(zf, "dee_4704_9006_notes.txt", b"hello")                         # not a notebook
        add(zf, "eve_4799_9007_softmax.ipynb", notebook_bytes("eve"))         # not on the roster
        add(zf, "mal_4705_9008_softmax.ipynb", b"/etc/passwd", mode=0o120777)  # a symlink member
        add(zf, "../mal_4705_9009_softmax.ipynb", notebook_bytes("escape"))   # path traversal
        add(zf, "__MACOSX/._adaada_4701_9001_softmax.ipynb", b"junk")
    return path


def roster(path: Path) -> Path:
    path.write_text("student_id,lms_id,name\nada,4701,Ada A\nben,4702,Ben B\ncy,4703,Cy C\ndee,4704,Dee D\n"
                    "mal,4705,Mal M\n")
    return path


def test_canvas_zip(course, tmp_path):
    plan = collect(course, A, canvas_zip(tmp_path / "canvas.zip"), roster=str(roster(tmp_path / "r.csv")))
    sub = course.directory("submitted")
    assert sorted(p.name for p in sub.iterdir()) == ["ada", "ben", "cy"]
    assert tag_of(sub / "ada" / A / "softmax.ipynb") == "ada"
    assert tag_of(sub / "ben" / A / "softmax.ipynb") == "ben-second"
    assert tag_of(sub / "cy" / A / "softmax.ipynb") == "cy-1"
    # submission time into nbgrader's timestamp.txt, as nbgrader parses it
    assert parse_time((sub / "ben" / A / "timestamp.txt").read_text()) == parse_time("2026-03-02 11:00:00 UTC")
    assert sorted(os.listdir(sub / "ben" / A)) == ["softmax.ipynb", "timestamp.txt"]
    why = dict(plan.unplaced)
    assert "not a notebook of 01_softmax" in why["dee_4704_9006_notes.txt"]
    assert "4799 is not on the roster" in why["eve_4799_9007_softmax.ipynb"]
    assert "link" in why["mal_4705_9008_softmax.ipynb"]
    assert ".." in why["../mal_4705_9009_softmax.ipynb"]
    assert not (tmp_path / "course" / "submitted" / "mal").exists()
    assert not list(tmp_path.glob("mal_*")) and not list((tmp_path / "course").glob("mal_*"))
    assert {s for s, _ in plan.superseded} == {"benben_late_4702_9002_softmax.ipynb", "cycy_4703_9004_softmax.ipynb"}
    table = format_plan(plan)
    assert "could not be placed" in table and "the LMS marked it late" in table
    assert not any("__MACOSX" in s for s, _ in plan.unplaced)


def test_without_roster_the_lms_id_is_the_student(course, tmp_path):
    collect(course, A, canvas_zip(tmp_path / "canvas.zip"))
    assert (course.directory("submitted") / "4799" / A / "softmax.ipynb").is_file()


def test_dry_run_writes_nothing(course, tmp_path):
    out = run_coursekit(course.root, "collect", A, str(canvas_zip(tmp_path / "c.zip")), "--dry-run",
                        "--roster", str(roster(tmp_path / "r.csv"))).stdout
    assert "would collect 01_softmax: 3 new" in out and "dry run: nothing written" in out
    assert "ada" in out and "could not be placed" in out
    assert not course.directory("submitted").exists()


def test_moodle_folder(course, tmp_path):
    dl = tmp_path / "moodle"
    for folder, tag in (("Ada Lovelace_12345_assignsubmission_file_", "ada"),
                        ("Ben Bit_12346_assignsubmission_file_", "ben")):
        (dl / folder).mkdir(parents=True)
        (dl / folder / "softmax.ipynb").write_bytes(notebook_bytes(tag))
    (dl / "Ada Lovelace_12345_assignsubmission_file_" / "softmax (2).ipynb").write_bytes(notebook_bytes("ada-2"))
    os.symlink("/etc/hostname", dl / "Ben Bit_12346_assignsubmission_file_" / "softmax (1).ipynb")
    plan = collect(course, A, dl, kind="moodle")
    sub = course.directory("submitted")
    assert tag_of(sub / "12345" / A / "softmax.ipynb") == "ada-2"
    assert tag_of(sub / "12346" / A / "softmax.ipynb") == "ben"
    assert any("link" in why for _, why in plan.unplaced)


def test_regex_and_timestamps_file(course, tmp_path):
    dl = tmp_path / "other"
    dl.mkdir()
    (dl / "hw1-alice-softmax.ipynb").write_bytes(notebook_bytes("alice"))
    (dl / "hw1-bob-softmax.ipynb").write_bytes(notebook_bytes("bob"))
    times = tmp_path / "times.csv"
    times.write_text("student_id,timestamp\nalice,2026-03-01 08:00:00 UTC\n")
    collect(course, A, dl, regex=r"hw1-(?P<student>[a-z]+)-(?P<file>.+)", timestamps=str(times))
    sub = course.directory("submitted")
    assert tag_of(sub / "alice" / A / "softmax.ipynb") == "alice"
    assert parse_time((sub / "alice" / A / "timestamp.txt").read_text()) == parse_time("2026-03-01 08:00 UTC")
    with pytest.raises(ValueError, match="named groups"):
        collect(course, A, dl, regex=r"hw1-(?P<who>[a-z]+)-(?P<file>.+)")


def test_tar_archive_refuses_links_and_traversal(course, tmp_path):
    import io
    import tarfile

    path = tmp_path / "moodle.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        def add_file(name, data, mtime=1772366400):     # 2026-03-01 12:00 UTC
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), mtime
            tf.addfile(info, io.BytesIO(data))
        add_file("Ada L_12345_assignsubmission_file_/softmax.ipynb", notebook_bytes("ada"))
        link = tarfile.TarInfo("Ben B_12346_assignsubmission_file_/softmax.ipynb")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
        add_file("../../Cy C_12347_assignsubmission_file_/softmax.ipynb", notebook_bytes("cy"))
    plan = collect(course, A, path)
    sub = course.directory("submitted")
    assert sorted(p.name for p in sub.iterdir()) == ["12345"]
    assert parse_time((sub / "12345" / A / "timestamp.txt").read_text()) == parse_time("2026-03-01 12:00 UTC")
    why = dict(plan.unplaced)
    assert "link" in why["Ben B_12346_assignsubmission_file_/softmax.ipynb"]
    assert ".." in why["../../Cy C_12347_assignsubmission_file_/softmax.ipynb"]


def test_never_overwrites_a_newer_submission(course, tmp_path):
    r = str(roster(tmp_path / "r.csv"))
    newer = tmp_path / "newer.zip"
    with zipfile.ZipFile(newer, "w") as zf:
        add(zf, "adaada_4701_9101_softmax.ipynb", notebook_bytes("ada-new"), (2026, 3, 5, 10, 0, 0))
    older = tmp_path / "older.zip"
    with zipfile.ZipFile(older, "w") as zf:
        add(zf, "adaada_4701_9001_softmax.ipynb", notebook_bytes("ada-old"), (2026, 3, 1, 10, 0, 0))
    collect(course, A, newer, roster=r)
    plan = collect(course, A, older, roster=r)
    path = course.directory("submitted") / "ada" / A / "softmax.ipynb"
    assert tag_of(path) == "ada-new"
    assert plan.placed[0].action == "kept" and plan.unplaced
    assert collect(course, A, newer, roster=r).placed[0].action == "unchanged"
    collect(course, A, older, roster=r, force=True)
    assert tag_of(path) == "ada-old"
    assert collect(course, A, newer, roster=r).placed[0].action == "replaced"
    assert tag_of(path) == "ada-new"


def test_size_caps_before_reading(course, tmp_path, monkeypatch):
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        add(zf, "adaada_4701_9001_softmax.ipynb", notebook_bytes("ada") + b" " * 5000)
    monkeypatch.setattr(collect_mod, "MAX_FILE_BYTES", 1000)
    plan = collect(course, A, big)
    assert "too large" in dict(plan.unplaced)["adaada_4701_9001_softmax.ipynb"]
    monkeypatch.setattr(collect_mod, "MAX_FILE_BYTES", 64 << 20)
    monkeypatch.setattr(collect_mod, "MAX_TOTAL_BYTES", 1000)
    with pytest.raises(ValueError, match="unpacks to"):
        collect(course, A, big)
    assert not course.directory("submitted").exists()


def test_nbgrader_zip_collect_works_with_the_kit_config(course, tmp_path):
    archive = course.root / "downloaded" / A / "archive"
    archive.mkdir(parents=True)
    # Canvas's bulk download holds each student's latest upload (nbgrader refuses duplicates without times)
    with zipfile.ZipFile(archive / "submissions.zip", "w") as zf:
        add(zf, "adaada_4701_9001_softmax.ipynb", notebook_bytes("ada"))
        add(zf, "benben_late_4702_9003_softmax-1.ipynb", notebook_bytes("ben-second"))
        add(zf, "cycy_4703_9005_softmax (1).ipynb", notebook_bytes("cy-1"))
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "zip_collect", A], cwd=course.root, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Regular expression not provided" not in proc.stdout + proc.stderr
    sub = course.directory("submitted")
    assert tag_of(sub / "4701" / A / "softmax.ipynb") == "ada"
    assert tag_of(sub / "4702" / A / "softmax.ipynb") == "ben-second"
    assert tag_of(sub / "4703" / A / "softmax.ipynb") == "cy-1"
