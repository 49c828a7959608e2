"""Structured prediction on a chain, trained (slides "EBMs as Factor Graphs" and
"Examples of Loss Functions").

The chain of the latent chapter scores a label sequence Y against an observed one X,
``E(W, Y, X) = w_u sum_t [y_t != x_t] + lambda sum_t [y_t != y_{t+1}]``: linear in
W = (w_u, lambda), so dE/dW is the pair of counts, the features. Learning W goes
through the library's seam: :func:`structured_loss` sees the machine only through the
energies of two answers, the desired Y^i and the answer of min-sum inference
(:func:`ebmlib.inference.min_sum_chain`), and hands them to
:func:`ebmlib.losses.perceptron_loss`; dL/dW = sum over the answers of dL/dE * features.
"""
import numbers

import numpy as np

from .backend import to_device, xp
from .inference import _param, min_sum_chain
from .losses import perceptron_loss
from .modules import Parameters
from .train import train

__all__ = ["ChainEnergy", "structured_loss", "noisy_chains", "train_chain"]


class ChainEnergy:
    """E(W, Y, X) = w_u sum_t [y_t != x_t] + lambda sum_t [y_t != y_{t+1}] over
    sequences of ``n_labels`` labels; W = (w_u, lambda) is one vector of a
    :class:`~ebmlib.modules.Parameters` pool (``params``), so that
    :func:`ebmlib.train.train` updates it."""

    def __init__(self, n_labels, unary_weight=1.0, lam=0.0, params=None):
        if not isinstance(n_labels, numbers.Integral) or n_labels < 2:
            raise ValueError(f"ChainEnergy: n_labels must be an integer >= 2, got {n_labels!r}")
        for name, value in (("unary_weight", unary_weight), ("lam", lam)):
            if not isinstance(value, numbers.Real) or value != value or abs(value) == float("inf"):
                raise ValueError(f"ChainEnergy: {name} must be a finite real number, got {value!r}")
        self.n_labels = int(n_labels)
        self.params = Parameters() if params is None else params
        self.w = self.params.new([unary_weight, lam])   # W = (w_u, lambda)

    def _labels(self, fn, name, labels, length=None):
        """``labels`` as a 1-D integer array of values in [0, n_labels)."""
        v = to_device(labels)
        if v.ndim != 1 or v.shape[0] == 0 or v.dtype.kind not in "iu":
            raise ValueError(f"ChainEnergy.{fn}: {name} must be a non-empty 1-D array of integer "
                             f"labels, got {v.dtype} of shape {tuple(v.shape)}")
        if length is not None and v.shape[0] != length:
            raise ValueError(f"ChainEnergy.{fn}: {name} must have the length of x, {length}, "
                             f"got {v.shape[0]}")
        if not bool(((v >= 0) & (v < self.n_labels)).all()):
            raise ValueError(f"ChainEnergy.{fn}: {name} must hold labels in [0, {self.n_labels}), "
                             f"got values from {int(v.min())} to {int(v.max())}")
        return v.astype(xp.int64)

    def features(self, x, y):
        """dE/dW = (sum_t [y_t != x_t], sum_t [y_t != y_{t+1}]), shape (2,)."""
        x = self._labels("features", "x", x)
        y = self._labels("features", "y", y, x.shape[0])
        return xp.stack([(y != x).sum(), (y[:-1] != y[1:]).sum()]).astype(self.w.x.dtype)

    def energy(self, x, y):
        """E(W, Y, X) = W . features(x, y)."""
        return (self.w.x * self.features(x, y)).sum()

    def infer(self, x, y_true=None, margin=0.0):
        """The labels (T,) that minimise E(W, y, x) - margin * Hamming(y, y_true), by
        min-sum; with ``margin > 0`` this is loss-augmented inference (Taskar et al.
        2003), which needs ``y_true``."""
        x = self._labels("infer", "x", x)
        margin = _param("ChainEnergy.infer", "margin", margin, strict=False)
        labels = xp.arange(self.n_labels)
        w_u, lam = self.w.x[0], self.w.x[1]
        unary = w_u * (labels != x[:, None])
        if margin > 0:
            if y_true is None:
                raise ValueError("ChainEnergy.infer: margin > 0 needs y_true, the desired "
                                 "labels the Hamming loss counts against")
            y_true = self._labels("infer", "y_true", y_true, x.shape[0])
            unary = unary - margin * (labels != y_true[:, None])
        pairwise = lam * (1 - xp.eye(self.n_labels, dtype=unary.dtype))
        return min_sum_chain(unary, pairwise)[0]


