"""The lecture's "EBM Demos": energy surfaces that collapse, and losses that
prevent it.

- Data: Y = X^2 with X uniform on [-1, 1] (:func:`parabola`), and the eye
  pattern, two valid Y for each X (:func:`eye`).
- Architecture A (:func:`architecture_a`): E = ||G_W(X) - Y||_1, a 1-20-1 net.
- Architecture B (:func:`architecture_b`): E = ||G1_W1(X) - G2_W2(Y)||_1, two
  1-10-10 nets mapping X and Y into a 10-dimensional space.
- An RBF output layer whose centres collapse under the energy loss
  (:func:`rbf_experiment`; lecture, "Other Architectures that may collapse").
- A regulariser instead of a contrastive loss: VICReg's variance term on B's
  two embeddings (:func:`variance_penalty`, :func:`embedding_penalty`).

:func:`experiment` trains a machine with a loss by per-sample SGD and records,
each epoch, the collapse diagnostics of :func:`diagnostics`.
"""
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from . import losses
from .backend import asnumpy, to_device, xp
from .energies import Classifier, Matcher, Regressor
from .inference import _param, argmin, gradient_descent, most_offending
from .modules import RBF, Cascade, Linear, Parameters, State, nn_layer
from .train import train

__all__ = ["parabola", "eye", "architecture_a", "architecture_b", "Experiment",
           "experiment", "diagnostics", "energy_grid", "local_minima", "blobs", "rbf_experiment",
           "descend_offending", "variance_penalty", "embedding_penalty", "LOSSES", "Y_GRIDS",
           "PROBE_X", "SURFACE_X", "surface_ys", "SETTINGS", "RADIUS", "DESCENT", "VARIANCE",
           "RBF_RATES"]

#: The losses of the demos, with the parameters used here.
LOSSES = {
    "energy": (losses.energy_loss, {}),
    "perceptron": (losses.perceptron_loss, {}),
    "square-square": (losses.square_square_loss, {"margin": 1.0}),
    "nll": (losses.nll_loss, {"beta": 2.0}),
}
#: The Y grids of the contrastive losses, per (data, architecture): for A
#: they extend well past the data's range, or their cut-off would bias the
#: prediction.
Y_GRIDS = {("parabola", "A"): np.linspace(-1.0, 2.0, 31),
           ("parabola", "B"): np.linspace(-0.1, 1.1, 21),
           ("eye", "A"): np.linspace(-1.5, 1.5, 31),
           ("eye", "B"): np.linspace(-0.6, 0.6, 21)}
#: Learning rates, epochs and rate decay at which each claim of the lecture
#: holds over seeds 0-4 (tests/test_demos.py). With ``decay`` the rate of
#: epoch t = 0, 1, ... is eta / (1 + t / decay): the NLL loss never stops
#: pushing and the L1 distance's gradient never shrinks, so at a fixed rate
#: per-sample SGD keeps jittering around the answer. The energy and
#: perceptron losses run B at large rates, which flatten it within an epoch or
#: two; the square-square loss runs B at a small one, as a larger one flattens
#: it too (see the chapter).
SETTINGS = {
    ("parabola", "A", "energy"): dict(eta=0.03, epochs=30, decay=5),
    ("parabola", "B", "energy"): dict(eta=0.5, epochs=15, decay=5),
    ("parabola", "B", "perceptron"): dict(eta=0.1, epochs=15, decay=5),
    ("parabola", "B", "square-square"): dict(eta=0.01, epochs=25, decay=5),
    ("parabola", "B", "nll"): dict(eta=0.03, epochs=30, decay=5),
    ("eye", "A", "energy"): dict(eta=0.03, epochs=30, decay=5),
    ("eye", "B", "nll"): dict(eta=0.01, epochs=40),
}
#: The forbidden sphere of the square-square loss (the lecture's demos use
#: 0.2, then 0.1; with this 21-point grid, a fixed 0.3 keeps the margin's hill
#: clear of the well).
RADIUS = 0.3
#: Gradient-descent search for Ybar (``search="descent"``): random starts,
#: steps and step size of the descent in Y.
DESCENT = dict(starts=2, steps=2, eta=0.05)
#: The variance penalty of ``experiment(..., variance=VARIANCE)``: its weight,
#: the standard deviation gamma below which it acts (a tanh output, within
#: (-1, 1), varies with a standard deviation below 1: VICReg's gamma = 1 would
#: push it to saturate), and the number of training pairs drawn at each step
#: whose embeddings it spreads.
VARIANCE = dict(weight=20.0, gamma=0.1, samples=20)
#: Learning rates of the RBF experiment, per loss.
RBF_RATES = {"energy": 0.05, "perceptron": 0.05, "square-square": 0.01, "nll": 0.05}
#: Inputs at which the energy surface is probed for the diagnostics.
PROBE_X = np.linspace(-0.9, 0.9, 7)
#: Inputs at which surfaces are drawn.
SURFACE_X = np.linspace(-1.0, 1.0, 41)


