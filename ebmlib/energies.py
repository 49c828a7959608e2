"""Energy machines E(W, Y, X) (lecture, "Examples of EBM" slides).

A machine scores a batch of inputs X (batch, n_x) against candidate answers
Ys, either one set shared by the batch, (n_answers, n_y), or one set per
sample, (batch, n_answers, n_y):

- ``energies = machine.fprop(X, Ys)`` has shape (batch, n_answers);
- ``machine.bprop(dE)`` takes dL/dE of that shape and accumulates
  dL/dW = sum_Y dL/dE(Y) dE(Y)/dW into the pooled ``params.dx`` (slide
  "Gradient of the Loss, gradient of the Energy") -- a loss sees the machine
  only through its energies;
- ``machine.infer(X, Ys)`` is MAP inference, the lowest-energy answer.
"""
from .backend import to_device, xp
from .inference import argmin
from .modules import Cascade, Euclidean, L1Distance, Linear, Parameters, State

__all__ = ["EnergyMachine", "Matcher", "Regressor", "linear_regression", "Classifier",
           "Perceptron", "LatentEnergy"]

DISTANCES = {"l2": Euclidean, "l1": L1Distance}


def _as_batch(fn, X, n):
    X = to_device(X)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or (n is not None and X.shape[1] != n):
        raise ValueError(f"{fn}: X must have shape (batch, {n or 'n_x'}), got {tuple(X.shape)}")
    return X


def _candidates(fn, Ys, batch):
    """Ys as (batch, n_answers, n_y) (a view when the set is shared)."""
    Ys = to_device(Ys)
    if Ys.ndim == 1:
        Ys = Ys[:, None]
    if Ys.ndim == 2:
        Ys = xp.broadcast_to(Ys[None], (batch, *Ys.shape))
    if Ys.ndim != 3 or Ys.shape[0] != batch or Ys.shape[1] == 0:
        raise ValueError(f"{fn}: Ys must have shape (n_answers, n_y) or (batch={batch}, "
                         f"n_answers, n_y), got {tuple(Ys.shape)}")
    return Ys


class EnergyMachine:
    """Base class: ``fprop(X, Ys) -> energies``, ``bprop(dE)``, ``infer(X, Ys)``."""

    params = None

    def infer(self, X, Ys):
        """Y = argmin_Y E(W, Y, X) over the candidates: their values, (batch, n_y)."""
        best = argmin(self.fprop(X, Ys))
        Ys = _candidates(f"{type(self).__name__}.infer", Ys, best.shape[0])
        return Ys[xp.arange(best.shape[0]), best]

    def _grad(self, dE):
        dE = to_device(dE)
        if self._shape is None:
            raise ValueError(f"{type(self).__name__}.bprop: call fprop first")
        if dE.shape != self._shape:
            raise ValueError(f"{type(self).__name__}.bprop: dE must have the energies' shape "
                             f"{self._shape}, got {tuple(dE.shape)}")
        return dE


class Matcher(EnergyMachine):
    """E(W, Y, X) = D(G1(W1, X), G2(W2, Y)): the two-input matcher, or implicit
    regression, "architecture B" of the demos (slide "Examples of EBM: Matcher").

    ``g1`` and ``g2`` are modules sharing one Parameters pool (``g2=None``
    gives the regressor); ``distance`` is "l2" (1/2 ||.||^2, the Euclidean
    module) or "l1" (the paper's demos).
    """

    def __init__(self, g1, g2, distance="l2"):
        if distance not in DISTANCES:
            raise ValueError(f"{type(self).__name__}: distance must be one of "
                             f"{sorted(DISTANCES)}, got {distance!r}")
        self.g1, self.g2, self.distance = g1, g2, DISTANCES[distance]()
        self.params = Cascade(*[g for g in (g1, g2) if g is not None]).params
        self._shape = None

    def fprop(self, X, Ys):
        name = f"{type(self).__name__}.fprop"
        X = _as_batch(name, X, getattr(self.g1, "n_in", None))
        Ys = _candidates(name, Ys, X.shape[0])
        batch, k, n_y = Ys.shape
        self._x, self._gx = State(X, requires_dx=False), State()
        self.g1.fprop(self._x, self._gx)
        self._y = State(xp.ascontiguousarray(Ys).reshape(batch * k, n_y), requires_dx=False)
        if self.g2 is None:
            self._gy = self._y
        else:
            self._gy = State()
            self.g2.fprop(self._y, self._gy)
        self._gxk = State(xp.repeat(self._gx.x, k, axis=0))  # G1(X^b), once per candidate
        self._e = State()
        self.distance.fprop(self._gxk, self._gy, self._e)
        self._shape = (batch, k)
        return self._e.x.reshape(batch, k)

    def bprop(self, dE):
        dE = self._grad(dE)
        self._e.dx = dE.reshape(-1)
        self.distance.bprop(self._gxk, self._gy, self._e)
        self._gx.dx = self._gxk.dx.reshape(*self._shape, -1).sum(axis=1)
        self.g1.bprop(self._x, self._gx)
        if self.g2 is not None:
            self.g2.bprop(self._y, self._gy)


    def energy_and_grad(self, X, Y, wrt="y"):
        """E(W, Y_b, X_b) of paired rows X (n, n_x), Y (n, n_y), and its gradient with respect
        to Y (``wrt="y"``) or X (``wrt="x"``), by one backward pass through the machine: what
        :func:`~ebmlib.inference.gradient_descent` needs to infer an answer (slide "Finding
        the Y that minimizes the energy may be non-trivial") or an input. dL/dW in
        ``params.dx`` is left as it was."""
        if wrt not in ("x", "y"):
            raise ValueError(f"{type(self).__name__}.energy_and_grad: wrt must be 'x' or 'y', "
                             f"got {wrt!r}")
        x, y = State(to_device(X), wrt == "x"), State(to_device(Y), wrt == "y")
        gx, e = State(), State()
        gy = y if self.g2 is None else State()
        saved = self.params.dx.copy()
        self.g1.fprop(x, gx)
        if self.g2 is not None:
            self.g2.fprop(y, gy)
        self.distance.fprop(gx, gy, e)
        e.dx = xp.ones_like(e.x)
        self.distance.bprop(gx, gy, e)
        if wrt == "x":
            self.g1.bprop(x, gx)
        elif self.g2 is not None:
            self.g2.bprop(y, gy)
        self.params.dx[...] = saved
        return e.x, (x if wrt == "x" else y).dx


