"""Figures of the book: energy surfaces, loss landscapes, training curves.

Host-only code: arrays are converted with ``asnumpy`` at the edge. Each
function draws on a matplotlib ``ax`` (a new figure when none is given) and
returns it.
"""
import inspect

import matplotlib.pyplot as plt
import numpy as np

from .backend import asnumpy, to_device
from .conditions import landscape
from .demos import SURFACE_X, surface_ys

__all__ = ["energy_surface", "surface_panels", "loss_landscape", "training_curves"]


def _axes(ax):
    return plt.subplots(figsize=(4.5, 3.6))[1] if ax is None else ax


def energy_surface(xs, ys, energies, X=None, Y=None, ax=None, title=None, colorbar=True,
                   vmin=None, vmax=None):
    """E(Y, X) as an image over (X, Y) (low energy dark), with the data
    (X, Y) on top; ``energies`` has shape (len(xs), len(ys)). ``vmin`` and
    ``vmax`` fix the colour scale (and contour levels), e.g. to compare panels."""
    ax = _axes(ax)
    E = asnumpy(energies)
    image = ax.imshow(E.T, origin="lower", aspect="auto", cmap="viridis",
                      extent=(xs[0], xs[-1], ys[0], ys[-1]), vmin=vmin, vmax=vmax)
    lo, hi = image.get_clim()
    if hi > lo:
        ax.contour(np.asarray(xs), np.asarray(ys), E.T, levels=np.linspace(lo, hi, 10)[1:-1],
                   colors="white", linewidths=0.5, alpha=0.6)
    if X is not None:
        ax.scatter(asnumpy(X).ravel(), asnumpy(Y).ravel(), s=4, c="tab:red", label="data")
    ax.set(xlabel="X", ylabel="Y", title=title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label=r"$E(W, Y, X)$")
    return ax


def surface_panels(result, epochs, title=None, shared=True):
    """The energy surface of a demo experiment (:func:`ebmlib.demos.experiment`)
    at the ``epochs`` of its snapshots, two panels a row, data on top, each
    titled with the epoch and the spread. ``shared=True`` puts every panel on
    one colour scale from 0 (so that a flat surface looks flat next to a
    contrasted one); ``shared=False`` gives each panel its own scale and
    colour bar (so that each panel shows its shape). Returns the figure."""
    ys = surface_ys(result.ys)
    rows = -(-len(epochs) // 2)
    fig, axes = plt.subplots(rows, 2, figsize=(8.5, 3.1 * rows), sharex=True, sharey=True,
                             constrained_layout=True, squeeze=False)
    vmax = max(float(asnumpy(result.snapshots[e]).max()) for e in epochs) if shared else None
    for ax, epoch in zip(axes.flat, epochs):
        energy_surface(SURFACE_X, ys, result.snapshots[epoch], result.X, result.Y, ax=ax,
                       colorbar=not shared, vmin=0.0 if shared else None, vmax=vmax,
                       title=f"epoch {epoch}, spread {result.history['spread'][epoch]:.2f}")
        ax.grid(False)
    for ax in axes.flat[len(epochs):]:
        ax.set_visible(False)
    for ax in axes[:-1].flat:
        ax.set_xlabel("")
    for ax in axes[:, 1:].flat:
        ax.set_ylabel("")
    if shared:
        fig.colorbar(axes.flat[0].images[0], ax=axes, label=r"$E(W, Y, X)$")
    if title:
        fig.suptitle(title)
    return fig


def loss_landscape(loss, e_range=(0.0, 4.0), n=81, margin=None, ax=None, title=None,
                   **params):
    """The loss over the (E(Y^i), E(Ybar)) plane (lecture, "Condition on the
    Loss"), with the margin line E(Ybar) = E(Y^i) + m and, on it, arrows along
    the negative gradient (the direction a descent step moves the two energies),
    taken just inside the margin, where a kinked loss (hinge) is still active.
    ``margin`` is passed to the loss when it takes one; otherwise it only
    places the line (default 0)."""
    ax = _axes(ax)
    m = 0.0 if margin is None else float(margin)
    if margin is not None and "margin" in inspect.signature(loss).parameters:
        params = dict(params, margin=margin)
    e_c, e_i, values = (asnumpy(a) for a in landscape(loss, e_range, n, **params))
    ax.contourf(e_c, e_i, values, levels=20, cmap="magma")
    line = np.linspace(e_range[0], e_range[1] - m, 2)
    ax.plot(line, line + m, color="cyan", lw=1.5, label=f"margin line, m = {m:g}")
    ec = np.linspace(e_range[0], e_range[1] - m, 7)[1:-1]
    inside = ec + m - 1e-6 * (e_range[1] - e_range[0])
    _, grad = loss(to_device(np.stack([ec, inside], axis=1)), to_device(np.zeros(len(ec), int)),
                   **params)
    g = -asnumpy(grad)
    g /= np.maximum(np.hypot(g[:, 0], g[:, 1]), 1e-12)[:, None]
    ax.quiver(ec, ec + m, g[:, 0], g[:, 1], color="cyan", angles="xy", scale=12, width=0.006)
    ax.set(xlabel=r"$E(W, Y^i, X^i)$", ylabel=r"$E(W, \bar{Y}, X^i)$",
           title=title or getattr(loss, "__name__", ""), xlim=e_range, ylim=e_range)
    ax.legend(loc="lower right", fontsize="small")
    return ax


def training_curves(history, keys=("loss",), ax=None, title=None, logy=False):
    """The per-epoch values of ``history`` (from :func:`ebmlib.train.train`)."""
    ax = _axes(ax)
    for key in keys:
        ax.plot(np.arange(len(history[key])), history[key], label=key)
    ax.set(xlabel="epoch", title=title)
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize="small")
    return ax