def surface_ys(ys):
    """A grid 8 times finer than the answers' grid ``ys``, spanning it."""
    return np.linspace(ys[0], ys[-1], 8 * (len(ys) - 1) + 1)


def parabola(n=200, seed=0):
    """Y = X^2, X uniform on [-1, 1]; arrays of shape (n, 1)."""
    X = np.random.default_rng(seed).uniform(-1, 1, (n, 1))
    return X, X ** 2


def eye(n=200, seed=0):
    """The eye pattern: Y = +/-(1 - X^2) / 2, both branches equally likely."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 1))
    return X, rng.choice([-0.5, 0.5], (n, 1)) * (1 - X ** 2)


def _hidden_layer(n_hidden, params):
    """A 1-``n_hidden`` tanh layer whose biases are drawn from U(-1, 1): with
    zero biases tanh(w x) is odd in x, and so is every net built on it at the
    start, which then cannot fit an even target such as X^2."""
    layer = nn_layer(1, n_hidden, params)
    layer.modules[1].bias.x[...] = to_device(params.rng.uniform(-1, 1, n_hidden))
    return layer


def architecture_a(seed=0, distance="l1"):
    """E(W, Y, X) = ||G_W(X) - Y||_1, G_W a 1-20-1 net: a tanh hidden layer and
    a linear output, which can reach every answer (a tanh output stays below 1,
    and fits the top of the parabola slowly). ``distance="l2"`` gives
    1/2 (G_W(X) - Y)^2, the quadratic energy of the lecture's Demo 1."""
    params = Parameters(seed=seed)
    return Regressor(Cascade(_hidden_layer(20, params), Linear(20, 1, params)), distance)


def architecture_b(seed=0, n_out=10):
    """E(W, Y, X) = ||G1_W1(X) - G2_W2(Y)||_1 with two 1-10-``n_out`` tanh nets
    (with ``n_out=1`` B collapses even under the square-square loss)."""
    params = Parameters(seed=seed)

    def net():
        return Cascade(_hidden_layer(10, params), nn_layer(10, n_out, params))
    return Matcher(net(), net(), "l1")


def energy_grid(machine, xs, ys):
    """E(W, y, x) for every x in ``xs`` and y in ``ys``: shape (len(xs), len(ys))."""
    return asnumpy(machine.fprop(to_device(np.reshape(xs, (-1, 1))),
                                 to_device(np.reshape(ys, (-1, 1)))))


def local_minima(energies):
    """Indices of the strict local minima of each row (interior points only)."""
    e = np.asarray(energies)
    inner = (e[:, 1:-1] < e[:, :-2]) & (e[:, 1:-1] < e[:, 2:])
    return [np.flatnonzero(row) + 1 for row in inner]


def diagnostics(machine, ys, target=None, X=None, Y=None, radius=RADIUS):
    """Collapse diagnostics of one machine (lecture, "EBM Demos").

    ``spread``: the mean over the probe inputs PROBE_X of max_y E - min_y E
    over ``ys`` (near zero = a flat, collapsed surface). ``gap``: the mean of
    E(Ybar) - E(Y^i) over the samples (X, Y), Ybar the most offending answer
    on the grid ``ys`` outside ``radius``. ``error``: the mean |argmin_y E -
    target(x)| over the probe inputs, when ``target`` is given. Spread and
    error use a grid 8 times finer than ``ys``.
    """
    fine = surface_ys(ys)
    surface = energy_grid(machine, PROBE_X, fine)
    out = {"spread": float((surface.max(axis=1) - surface.min(axis=1)).mean())}
    if X is not None:
        cand = _with_grid(Y, ys)
        e = machine.fprop(to_device(X), to_device(cand))
        correct = xp.zeros(len(X), dtype=xp.int64)
        bar = most_offending(e, correct, ys=to_device(cand[..., 0]), radius=radius)
        gap = e[xp.arange(len(X)), bar] - e[:, 0]
        out["gap"] = float(asnumpy(gap).mean())
    if target is not None:
        best = fine[surface.argmin(axis=1)]
        out["error"] = float(np.abs(best - target(PROBE_X)).mean())
    return out


