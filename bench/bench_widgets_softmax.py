"""Time the 01_softmax widgets' update paths (prints; asserts nothing).

    MPLBACKEND=Agg python bench/bench_widgets_softmax.py [--runs 50]

Target: the update logic (slider -> state -> artists -> draw_idle) under 50 ms.
Also printed, for context: a full Agg render of each figure, which is what the
kernel does once per frame when the ipympl front-end asks for a redraw, and the
static-PNG fallback's update (logic + PNG encoding).
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from coursekit.widgets.simplex import SimplexExplorer, simplex_state  # noqa: E402
from coursekit.widgets.soft_hinge import SoftHingeExplorer, soft_hinge_curves  # noqa: E402

from common import median_ms, parse_runs, print_rows, reference  # noqa: E402


REF = reference("01_softmax")
softmax, softmax_loss = REF.softmax, REF.softmax_loss  # stand-ins for a correct student


def main():
    runs = parse_runs(__doc__, 50)
    rows = []

    rows.append(("simplex_state", median_ms(
        lambda i: simplex_state([2.0, 1.0 + 0.01 * i, 0.1], 1.0, softmax), runs)))
    ex = SimplexExplorer(softmax)
    rows.append(("SimplexExplorer: slider -> update (ipympl)", median_ms(
        lambda i: setattr(ex.sliders["z1"], "value", -5.0 + 0.1 * (i % 100)), runs)))
    rows.append(("SimplexExplorer: kernel render per browser frame (Agg+PNG)", median_ms(
        lambda i: ex.fig.canvas.draw(), max(5, runs // 5))))
    ex_static = SimplexExplorer(softmax, figure_backend="static")
    rows.append(("SimplexExplorer: slider -> update (static PNG fallback)", median_ms(
        lambda i: setattr(ex_static.sliders["z1"], "value", -5.0 + 0.1 * (i % 100)),
        max(5, runs // 5))))

    margins = np.linspace(-6, 6, 200)
    rows.append(("soft_hinge_curves, M=200, analytic only", median_ms(
        lambda i: soft_hinge_curves(margins, 5, 0.0), runs)))
    rows.append(("soft_hinge_curves, M=200, with student softmax_loss", median_ms(
        lambda i: soft_hinge_curves(margins, 5, 0.0, softmax_loss), runs)))
    sh = SoftHingeExplorer(softmax_loss)
    rows.append(("SoftHingeExplorer: K slider -> update (M=241 + probe)", median_ms(
        lambda i: setattr(sh.sliders["K"], "value", 2 + i % 9), runs)))
    rows.append(("SoftHingeExplorer: margin slider -> marker", median_ms(
        lambda i: setattr(sh.sliders["margin"], "value", -6.0 + 0.1 * (i % 120)), runs)))
    rows.append(("SoftHingeExplorer: kernel render per browser frame (Agg+PNG)", median_ms(
        lambda i: sh.fig.canvas.draw(), max(5, runs // 5))))

    print_rows(rows, f"median over {runs} runs (renders over fewer)")


if __name__ == "__main__":
    main()
