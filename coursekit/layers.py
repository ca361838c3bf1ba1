"""Layer scaffolds: plug your forward/backward functions into a network.

coursekit does not implement any layer. You write CS231n-style pairs::

    out, cache = affine_forward(x, w, b)      # forward(x, *params, **hyper)
    dx, dw, db = affine_backward(dout, cache) # backward(dout, cache)

and these three small classes do the bookkeeping around them:

- :class:`Layer` holds one pair, its parameters (``W``, ``b``, ...), its
  hyper-parameters (``alpha=0.1``, ``bn_param={...}``), the cache between the
  passes, and the gradients the backward pass returns.
- :class:`Sequential` chains layers and gives their parameters CS231n names:
  the ``W`` of the first layer that has a ``W`` is ``W1``, of the second ``W2``, ...
- :class:`Model` adds a loss (your ``softmax_loss``) and L2 regularization and
  follows CS231n's model contract, so :class:`coursekit.solver.Solver` trains it.

Example, with your own functions from assignments 01 and 02::

    net = Sequential(
        Layer(affine_forward, affine_backward, {"W": 1e-2 * np.random.randn(64, 100), "b": np.zeros(100)}),
        Layer(relu_forward, relu_backward),
        Layer(affine_forward, affine_backward, {"W": 1e-2 * np.random.randn(100, 10), "b": np.zeros(10)}),
    )
    model = Model(net, softmax_loss, reg=1e-3)
    sorted(model.params)           # ['W1', 'W2', 'b1', 'b2']
    scores = model.loss(X)         # (N, 10), test mode
    loss, grads = model.loss(X, y) # train mode; grads has the keys of model.params
"""

from collections import Counter
from collections.abc import MutableMapping

import numpy as np

__all__ = ["Layer", "Sequential", "Model", "LayerError"]


class LayerError(ValueError):
    """A forward or backward function broke the layer contract (wrong return, wrong shape)."""


def _shape(a):
    return getattr(a, "shape", type(a).__name__)


