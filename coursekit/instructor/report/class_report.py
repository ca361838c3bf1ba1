"""``coursekit report``: the class at a glance, after grading and before the next lecture.

``reports/<assignment>/index.html`` with PNG charts next to it:

- **score distribution** (histogram of total scores, with the mean and median);
- **pass rate per unit** (share of students with full points on each unit,
  and the mean share of the unit's points);
- **most common failure messages**: the diagnostic messages of failed tests,
  with the numbers that change from student to student (inputs, shapes,
  seeds) blanked out so that the same mistake is counted once -- "you summed
  over the N=# samples" tells the instructor what to revisit;
- a table of submissions that could not be graded, or needed the grader to
  intervene (kernel restarted, time limit, a test cell put back), and the
  grading time;
- late submissions: due date, extension, lateness and the penalty taken off.

Scores are after the late penalty, manual grades included (see
:func:`~coursekit.instructor.store.results.read_results`). Student text (failure
messages) is drawn with matplotlib's TeX and mathtext parsing off, so a ``$``
in a message is a dollar sign, and escaped in the HTML.
"""
from __future__ import annotations

import html
import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path

from coursekit.instructor.course import Course
from coursekit.instructor.store.results import require_results, unit_of
from coursekit.instructor.store.records import read_record

__all__ = ["write_report", "normalize_message", "class_summary"]

_NUM = re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def normalize_message(message: str) -> str:
    """The message with its student-specific numbers blanked (``N=4`` -> ``N=#``), first sentence(s)."""
    text = " ".join(message.split())
    text = re.sub(r"array\s*\([^)]*\)", "array", text)
    text = re.sub(r"\[[-+0-9eE.,\s\[\]]+\]", "[...]", text)
    text = _NUM.sub("#", text)
    return text[:240]


def class_summary(course: Course, assignment: str) -> dict:
    """Everything the report shows, as data (also used by tests)."""
    results = require_results(course, assignment)
    units = sorted({u for r in results for u in r.units})
    unit_full = {u: 0 for u in units}
    unit_share = defaultdict(list)
    for r in results:
        for u in units:
            s, m = r.units.get(u, (0.0, 0.0))
            if m > 0:
                unit_share[u].append(s / m)
                if s >= m:
                    unit_full[u] += 1
    failures: dict = defaultdict(set)       # (unit, message) -> students who got it
    examples: dict = {}
    per_test_fail: Counter = Counter()
    notes: dict[str, list[str]] = {}
    seconds = []
    for r in results:
        record = read_record(course, assignment, r.student) or {}
        if record.get("seconds") is not None:
            seconds.append(float(record["seconds"]))
        n = list(record.get("problems", [])) + list(record.get("events", []))
        if n:
            notes[r.student] = n
        grades = {}
        for nb in record.get("notebooks", {}).values():
            grades.update(nb.get("grades", {}))
        for test, (score, out_of) in r.tests.items():
            if score is not None and score >= out_of:
                continue
            per_test_fail[test] += 1
            msg = grades.get(test, {}).get("message") or "(no message)"
            key = (unit_of(test, units), normalize_message(msg))
            failures[key].add(r.student)
            examples.setdefault(key, msg)
    n = len(results)
    scores = [r.score for r in results]
    return {
        "assignment": assignment, "n": n, "results": results, "units": units,
        "max_score": max((r.max_score for r in results), default=0.0),
        "mean": statistics.fmean(scores) if scores else 0.0,
        "median": statistics.median(scores) if scores else 0.0,
        "unit_pass_rate": {u: unit_full[u] / n if n else 0.0 for u in units},
        "unit_mean_share": {u: statistics.fmean(unit_share[u]) if unit_share[u] else 0.0 for u in units},
        "failures": sorted(((k, len(v)) for k, v in failures.items()), key=lambda kv: (-kv[1], kv[0])),
        "examples": examples, "per_test_fail": per_test_fail,
        "notes": notes, "seconds": seconds,
        "late": [r for r in results if r.lateness is not None and r.lateness.seconds_late > 0],
        "extended": [r for r in results if r.lateness is not None and r.lateness.deadline != r.lateness.due],
    }


