"""The JupyterHub road, for real: a hub on loopback, three students and an instructor, nbgrader's exchange.

Students fetch 01_softmax, edit it through their own server (solved / blank /
half done), submit; the instructor releases and collects through formgrader,
grades with ``coursekit grade`` (sandboxed, in parallel) right after collect,
generates and releases feedback; each student fetches their own feedback.
Everything goes through the hub's REST API and each user's server, with the
configuration of /work/shared/notes/jupyterhub-exchange.md.
"""
from __future__ import annotations

import glob
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from coursekit.instructor.course import Course
from coursekit.instructor.intake.submissions import solved_sources

from .conftest import make_course, run_coursekit
from .points import release_points
from .servers import Process, chp_path, free_port, jupyter_env, wait_for

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(chp_path() is None, reason=(
                  "configurable-http-proxy (npm) is not installed: run `npm install --prefix .ci/node "
                  "configurable-http-proxy` (.ci/run does) or put it on PATH"))]

A = "01_softmax"
COURSE_ID = "coursekit"
STUDENTS = {"student1": "all", "student2": None, "student3": ["softmax", "log_softmax", "softmax_loss"]}
PTS = release_points(A, "softmax")
# autograded points only: nobody grades the written answers here (they count in the maximum, PTS.possible)
EXPECTED = {"student1": PTS.autograded, "student2": 0.0, "student3": PTS.of_units(STUDENTS["student3"])}
USERS = ["instructor", *STUDENTS]


def hub_config(tmp: Path, ports: dict, token: str, password: str) -> Path:
    cfg = tmp / "jupyterhub_config.py"
    env = jupyter_env()
    cfg.write_text(f"""
c = get_config()  # noqa
c.JupyterHub.bind_url = "http://127.0.0.1:{ports['hub']}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {ports['hub_api']}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{ports['proxy_api']}"
c.ConfigurableHTTPProxy.command = [{chp_path()!r}]
c.Spawner.ip = "127.0.0.1"
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allowed_users = {set(USERS)!r}
c.Authenticator.admin_users = {{"instructor"}}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(tmp / 'homes' / '{username}')!r}
c.Spawner.cmd = [{sys.executable!r}, "-m", "jupyterhub.singleuser"]
c.Spawner.args = ["--allow-root"]
c.Spawner.environment = {env!r}
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
c.JupyterHub.db_url = "sqlite:///{tmp / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = "{tmp / 'cookie_secret'}"
c.JupyterHub.services = [{{"name": "drv", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{"name": "drv", "services": ["drv"], "scopes": ["admin:users",
    "admin:servers", "access:servers", "read:users", "tokens"]}}]
""")
    return cfg


def user_config(home: Path, user: str, exchange: Path) -> None:
    (home / ".jupyter").mkdir(parents=True, exist_ok=True)
    lines = ["c = get_config()  # noqa", f"c.CourseDirectory.course_id = {COURSE_ID!r}",
             f"c.Exchange.root = {str(exchange)!r}"]
    if user == "instructor":
        lines += [f"c.CourseDirectory.root = {str(home / COURSE_ID)!r}", "c.ExchangeCollect.check_owner = False"]
    else:
        lines += [f"c.CourseDirectory.student_id = {user!r}"]
    (home / ".jupyter" / "nbgrader_config.py").write_text("\n".join(lines) + "\n")


class Hub:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.ports = {"hub": free_port(), "hub_api": free_port(), "proxy_api": free_port()}
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.ports['hub']}"
        self.user_tokens: dict[str, str] = {}
        cfg = hub_config(tmp, self.ports, self.token, secrets.token_hex(20))
        env = dict(os.environ, **jupyter_env())
        self.process = Process([sys.executable, "-m", "jupyterhub", "-f", str(cfg)], tmp, env, tmp / "hub.log")

    def api(self, method: str, path: str, **kw):
        r = requests.request(method, f"{self.url}/hub/api{path}", timeout=kw.pop("timeout", 60),
                             headers={"Authorization": f"token {self.token}"}, **kw)
        return r

    def start_server(self, user: str) -> None:
        self.api("POST", f"/users/{user}", timeout=30)            # (already allowed; 409 if it exists)
        self.api("POST", f"/users/{user}/server", timeout=60)     # 201 up, 202 pending
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            info = self.api("GET", f"/users/{user}").json()
            if info.get("server") and not info.get("pending"):
                break
            time.sleep(0.5)
        else:
            raise TimeoutError(f"{user}'s server did not start:\n{self.process.tail()}")
        r = self.api("POST", f"/users/{user}/tokens", json={"note": "test", "expires_in": 3600})
        r.raise_for_status()
        self.user_tokens[user] = r.json()["token"]

    def user(self, user: str, method: str, path: str, **kw):
        """A request to ``user``'s own server through the hub's proxy, with that user's token."""
        r = requests.request(method, f"{self.url}/user/{user}{path}", timeout=kw.pop("timeout", 300),
                             headers={"Authorization": f"token {self.user_tokens[user]}"}, **kw)
        assert r.status_code < 400, f"{method} {path} as {user}: {r.status_code} {r.text[:500]}"
        return r


