"""Modules with fprop/bprop, after the lecture's "Multi-Module Systems" and Lush slides.

A :class:`State` holds a forward state ``x`` and the derivative of the energy
with respect to it, ``dx`` (slide "OO Implementation: the state Class").
Every module has ``fprop(inputs..., out)``, which computes ``out.x`` from the
inputs' ``x``, and ``bprop(inputs..., out)``, which computes each input's
``dx`` from ``out.dx`` (slides "Object-Oriented Implementation").

Batched: the leading axis of every ``x`` is the sample axis; per-sample SGD is
a batch of one.

What accumulates: parameter gradients (``params.dx``) are *added to* by every
bprop until cleared with :meth:`Parameters.clear_grad`. Input gradients
(``inp.dx``) are *overwritten* by each bprop. A state made with
``requires_dx=False`` (e.g. the data) gets no input gradient at all.

Shapes are checked on the first call with given shapes, with a message that
says what was expected; a repeated call with the same shapes skips the checks.

All parameters live in one flat vector, :class:`Parameters` (slide "Assembling
the Network: training": "pool all the weights ... in a single vector"): each
module's weights are views into it, so an SGD step is one vector operation.
"""
import math

import numpy as np

from .backend import asnumpy, to_device, xp

__all__ = ["ShapeError", "State", "Parameters", "Module", "Linear", "Tanh",
           "Sigmoid", "Euclidean", "L1Distance", "RBF", "Cascade", "nn_layer", "nn_2layer"]


class ShapeError(ValueError):
    """A state does not have the shape a module expects."""


class State:
    """A forward state ``x`` and its gradient ``dx`` = dE/dx."""

    __slots__ = ("x", "dx", "requires_dx")

    def __init__(self, x=None, requires_dx=True):
        self.x = x
        self.dx = None
        self.requires_dx = requires_dx

    def resize(self, shape, dtype):
        """Make ``x`` an array of ``shape`` (reusing its buffer when it fits);
        the lecture's ``(==> output resize ...)``."""
        x = self.x
        if x is None or x.shape != shape or x.dtype != dtype:
            self.x = xp.empty(shape, dtype=dtype)
        return self.x

    def __repr__(self):
        shape = None if self.x is None else tuple(self.x.shape)
        return f"State(x.shape={shape})"


class Parameters:
    """All free parameters of a machine pooled in one flat vector ``x``, with
    its gradient ``dx``; modules hold :class:`State` views into both."""

    def __init__(self, dtype="float64", seed=0):
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.x = xp.zeros(0, dtype=self.dtype)
        self.dx = xp.zeros(0, dtype=self.dtype)
        self._views = []  # (State, offset, shape)

    def new(self, init):
        """Append a parameter initialised from ``init`` (a host or device array);
        return its :class:`State`, whose ``x``/``dx`` are views into the pool."""
        init = np.asarray(asnumpy(init), dtype=self.dtype)
        offset = self.x.size
        self.x = xp.concatenate([self.x, to_device(init.reshape(-1))])
        self.dx = xp.zeros(self.x.size, dtype=self.dtype)
        state = State()
        self._views.append((state, offset, init.shape))
        for view, start, shape in self._views:  # the vectors moved: re-point all views
            stop = start + math.prod(shape)
            view.x = self.x[start:stop].reshape(shape)
            view.dx = self.dx[start:stop].reshape(shape)
        return state

    def clear_grad(self):
        """Set every parameter gradient to zero."""
        self.dx[...] = 0

    def __len__(self):
        return int(self.x.size)

    def __repr__(self):
        return f"Parameters({len(self)} x {self.dtype})"


class Module:
    """Base class: ``fprop(inputs..., out)`` and ``bprop(inputs..., out)``."""

    params = None  # the Parameters pool, for modules that have weights
    # the shapes last checked by fprop and by bprop: a repeated shape is not checked again
    _fprop_shapes = _bprop_shapes = None

    def fprop(self, *states):
        raise NotImplementedError

    def bprop(self, *states):
        raise NotImplementedError

    def _expect(self, method, what, shape, expected):
        """Raise a ShapeError unless ``shape`` matches ``expected`` (None = any)."""
        if shape is None:
            raise ShapeError(f"{self!r}.{method}: {what} is not set "
                             f"(call fprop before bprop)")
        if len(shape) == len(expected):  # a plain loop: this runs on every call
            for s, e in zip(shape, expected):
                if e is not None and s != e:
                    break
            else:
                return
        want = "(" + ", ".join("batch" if e is None else str(e) for e in expected) + ")"
        raise ShapeError(f"{self!r}.{method}: {what} has shape {tuple(shape)}, "
                         f"expected {want}")

    def _expect_grad(self, out):
        """Check that ``out.dx`` exists and matches ``out.x`` before a bprop."""
        if out.x is None or out.dx is None:
            raise ShapeError(f"{self!r}.bprop: output {'x' if out.x is None else 'dx'} "
                             "is not set (call fprop, then set out.dx, before bprop)")
        self._expect("bprop", "output dx", out.dx.shape, out.x.shape)