def _charts(summary: dict, folder: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    # labels carry student text: no TeX, no mathtext ("$x$" stays "$x$", "$" alone does not crash)
    with matplotlib.rc_context({"text.usetex": False}):
        return _draw_charts(summary, folder)


def _draw_charts(summary: dict, folder: Path) -> list[str]:
    import matplotlib.pyplot as plt

    files = []
    scores = [r.score for r in summary["results"]]
    top = summary["max_score"] or 1.0
    fig, ax = plt.subplots(figsize=(7, 3.2))
    bins = min(20, max(5, int(top)))
    ax.hist(scores, bins=bins, range=(0, top), color="#4e79a7", edgecolor="white")
    ax.axvline(summary["mean"], color="#e15759", lw=2, label=f"mean {summary['mean']:.1f}")
    ax.axvline(summary["median"], color="#59a14f", lw=2, ls="--", label=f"median {summary['median']:.1f}")
    ax.set_xlabel(f"score (out of {top:g})")
    ax.set_ylabel("students")
    ax.set_title(f"Score distribution ({summary['n']} submissions)")
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(folder / "scores.png", dpi=110)
    plt.close(fig)
    files.append("scores.png")

    units = summary["units"]
    if units:
        fig, ax = plt.subplots(figsize=(7, 0.45 * len(units) + 1.2))
        y = range(len(units))
        ax.barh(list(y), [summary["unit_mean_share"][u] * 100 for u in units], color="#d4e4f4",
                label="mean share of points")
        ax.barh(list(y), [summary["unit_pass_rate"][u] * 100 for u in units], height=0.45, color="#4e79a7",
                label="full points")
        ax.set_yticks(list(y))
        ax.set_yticklabels(units, parse_math=False)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of students")
        ax.set_title("Pass rate per unit")
        ax.legend(frameon=False, loc="lower right", fontsize=8)
        fig.tight_layout()
        fig.savefig(folder / "units.png", dpi=110)
        plt.close(fig)
        files.append("units.png")

    top_fail = summary["failures"][:10]
    if top_fail:
        fig, ax = plt.subplots(figsize=(10, 0.5 * len(top_fail) + 1.2))
        labels = [f"{u}: {m[:70]}{'…' if len(m) > 70 else ''}" for (u, m), _ in top_fail]
        ax.barh(range(len(top_fail)), [c for _, c in top_fail], color="#e15759")
        ax.set_yticks(range(len(top_fail)))
        ax.set_yticklabels(labels, fontsize=8, parse_math=False)
        ax.invert_yaxis()
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("students")
        ax.set_title("Most common failure messages")
        fig.tight_layout()
        fig.savefig(folder / "failures.png", dpi=110)
        plt.close(fig)
        files.append("failures.png")
    return files


def write_report(course: Course, assignment: str, out: Path | None = None) -> Path:
    """Write the report; return the path of its ``index.html``."""
    summary = class_summary(course, assignment)
    folder = Path(out) if out else course.root / "reports" / assignment
    folder.mkdir(parents=True, exist_ok=True)
    charts = _charts(summary, folder) if summary["n"] else []
    e = html.escape
    rows = []
    for (unit, msg), count in summary["failures"][:25]:
        example = summary["examples"][(unit, msg)]
        rows.append(f"<tr><td>{count}</td><td>{e(unit)}</td><td>{e(example[:600])}</td></tr>")
    unit_rows = "".join(
        f"<tr><td>{e(u)}</td><td>{summary['unit_pass_rate'][u] * 100:.0f}%</td>"
        f"<td>{summary['unit_mean_share'][u] * 100:.0f}%</td></tr>" for u in summary["units"])
    note_rows = "".join(f"<tr><td>{e(s)}</td><td>{'<br>'.join(e(x) for x in n[:6])}</td></tr>"
                        for s, n in sorted(summary["notes"].items()))
    late_rows = "".join(
        f"<tr><td>{e(r.student)}</td><td>{e(r.lateness.describe())}</td><td>{r.late_penalty:g}</td>"
        f"<td>{r.score:g}</td></tr>" for r in summary["late"])
    ext_rows = ", ".join(e(r.student) for r in summary["extended"])
    secs = summary["seconds"]
    timing = (f"{len(secs)} graded by coursekit, {sum(secs):.0f} s of grading in total, "
              f"median {statistics.median(secs):.1f} s, slowest {max(secs):.1f} s per submission") if secs else ""
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{e(assignment)}: class report</title>
<style>body{{font:15px/1.45 system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#1d2330}}
table{{border-collapse:collapse;width:100%}}td,th{{padding:.3em .6em;border-bottom:1px solid #e6e8ef;text-align:left;vertical-align:top}}
img{{max-width:100%}}h2{{margin-top:1.6em}}.muted{{color:#667}}</style></head><body>
<h1>{e(assignment)}: class report</h1>
<p>{summary['n']} submissions; mean {summary['mean']:.2f}, median {summary['median']:.2f} of {summary['max_score']:g} points.
<span class="muted">{e(timing)}</span></p>
{''.join(f'<p><img src="{c}" alt="{c}"></p>' for c in charts[:1])}
<h2>Units</h2>{''.join(f'<p><img src="{c}" alt="{c}"></p>' for c in charts[1:2])}
<table><tr><th>unit</th><th>full points</th><th>mean share of points</th></tr>{unit_rows}</table>
<h2>Most common failure messages</h2>{''.join(f'<p><img src="{c}" alt="{c}"></p>' for c in charts[2:3])}
<table><tr><th>students</th><th>unit</th><th>message (one example)</th></tr>{''.join(rows)}</table>
<h2>Late submissions</h2>
<p class="muted">Extensions: {ext_rows or 'none'}.</p>
<table><tr><th>student</th><th>when</th><th>penalty</th><th>score after penalty</th></tr>{late_rows or '<tr><td colspan=4>none</td></tr>'}</table>
<h2>Submissions the grader had to handle</h2>
<table><tr><th>student</th><th>notes</th></tr>{note_rows or '<tr><td colspan=2>none</td></tr>'}</table>
</body></html>"""
    index = folder / "index.html"
    index.write_text(page)
    return index
