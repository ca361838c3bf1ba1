"""The widget skeleton (coursekit.widgets.base.FigureWidget): lifecycle, callbacks, freeing."""

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
from ipywidgets.widgets.widget import _instances

from coursekit.widgets.base import MAX_FIGURE_WIDTH, FigureWidget, status_box, timed
from coursekit.widgets.simplex import SimplexExplorer


class Dot(FigureWidget):
    """A minimal widget: one slider moves one point; counts its updates."""

    def __init__(self, figsize=(4.0, 3.0), figure_backend="static"):
        super().__init__(figure_backend=figure_backend)
        self.calls = []
        self.make_figure(figsize)
        self.slider = ipywidgets.FloatSlider(value=0.5, min=0.0, max=1.0, continuous_update=self.live)
        self.note = ipywidgets.HTML("below the figure")
        self.start(self.slider, below=[self.note], watch=[self.slider])

    def _build_figure(self):
        ax = self.fig.add_subplot()
        (point,) = ax.plot([0.0], [0.0], "o")
        ax.set(xlim=(0, 1), ylim=(0, 1))
        self.artists = {"point": point}

    @timed
    def update(self):
        x = self.slider.value
        self.calls.append(x)
        self.artists["point"].set_data([x], [x])
        self.redraw()
        return x


def softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def test_a_control_change_calls_update_with_the_new_value_and_redraws_in_place():
    w = Dot()
    assert w.calls == [0.5]                      # the first draw
    first_png = bytes(w.canvas.value)
    w.slider.value = 0.25
    assert w.calls == [0.5, 0.25]
    assert w.artists["point"].get_xdata()[0] == 0.25
    assert bytes(w.canvas.value) != first_png           # redrawn (static fallback: a new PNG)
    assert np.isfinite(w.last_update_ms) and w.last_update_ms >= 0
    assert len(w.fig.axes) == 1 and len(w.fig.axes[0].lines) == 1   # moved, not re-plotted


def test_layout_is_controls_canvas_below_status_output_and_figures_fit_the_output_area():
    w = Dot(figsize=(14.0, 3.0))
    assert list(w.children) == [w.slider, w.canvas, w.note, w.status, w.output]
    assert isinstance(w, ipywidgets.VBox) and isinstance(w.output, ipywidgets.Output)
    assert w.fig.get_size_inches()[0] == MAX_FIGURE_WIDTH
    assert Dot(figsize=(5.0, 3.0)).fig.get_size_inches()[0] == 5.0


def test_many_widgets_and_updates_open_no_pyplot_figure_and_close_frees_every_widget():
    plt.close("all")
    before = len(_instances)
    built = []
    for k in range(21):                          # more than pyplot's 20-figure warning
        ex = SimplexExplorer(softmax, figure_backend="static" if k == 0 else "ipympl")
        for i in range(5):
            ex.sliders["z1"].value = -2.0 + 0.5 * i
        built.append(ex)
    assert plt.get_fignums() == []               # pyplot never saw a widget's figure
    assert len(_instances) > before
    for ex in built:
        ex.close()
    assert len(_instances) == before             # children, canvases and the boxes all closed
    assert all(not ex.fig.axes for ex in built)  # figures cleared


def test_run_student_turns_stubs_and_errors_into_status_messages():
    w = Dot()

    def stub():
        raise NotImplementedError

    def hostile():
        raise ValueError("<script>alert(1)</script>")

    assert w.run_student(lambda a, b=0: a + b, 1, b=2, todo="t", raised="r") == (3, None)
    assert w.run_student(stub, todo="<b>Implement it</b>", raised="r") == (None, "todo")
    assert w.status.value == status_box("todo", "<b>Implement it</b>")
    assert w.run_student(hostile, todo="t", raised="Your f raised") == (None, "error")
    assert "Your f raised ValueError:" in w.status.value
    assert "<script>" not in w.status.value and "&lt;script&gt;" in w.status.value
    with pytest.raises(ValueError):
        w.run_student(hostile, todo="t", raised="r", passes=ValueError)


def test_watch_with_a_handler_runs_it_instead_of_update():
    w = Dot()
    seen = []
    other = ipywidgets.IntSlider(value=0)
    w.watch(other, handler=lambda change: seen.append(change["new"]))
    other.value = 3
    assert seen == [3] and w.calls == [0.5]


def test_stepper_links_a_play_button_to_a_clipped_step_slider():
    w = Dot()
    row = w.make_stepper(5, step=9, interval=300)
    assert list(row.children) == [w.play, w.step_slider]
    assert w.step_slider.value == 5 and w.step_slider.max == 5 and w.play.interval == 300


def test_a_widget_that_cannot_start_shows_only_its_status():
    w = Dot()
    w.show_only_status("error", "no data")
    assert list(w.children) == [w.status] and "no data" in w.status.value


def test_update_and_build_figure_must_be_written_by_the_subclass():
    class Bare(FigureWidget):
        pass

    with pytest.raises(NotImplementedError, match="Bare must implement update"):
        Bare().update()
    with pytest.raises(NotImplementedError, match="_build_figure"):
        Bare().start()