def ok(reply) -> dict:
    body = reply.json()
    assert body.get("success", True), json.dumps(body)[:3000]
    return body


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hub")
    exchange = tmp / "exchange"
    exchange.mkdir()
    os.chmod(exchange, 0o777)
    for user in USERS:
        user_config(tmp / "homes" / user, user, exchange)
    make_course(tmp / "homes" / "instructor" / COURSE_ID, [A])
    hub = Hub(tmp)
    try:
        wait_for(f"{hub.url}/hub/api/", timeout=120)
        errors = []

        def start(u):
            try:
                hub.start_server(u)
            except Exception as err:  # noqa: BLE001 - reported below
                errors.append(f"{u}: {err}")
        threads = [threading.Thread(target=start, args=(u,)) for u in USERS]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        yield hub
    finally:
        # nothing is read after the loop: kill the hub, the proxy, the user servers and
        # their kernels at once instead of waiting for each graceful shutdown
        hub.process.stop(graceful=False)


def test_the_whole_loop(hub):
    tmp = hub.tmp
    course_root = tmp / "homes" / "instructor" / COURSE_ID
    course = Course(course_root)
    fg = "/formgrader/api"
    # instructor: generate and release
    ok(hub.user("instructor", "POST", f"{fg}/assignment/{A}/assign"))
    ok(hub.user("instructor", "POST", f"{fg}/assignment/{A}/release"))
    # students: fetch, work in their own server, submit
    solved = solved_sources(course, A, "softmax.ipynb")
    for student, units in STUDENTS.items():
        form = {"course_id": COURSE_ID, "assignment_id": A}
        ok(hub.user(student, "POST", "/assignments/fetch", data=form))
        path = f"/api/contents/{A}/softmax.ipynb"
        nb = hub.user(student, "GET", path).json()["content"]
        wanted = set(solved) if units == "all" else set(units or ())
        for cell in nb["cells"]:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid in wanted:
                cell["source"] = solved[gid]
        hub.user(student, "PUT", path, json={"type": "notebook", "format": "json", "content": nb})
        ok(hub.user(student, "POST", "/assignments/submit", data=form))
    # instructor: collect, then grade with coursekit (sandboxed, 2 jobs) straight after
    ok(hub.user("instructor", "POST", f"{fg}/assignment/{A}/collect"))
    assert sorted(p.name for p in (course_root / "submitted").iterdir()) == sorted(STUDENTS)
    for s in STUDENTS:
        assert (course_root / "submitted" / s / A / "timestamp.txt").is_file()
    out = run_coursekit(course_root, "grade", A, "--jobs", "2").stdout
    assert "graded 3 submission(s)" in out, out
    # formgrader sees coursekit's grades
    subs = {s["student"]: s for s in hub.user("instructor", "GET", f"{fg}/submissions/{A}").json()}
    assert {s: subs[s]["score"] for s in STUDENTS} == EXPECTED, subs
    assert {subs[s]["max_score"] for s in STUDENTS} == {PTS.possible}, subs
    # nbgrader feedback, released through the exchange
    ok(hub.user("instructor", "POST", f"{fg}/assignment/{A}/generate_feedback", timeout=600))
    ok(hub.user("instructor", "POST", f"{fg}/assignment/{A}/release_feedback"))
    for student, expected in EXPECTED.items():
        ok(hub.user(student, "POST", "/assignments/fetch_feedback",
                    data={"course_id": COURSE_ID, "assignment_id": A}))
        pages = glob.glob(str(tmp / "homes" / student / A / "feedback" / "*" / "softmax.html"))
        assert len(pages) == 1, pages
        html = Path(pages[0]).read_text()
        assert re.search(rf"Score:\s*{expected:g}(\.0)?\s*/\s*{PTS.possible:g}(\.0)?\b", re.sub(r"<[^>]+>", " ", html)), \
            (student, re.findall(r"Score[^<]{0,80}", html))
        # (the score is this student's own: the three expected scores differ)
        assert "BEGIN HIDDEN TESTS" not in html
    # coursekit's own feedback pages, handed out through the same exchange (they replace nbgrader's)
    run_coursekit(course_root, "feedback", A)
    env = dict(os.environ, **jupyter_env(), HOME=str(tmp / "homes" / "instructor"))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "release_feedback", A,
                           "--CourseDirectory.feedback_directory=coursekit-feedback"],
                          cwd=course_root, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for student, expected in EXPECTED.items():
        ok(hub.user(student, "POST", "/assignments/fetch_feedback",
                    data={"course_id": COURSE_ID, "assignment_id": A}))
        pages = glob.glob(str(tmp / "homes" / student / A / "feedback" / "*" / "softmax.html"))
        text = re.sub(r"<[^>]+>", " ", Path(pages[0]).read_text())
        assert f"Feedback for  {student}" in text and f"{expected:g} / {PTS.possible:g} points" in text, text[:2000]
    # coursekit's own summary agrees
    rows = run_coursekit(course_root, "export", A, "--format", "wide", "-o", "-").stdout.splitlines()
    assert {r.split(",")[0]: float(r.split(",")[2]) for r in rows[1:]} == EXPECTED
