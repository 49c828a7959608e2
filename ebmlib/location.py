"""Location as a latent variable (slide "Example of latent variable: location").

A signal X of ``LENGTH`` samples hides one of a few templates, the answer Y, at an
unknown shift Z, under Gaussian noise. :class:`TemplateEnergy` scores a pair (Y, Z),
E(W, Y, Z, X) = 1/2 ||X - place(T_Y, Z)||^2, with the templates T as its parameters W;
wrapped in :class:`~ebmlib.energies.LatentEnergy` over the shifts it is
E(W, Y, X) = min_Z E(W, Y, Z, X), and :func:`learn_templates` learns T through that
minimum with a loss of :mod:`ebmlib.losses`: with the energy loss the templates merge
when the signals share a louder pattern (:func:`buzz`), with a margin loss or the NLL
they stay apart (the loss table's "margin" column, LeCun et al. 2006, Table 1).
"""
import numbers

import numpy as np

from . import losses
from .backend import asnumpy, to_device, xp
from .energies import EnergyMachine, LatentEnergy, _as_batch, _candidates
from .inference import _param, argmin
from .modules import Euclidean, Parameters, State
from .train import train

__all__ = ["TemplateEnergy", "templates", "buzz", "signals", "template_distances",
           "learn_templates", "LENGTH", "WIDTH", "SIGMA", "LOSSES", "RATES"]

LENGTH, WIDTH, SIGMA = 48, 9, 0.35   # samples per signal and per template; noise level
#: The losses of :func:`learn_templates`, with their parameters, and their learning rates.
LOSSES = {"energy": (losses.energy_loss, {}),
          "hinge": (losses.hinge_loss, {"margin": 2.0}),
          "nll": (losses.nll_loss, {"beta": 1.0})}
RATES = {"energy": 0.1, "hinge": 0.1, "nll": 0.3}


def _bump(centre, spread):
    return np.exp(-0.5 * ((np.arange(WIDTH) - centre) / spread) ** 2)


def templates(norm=2.5):
    """T_0 a bump, T_1 two bumps, T_2 one period of a wave, each of ``WIDTH``
    samples and Euclidean norm ``norm``: shape (3, WIDTH), on the host."""
    shapes = np.stack([_bump(4, 1.5), _bump(2, 0.8) + _bump(6, 0.8),
                       np.sin(2 * np.pi * np.arange(WIDTH) / (WIDTH - 1))])
    return shapes * (norm / np.linalg.norm(shapes, axis=1, keepdims=True))


def buzz(norm=3.0):
    """A burst of the fastest oscillation, (-1)^t under a bump, ``WIDTH`` samples of
    norm ``norm``: nearly orthogonal to the smooth templates at every shift."""
    shape = (-1.0) ** np.arange(WIDTH) * _bump(4, 2.0)
    return shape * (norm / np.linalg.norm(shape))


class TemplateEnergy(EnergyMachine):
    """E(W, Y, Z, X) = 1/2 ||X - place(T_Y, Z)||^2 (slide "Example of latent variable:
    location"): template T_Y placed at shift Z in a signal of ``length`` samples (zero
    elsewhere), against X, by the :class:`~ebmlib.modules.Euclidean` module.

    The candidates are rows (Y, Z) of integers, 0 <= Z <= length - width; the
    templates (n_templates, width) are the parameters, and bprop accumulates dL/dT.
    """

    def __init__(self, templates, length, params=None):
        init = np.asarray(asnumpy(templates), dtype=float)
        if init.ndim != 2 or 0 in init.shape or init.shape[1] > length:
            raise ValueError(f"TemplateEnergy: templates must have shape (n_templates, width) "
                             f"with 1 <= width <= length = {length}, got {init.shape}")
        self.length = int(length)
        self.params = Parameters() if params is None else params
        self.templates = self.params.new(init)
        self.distance = Euclidean()
        self._shape = None

    def _rows(self, rows):
        """The (Y, Z) rows as integers, checked."""
        rows = to_device(rows)
        n_templates, width = self.templates.x.shape
        if rows.ndim != 2 or rows.shape[1] != 2:
            raise ValueError(f"TemplateEnergy: candidates must be rows (Y, Z), shape (n, 2), "
                             f"got {tuple(rows.shape)}")
        ints = xp.rint(rows).astype(xp.int64)
        ok = ((ints == rows) & (ints >= 0)).all(axis=1)
        ok &= (ints[:, 0] < n_templates) & (ints[:, 1] <= self.length - width)
        if not bool(ok.all()):
            bad = asnumpy(rows[int(xp.flatnonzero(~ok)[0])])
            raise ValueError(f"TemplateEnergy: a candidate (Y, Z) must have integer Y in "
                             f"[0, {n_templates}) and Z in [0, {self.length - width}], got "
                             f"{tuple(bad.tolist())}")
        return ints

    def place(self, rows):
        """The templates placed in signals: row (Y, Z) gives T_Y at positions Z..Z+width-1,
        zero elsewhere; shape (n, length)."""
        rows = self._rows(rows)
        width = self.templates.x.shape[1]
        self._window = rows[:, 1:] + xp.arange(width)       # (n, width) positions
        self._y = rows[:, 0]
        out = xp.zeros((rows.shape[0], self.length), dtype=self.templates.x.dtype)
        out[xp.arange(rows.shape[0])[:, None], self._window] = self.templates.x[self._y]
        return out

    def fprop(self, X, Ys):
        X = _as_batch("TemplateEnergy.fprop", X, self.length)
        Ys = _candidates("TemplateEnergy.fprop", Ys, X.shape[0])
        batch, k, _ = Ys.shape
        self._signal = State(xp.repeat(X, k, axis=0), requires_dx=False)
        self._placed = State(self.place(Ys.reshape(batch * k, -1)))
        self._e = State()
        self.distance.fprop(self._signal, self._placed, self._e)
        self._shape = (batch, k)
        return self._e.x.reshape(batch, k)

    def bprop(self, dE):
        self._e.dx = self._grad(dE).reshape(-1)
        self.distance.bprop(self._signal, self._placed, self._e)
        rows = xp.arange(self._window.shape[0])[:, None]
        d_window = self._placed.dx[rows, self._window]     # dL/dT_Y at each candidate
        for k in range(self.templates.x.shape[0]):
            self.templates.dx[k] += d_window[self._y == k].sum(axis=0)