def _shape(state):
    return None if state.x is None else state.x.shape


def _shapes(inp, out):
    """The shapes of ``inp.x``, ``out.x`` and ``out.dx``; None if one is unset."""
    if inp.x is None or out.x is None or out.dx is None:
        return None
    return inp.x.shape, out.x.shape, out.dx.shape


def _result_type(a, b):
    return a if a == b else xp.result_type(a, b)


class Linear(Module):
    """X_out = W X_in, W of shape (n_out, n_in) (slide "Linear Module").

    bprop: dE/dX_in = dE/dX_out W; dE/dW += dE/dX_out' X_in (an outer product).
    """

    def __init__(self, n_in, n_out, params=None):
        self.n_in, self.n_out = n_in, n_out
        self.params = Parameters() if params is None else params
        bound = 1.0 / math.sqrt(n_in)
        self.w = self.params.new(self.params.rng.uniform(-bound, bound, (n_out, n_in)))
        self._dw = None  # scratch for dE/dW before it is accumulated

    def fprop(self, inp, out):
        x, w = inp.x, self.w.x
        if x is None or x.shape != self._fprop_shapes:
            self._expect("fprop", "input x", _shape(inp), (None, self.n_in))
            self._fprop_shapes = x.shape
        out.resize((x.shape[0], self.n_out), _result_type(x.dtype, w.dtype))
        xp.matmul(x, w.T, out=out.x)

    def bprop(self, inp, out):
        shapes = _shapes(inp, out)
        if shapes is None or shapes != self._bprop_shapes:
            self._expect_grad(out)
            self._expect("bprop", "input x", _shape(inp), (out.x.shape[0], self.n_in))
            self._bprop_shapes = shapes
        if inp.requires_dx:
            inp.dx = out.dx @ self.w.x
        dtype = _result_type(out.dx.dtype, inp.x.dtype)
        if self._dw is None or self._dw.dtype != dtype:
            self._dw = xp.empty(self.w.x.shape, dtype=dtype)
        xp.matmul(out.dx.T, inp.x, out=self._dw)
        self.w.dx += self._dw

    def __repr__(self):
        return f"Linear({self.n_in}->{self.n_out})"


class _Squash(Module):
    """(X_out)_i = f((X_in)_i + B_i) with trainable biases B (slide "Sigmoid Module")."""

    def __init__(self, n, params=None):
        self.n = n
        self.params = Parameters() if params is None else params
        self.bias = self.params.new(np.zeros(n))

    def fprop(self, inp, out):
        x, b = inp.x, self.bias.x
        if x is None or x.shape != self._fprop_shapes:
            self._expect("fprop", "input x", _shape(inp), (None, self.n))
            self._fprop_shapes = x.shape
        y = out.resize(x.shape, _result_type(x.dtype, b.dtype))
        xp.add(x, b, out=y)
        self._f(y)

    def bprop(self, inp, out):
        shapes = _shapes(inp, out)
        if shapes is None or shapes != self._bprop_shapes:
            self._expect_grad(out)
            self._expect("bprop", "input x", _shape(inp), out.x.shape)
            self._bprop_shapes = shapes
        d = self._df(out.x)
        d *= out.dx
        if inp.requires_dx:
            inp.dx = d
        self.bias.dx += d.sum(axis=0)

    def __repr__(self):
        return f"{type(self).__name__}({self.n})"


class Tanh(_Squash):
    """tanh-module: X_out = tanh(X_in + B); tanh' = 1 - tanh^2."""

    @staticmethod
    def _f(y):
        xp.tanh(y, out=y)

    @staticmethod
    def _df(y):
        return 1 - y * y


class Sigmoid(_Squash):
    """Logistic module: X_out = 1 / (1 + exp(-(X_in + B))); f' = f (1 - f)."""

    @staticmethod
    def _f(y):  # 1 / (1 + exp(-s)) = (1 + tanh(s / 2)) / 2, which never overflows
        y *= 0.5
        xp.tanh(y, out=y)
        y += 1
        y *= 0.5

    @staticmethod
    def _df(y):
        return y * (1 - y)


