"""Stochastic gradient descent over the pooled parameter vector.

The lecture's training cycle (slide "Assembling the Network: training"): pick
samples, fprop, bprop, update all the weights at once -- one vector operation
on :class:`~ebmlib.modules.Parameters`.
"""
import numpy as np

__all__ = ["sgd_step", "train"]

_CHUNK = 1 << 20  # update in slices: the temporary eta * dx stays small


def sgd_step(params, eta):
    """W <- W - eta dL/dW on the whole pooled vector."""
    if not eta > 0:
        raise ValueError(f"sgd_step: eta must be > 0, got {eta!r}")
    x, dx = params.x, params.dx
    if x.size <= _CHUNK:
        x -= eta * dx
        return
    for start in range(0, x.size, _CHUNK):
        x[start:start + _CHUNK] -= eta * dx[start:start + _CHUNK]


def train(params, objective, n_samples, epochs, eta, batch_size=1, seed=0,
          progress=False, on_epoch=None):
    """Train by SGD; return the history, a dict of per-epoch lists.

    ``objective(idx)`` runs fprop and bprop on the samples ``idx`` (an integer
    array), accumulating dL/dW into ``params.dx``, and returns the batch's mean
    loss (a number or a 0-d array, read back once an epoch). Each epoch visits the samples in a fresh order drawn from ``seed``.
    ``eta`` is the learning rate, or a schedule: a function of the epoch
    (0, 1, ...) that returns its rate, e.g. ``lambda t: 0.1 / (1 + t / 5)``.
    ``history["loss"]`` holds each epoch's mean loss; ``on_epoch(epoch)`` may
    return a dict of further values (e.g. collapse diagnostics) to record.
    ``progress=True`` shows a tqdm progress bar.
    """
    if n_samples < 1 or epochs < 0 or batch_size < 1:
        raise ValueError(f"train: need n_samples >= 1, epochs >= 0, batch_size >= 1; got "
                         f"{n_samples}, {epochs}, {batch_size}")
    rate = eta if callable(eta) else (lambda epoch: eta)
    rng = np.random.default_rng(seed)
    history = {"loss": []}
    epochs_iter = range(epochs)
    if progress:
        from tqdm.auto import tqdm
        epochs_iter = tqdm(epochs_iter, desc="training", unit="epoch")
    for epoch in epochs_iter:
        order = rng.permutation(n_samples)
        step, total = rate(epoch), 0.0
        for start in range(0, n_samples, batch_size):
            idx = order[start:start + batch_size]
            params.clear_grad()
            total += objective(idx) * len(idx)
            sgd_step(params, step)
        history["loss"].append(float(total) / n_samples)
        if on_epoch is not None:
            for key, value in (on_epoch(epoch) or {}).items():
                history.setdefault(key, []).append(value)
    return history