class Layer:
    """One layer: your ``forward``/``backward`` pair plus its parameters.

    Parameters
    ----------
    forward : callable
        ``forward(x, *params.values(), **hyper) -> (out, cache)``. Parameters are
        passed positionally, in the order of ``params``.
    backward : callable
        ``backward(dout, cache) -> dx`` for a layer without parameters, else
        ``-> (dx, dparam1, dparam2, ...)`` in the order of ``params``.
    params : dict of str -> ndarray, optional
        The learnable arrays, e.g. ``{"W": W (D, M), "b": b (M,)}``.
    name : str, optional
        For messages; defaults to the forward function's name without ``_forward``.
    **hyper
        Fixed keyword arguments for ``forward``, e.g. ``alpha=0.1`` or
        ``bn_param={"eps": 1e-5}``. A dict whose name ends in ``_param`` is the
        layer's state, kept (not copied) across calls, so running averages your
        forward updates in place persist; its ``"mode"`` key starts as
        ``"train"`` and is set by ``forward(x, mode=...)``.

    Attributes
    ----------
    params, grads : dict of str -> ndarray
        ``grads`` has the keys and shapes of ``params`` after ``backward``.
    hyper : dict
    """

    def __init__(self, forward, backward, params=None, name=None, **hyper):
        self.forward_fn, self.backward_fn = forward, backward
        self.params = {k: np.asarray(v) for k, v in (params or {}).items()}
        self.name = name or getattr(forward, "__name__", "layer").removesuffix("_forward")
        self.hyper = hyper
        for key, value in hyper.items():
            if key.endswith("_param") and isinstance(value, dict):
                value.setdefault("mode", "train")
        self.grads = {}
        self._cache = self._x_shape = None

    def set_mode(self, mode):
        """Set ``"mode"`` in every ``*_param`` dict, and a hyper-parameter called ``mode``."""
        for key, value in self.hyper.items():
            if key.endswith("_param") and isinstance(value, dict):
                value["mode"] = mode
        if "mode" in self.hyper:
            self.hyper["mode"] = mode

    def forward(self, x, mode=None):
        """Run ``forward(x, *params, **hyper)``; keep the cache; return ``out``.

        ``x`` has whatever shape your forward accepts, e.g. ``(N, D)``; ``mode`` is
        ``"train"``, ``"test"`` or None (keep the current mode).
        """
        if mode is not None:
            self.set_mode(mode)
        result = self.forward_fn(x, *self.params.values(), **self.hyper)
        if not (isinstance(result, tuple) and len(result) == 2):
            got = f"a tuple of {len(result)}" if isinstance(result, tuple) else type(result).__name__
            raise LayerError(f"layer {self.name!r}: forward must return (out, cache), got {got}")
        out, self._cache = result
        self._x_shape = np.shape(x)
        return out

    def backward(self, dout):
        """Run ``backward(dout, cache)``; store ``self.grads``; return ``dx`` (shape of ``x``)."""
        if self._x_shape is None:
            raise RuntimeError(f"layer {self.name!r}: backward called before forward; "
                               "call forward(x) first, it leaves the cache backward needs")
        result = self.backward_fn(dout, self._cache)
        names = list(self.params)
        want = ", ".join(["dx"] + ["d" + n for n in names])
        if not names and isinstance(result, tuple) and len(result) == 1:
            result = result[0]
        if names:
            n_got = len(result) if isinstance(result, (tuple, list)) else 1
            if n_got != 1 + len(names):
                got = f"{n_got} array{'s' * (n_got != 1)}" if result is not None else "None"
                has = f"{len(names)} parameter{'s' * (len(names) != 1)} ({', '.join(names)})"
                raise LayerError(f"layer {self.name!r}: backward returned {got}, but the layer has "
                                 f"{has}, so backward must return {1 + len(names)}: ({want})")
            dx, *dparams = result
        else:
            if result is None or isinstance(result, tuple):
                got = "None" if result is None else f"a tuple of {len(result)}"
                raise LayerError(f"layer {self.name!r} has no parameters, so backward must return "
                                 f"just dx, got {got}")
            dx, dparams = result, []
        if np.shape(dx) != self._x_shape:
            raise LayerError(f"layer {self.name!r}: dx has shape {_shape(dx)}, but the input x "
                             f"had shape {self._x_shape}; dx must have x's shape")
        for name, g in zip(names, dparams):
            if np.shape(g) != self.params[name].shape:
                raise LayerError(f"layer {self.name!r}: gradient d{name} has shape {_shape(g)}, "
                                 f"but parameter {name} has shape {self.params[name].shape}")
        self.grads = dict(zip(names, dparams))
        return dx

    def __repr__(self):
        params = "".join(f" {k}{v.shape}" for k, v in self.params.items())
        hyper = "".join(f" {k}={v!r}" for k, v in self.hyper.items())
        return f"Layer({self.name}{params}{hyper})"


class _Params(MutableMapping):
    """The network's parameters under their flat names; reading and writing go to the layers."""

    def __init__(self, slots):
        self._slots = slots  # flat name -> (layer, key)

    def __getitem__(self, name):
        layer, key = self._slots[name]
        return layer.params[key]

    def __setitem__(self, name, value):
        if name not in self._slots:
            raise KeyError(f"no parameter {name!r}; this network's parameters are {list(self._slots)}")
        layer, key = self._slots[name]
        layer.params[key] = value

    def __delitem__(self, name):
        raise TypeError("a network's parameters cannot be deleted")

    def __iter__(self):
        return iter(self._slots)

    def __len__(self):
        return len(self._slots)

    def copy(self):
        """A plain dict with the same arrays (not copies of them)."""
        return dict(self)

    def __repr__(self):
        return repr(dict(self))