class Regressor(Matcher):
    """E(W, Y, X) = D(Y, G(W, X)); MAP inference gives Y = G(W, X) (slide
    "Examples of EBM: Regressor")."""

    def __init__(self, g, distance="l2"):
        super().__init__(g, None, distance)


def linear_regression(n_in, n_out=1, params=None):
    """E(W, Y, X) = 1/2 ||Y - W'X||^2 (slide "Linear Regression")."""
    return Regressor(Linear(n_in, n_out, Parameters() if params is None else params), "l2")


class Classifier(EnergyMachine):
    """E(W, Y, X) = sum_k G_k(W, X) delta(k, Y): G(W, X)_k is the cost of
    class k (slide "Examples of EBM: Classifier"). The answers are the class
    indices 0..n-1, so ``fprop(X)`` takes no Ys."""

    def __init__(self, g):
        self.g, self.params = g, g.params
        self._shape = None

    def fprop(self, X, Ys=None):
        self._x, self._out = State(_as_batch("Classifier.fprop", X, None),
                                   requires_dx=False), State()
        self.g.fprop(self._x, self._out)
        self._shape = tuple(self._out.x.shape)
        return self._out.x

    def bprop(self, dE):
        self._out.dx = self._grad(dE)
        self.g.bprop(self._x, self._out)

    def infer(self, X, Ys=None):
        """The class of lowest energy, min_k G_k(W, X)."""
        return argmin(self.fprop(X))


class Perceptron(EnergyMachine):
    """E(W, Y, X) = -scale * Y W'X with Y in {-1, +1} (slide "Examples of EBM
    Classifier: Perceptron"); the answers are ordered (-1, +1). With
    ``scale=0.5`` and the NLL loss (beta = 1) this is logistic regression
    (slide "Logistic Regression")."""

    ANSWERS = (-1.0, 1.0)

    def __init__(self, n_in, params=None, scale=1.0):
        self.linear = Linear(n_in, 1, Parameters() if params is None else params)
        self.params, self.scale = self.linear.params, scale
        self._shape = None

    def fprop(self, X, Ys=None):
        self._x, self._r = State(_as_batch("Perceptron.fprop", X, self.linear.n_in),
                                 requires_dx=False), State()
        self.linear.fprop(self._x, self._r)  # R = W'X
        y = xp.asarray(self.ANSWERS, dtype=self._r.x.dtype)
        self._shape = (self._r.x.shape[0], 2)
        return -self.scale * self._r.x * y

    def bprop(self, dE):
        y = xp.asarray(self.ANSWERS, dtype=self._r.x.dtype)
        self._r.dx = (-self.scale * self._grad(dE) * y).sum(axis=1, keepdims=True)
        self.linear.bprop(self._x, self._r)

    def infer(self, X, Ys=None):
        """sign(W'X), as -1.0 or +1.0."""
        return xp.asarray(self.ANSWERS)[argmin(self.fprop(X))]


class LatentEnergy(EnergyMachine):
    """E(W, Y, X) = min_z E(W, Y, z, X) (slide "Energy-Based Models with Latent
    Variables"): ``machine`` scores the candidates [Y; z] for every Y in Ys and
    z in ``zs`` (n_z, n_zdim); bprop sends dL/dE to the minimising z only."""

    def __init__(self, machine, zs):
        self.machine, self.params = machine, machine.params
        zs = to_device(zs)
        self.zs = zs[:, None] if zs.ndim == 1 else zs
        self._shape = None

    def fprop(self, X, Ys):
        X = _as_batch("LatentEnergy.fprop", X, None)
        Ys = _candidates("LatentEnergy.fprop", Ys, X.shape[0])
        batch, k, _ = Ys.shape
        n_z = self.zs.shape[0]
        pairs = xp.concatenate([xp.repeat(Ys, n_z, axis=1),
                                xp.broadcast_to(xp.tile(self.zs, (k, 1))[None],
                                                (batch, k * n_z, self.zs.shape[1]))], axis=2)
        e = self.machine.fprop(X, pairs).reshape(batch, k, n_z)
        self.z_index = xp.argmin(e, axis=2)  # the inferred latent value per (X, Y)
        self._shape = (batch, k)
        return xp.take_along_axis(e, self.z_index[..., None], 2)[..., 0]

    def bprop(self, dE):
        dE = self._grad(dE)
        chosen = xp.arange(self.zs.shape[0]) == self.z_index[..., None]
        self.machine.bprop((chosen * dE[..., None]).reshape(self._shape[0], -1))
