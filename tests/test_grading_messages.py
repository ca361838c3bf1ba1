"""The shared checks' messages say what is wrong, in words a student can act on."""
import re

import numpy as np
import pytest

from coursekit.grading import CheckFailed, compare_outputs, diagnose, expect_close, run_unit

NUMPY_REPR = re.compile(r"np\.(float|int|uint|complex|bool|str|bytes)_?\d*\(|array\(")


def test_an_additive_error_is_not_called_a_factor():
    w = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
    msg = diagnose(w + 0.5, w)
    assert "same constant 0.5" in msg and "factor" in msg and "times" not in msg
    # a single number: a ratio fits any wrong value, so no factor is claimed without a hint
    msg = diagnose(2.5, 2.0)
    assert msg == "is 2.5 but should be 2."
    assert "times" not in msg and "factor" not in msg


def test_a_scale_factor_is_named_with_its_direction_and_hint():
    w = np.array([1.0, -2.0, 3.0, 0.5])
    assert diagnose(4 * w, w).startswith("is 4 times too large")
    assert diagnose(w / 4, w).startswith("is 4 times too small")
    msg = diagnose(4 * w, w, hints={4: "You summed over the N=4 samples."})
    assert msg.endswith("You summed over the N=4 samples.")
    # a single number gets the factor only when a hint explains it
    assert diagnose(8.0, 2.0, hints={4: "Sum, not mean?"}) == "is 8 but should be 2: 4 times too large. Sum, not mean?"


def test_known_mistakes_are_named():
    W = np.array([[0.5, -1.0], [2.0, 0.25]])
    right = np.array([[0.1, 0.2], [-0.3, 0.4]]) + 0.7 * W
    no_reg = right - 0.7 * W
    msg = diagnose(no_reg, right, mistakes={"your gradient misses the regularization term reg * W": no_reg})
    assert msg == "is wrong: your gradient misses the regularization term reg * W"
    # per output, through compare_outputs
    with pytest.raises(CheckFailed, match=r"dW from f.* misses the regularization term"):
        compare_outputs("f", (1.0, no_reg), (1.0, right), outputs=("loss", "dW"),
                        mistakes={"dW": {"your gradient misses the regularization term reg * W": no_reg}})
    # a "mistake" equal to the right answer never fires
    assert diagnose(right, right, mistakes={"bogus": right}) is None


def test_in_place_message_names_the_parameter_and_gives_generic_advice():
    def sgd(w, dw, config=None):
        w -= 0.1 * dw
        return w, config

    with pytest.raises(CheckFailed) as err:
        run_unit(sgd, np.ones(3), np.ones(3))
    msg = str(err.value)
    assert "`w`" in msg and "argument 1" not in msg
    assert "relu" not in msg.lower() and "np.maximum" not in msg
    assert "w = w.copy()" in msg

    def scale(*arrays):
        arrays[1][0] = 0.0

    with pytest.raises(CheckFailed, match=r"`arrays\[1\]`"):
        run_unit(scale, np.ones(2), np.ones(2))


def test_no_numpy_repr_in_messages():
    messages = []
    for got, want in [(np.float64(2.5), np.float64(2.0)), (np.float32(3.0), 1.0),
                      (np.array([1.0, 2.0]), np.array([1.0, 3.0])), ("text", 1.0),
                      (np.array([[1.0, 2.0]]), np.array([[1.0], [2.0]]))]:
        messages.append(diagnose(got, want))
    for bad in [lambda: run_unit(lambda d: 1 / 0, {np.str_("W1"): np.float64(1.0)}),
                lambda: compare_outputs("grads", {"W1": np.ones(2)}, {np.str_("W1"): np.ones(2),
                                                                      np.str_("b1"): np.ones(2)}),
                lambda: expect_close("loss", np.float64(7.0), np.float64(1.0), hints={7: "sum?"})]:
        with pytest.raises(CheckFailed) as err:
            bad()
        messages.append(str(err.value))
    for msg in messages:
        assert msg and not NUMPY_REPR.search(msg), msg
