"""binder/: what Binder builds for students, checked statically and by building it.

Static checks (fast): requirements pinned, lean (no PyTorch, no scikit-learn), free of
local paths, consistent with pyproject.toml; postBuild installs the kit; nothing that
would make repo2docker ignore requirements.txt.

The build (slow): a fresh virtual environment made from the binder/ files of the student
tree exactly as repo2docker does it (``pip install -r binder/requirements.txt``, then
``binder/postBuild`` run from the repository root; pip's wheels come from a wheelhouse that
the same pip resolved from the same files, see ``_wheelhouse``), then JupyterLab started from that
environment on loopback and driven: the widget front-ends are loaded, nbgrader's
instructor tools are off and "Validate" works, a notebook opens through the contents
API, a kernel of that environment builds a widget on an ipympl canvas, and, with
Chromium there, a solved notebook runs in the browser with its widgets drawn.
"""
from __future__ import annotations

import ast
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from coursekit.instructor.course import Course
from coursekit.instructor.publish.student_tree import write_student_tree

from .browser_support import (LabPage, LabServer, copy_course, launch_chromium,
                              require_browser)

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
ASSIGNMENTS = Course(ROOT).assignments()
# assignments with a release (one being written may not have one yet; test_release.py
# insists that every assignment has one)
RELEASED_IDS = [a for a in ASSIGNMENTS if any((ROOT / "assignments" / a).glob("*.ipynb"))]
HEAVY = ("torch", "torchvision", "tensorflow", "jax", "jaxlib", "scikit-learn", "sklearn",
         "pandas", "scipy")
WIDGET_EXTENSIONS = ("@jupyter-widgets/jupyterlab-manager", "jupyter-matplotlib")
INSTRUCTOR_PLUGINS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                      "@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:course-list")


