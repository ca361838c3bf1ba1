"""Grading into PostgreSQL (``db_url`` through ``COURSEKIT_DB_URL``), with ``--jobs 2``.

Starts a throw-away PostgreSQL server from Debian's ``postgresql`` package on a
loopback port (installing the package with apt-get when it is missing and we
are root), grades into it, and reads the scores back with plain SQL. Skipped,
saying why, only where no server can be had.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from coursekit.instructor.course import Course
from coursekit.instructor.store.results import read_results
from coursekit.instructor.execute.sandbox import probe_isolation
from coursekit.instructor.intake.submissions import build_submission

from .conftest import make_course, run_coursekit
from .points import release_points

pytestmark = pytest.mark.slow

A = "01_softmax"


def _server_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def _install_server() -> str:
    """Try Debian's package; return why not if it cannot be done."""
    if os.geteuid() != 0:
        return "not root: cannot apt-get install postgresql"
    if not shutil.which("apt-get"):
        return "no apt-get on this machine"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            return f"`{' '.join(cmd)}` failed: {proc.stderr.strip()[-300:]}"
    return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    try:
        import psycopg2
    except ImportError:
        pytest.skip("psycopg2 is not installed (pip install psycopg2-binary): SQLAlchemy needs it for PostgreSQL")
    bindir = _server_bin()
    if bindir is None:
        why = _install_server()
        bindir = _server_bin()
        if bindir is None:
            pytest.skip(f"no PostgreSQL server available: {why or 'initdb not found after installing'}")
    # not under pytest's temporary folder: that is private to root, and the server runs as postgres
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="coursekit-pg-"))
    data, sock = base / "data", base / "sock"
    data.mkdir()
    sock.mkdir()
    run_as: list[str] = []
    if os.geteuid() == 0:                    # the server refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        for p in (base, data, sock):
            os.chown(p, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(run_as + [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                             "--no-sync"], check=True, capture_output=True)
    log = base / "server.log"
    if run_as:
        log.touch()
        os.chown(log, pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid)
    subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                             "-o", f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True)
    try:
        deadline = time.time() + 30
        while True:
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
                break
            except psycopg2.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE coursekit")
        conn.close()
        # SQLAlchemy 2.1 reads plain "postgresql://" as psycopg 3: name the psycopg2 driver
        yield {"url": f"postgresql+psycopg2://postgres@127.0.0.1:{port}/coursekit", "port": port}
    finally:
        subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


ATTACK = '''
import socket
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=3).close()
    print("CONNECTED to the gradebook server")
    import psycopg2
    db = psycopg2.connect(host="127.0.0.1", port=PORT, user="postgres", dbname="coursekit")
    db.cursor().execute("UPDATE grade SET manual_score = 100")
    db.commit()
    print("WROTE the gradebook")
except Exception as err:
    print("no connection:", type(err).__name__, err)
'''


@pytest.mark.skipif(probe_isolation()[0] != "namespaces",
                    reason="the sandbox needs Linux namespaces: " + probe_isolation()[1])
def test_grade_into_postgresql(postgres, tmp_path, monkeypatch):
    import psycopg2

    monkeypatch.setenv("COURSEKIT_DB_URL", postgres["url"])
    root = make_course(tmp_path / "course", [A])
    course = Course(root)
    assert course.db_url == postgres["url"]
    build_submission(course, A, "full", solve="all")
    build_submission(course, A, "none", solve=None)
    half = ["softmax", "log_softmax", "predict"]
    build_submission(course, A, "half", solve=half)
    build_submission(course, A, "attacker", solve=None,
                     replace={"predict": ATTACK.replace("PORT", str(postgres["port"]))})
    out = run_coursekit(root, "grade", A, "--jobs", "2").stdout
    assert "graded 4 submission(s)" in out, out
    assert not (root / "gradebook.db").exists()
    # read back with SQL, not through coursekit
    db = psycopg2.connect(host="127.0.0.1", port=postgres["port"], user="postgres", dbname="coursekit")
    cur = db.cursor()
    cur.execute("""SELECT st.id, SUM(COALESCE(g.manual_score, g.auto_score)), COUNT(*),
                          SUM(CASE WHEN g.auto_score IS NULL THEN 1 ELSE 0 END),
                          SUM(CASE WHEN g.manual_score IS NOT NULL THEN 1 ELSE 0 END)
                   FROM grade g JOIN submitted_notebook sn ON g.notebook_id = sn.id
                   JOIN submitted_assignment sa ON sn.assignment_id = sa.id
                   JOIN student st ON sa.student_id = st.id GROUP BY st.id""")
    rows = {r[0]: r[1:] for r in cur.fetchall()}
    db.close()
    pts = release_points(A, "softmax")
    full, partial = pts.autograded, pts.of_units(half)
    assert 0 < partial < full
    assert rows["full"][0] == full and rows["none"][0] == 0 and rows["half"][0] == partial
    cells = len(pts.tests) + len(pts.written)
    assert all(r[1] == cells and r[3] == 0 for r in rows.values()), rows
    # no auto score only where a person must grade: the written answers "full" wrote (unanswered ones score 0)
    assert {s: r[2] for s, r in rows.items()} == {"full": len(pts.written), "none": 0, "half": 0, "attacker": 0}, rows
    assert rows["attacker"][0] == 0
    # coursekit reads the same
    assert {r.student: r.score for r in read_results(course, A)} == {"full": full, "none": 0, "half": partial,
                                                                      "attacker": 0}
    # the sandbox has no network: the attacker never reached the server
    import nbformat

    nb = nbformat.read(root / "autograded" / "attacker" / A / "softmax.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "no connection" in text and "CONNECTED" not in text
