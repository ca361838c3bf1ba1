"""``coursekit similarity ASSIGNMENT``: which students' solution code is unusually alike.

Compares, for every pair of graded students, **only the code they wrote in the
solution cells** (nbgrader ``solution`` cells of the release; setup cells,
tests, markdown and their own free cells are left out), with copydetect's
MOSS-style winnowing (k-gram fingerprints of the tokenised code). The release's
stubs (signatures, docstrings, ``raise NotImplementedError``) are boilerplate:
their fingerprints never count as a match.

Writes ``reports/<assignment>/similarity/index.html``: pairs ranked by
similarity, and for each pair above the threshold the two students' code side
by side with the matching passages highlighted. Similar code is **evidence for
a person to judge**, never a verdict: short functions written to the same
specification converge, and students may work together where the course allows
it. All student text is HTML-escaped.
"""
from __future__ import annotations

import html
import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from coursekit.instructor.course import Course
from coursekit.instructor.store.results import require_results

__all__ = ["solution_code", "compare_students", "write_similarity_report", "SimilarityReport",
           "NOISE_TOKENS", "GUARANTEE_TOKENS"]

NOISE_TOKENS = 25          # copydetect's defaults: matches shorter than this are ignored,
GUARANTEE_TOKENS = 30      # matches at least this long are always found
MAX_CODE_CHARS = 200_000   # per student: more is cut before fingerprinting
MAX_PAIRS_SHOWN = 50


@dataclass
class SimilarityReport:
    path: Path
    students: int
    pairs: list[tuple] = field(default_factory=list)   # (similarity, a, b, sim_a, sim_b, tokens)


def _solution_ids(release_nb) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in release_nb.cells
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")
            and c.metadata["nbgrader"].get("grade_id")]


def solution_code(notebook_path: Path, solution_ids: list[str]) -> str:
    """The student's code in the release's solution cells, in the release's order (capped)."""
    import nbformat

    try:
        if notebook_path.stat().st_size > 64 << 20:
            return ""
        nb = nbformat.read(notebook_path, as_version=4)
    except Exception:  # noqa: BLE001 - unreadable: nothing to compare
        return ""
    by_id = {}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.get("cell_type") == "code" and gid in solution_ids:
            by_id[gid] = str(cell.get("source", ""))
    code = "\n\n".join(f"# --- {gid} ---\n{by_id[gid]}" for gid in solution_ids if gid in by_id)
    return code[:MAX_CODE_CHARS]


def _fingerprint(code: str, name: str, boilerplate):
    from copydetect import CodeFingerprint

    return CodeFingerprint(f"{name}.py", NOISE_TOKENS, GUARANTEE_TOKENS - NOISE_TOKENS + 1,
                           boilerplate=boilerplate, fp=io.StringIO(code))


def compare_students(course: Course, assignment: str, students: list[str]):
    """``(fingerprints {student: CodeFingerprint}, ranked pairs)``; the release stubs are boilerplate."""
    import nbformat
    from copydetect.detector import compare_files

    release = course.release / assignment
    fps = {}
    for nb_path in sorted(release.glob("*.ipynb")):
        ids = _solution_ids(nbformat.read(nb_path, as_version=4))
        stub = solution_code(nb_path, ids)
        boiler = list(_fingerprint(stub, "release", None).hashes) if stub.strip() else []
        for s in students:
            code = solution_code(course.directory("submitted") / s / assignment / nb_path.name, ids)
            prev = fps.get(s, "")
            fps[s] = prev + ("\n\n" if prev else "") + code
        boilerplate = boiler
    fingerprints = {s: _fingerprint(code, s, boilerplate) for s, code in fps.items()}
    pairs = []
    for a, b in itertools.combinations(sorted(fingerprints), 2):
        fa, fb = fingerprints[a], fingerprints[b]
        if not fa.hashes or not fb.hashes:
            continue
        tokens, (sa, sb), slices = compare_files(fa, fb)
        if tokens:
            pairs.append((max(sa, sb), a, b, float(sa), float(sb), int(tokens), slices))
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    return fingerprints, pairs