def _requirements() -> dict[str, Requirement]:
    reqs = {}
    for raw in (BINDER / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            reqs[req.name.lower().replace("_", "-")] = req
    return reqs


def _pinned(req: Requirement) -> Version:
    specs = list(req.specifier)
    assert len(specs) == 1 and specs[0].operator == "==", f"{req} is not pinned with =="
    return Version(specs[0].version)


# -- static ---------------------------------------------------------------------------------

def test_requirements_are_pinned_lean_and_without_local_paths():
    text = (BINDER / "requirements.txt").read_text()
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        assert not line.startswith(("-e", "-r", "-c", "--", ".", "/", "file:", "git+")), (
            f"{line!r}: keep binder/requirements.txt free of local paths and options "
            "(postBuild installs the kit), so content-only commits reuse Binder's cached layer")
        assert "/" not in line and "@" not in line, line
    reqs = _requirements()
    for name, req in reqs.items():
        _pinned(req)
        assert name not in HEAVY, f"{name} does not belong in the lean student image"
    for needed in ("numpy", "matplotlib", "ipywidgets", "jupyterlab-widgets", "ipympl",
                   "jupyterlab", "ipykernel", "nbgrader"):
        assert needed in reqs, f"binder/requirements.txt lacks {needed}"


def test_pins_satisfy_the_kit_and_nbgrader():
    """Every dependency of coursekit (pyproject.toml) is pinned to a version it accepts."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = _requirements()
    for dep in project["dependencies"]:
        req = Requirement(dep)
        name = req.name.lower().replace("_", "-")
        assert name in reqs, f"coursekit needs {dep}: pin it in binder/requirements.txt"
        assert _pinned(reqs[name]) in req.specifier, f"{reqs[name]} does not satisfy {dep}"
    nbgrader_jlab = Requirement("jupyterlab>=4.2,<5")  # nbgrader 0.9.6's range
    assert _pinned(reqs["jupyterlab"]) in nbgrader_jlab.specifier
    # the kernel side and the front end of ipywidgets come from the same release line
    assert _pinned(reqs["ipywidgets"]).major == 8 and _pinned(reqs["jupyterlab-widgets"]).major == 3


def test_binder_layout_is_what_repo2docker_reads():
    # environment.yml would win over requirements.txt; files at the root are ignored
    # once binder/ exists, so everything lives here.
    assert not (BINDER / "environment.yml").exists()
    assert not (BINDER / "Dockerfile").exists()
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime), runtime
    minimum = Version(re.search(r">=\s*([\d.]+)", (ROOT / "pyproject.toml").read_text()
                                .split("requires-python", 1)[1]).group(1))
    assert Version(runtime.split("-", 1)[1]) >= minimum
    post = BINDER / "postBuild"
    assert post.read_text().startswith("#!"), "postBuild needs a shebang"
    assert os.access(post, os.X_OK), "postBuild must be executable (git keeps the bit)"
    body = post.read_text()
    assert "pip install" in body and "--no-deps" in body and " ." in body
    for plugin in INSTRUCTOR_PLUGINS:
        assert plugin.split(":")[1] in body, f"postBuild does not switch off {plugin}"


# -- the build ------------------------------------------------------------------------------

def _run(cmd, cwd, env, timeout=900, what=""):
    proc = subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise AssertionError(f"{what or cmd} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


# The build's wheels, cached: `pip download -r binder/requirements.txt` (the same pip, the same
# indexes, the same resolution) fills a wheelhouse once; each build then installs from it with
# `--no-index`, so pip resolves the same pins to the same wheels without asking the index for
# ~110 projects again (two thirds of the build's time went to that resolution; no sdist is
# built, every requirement comes as a wheel). The wheelhouse is keyed by requirements.txt,
# the build backend postBuild's `pip install .` needs and this Python, and is resolved again
# after WHEELHOUSE_HOURS (a new upstream release of an unpinned dependency shows within a
# day); COURSEKIT_BINDER_WHEELHOUSE_HOURS=0 resolves against the index on every run.
WHEELHOUSE_HOURS = float(os.environ.get("COURSEKIT_BINDER_WHEELHOUSE_HOURS", "24"))
WHEELHOUSE_ROOT = Path(os.environ.get("COURSEKIT_BINDER_WHEELHOUSE",
                                      Path.home() / ".cache" / "coursekit" / "binder-wheelhouse"))


def _build_requires(repo: Path) -> list[str]:
    """pyproject.toml's [build-system] requires: what `pip install .` builds the kit with."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads((repo / "pyproject.toml").read_text())["build-system"]["requires"]


def _wheelhouse(repo: Path, python: Path, env: dict) -> Path:
    """The wheels `pip install -r binder/requirements.txt` resolves to (plus the build backend
    of postBuild's `pip install .`), downloaded by the build's own pip; reused while fresh."""
    from filelock import FileLock

    version = _run([str(python), "-c", "import sys, sysconfig, pip; print(sys.version, "
                    "sysconfig.get_platform(), pip.__version__)"], repo, env).stdout
    build = _build_requires(repo)
    key = hashlib.sha256("\n".join([(repo / "binder" / "requirements.txt").read_text(),
                                    *build, version]).encode()).hexdigest()[:16]
    house = WHEELHOUSE_ROOT / key
    stamp = house / "resolved.txt"
    WHEELHOUSE_ROOT.mkdir(parents=True, exist_ok=True)
    with FileLock(str(WHEELHOUSE_ROOT / f"{key}.lock"), timeout=1800):
        if stamp.is_file() and time.time() - stamp.stat().st_mtime < WHEELHOUSE_HOURS * 3600:
            return house
        fresh = WHEELHOUSE_ROOT / f"{key}.new"
        shutil.rmtree(fresh, ignore_errors=True)
        _run([str(python), "-m", "pip", "download", "-q", "-d", str(fresh),
              "-r", "binder/requirements.txt"], repo, env,
             what="pip download -r binder/requirements.txt")
        _run([str(python), "-m", "pip", "download", "-q", "-d", str(fresh), *build], repo, env,
             what="pip download " + " ".join(build))
        (fresh / "resolved.txt").write_text(
            "\n".join(sorted(p.name for p in fresh.glob("*.whl"))) + "\n")
        shutil.rmtree(house, ignore_errors=True)
        fresh.rename(house)
    return house


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory):
    """The student tree built into a fresh venv as Binder would: (repo, venv python, env)."""
    base = tmp_path_factory.mktemp("binder")
    repo = write_student_tree(Course(ROOT), base / "repo", RELEASED_IDS).root
    runtime = (repo / "binder" / "runtime.txt").read_text().strip().split("-", 1)[1]
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if runtime != here:
        warnings.warn(f"binder/runtime.txt asks for Python {runtime}; this build uses {here}")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "MPLBACKEND", "PYTHONHOME")}
    env["PATH"] = str(venv / "bin") + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(venv)
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    python = venv / "bin" / "python"
    start = time.monotonic()
    house = _wheelhouse(repo, python, env)
    resolved = time.monotonic()
    # pip, for the build and for postBuild's `pip install .` (its isolated build environment
    # too, which reads these variables): the wheelhouse only, no index
    env.update({"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(house)})
    # repo2docker: `pip install -r binder/requirements.txt` at the repository root.
    # --no-compile: the same packages and files, without writing the bytecode of every
    # module up front (about a third of the install's time); Python compiles what it
    # imports when it imports it.
    _run([str(python), "-m", "pip", "install", "-q", "--no-compile",
          "-r", "binder/requirements.txt"],
         repo, env, what="pip install -r binder/requirements.txt")
    installed = time.monotonic()
    # ... then runs binder/postBuild, executable, from the repository root
    post = _run(["./binder/postBuild"], repo, env, what="binder/postBuild")
    print(f"binder env: wheels {resolved - start:.0f} s, install {installed - resolved:.0f} s, "
          f"postBuild {time.monotonic() - installed:.0f} s")
    return repo, python, env, post.stdout + post.stderr


@pytest.fixture(scope="module")
def binder_lab(binder_env, tmp_path_factory):
    repo, python, _, _ = binder_env
    # a solved copy of the course beside the release, for the widget run in the browser
    # (hidden tests look for solutions/ above the notebook); added after the build
    copy_course(repo / "_course", ASSIGNMENTS[:1])
    with LabServer(repo, python=python, state_dir=tmp_path_factory.mktemp("binder-lab")) as lab:
        yield lab


@pytest.mark.slow
def test_postbuild_installed_the_kit_and_the_widget_front_ends(binder_env):
    repo, python, env, log = binder_env
    assert re.search(r"coursekit [\d.]+ ipywidgets 8[\d.]+ ipympl [\d.]+", log), log[-2000:]
    # five independent questions to the environment, two at a time
    with ThreadPoolExecutor(max_workers=2) as pool:
        imported = pool.submit(_run, [str(python), "-c",
                               "import coursekit, coursekit.widgets.simplex, ipympl, ipywidgets, sys; "
                               "print(coursekit.__file__)"], python.parent, env)
        pip_list = pool.submit(_run, [str(python), "-m", "pip", "list", "--format=json"], repo, env)
        lab_list = pool.submit(_run, [str(python), "-m", "jupyter", "labextension", "list"], repo, env)
        server_list = pool.submit(_run, [str(python), "-m", "jupyter", "server", "extension", "list"],
                                  repo, env)
        # everything a release notebook imports imports in this environment (MPLBACKEND as
        # in a kernel of JupyterLab: matplotlib-inline's)
        notebook_imports = pool.submit(
            _run, [str(python), "-c", "\n".join(_release_imports(repo)) + "\nprint('imports ok')"],
            python.parent, {**env, "MPLBACKEND": "module://matplotlib_inline.backend_inline"})
    assert "imports ok" in notebook_imports.result().stdout
    out = imported.result().stdout
    assert "site-packages" in out, "coursekit should be installed, not imported from the tree"
    names = pip_list.result().stdout
    installed = {p["name"].lower().replace("_", "-") for p in json.loads(names)}
    for heavy in HEAVY:
        assert heavy not in installed, f"{heavy} got into the student environment"
    for name, req in _requirements().items():
        assert name in installed, name
    ext = lab_list.result()
    listing = ext.stdout + ext.stderr
    for name in WIDGET_EXTENSIONS:
        assert re.search(rf"{re.escape(name)} v[\d.]+ .*enabled.*OK", listing), listing
    disabled = listing.split("Disabled extensions:", 1)[-1]
    for plugin in INSTRUCTOR_PLUGINS:
        assert plugin in disabled, f"{plugin} is still enabled:\n{listing}"
    # ... and locked: JupyterLab's plugin manager cannot switch them back on
    locked = re.search(r"\(plugins: ([^)]*) locked\)", listing)
    assert locked, f"no locked plugin in:\n{listing}"
    for plugin in INSTRUCTOR_PLUGINS:
        assert plugin in locked.group(1), f"{plugin} is not locked:\n{listing}"
    server = server_list.result()
    listing = re.sub(r"\x1b\[[0-9;]*m", "", server.stdout + server.stderr)
    assert re.search(r"nbgrader\.server_extensions\.validate_assignment\s+enabled", listing)
    for ext_name in ("formgrader", "assignment_list", "course_list"):
        assert re.search(rf"nbgrader\.server_extensions\.{ext_name}\s+disabled", listing), listing


@pytest.mark.slow
def test_lab_serves_the_widget_front_ends_and_no_instructor_tools(binder_lab):
    page = binder_lab.api_text("lab")
    config = json.loads(html.unescape(re.search(
        r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
        page, re.S).group(1)))
    federated = {e["name"] for e in config.get("federated_extensions", [])}
    for name in WIDGET_EXTENSIONS:
        assert name in federated, f"JupyterLab does not load {name}: {sorted(federated)}"
    disabled = config.get("disabledExtensions", [])
    for plugin in INSTRUCTOR_PLUGINS:
        assert plugin in disabled, plugin
    with pytest.raises(urllib.error.HTTPError) as err:
        binder_lab.api_text("formgrader")
    assert err.value.code == 404


@pytest.mark.slow
def test_notebooks_open_and_validate_reports_the_stubs(binder_lab):
    """Every release notebook opens through the contents API; the Validate button (its
    endpoint, a kernel of the Binder env running the notebook) reports the stubs of the
    first assignment. (That every release fails every test under nbgrader's Validator is
    tests/test_release.py's; that the Binder env imports what every release notebook
    imports is checked above, without running each notebook here again.)"""
    for assignment in RELEASED_IDS:
        for nb in sorted((ROOT / "assignments" / assignment).glob("*.ipynb")):
            rel = f"assignments/{assignment}/{nb.name}"
            model = binder_lab.api("GET", f"api/contents/{rel}", params={"content": 1})
            assert model["type"] == "notebook" and model["content"]["cells"], rel
    for nb in sorted((ROOT / "assignments" / RELEASED_IDS[0]).glob("*.ipynb")):
        rel = f"assignments/{RELEASED_IDS[0]}/{nb.name}"
        # what the Validate button does: POST /assignments/validate?path=...
        result = binder_lab.api("POST", "assignments/validate", params={"path": rel},
                                body={}, timeout=300)
        assert result["success"], result
        failed = result["value"].get("failed", [])
        assert failed, f"Validate found nothing to report in the release of {rel}: {result}"
        assert "NotImplementedError" in json.dumps(failed)


@pytest.mark.slow
def test_a_kernel_of_the_binder_env_draws_on_an_ipympl_canvas(binder_lab):
    from jupyter_client import BlockingKernelClient

    kernel = binder_lab.api("POST", "api/kernels", body={"name": "python3"})
    try:
        client = BlockingKernelClient(connection_file=str(
            binder_lab.state / "runtime" / f"kernel-{kernel['id']}.json"))
        client.load_connection_file()
        # no heartbeat channel: on a loaded machine a late beat reads as a dead kernel
        # (the server watches its kernels itself)
        client.start_channels(hb=False)
        client.wait_for_ready(timeout=60)
        code = ("import sys, numpy as np, ipywidgets, ipympl\n"
                "from coursekit.widgets.simplex import SimplexExplorer\n"
                "w = SimplexExplorer(lambda z: np.exp(z - z.max()) / np.exp(z - z.max()).sum())\n"
                "w.sliders['z0'].value = 5.0\n"
                "print(sys.prefix, type(w.canvas).__module__, round(float(w.state['p'][0]), 3))\n")
        out: list[str] = []
        reply = client.execute_interactive(code, timeout=120, output_hook=_collect(out))
        client.stop_channels()
    finally:
        binder_lab.api("DELETE", f"api/kernels/{kernel['id']}")
    assert reply["content"]["status"] == "ok", reply["content"]
    text = "".join(out)
    prefix, module, p0 = text.split()
    assert Path(prefix).name == "venv", f"the kernel runs in {prefix}, not the Binder env"
    assert module.startswith("ipympl"), f"the widget canvas is {module}, not ipympl's"
    assert 0.97 < float(p0) <= 1.0


def _release_imports(repo: Path) -> list[str]:
    """The import statements of every code cell of the release notebooks in ``repo``."""
    imports = []
    for nb_path in sorted(repo.glob("assignments/*/*.ipynb")):
        for cell in json.loads(nb_path.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            source = "\n".join(ln for ln in source.splitlines()
                               if not ln.lstrip().startswith(("%", "!")))
            for node in ast.parse(source).body:
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    imports.append(ast.unparse(node))
    assert any("coursekit" in line for line in imports), imports
    return imports


def _collect(sink):
    def hook(msg):
        if msg["msg_type"] == "stream":
            sink.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            sink.append("\n".join(msg["content"]["traceback"]))
    return hook


@pytest.mark.slow
@pytest.mark.browser
def test_widgets_render_in_the_browser_from_the_binder_env(binder_lab):
    """The real thing: Chromium on the Binder env's JupyterLab, a solved notebook run."""
    require_browser()
    from playwright.sync_api import sync_playwright

    assignment = ASSIGNMENTS[0]
    name = next((ROOT / "solutions" / assignment).glob("*.ipynb")).name
    rel = f"_course/solutions/{assignment}/{name}"
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        page = LabPage(chromium, binder_lab)
        try:
            page.open(rel)
            page.run_all()
            page.wait_run_finished(timeout=240)
            cells = page.wait_widgets_drawn()
            widgets = [(c["index"], w) for c in cells for w in c["widgets"]]
            assert widgets and all(w["rendered"] for _, w in widgets), widgets
            assert "Error displaying widget" not in page.body_text()
            assert not [s for c in cells for s in c["stderr"]]
            index = next(i for i, w in widgets if w["sliders"])
            page.move_a_slider(index)
            page.screenshot(f"binder/{assignment}-{Path(name).stem}", cell_index=index)
        except AssertionError:
            page.screenshot(f"binder/{assignment}-{Path(name).stem}-FAILED")
            raise
        finally:
            page.close()
            chromium.close()
            binder_lab.shutdown_kernels()