class Sequential:
    """Layers applied one after the other; backward runs them in reverse.

    Naming rule: parameter ``p`` of a layer is called ``f"{p}{k}"`` where ``k`` is
    1 + the number of earlier layers that also have a parameter ``p``. So
    affine-relu-affine gives ``W1 b1 W2 b2``, and affine-batchnorm-relu-affine gives
    ``W1 b1 gamma1 beta1 W2 b2``, as in CS231n. Two parameters that would get the
    same name are an error.

    Attributes
    ----------
    layers : list of Layer
    params : mapping of str -> ndarray
        Live view: ``net.params["W1"] = new_W`` replaces the first layer's ``W``.
    grads : dict of str -> ndarray
        Same names, from the last ``backward``.
    """

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential takes Layer objects; item {i} is {type(layer).__name__}")
        self.layers = list(layers)
        slots, where, seen = {}, {}, Counter()  # flat name -> (layer, key); -> description
        for i, layer in enumerate(self.layers):
            for key in layer.params:
                seen[key] += 1
                flat = f"{key}{seen[key]}"
                if flat in slots:
                    raise ValueError(f"two parameters would both be called {flat!r}: {where[flat]} and "
                                     f"{key!r} of layer {i} ({layer.name}); rename one")
                slots[flat], where[flat] = (layer, key), f"{key!r} of layer {i} ({layer.name})"
        self._slots = slots
        self.params = _Params(slots)

    @property
    def grads(self):
        return {flat: layer.grads[key] for flat, (layer, key) in self._slots.items()
                if key in layer.grads}

    def forward(self, x, mode=None):
        """Input ``x (N, ...)`` through every layer; returns the last layer's output."""
        for layer in self.layers:
            x = layer.forward(x, mode=mode)
        return x

    def backward(self, dout):
        """Gradient of the output ``dout`` back through every layer; returns ``dx``."""
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def __iter__(self):
        return iter(self.layers)

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __repr__(self):
        names = {id(layer): [] for layer in self.layers}
        for flat, (layer, key) in self._slots.items():
            names[id(layer)].append(f" {flat}{layer.params[key].shape}")
        lines = [f"  {i}: {layer.name}{''.join(names[id(layer)])}" for i, layer in enumerate(self.layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)"


class Model:
    """A network plus a loss: CS231n's model contract, ready for the Solver.

    Parameters
    ----------
    net : Sequential, a list of Layer, or one Layer
        Maps ``X (N, ...)`` to scores ``(N, C)``.
    loss_fn : callable
        ``loss_fn(scores, y) -> (loss, dscores)``, e.g. your ``softmax_loss``.
    reg : float
        L2 strength: adds ``0.5 * reg * sum(W**2)`` for every parameter whose name
        starts with ``"W"`` (weights, not biases or batchnorm's gamma/beta), and
        ``reg * W`` to its gradient.

    Attributes
    ----------
    params : mapping of str -> ndarray
        The net's parameters by flat name (see :class:`Sequential`). Assigning a
        dict (``model.params = best``) copies its arrays into the layers.
    """

    def __init__(self, net, loss_fn, reg=0.0):
        if isinstance(net, Layer):
            net = [net]
        self.net = net if isinstance(net, Sequential) else Sequential(*net)
        self.loss_fn, self.reg = loss_fn, reg

    @property
    def params(self):
        return self.net.params

    @params.setter
    def params(self, new):
        for name, value in new.items():
            self.net.params[name] = value

    def loss(self, X, y=None):
        """Scores ``(N, C)`` in test mode when ``y`` is None, else ``(loss, grads)`` in train mode.

        ``grads`` is a dict with the keys and shapes of ``params``.
        """
        scores = self.net.forward(X, mode="test" if y is None else "train")
        if y is None:
            return scores
        result = self.loss_fn(scores, y)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise LayerError("loss_fn must return (loss, dscores)")
        loss, dscores = result
        if np.shape(dscores) != np.shape(scores):
            raise LayerError(f"loss_fn returned dscores of shape {_shape(dscores)}, "
                             f"but the scores have shape {np.shape(scores)}")
        self.net.backward(dscores)
        grads = self.net.grads
        for name, W in self.params.items():
            if name.startswith("W") and self.reg:
                loss = loss + 0.5 * self.reg * np.sum(W * W)
                grads[name] = grads[name] + self.reg * W
        return loss, grads

    def __repr__(self):
        loss = getattr(self.loss_fn, "__name__", "loss")
        return f"Model(loss={loss}, reg={self.reg},\n{self.net!r})"