def _with_grid(Y, grid):
    """Candidates [Y^i, grid...] for each sample: shape (n, 1 + len(grid), 1)."""
    grid = np.broadcast_to(np.reshape(grid, (1, -1)), (len(Y), np.size(grid)))
    return np.concatenate([np.reshape(Y, (-1, 1)), grid], axis=1)[..., None]


def descend_offending(machine, X, Y, lo, hi, radius, rng, starts=3, steps=5, eta=0.02):
    """Most offending answers of B found by gradient descent in Y instead of a
    grid search (lecture: the inference algorithm that finds Ybar "does not
    need to be exact"): from ``starts`` random answers in [lo, hi] per sample,
    ``steps`` steps of y <- y - eta dE/dy, each followed by a projection onto
    [lo, hi] outside the forbidden sphere |y - Y^i| < ``radius``. Returns the
    end points, (n, starts), and the number of energies evaluated (each also
    back-propagated to y)."""
    n = len(X)
    Yi = xp.repeat(to_device(np.reshape(Y, (-1,))), starts)[:, None]
    Xs = xp.repeat(to_device(X), starts, axis=0)

    def project(y):
        y = xp.clip(y, lo, hi)
        below, above = Yi - radius, Yi + radius
        nearer = xp.where((y < Yi) & (below >= lo) | (above > hi), below, above)
        return xp.where(xp.abs(y - Yi) < radius, nearer, y)

    y0 = to_device(rng.uniform(lo, hi, (n * starts, 1)))
    y, _ = gradient_descent(lambda y: machine.energy_and_grad(Xs, project(y)), y0, eta, steps)
    return asnumpy(project(y)).reshape(n, starts), (steps + 1) * starts


def variance_penalty(Z, gamma=1.0, eps=1e-4):
    """VICReg's variance term (Bardes, Ponce and LeCun 2022) on a batch of
    embeddings Z (n, d): v(Z) = (1/d) sum_j max(0, gamma - sqrt(Var(Z[:, j]) +
    eps)), Var the unbiased variance over the n rows. Zero once every
    coordinate varies with a standard deviation of at least ``gamma`` over the
    batch; largest when every row is the same point. Returns (v, dv/dZ)."""
    Z = to_device(Z)
    if Z.ndim != 2 or Z.shape[0] < 2:
        raise ValueError(f"variance_penalty: Z must be a 2-D array (n >= 2 rows, d), got "
                         f"shape {tuple(Z.shape)}")
    gamma = _param("variance_penalty", "gamma", gamma)
    eps = _param("variance_penalty", "eps", eps)
    n, d = Z.shape
    centred = Z - Z.mean(axis=0)
    std = xp.sqrt((centred * centred).sum(axis=0) / (n - 1) + eps)
    short = std < gamma
    value = xp.where(short, gamma - std, 0.0).sum() / d
    return value, -centred * (short / std) / ((n - 1) * d)


def embedding_penalty(machine, X, Y, gamma=1.0, weight=1.0):
    """``weight`` * (v(G1(X)) + v(G2(Y))) for a two-input matcher such as
    architecture B, v the :func:`variance_penalty`, over a batch of training
    pairs (X, Y): a regulariser that keeps G1 from sending every input, and G2
    every answer, to one point, without scoring any wrong answer. Accumulates
    its gradient into ``machine.params.dx``; returns its value (a 0-d array)."""
    if getattr(machine, "g2", None) is None:
        raise ValueError("embedding_penalty: machine must be a two-input matcher with nets g1 "
                         "and g2, such as demos.architecture_b()")
    total = 0.0
    for net, inputs in ((machine.g1, X), (machine.g2, Y)):
        inputs = to_device(inputs)
        inp, out = State(inputs.reshape(len(inputs), -1), False), State()
        net.fprop(inp, out)
        value, grad = variance_penalty(out.x, gamma)
        out.dx = weight * grad
        net.bprop(inp, out)
        total = total + weight * value
    return total