def signals(n, seed=0, loud=0.0, sigma=SIGMA, length=LENGTH):
    """``n`` signals, each hiding one of :func:`templates` at a random shift under
    Gaussian noise of standard deviation ``sigma``; with ``loud > 0`` each also
    carries :func:`buzz` of norm ``loud`` at a random shift of its own, not
    overlapping the template. Returns X (n, length) and the answers Y (n,)."""
    if not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"signals: n must be an integer >= 1, got {n!r}")
    loud = _param("signals", "loud", loud, strict=False)
    sigma = _param("signals", "sigma", sigma, strict=False)
    if length < (2 if loud > 0 else 1) * WIDTH:
        raise ValueError(f"signals: length must hold the template{' and the buzz' * (loud > 0)}"
                         f", at least {(2 if loud > 0 else 1) * WIDTH} samples, got {length}")
    rng = np.random.default_rng(seed)
    shapes = templates()
    y = rng.integers(0, len(shapes), n)
    z = rng.integers(0, length - WIDTH + 1, n)
    X = sigma * rng.standard_normal((n, length))
    for i in range(n):
        X[i, z[i]:z[i] + WIDTH] += shapes[y[i]]
    if loud > 0:
        burst = buzz(loud)
        for i in range(n):
            free = np.flatnonzero(np.abs(np.arange(length - WIDTH + 1) - z[i]) >= WIDTH)
            start = rng.choice(free)
            X[i, start:start + WIDTH] += burst
    return to_device(X), to_device(y)


def template_distances(T):
    """Pairwise distances between templates up to a shift, (n, n): the smallest
    ||T_a - T_b shifted by s||, both padded with zeros, over all relative shifts s.
    A template and a shifted copy are the same template to a machine that tries
    every shift (but at the signal's edges)."""
    T = to_device(T)
    n, width = T.shape
    padded = xp.zeros((n, 3 * width), dtype=T.dtype)
    padded[:, width:2 * width] = T
    shifted = xp.stack([xp.roll(padded, s, axis=1) for s in range(1 - width, width)], axis=1)
    diff = padded[:, None, None, :] - shifted[None, :, :, :]    # (a, b, shift, position)
    return xp.sqrt((diff * diff).sum(axis=3)).min(axis=2)


def learn_templates(loss="energy", seed=0, epochs=30, eta=None, n=150, loud=3.0,
                    batch_size=10, n_test=300):
    """Learn three templates from random ones (normal, standard deviation 0.1),
    E(W, Y, X) = min_Z E(W, Y, Z, X) by :class:`~ebmlib.energies.LatentEnergy`
    over all shifts, with ``loss`` (a key of :data:`LOSSES`) on ``n`` training
    :func:`signals` of ``seed`` (buzz of norm ``loud``), by SGD. Returns the
    machine (the LatentEnergy) and the history of the loss and, from before
    training (index 0) on, of ``distance``, the smallest :func:`template_distances`
    between two templates, and ``accuracy``, the fraction of ``n_test`` other
    signals (of seed ``seed + 1000``) recognised after training."""
    if loss not in LOSSES:
        raise ValueError(f"learn_templates: loss must be one of {sorted(LOSSES)}, got {loss!r}")
    fn, kwargs = LOSSES[loss]
    X, y = signals(n, seed, loud)
    X_test, y_test = signals(n_test, seed + 1000, loud)
    params = Parameters(seed=seed)
    inner = TemplateEnergy(params.rng.normal(0.0, 0.1, (3, WIDTH)), LENGTH, params)
    machine = LatentEnergy(inner, xp.arange(LENGTH - WIDTH + 1))
    answers = xp.arange(3)[:, None]

    def objective(idx):
        values, grad = fn(machine.fprop(X[idx], answers), y[idx], **kwargs)
        machine.bprop(grad / len(idx))
        return values.mean()

    def distance(_=None):
        d = template_distances(inner.templates.x)
        return {"distance": float(d[xp.triu_indices(3, 1)].min())}

    def accuracy():
        return float((argmin(machine.fprop(X_test, answers)) == y_test).mean())

    first = distance()
    history = train(params, objective, n, epochs, RATES[loss] if eta is None else eta,
                    batch_size, seed, on_epoch=distance)
    history["distance"].insert(0, first["distance"])
    history["accuracy"] = accuracy()
    return machine, history