def _highlighted(code: str, slices) -> str:
    from copydetect.utils import highlight_overlap

    if slices.shape[-1] == 0:
        return html.escape(code)
    text, _ = highlight_overlap(code, slices, "<mark>", "</mark>", escape_html=True)
    return text


_STYLE = """body{font:15px/1.45 system-ui,sans-serif;max-width:1300px;margin:2em auto;padding:0 1em;color:#1d2330}
table{border-collapse:collapse}td,th{padding:.3em .7em;border-bottom:1px solid #e6e8ef;text-align:left}
.warn{background:#fffbe6;border:1px solid #f0d070;border-radius:6px;padding:.7em 1em}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1em}pre{background:#f6f7fb;padding:.6em;font-size:.8em;
overflow-x:auto;white-space:pre-wrap}mark{background:#ffd27a}h3{margin-top:2em}"""


def write_similarity_report(course: Course, assignment: str, out: Path | None = None,
                            threshold: float = 0.5) -> SimilarityReport:
    """Write the HTML report (see the module docstring); raises NoGrades when nothing is graded."""
    students = [r.student for r in require_results(course, assignment)]
    fingerprints, pairs = compare_students(course, assignment, students)
    folder = Path(out) if out else course.root / "reports" / assignment / "similarity"
    folder.mkdir(parents=True, exist_ok=True)
    e = html.escape
    shown = [p for p in pairs if p[0] >= threshold][:MAX_PAIRS_SHOWN]
    rows = "".join(f"<tr><td>{i}</td><td><a href='#pair{i}'>{e(a)} / {e(b)}</a></td><td>{sim:.0%}</td>"
                   f"<td>{sa:.0%}</td><td>{sb:.0%}</td><td>{tok}</td></tr>"
                   for i, (sim, a, b, sa, sb, tok, _) in enumerate(pairs[:200], start=1))
    details = []
    for i, (sim, a, b, sa, sb, tok, (sl_a, sl_b)) in enumerate(shown, start=1):
        details.append(f"<h3 id='pair{i}'>{i}. {e(a)} and {e(b)}: {sim:.0%} "
                       f"({tok} matching tokens)</h3><div class='pair'>"
                       f"<div><b>{e(a)}</b> ({sa:.0%} of their code)<pre>"
                       f"{_highlighted(fingerprints[a].raw_code, sl_a)}</pre></div>"
                       f"<div><b>{e(b)}</b> ({sb:.0%} of their code)<pre>"
                       f"{_highlighted(fingerprints[b].raw_code, sl_b)}</pre></div></div>")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{e(assignment)}: similarity</title>
<style>{_STYLE}</style></head><body>
<h1>{e(assignment)}: similar solution code</h1>
<p class="warn"><b>This is evidence for a person to judge, not a verdict.</b> It compares only the code
students wrote in the solution cells (the release's stubs and given code are excluded) with MOSS-style
winnowing (copydetect; matches of at least {GUARANTEE_TOKENS} tokens are always found, shorter than
{NOISE_TOKENS} never). Short functions written to the same specification can look alike; read the code,
consider the course's collaboration rules and talk to the students before drawing any conclusion.</p>
<p>{len(students)} graded submissions, {len(pairs)} pairs with any match; {len(shown)} at or above
{threshold:.0%} shown side by side below.</p>
<table><tr><th>#</th><th>pair</th><th>similarity</th><th>of first</th><th>of second</th><th>tokens</th></tr>
{rows or '<tr><td colspan=6>no matching code</td></tr>'}</table>
{''.join(details)}
</body></html>"""
    index = folder / "index.html"
    index.write_text(page)
    return SimilarityReport(index, len(students), [p[:6] for p in shown])