def structured_loss(machine, x, y, margin=0.0):
    """(loss, dL/dW) of one chain (x, y) for a :class:`ChainEnergy` machine.

    ``margin == 0``: the generalized perceptron loss E(W, Y^i, X) - min_Y E(W, Y, X)
    (slide "Examples of Loss Functions"; Collins 2002). ``margin > 0``: the
    margin-rescaled structured hinge, max_Y [E(W, Y^i, X) - E(W, Y, X) + margin *
    Hamming(Y, Y^i)] (Taskar et al. 2003), by loss-augmented inference. Either is
    :func:`ebmlib.losses.perceptron_loss` on the energies of Y^i and of the inferred
    Yhat (augmented by -margin * Hamming), and dL/dW = sum of dL/dE * features.
    """
    if not isinstance(machine, ChainEnergy):
        raise ValueError(f"structured_loss: machine must be a ChainEnergy, got "
                         f"{type(machine).__name__}")
    margin = _param("structured_loss", "margin", margin, strict=False)
    y = machine._labels("structured_loss", "y", y)
    y_hat = machine.infer(x, y, margin)
    feats = xp.stack([machine.features(x, y), machine.features(x, y_hat)])    # (2 answers, 2)
    energies = (feats * machine.w.x).sum(axis=1)
    energies[1] -= margin * (y_hat != y).sum()
    values, grad = perceptron_loss(energies[None, :], xp.zeros(1, dtype=xp.int64))
    return values[0], (grad[0][:, None] * feats).sum(axis=0)


def noisy_chains(n, seed=0, length=80, n_labels=4, noise=0.3):
    """The latent chapter's data: ``n`` label sequences made of runs of 5 to 15 equal
    labels, each run's label differing from the last, and their observations, in which
    each label is replaced, with probability ``noise``, by one drawn uniformly. Returns
    the truths and the observations, two integer arrays (n, length)."""
    sizes = {"n": n, "length": length, "n_labels - 1": n_labels - 1}
    for name, value in sizes.items():
        if not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"noisy_chains: {name} must be an integer >= 1, got {value!r}")
    if not 0 <= noise <= 1:
        raise ValueError(f"noisy_chains: noise must be a probability in [0, 1], got {noise!r}")
    rng = np.random.default_rng(seed)
    truths, observed = [], []
    for _ in range(n):
        runs, label = [], 0
        while len(runs) < length:
            runs += [label] * int(rng.integers(5, 16))
            label = (label + int(rng.integers(1, n_labels))) % n_labels
        truth = np.array(runs[:length])
        corrupt = rng.random(length) < noise
        truths.append(truth)
        observed.append(np.where(corrupt, rng.integers(0, n_labels, length), truth))
    return to_device(np.array(truths)), to_device(np.array(observed))


def train_chain(machine, X, Y, margin=0.0, epochs=5, eta=0.125, seed=0, average=False):
    """Learn W = (w_u, lambda) from the chains (X[i], Y[i]) by SGD on
    :func:`structured_loss`, one chain per step (:func:`ebmlib.train.train`). With
    ``average=True`` W ends as the average of the weights used at all the steps, the
    averaged perceptron (Collins 2002). Returns the history: the loss and W of each epoch."""
    if len(X) != len(Y):
        raise ValueError(f"train_chain: X and Y must hold as many chains, got {len(X)} "
                         f"observations and {len(Y)} answers")
    used = []   # W at each step

    def objective(idx):
        used.append(machine.w.x.copy())
        loss, grad = structured_loss(machine, X[int(idx[0])], Y[int(idx[0])], margin)
        machine.w.dx[...] += grad
        return loss

    history = train(machine.params, objective, len(X), epochs, eta, 1, seed,
                    on_epoch=lambda _: {"w": machine.w.x.copy()})
    if average:
        machine.w.x[...] = xp.stack(used).mean(axis=0)
    return history
