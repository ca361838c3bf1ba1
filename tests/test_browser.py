"""End to end in a real browser: JupyterLab in headless Chromium, driven by Playwright.

For every assignment under solutions/:

- the solved notebook (in a copy of the course, so hidden tests find ``solutions/``)
  runs top to bottom through Run → Run All Cells with no error and no stderr output;
  every widget is rendered (no "Error displaying widget", ipympl canvases drawn);
  typing a new value into a slider's readout changes what the widget shows;
- the release notebook, in a student tree written by ``write_student_tree``, fails
  at its first test with ``NotImplementedError``, as a student sees it: for the first
  release here (what JupyterLab's Run All does with it is the same for every notebook);
  that every release's first error is such a ``NotImplementedError`` is checked without a
  browser, on nbgrader's run of each release, by tests/test_release.py.

One server, one Chromium and one tab serve the module: JupyterLab loads once, through
the first notebook's URL; later notebooks open in the same application with its own
``docmanager:open`` command (what the file browser does), after the previous one is
closed and its kernel shut down (in the background, while the next one opens).

The solved notebooks run at their full (home) budget, on purpose, although that run is
also proved by nbval and tests/test_assignment_*.py: under nbgrader's budget
(``NBGRADER_EXECUTION`` set in the kernel) they would not show the same widgets. The
Solver's progress bar (a tqdm widget) is off while grading, so 02 (two training cells),
03 (the Nesterov/cosine cell) and 04 (the batch-norm + dropout cell) would lose widgets
checked here; 02 skips its demo assertions; 04's RegularizationLab stops precomputing its
grid, so its slider would train on demand instead. (Checked against the notebooks'
``FAST``/``GRADING`` cells, 2026-12-01.)

Screenshots go to ``test-artifacts/browser/`` (git-ignored). Without Playwright or
Chromium these tests skip on a developer's machine and fail under CI (``CI=true``).
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from coursekit.instructor.course import Course
from coursekit.instructor.publish.student_tree import write_student_tree

from .browser_support import (ARTIFACTS, WIDGET_MIME, LabPage, LabServer, copy_course,
                              launch_chromium, require_browser)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = Course(ROOT).assignments()
# assignments with a release (one being written may not have one yet; test_release.py
# insists that every assignment has one)
RELEASED_IDS = [a for a in ASSIGNMENTS if any((ROOT / "assignments" / a).glob("*.ipynb"))]
SOLVED = [(a, nb.name) for a in ASSIGNMENTS
          for nb in sorted((ROOT / "solutions" / a).glob("*.ipynb"))]
RELEASED = [(a, nb.name) for a in ASSIGNMENTS
            for nb in sorted((ROOT / "assignments" / a).glob("*.ipynb"))][:1]
# Which slider to move, by its label, where the first one is not the telling one.
SLIDER_HINTS = {"01_softmax": "z0"}
SHOTS = ARTIFACTS / "browser"
TIMINGS: dict[str, float] = {}


def _ids(params):
    return [f"{a}/{name}" for a, name in params]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require_browser()
    shutil.rmtree(SHOTS, ignore_errors=True)  # only this run's pictures
    base = tmp_path_factory.mktemp("browser")
    root = base / "root"
    copy_course(root / "course")
    write_student_tree(Course(ROOT), root / "student", RELEASED_IDS)
    with LabServer(root, state_dir=base / "state", expose_app=True) as server:
        yield server
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "timings.json").write_text(json.dumps(TIMINGS, indent=1))


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def tab(browser, lab):
    """One tab for the module: JupyterLab loads once, then opens notebook after notebook."""
    tab = LabPage(browser, lab)
    yield tab
    tab.close()


@pytest.fixture
def page(tab, lab):
    yield tab
    if tab.in_app():
        tab.close_documents()
    lab.shutdown_kernels(background=True)   # while the next notebook opens


def _shot_name(kind, assignment, name):
    return f"browser/{assignment}-{Path(name).stem}-{kind}"


def _fail_with_picture(page, lab, name, err):
    path = page.screenshot(name + "-FAILED")
    console = "\n".join(page.console[-15:])
    raise AssertionError(f"{err}\n(screenshot: {path}; browser console:\n{console}\n"
                         f"server log:\n{lab.log(1500)})") from err


@pytest.mark.skipif(not SOLVED, reason="no solved notebook under solutions/")
@pytest.mark.parametrize("assignment,name", SOLVED, ids=_ids(SOLVED))
def test_solved_notebook_runs_and_its_widgets_work(page, lab, assignment, name):
    rel = f"course/solutions/{assignment}/{name}"
    start = time.monotonic()
    page.open(rel)
    opened = time.monotonic()
    page.run_all()
    page.wait_run_finished(timeout=240)
    ran = time.monotonic()
    cells = page.wait_widgets_drawn()
    try:
        not_run = [c["index"] for c in cells if not c["prompt"][1:2].isdigit()]
        assert not not_run, f"code cells not run by Run All: {not_run}"
        stderr = [(c["index"], text) for c in cells for text in c["stderr"]]
        assert not stderr, f"error or stderr output in the solved notebook: {stderr}"

        widgets = [(c["index"], w) for c in cells for w in c["widgets"]]
        assert widgets, f"{rel} shows no widget"
        assert "Error displaying widget" not in page.body_text()
        for index, w in widgets:
            assert w["rendered"], f"cell {index}: widget output not rendered: {w['text']!r}"
            assert w["width"] > 50 and w["height"] > 20, f"cell {index}: widget is empty {w}"
            for width, height in w["canvases"]:
                assert width > 0 and height > 0, f"cell {index}: a canvas was never drawn"

        page.save()  # what is on disk agrees: no error output, one widget view per widget
        saved = lab.notebook(rel)
        outputs = [o for cell in saved["cells"] if cell["cell_type"] == "code"
                   for o in cell.get("outputs", [])]
        errors = [f"{o['ename']}: {o['evalue']}" for o in outputs if o["output_type"] == "error"]
        assert not errors, errors
        saved_views = sum(WIDGET_MIME in o.get("data", {}) for o in outputs)
        assert saved_views == len(widgets), (saved_views, len(widgets))

        with_sliders = [index for index, w in widgets if w["sliders"]]
        assert with_sliders, f"{rel}: no widget with a slider to move"
        hint = SLIDER_HINTS.get(assignment)
        hinted = [i for i in with_sliders if hint and page.sliders(i).filter(
            has=page.page.locator(".widget-label", has_text=hint)).count()]
        cell = (hinted or with_sliders)[0]
        moved = page.move_a_slider(cell, hint if hinted else None)
        assert "Error displaying widget" not in page.body_text()
        assert not [s for c in page.cells() for s in c["stderr"]], "the slider caused an error"
    except AssertionError as err:
        _fail_with_picture(page, lab, _shot_name("solved", assignment, name), err)

    page.screenshot(_shot_name("solved", assignment, name), cell_index=cell)
    for n, index in enumerate(sorted({i for i, _ in widgets})):
        page.screenshot_cell(_shot_name(f"widget{n + 1}", assignment, name), index)
    TIMINGS[f"solved {assignment}/{name}"] = {
        "total": round(time.monotonic() - start, 1), "open": round(opened - start, 1),
        "run all": round(ran - opened, 1), "checks, slider, pictures": round(time.monotonic() - ran, 1)}
    print(f"{rel}: {len(cells)} code cells, {len(widgets)} widget(s); moved {moved}")


@pytest.mark.skipif(not RELEASED, reason="no release notebook under assignments/")
@pytest.mark.parametrize("assignment,name", RELEASED, ids=_ids(RELEASED))
def test_release_notebook_fails_with_not_implemented(page, lab, assignment, name):
    """A student opens the release and runs everything: the first test stops on a stub."""
    rel = f"student/assignments/{assignment}/{name}"
    start = time.monotonic()
    page.open(rel)
    page.run_all()
    cells = page.wait_run_finished(timeout=120)
    try:
        failing = [c for c in cells if c["stderr"]]
        assert failing, f"{rel}: Run All raised nothing, but its stubs should fail"
        first = failing[0]
        assert "NotImplementedError" in first["stderr"][0], first["stderr"][0][-800:]
        assert "raise NotImplementedError" not in first["source"], (
            "the error should come from a test calling a stub, not from defining it")
        ran = [c["index"] for c in cells if c["prompt"][1:2].isdigit()]
        assert ran and max(ran) == first["index"], "Run All should stop at the first failure"
        assert "Error displaying widget" not in page.body_text()
    except AssertionError as err:
        _fail_with_picture(page, lab, _shot_name("release", assignment, name), err)
    page.screenshot(_shot_name("release", assignment, name), cell_index=first["index"])
    TIMINGS[f"release {assignment}/{name}"] = round(time.monotonic() - start, 1)
