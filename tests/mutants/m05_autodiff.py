"""Wrong implementations of the 05_autodiff units: classic autodiff-engine bugs.

Each mutant is the reference cell with one bug edited in (``old`` -> ``new``, which must
occur exactly once), so the catalogue never repeats the reference code and stays in step
with it.
"""
from pathlib import Path

import nbformat

from . import Mutant

ASSIGNMENT = "05_autodiff"
_NOTEBOOK = Path(__file__).resolve().parents[2] / "solutions" / ASSIGNMENT / "autodiff.ipynb"


def _cells() -> dict:
    nb = nbformat.read(_NOTEBOOK, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}


_SOURCE = _cells()


def mutant(name: str, unit: str, edits: list[tuple[str, str]], expect: str) -> Mutant:
    code = _SOURCE[unit]
    for old, new in edits:
        assert code.count(old) == 1, f"{name}: {old!r} occurs {code.count(old)} times in {unit}"
        code = code.replace(old, new)
    return Mutant(name, unit, code, expect)


MUTANTS = [
    # ------------------------------------------------------------------ unbroadcast
    mutant("unbroadcast_mean", "unbroadcast", [
        ("grad = grad.sum(axis=tuple(range(added)))", "grad = grad.mean(axis=tuple(range(added)))"),
        ("grad = grad.sum(axis=stretched, keepdims=True)", "grad = grad.mean(axis=stretched, keepdims=True)")],
        r"SUM of their gradients"),
    mutant("unbroadcast_drops_stretched_axes", "unbroadcast", [
        ("grad = grad.sum(axis=stretched, keepdims=True)\n    return grad.reshape(shape)",
         "grad = grad.sum(axis=stretched)\n    return grad")],
        r"keep the stretched axes with length 1"),
    mutant("unbroadcast_identity", "unbroadcast", [
        ("    grad = np.asarray(grad, dtype=np.float64)\n", "    return np.asarray(grad, dtype=np.float64)\n")],
        r"not summed back over the broadcast axes"),
    # ------------------------------------------------------------------ arithmetic
    mutant("mul_assigns_instead_of_adding", "tensor_arithmetic", [
        ("self.grad += unbroadcast(other.data * out.grad, self.shape)",
         "self.grad = unbroadcast(other.data * out.grad, self.shape)")],
        r"`=` where `\+=` belongs|overwrote the first"),
    mutant("add_without_unbroadcast", "tensor_arithmetic", [
        ("other.grad += unbroadcast(out.grad, other.shape)\n        out._backward = _backward\n        return out\n"
         "        ### END SOLUTION\n\n    def __radd__",
         "other.grad = other.grad + out.grad\n        out._backward = _backward\n        return out\n"
         "        ### END SOLUTION\n\n    def __radd__")],
        r"not summed back over the broadcast axis"),
    mutant("mul_sends_own_value", "tensor_arithmetic", [
        ("other.grad += unbroadcast(self.data * out.grad, other.shape)",
         "other.grad += unbroadcast(other.data * out.grad, other.shape)")],
        r"OTHER input"),
    mutant("div_divisor_sign", "tensor_arithmetic", [
        ("other.grad += unbroadcast(-out.grad * self.data / other.data ** 2, other.shape)",
         "other.grad += unbroadcast(out.grad * self.data / other.data ** 2, other.shape)")],
        r"b\.grad from a / b"),
    mutant("rsub_reversed", "tensor_arithmetic", [
        ("return as_tensor(other) - self", "return self - as_tensor(other)")],
        r"2 - x"),
    # ------------------------------------------------------------------ power, matmul
    mutant("pow_forgets_minus_one", "tensor_power_matmul", [
        ("self.grad += p * self.data ** (p - 1) * out.grad", "self.grad += p * self.data ** p * out.grad")],
        r"x\.grad from x \*\* 3"),
    mutant("matmul_grad_order_swapped", "tensor_power_matmul", [
        ("self.grad += out.grad @ other.data.T", "self.grad += other.data.T @ out.grad.T")],
        r"_backward of A @ B\(\) raised|A\.grad from A @ B"),
    mutant("transpose_backward_not_transposed", "tensor_power_matmul", [
        ("self.grad += out.grad.T", "self.grad += out.grad.reshape(self.shape)")],
        r"A\.grad from A\.T"),
    mutant("reshape_only_star_args", "tensor_power_matmul", [
        ("        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):\n            shape = tuple(shape[0])\n",
         "        shape = tuple(int(s) for s in shape)\n")],
        r"reshape\(\(6,\)\)"),
    # ------------------------------------------------------------------ functions
    mutant("relu_derivative_one_at_zero", "tensor_functions", [
        ("self.grad += (self.data > 0) * out.grad", "self.grad += (self.data >= 0) * out.grad")],
        r"x == 0"),
    mutant("tanh_derivative_of_input", "tensor_functions", [
        ("self.grad += (1.0 - t ** 2) * out.grad", "self.grad += (1.0 - self.data ** 2) * out.grad")],
        r"OUTPUT squared"),
    mutant("log_derivative_of_output", "tensor_functions", [
        ("self.grad += out.grad / self.data", "self.grad += out.grad / out.data")],
        r"x\.grad from log"),
    # ------------------------------------------------------------------ reductions
    mutant("mean_backward_not_divided", "tensor_reductions", [
        ("self.grad += np.broadcast_to(grad, self.shape) / count", "self.grad += np.broadcast_to(grad, self.shape)")],
        r"divide by the 6 entries"),
    mutant("sum_backward_not_expanded", "tensor_reductions", [
        ("grad = out.grad if keepdims else np.expand_dims(out.grad, axes)\n            self.grad += np.broadcast_to(grad, self.shape)\n",
         "self.grad += np.broadcast_to(out.grad, self.shape)\n")],
        r"put the summed axis back"),
    # ------------------------------------------------------------------ backward
    mutant("backward_forward_order", "backward", [
        ("for node in reversed(order):\n            node._backward()", "for node in order:\n            node._backward()")],
        r"forward order"),
    mutant("backward_breadth_first", "backward", [
        ("        order = self._topological_order()\n        for node in order:\n",
         "        order, seen, queue = [], set(), [self]\n"
         "        while queue:\n"
         "            node = queue.pop(0)\n"
         "            if id(node) not in seen:\n"
         "                seen.add(id(node)); order.append(node); queue.extend(node._prev)\n"
         "        order.reverse()\n        for node in order:\n")],
        r"wrong order"),
    mutant("backward_no_visited_set", "backward", [
        ("            if id(node) in seen:\n                continue\n", ""),
        ("                if id(parent) not in seen:\n                    stack.append((parent, False))",
         "                stack.append((parent, False))")],
        r"more than once"),
    mutant("backward_keeps_interior_grads", "backward", [
        ("            if node._prev:\n                node.grad = np.zeros_like(node.data)\n", "            pass\n")],
        r"interior nodes"),
    mutant("backward_overwrites_leaves", "backward", [
        ("            if node._prev:\n                node.grad = np.zeros_like(node.data)\n",
         "            node.grad = np.zeros_like(node.data)\n")],
        r"`=` where `\+=` belongs"),
    mutant("backward_accepts_non_scalar", "backward", [
        ("        if self.data.size != 1:\n", "        if False:\n"),
        ("        self.grad = self.grad + 1.0\n", "        self.grad = self.grad + np.ones_like(self.data)\n")],
        r"Raise a ValueError"),
    mutant("detach_returns_self", "backward", [
        ("        return Tensor(self.data)\n", "        return self\n")],
        r"detach"),
    # ------------------------------------------------------------------ cross-entropy
    mutant("cross_entropy_unstable", "ad_cross_entropy", [
        ("    z = logits - shift\n", "    z = logits\n")],
        r"Subtract each row's maximum|overflow|RuntimeWarning"),
    mutant("cross_entropy_sum_not_mean", "ad_cross_entropy", [
        ("return (log_norm.sum() - (z * onehot).sum()) / n", "return log_norm.sum() - (z * onehot).sum()")],
        r"summed over the N"),
    # ------------------------------------------------------------------ MLP
    mutant("mlp_relu_after_last_layer", "ad_mlp", [
        ("            if i < len(self.layers) - 1:\n                h = h.relu()", "            h = h.relu()")],
        r"no ReLU after the last layer"),
    mutant("mlp_init_scale_one_over_fan_in", "ad_mlp", [
        ("np.sqrt(2.0 / fan_in)", "np.sqrt(1.0 / fan_in)")],
        r"sqrt\(2 / fan_in\)"),
    mutant("mlp_random_biases", "ad_mlp", [
        ("b = Tensor(np.zeros(fan_out))", "b = Tensor(rng.normal(0.0, 0.01, fan_out))")],
        r"W2 of MLP|b1"),
]
