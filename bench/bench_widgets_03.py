"""Time the 03_optimizers widgets' update paths (prints; asserts nothing).

    MPLBACKEND=Agg python bench/bench_widgets_03.py [--runs 30]

Target: each widget's update logic (slider -> computation -> artists -> draw_idle)
under 50 ms at its default settings. Also printed, for context: the one-off
precomputation of the two widgets that train networks (the babysitter and the
batch-size explorer, on the digits), and a full Agg render of each figure, which
is what the kernel does once per frame when the ipympl front-end asks for a redraw.
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from coursekit.data import load_digits_splits  # noqa: E402
from coursekit.solver import Solver  # noqa: E402
from coursekit.widgets.babysitting import BabysittingExplorer, babysit_run  # noqa: E402
from coursekit.widgets.batch_noise import BatchNoiseExplorer  # noqa: E402
from coursekit.widgets.optimizer_race import OptimizerRace  # noqa: E402
from coursekit.widgets.schedules import ScheduleExplorer, TerminalVelocity  # noqa: E402

from common import median_ms, parse_runs, print_rows, reference, time_once  # noqa: E402


# the solved reference from solutions/03_optimizers stands in for a correct student
REF = reference("03_optimizers")


def main():
    runs = parse_runs(__doc__, 30)
    rows = []
    few = max(5, runs // 5)

    rules = {name: getattr(REF, name) for name in ("sgd", "sgd_momentum", "nesterov_momentum", "adagrad",
                                                   "rmsprop", "adam")}
    sgd, make_net = REF.sgd, REF.make_net
    race = OptimizerRace(rules, "ravine")
    steps = race.controls["steps"].value

    def cold(i):
        race._paths.clear()
        race.update()

    rows.append((f"OptimizerRace: all 6 rules x {steps} steps from scratch (default)",
                 median_ms(cold, runs)))
    lr_values = np.geomspace(0.3, 1.5, 40)
    rows.append(("OptimizerRace: lr slider (3 rules re-run)", median_ms(
        lambda i: setattr(race.controls["lr_sgd"], "value", float(lr_values[i % 40])), runs)))
    rows.append(("OptimizerRace: momentum slider (2 rules re-run)", median_ms(
        lambda i: setattr(race.controls["momentum"], "value", 0.5 + 0.01 * (i % 45)), runs)))
    rows.append(("OptimizerRace: steps slider (cached paths cut or extended)", median_ms(
        lambda i: setattr(race.controls["steps"], "value", 100 + 10 * (i % 10)), runs)))
    race.controls["steps"].value = steps
    surfaces = ["saddle", "rosenbrock", "beale", "ravine"]
    for s in surfaces:  # draw every contour once
        race.controls["surface"].value = s
    rows.append(("OptimizerRace: surface dropdown (contours cached)", median_ms(
        lambda i: setattr(race.controls["surface"], "value", surfaces[i % 4]), few)))
    race.controls["surface"].value = "ravine"
    rows.append(("OptimizerRace: kernel render per browser frame (Agg)", median_ms(
        lambda i: race.fig.canvas.draw(), few)))

    data = load_digits_splits()
    seconds, baby = time_once(lambda: BabysittingExplorer(make_net, data, update_rule=sgd, num_epochs=10))
    rows.append((f"BabysittingExplorer: precompute {len(baby.runs)} runs x 10 epochs (once)", 1e3 * seconds))
    rows.append(("BabysittingExplorer: learning-rate slider", median_ms(
        lambda i: setattr(baby.slider, "value", i % len(baby.runs)), runs)))
    rows.append(("BabysittingExplorer: kernel render per browser frame (Agg)", median_ms(
        lambda i: baby.fig.canvas.draw(), few)))
    # what judging on validation and recording the update-to-weight ratio cost, against a plain
    # Solver run with the same settings, measured in the same run (ratio, not an absolute time)
    plain = median_ms(lambda i: Solver(make_net(), data, update_rule=sgd, optim_config={"learning_rate": 0.1},
                                       batch_size=64, num_epochs=3, num_train_samples=200, verbose=False,
                                       progress=False, seed=0).train(), few)
    recorded = median_ms(lambda i: babysit_run(make_net, data, sgd, 0.1, num_epochs=3), few)
    rows.append(("babysit_run (validation loss + update ratio) / plain Solver run", recorded / plain, "x"))

    seconds, noise = time_once(lambda: BatchNoiseExplorer(make_net, data, sgd, REF.minibatches, learning_rate=0.1,
                                                          num_epochs=3, batch_sizes=[1, 4, 16, 64, 256]))
    rows.append((f"BatchNoiseExplorer: precompute {len(noise.runs)} batch sizes x 3 epochs (once)", 1e3 * seconds))
    sizes = noise.batch_sizes
    rows.append(("BatchNoiseExplorer: batch-size slider", median_ms(
        lambda i: setattr(noise.slider, "value", sizes[i % len(sizes)]), runs)))
    rows.append(("BatchNoiseExplorer: kernel render per browser frame (Agg)", median_ms(
        lambda i: noise.fig.canvas.draw(), few)))

    sched = ScheduleExplorer(REF.step_decay, REF.exponential_decay, REF.cosine_decay)
    rows.append(("ScheduleExplorer: every slider (3 x 61 calls of your schedules)", median_ms(
        lambda i: setattr(sched.sliders["every"], "value", 2 + i % 20), runs)))
    rows.append(("ScheduleExplorer: kernel render per browser frame (Agg)", median_ms(
        lambda i: sched.fig.canvas.draw(), few)))
    tv = TerminalVelocity(REF.sgd_momentum)
    rows.append(("TerminalVelocity: momentum slider (60 steps of your rule)", median_ms(
        lambda i: setattr(tv.sliders["momentum"], "value", 0.5 + 0.01 * (i % 45)), runs)))
    rows.append(("TerminalVelocity: kernel render per browser frame (Agg)", median_ms(
        lambda i: tv.fig.canvas.draw(), few)))

    print_rows(rows, f"median over {runs} runs (renders and the dropdown over {few}; precomputations once)")


if __name__ == "__main__":
    main()