@dataclass
class Experiment:
    """A trained machine, its data, and its per-epoch history."""

    machine: object
    X: np.ndarray
    Y: np.ndarray
    ys: np.ndarray
    loss: str
    history: dict = field(default_factory=dict)
    #: epoch -> E over (SURFACE_X, a grid spanning ys), for the epochs asked for
    snapshots: dict = field(default_factory=dict)
    #: per training step and sample: energies evaluated, and those with a
    #: non-zero dL/dE (the only ones a back-propagation has to visit)
    cost: dict = field(default_factory=dict)

    def surface(self, xs=None, ys=None):
        """E(W, y, x) now, over ``xs`` (default SURFACE_X) and ``ys`` (default
        a fine grid spanning the experiment's Y grid)."""
        return energy_grid(self.machine, SURFACE_X if xs is None else xs,
                           surface_ys(self.ys) if ys is None else ys)


def experiment(architecture="B", loss="energy", data="parabola", epochs=None, eta=None,
               seed=0, radius=RADIUS, batch_size=1, snapshots=(), progress=False, n_out=10,
               distance="l1", search="grid", decay=None, variance=None):
    """Train architecture A or B on ``data`` with one of LOSSES by per-sample SGD,
    at the rate, for the epochs and with the decay of SETTINGS unless given;
    the rate of epoch t is eta / (1 + t / ``decay``), constant for
    ``decay=0``.

    The energy loss needs only E(Y^i); the other losses score [Y^i] plus the Y
    grid Y_GRIDS[data, architecture], and the square-square loss takes Ybar
    outside ``radius`` around Y^i (the demos' "forbidden sphere"); ``radius``
    may be a mapping {first epoch: radius} for a schedule, e.g. {0: 0.2, 10: 0.1}.
    With ``search="descent"`` (B, square-square) Ybar comes from
    :func:`descend_offending` instead of the grid. The history holds each
    epoch's loss and :func:`diagnostics` (index 0 of the diagnostics: before
    training); ``result.snapshots`` the energy surface over (SURFACE_X, a grid
    spanning ys) at the epochs in ``snapshots`` (0 = before training).
    ``n_out`` is the output size of B's two nets, ``distance`` A's distance.
    ``variance`` (B only), a mapping like VARIANCE, adds at every step the
    :func:`embedding_penalty` of ``samples`` training pairs drawn at random,
    with its ``gamma`` and ``weight``; the recorded loss includes it.
    """
    datasets = {"parabola": parabola, "eye": eye}
    if architecture not in ("A", "B") or loss not in LOSSES or data not in datasets:
        raise ValueError(f"experiment: architecture must be 'A' or 'B', loss one "
                         f"of {sorted(LOSSES)}, data one of {sorted(datasets)}; got "
                         f"{architecture!r}, {loss!r}, {data!r}")
    if search not in ("grid", "descent") or (
            search == "descent" and (architecture, loss) != ("B", "square-square")):
        raise ValueError(f"experiment: search must be 'grid', or 'descent' with "
                         f"architecture B and the square-square loss; got {search!r}")
    setting = SETTINGS.get((data, architecture, loss), dict(eta=0.01, epochs=30))
    eta = setting["eta"] if eta is None else eta
    epochs = setting["epochs"] if epochs is None else epochs
    decay = setting.get("decay") if decay is None else decay
    radii = dict(radius) if isinstance(radius, Mapping) else {0: radius}
    machine = (architecture_b(seed, n_out) if architecture == "B"
               else architecture_a(seed, distance))
    X, Y = datasets[data](seed=seed)
    if variance is not None and (architecture != "B" or set(variance) != set(VARIANCE)
                                 or not 2 <= variance["samples"] <= len(X)
                                 or not variance["weight"] >= 0):
        raise ValueError(f"experiment: variance must be None, or with architecture B a "
                         f"mapping with the keys of demos.VARIANCE {sorted(VARIANCE)}, "
                         f"weight >= 0 and 2 <= samples <= {len(X)}; got {variance!r} with "
                         f"{architecture!r}")
    ys = Y_GRIDS[data, architecture]
    fn, params = LOSSES[loss]
    candidates = Y[:, None, :] if loss == "energy" else _with_grid(Y, ys)
    X_dev, cand_dev = to_device(X), to_device(candidates)
    target = (lambda x: x ** 2) if data == "parabola" else None
    result = Experiment(machine, X, Y, ys, loss)
    surf_y = surface_ys(ys)
    rng = np.random.default_rng(seed)
    now = {"radius": radii.get(0, RADIUS)}  # the epoch's forbidden sphere
    counts = {"energies": 0, "backprops": 0, "samples": 0}

    def objective(idx):
        cand = cand_dev[idx]
        extra = {}
        if search == "descent":
            bars, evaluated = descend_offending(machine, X[idx], Y[idx], ys[0], ys[-1],
                                                now["radius"], rng, **DESCENT)
            cand = to_device(np.concatenate([Y[idx], bars], axis=1)[..., None])
            counts["energies"] += evaluated * len(idx)
            counts["backprops"] += evaluated * len(idx)
        elif loss == "square-square":
            extra = {"ys": cand[..., 0], "radius": now["radius"]}
        e = machine.fprop(X_dev[idx], cand)
        correct = xp.zeros(len(idx), dtype=xp.int64)
        values, grad = fn(e, correct, **params, **extra)
        counts["energies"] += e.size
        counts["backprops"] += xp.count_nonzero(grad)   # stays on the device
        counts["samples"] += len(idx)
        machine.bprop(grad / len(idx))
        total = values.mean()
        if variance is not None:
            batch = rng.choice(len(X), variance["samples"], replace=False)
            total += embedding_penalty(machine, X[batch], Y[batch], variance["gamma"],
                                       variance["weight"])
        return total

    def on_epoch(epoch):
        if epoch + 1 in snapshots:
            result.snapshots[epoch + 1] = energy_grid(machine, SURFACE_X, surf_y)
        out = diagnostics(machine, ys, target, X, Y, now["radius"])
        now["radius"] = radii.get(epoch + 1, now["radius"])
        return out

    first = on_epoch(-1)
    rate = (lambda t: eta / (1 + t / decay)) if decay else eta
    result.history = train(machine.params, objective, len(X), epochs, rate, batch_size, seed,
                           progress, on_epoch)
    for key, value in first.items():
        result.history[key].insert(0, value)
    samples = max(counts.pop("samples"), 1)
    result.cost = {key: float(value) / samples for key, value in counts.items()}
    return result