class _Distance(Module):
    """A two-input energy E = D(X_in, Y) per sample: ``fprop(inp, y, out)``
    gives ``out.x`` of shape (batch,); bprop takes ``out.dx`` = dL/dE and gives
    dL/dX_in = D'(X_in - Y) dL/dE and dL/dY = -dL/dX_in."""

    def fprop(self, inp, y, out):
        shapes = (_shape(inp), _shape(y))
        if shapes != self._fprop_shapes:
            self._expect("fprop", "input x", shapes[0], (None, None))
            self._expect("fprop", "input y", shapes[1], inp.x.shape)
            self._fprop_shapes = shapes
        out.x = self._d(inp.x - y.x)

    def bprop(self, inp, y, out):
        shapes = _shapes(inp, out), _shape(y)
        if shapes[0] is None or shapes != self._bprop_shapes:
            self._expect_grad(out)
            self._expect("bprop", "input x", _shape(inp), (out.x.shape[0], None))
            self._expect("bprop", "input y", _shape(y), inp.x.shape)
            self._bprop_shapes = shapes
        d = self._dd(inp.x - y.x) * out.dx[:, None]
        if inp.requires_dx:
            inp.dx = d
        if y.requires_dx:
            y.dx = -d

    def __repr__(self):
        return f"{type(self).__name__}()"


class Euclidean(_Distance):
    """E = 1/2 ||Y - X_in||^2 per sample, two inputs (slide "Euclidean Module");
    dL/dX_in = (X_in - Y) dL/dE."""

    @staticmethod
    def _d(diff):
        return 0.5 * (diff * diff).sum(axis=1)

    @staticmethod
    def _dd(diff):
        return diff


class L1Distance(_Distance):
    """E = ||Y - X_in||_1 per sample, two inputs: the distance of the lecture's
    "EBM Demos"; dL/dX_in = sign(X_in - Y) dL/dE, with a kink at X_in = Y."""

    @staticmethod
    def _d(diff):
        return xp.abs(diff).sum(axis=1)

    @staticmethod
    def _dd(diff):
        return xp.sign(diff)


class RBF(Module):
    """Radial basis functions with trainable centres: (X_out)_k = ||X_in - C_k||^2
    (lecture, "Other Architectures that may collapse")."""

    def __init__(self, n_in, n_centres, params=None):
        self.n_in, self.n_centres = n_in, n_centres
        self.params = Parameters() if params is None else params
        self.centres = self.params.new(self.params.rng.uniform(-1, 1, (n_centres, n_in)))

    def fprop(self, inp, out):
        self._expect("fprop", "input x", _shape(inp), (None, self.n_in))
        diff = inp.x[:, None, :] - self.centres.x[None, :, :]
        out.x = (diff * diff).sum(axis=2)

    def bprop(self, inp, out):
        self._expect_grad(out)
        self._expect("bprop", "input x", _shape(inp), (out.x.shape[0], self.n_in))
        d = 2 * (inp.x[:, None, :] - self.centres.x[None, :, :]) * out.dx[:, :, None]
        if inp.requires_dx:
            inp.dx = d.sum(axis=1)
        self.centres.dx -= d.sum(axis=0)

    def __repr__(self):
        return f"RBF({self.n_in}->{self.n_centres})"


class Cascade(Module):
    """X_i = F_i(X_{i-1}, W_i), i = 1..n (slide "Multi-Module Systems: Cascade").

    fprop runs the modules forward through internal states; bprop runs them
    backward. The modules' weights must share one :class:`Parameters` pool.
    """

    def __init__(self, *modules):
        if not modules:
            raise ValueError("Cascade: give at least one module")
        pools = {id(m.params): m.params for m in modules if m.params is not None}
        if len(pools) > 1:
            raise ValueError("Cascade: the modules hold weights in different Parameters "
                             "pools; build them with the same `params` to pool them")
        self.params = next(iter(pools.values()), None)
        self.modules, self._backward = modules, modules[::-1]
        self.states = tuple(State() for _ in modules[:-1])

    def fprop(self, inp, out):
        for module, i, o in zip(self.modules, (inp, *self.states), (*self.states, out)):
            module.fprop(i, o)

    def bprop(self, inp, out):
        for module, i, o in zip(self._backward, (inp, *self.states)[::-1],
                                (out, *self.states[::-1])):
            module.bprop(i, o)

    def __repr__(self):
        return "Cascade(" + ", ".join(map(repr, self.modules)) + ")"


def nn_layer(n_in, n_out, params):
    """One layer of a neural net: Linear then Tanh (the lecture's nn-layer)."""
    return Cascade(Linear(n_in, n_out, params), Tanh(n_out, params))


def nn_2layer(n_in, n_hidden, n_out, params):
    """Two layers, each Linear then Tanh (the lecture's nn-2layer)."""
    return Cascade(nn_layer(n_in, n_hidden, params), nn_layer(n_hidden, n_out, params))