def blobs(n=150, seed=0, n_classes=3):
    """Three Gaussian blobs in the plane (standard deviation 0.5) and their
    labels 0, 1, 2: the data of :func:`rbf_experiment`."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    means = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])[:n_classes]
    return means[labels] + 0.5 * rng.standard_normal((n, 2)), labels


def rbf_experiment(loss="energy", epochs=30, eta=None, seed=0, n_classes=3, n=150):
    """A Linear module followed by RBF units and a switch (the classifier's
    selection by Y), E(W, Y, X) = ||W X - c_Y||^2, trained on :func:`blobs`.
    Returns the machine and the history of the loss and, from before training
    (index 0) on, of the accuracy and the mean distance between the learned
    centres, which collapses to zero under the energy loss (lecture, "Other
    Architectures that may collapse")."""
    eta = RBF_RATES[loss] if eta is None else eta
    X, labels = blobs(n, seed, n_classes)
    params = Parameters(seed=seed)
    linear, rbf = Linear(2, 2, params), RBF(2, n_classes, params)
    machine = Classifier(Cascade(linear, rbf))
    fn, kwargs = LOSSES[loss]
    X_dev, y_dev = to_device(X), to_device(labels)

    def objective(idx):
        values, grad = fn(machine.fprop(X_dev[idx]), y_dev[idx], **kwargs)
        machine.bprop(grad / len(idx))
        return float(values.mean())

    def centre_distance():
        c = asnumpy(rbf.centres.x)
        d = np.sqrt(((c[:, None] - c[None]) ** 2).sum(axis=2))
        return float(d[np.triu_indices(n_classes, 1)].mean())

    def on_epoch(_):
        accuracy = float((asnumpy(argmin(machine.fprop(X_dev))) == labels).mean())
        return {"centre_distance": centre_distance(), "accuracy": accuracy}

    first = on_epoch(-1)
    history = train(params, objective, n, epochs, eta, 1, seed, on_epoch=on_epoch)
    for key, value in first.items():
        history[key].insert(0, value)
    return machine, history
