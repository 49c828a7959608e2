"""The conditions on the loss, checked numerically (slides "Conditions on the
Loss"; LeCun et al. 2006, Sec. 5).

A loss is sampled over the plane (E_C, E_I) = (E(W, Y^i, X^i), E(W, Ybar, X^i))
as one batch of two-answer problems (answer 0 correct). For a margin m > 0:

- condition 1: all minima of L lie in the half-plane E_C < E_I - m;
- condition 2: on the margin line E_C = E_I - m, the negative gradient of L has
  a positive dot product with [-1, 1] (descending L pushes E_C down, E_I up).
  The lecture's plot has E_I on its first axis and states it for the gradient
  itself; in the order (E_C, E_I) used here that is the same condition,
  dL/dE_C - dL/dE_I > 0.

The lecture argues that the conditions suffice for a loss convex in (E_C, E_I);
``convex`` says whether the samples are consistent with that assumption.

:func:`check_conditions` derives the margin column of the paper's Table 1 from
these samples rather than looking it up.
"""
import inspect
import math
import numbers
from dataclasses import dataclass

from .backend import xp

__all__ = ["Conditions", "landscape", "check_conditions"]


@dataclass
class Conditions:
    """What :func:`check_conditions` found for one loss."""

    loss: str
    margin: str               # Table 1's column: "none", "0", "m" or "> 0"
    margin_value: float       # smallest E_I - E_C over the minima; nan if not attained
    minima_in_half_plane: bool    # condition 1, for every tested margin
    pushes_apart: bool            # condition 2, for every tested margin
    tested_margins: tuple
    convex: bool                  # no negative second difference on the grid


def _evaluate(loss, e_c, e_i, params):
    """L, dL/dE_C and dL/dE_I at the points (e_c, e_i), arrays of one shape."""
    energies = xp.stack([e_c.ravel(), e_i.ravel()], axis=1)
    values, grad = loss(energies, xp.zeros(energies.shape[0], dtype=xp.int64), **params)
    return tuple(a.reshape(e_c.shape) for a in (values, grad[:, 0], grad[:, 1]))


def _axis(e_range, n):
    lo, hi = (float(v) for v in e_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"conditions: e_range must be (low, high) with low < high, "
                         f"got {e_range}")
    if not isinstance(n, numbers.Integral) or n < 3:
        raise ValueError(f"conditions: n must be an integer >= 3, got {n}")
    return xp.linspace(lo, hi, n)


def landscape(loss, e_range=(0.0, 10.0), n=101, **params):
    """The loss over an n x n grid of the (E_C, E_I) plane, for plots:
    ``(ec_grid, ei_grid, L)``, each (n, n), E_C varying along axis 0."""
    e = _axis(e_range, n)
    e_c, e_i = xp.meshgrid(e, e, indexing="ij")
    return e_c, e_i, _evaluate(loss, e_c, e_i, params)[0]


def _convex(values, tol):
    """Whether no second difference of the sampled L is negative along the two
    axes and the two diagonals of the grid: necessary for convexity (enough to
    catch the losses that saturate)."""
    v, mid = values, values[1:-1, 1:-1]
    second = (v[2:, :] - 2 * v[1:-1, :] + v[:-2, :], v[:, 2:] - 2 * v[:, 1:-1] + v[:, :-2],
              v[2:, 2:] - 2 * mid + v[:-2, :-2], v[2:, :-2] - 2 * mid + v[:-2, 2:])
    return all(bool((d >= -tol).all()) for d in second)


def _pushes_apart(loss, m, e, params):
    """Condition 2 on the margin line E_I = E_C + m, sampled inside the range."""
    e_c = xp.linspace(float(e[0]), float(e[-1]) - m, e.size)
    _, d_c, d_i = _evaluate(loss, e_c, e_c + m, params)
    return bool(((d_c - d_i) > 0).all())          # -grad . [-1, 1] > 0


def check_conditions(loss, e_range=(0.0, 10.0), n=201, margins=(0.5, 1.0, 2.0), **params):
    """Check conditions 1 and 2 and classify the margin of ``loss(energies,
    correct, **params)`` on an n x n grid of [low, high]^2 (``e_range``).

    The minima are the grid points within rounding of the smallest value. If
    the loss has a stationary minimum (zero gradient) on the grid, its margin is
    the smallest E_I - E_C over the stationary minima: "none" if negative, "0"
    if zero, "m" if equal to the loss's ``margin`` (all up to one grid step);
    both conditions are then tested for margins of 1/4, 1/2 and 3/4 of it. If
    the infimum is only approached at the border of the range, the conditions
    are tested for each of ``margins``, and the margin is "> 0" if they hold.
    A loss that does not depend on E_I has margin "none". The label "m" thus
    comes from the loss's own ``margin`` parameter; a loss without one never
    gets it. ``convex`` reports the lecture's assumption (see :func:`_convex`).
    """
    e = _axis(e_range, n)
    if not all(isinstance(m, numbers.Real) and 0 < m < float(e[-1] - e[0]) for m in margins):
        raise ValueError(f"check_conditions: margins must lie in (0, {float(e[-1] - e[0])}), "
                         f"got {margins}")
    e_c, e_i = xp.meshgrid(e, e, indexing="ij")
    values, d_c, d_i = _evaluate(loss, e_c, e_i, params)
    step, gap = float(e[1] - e[0]), e_i - e_c
    tol = 1e-9 * max(1.0, float(xp.abs(values).max()))
    gtol = 1e-9 * max(1.0, float(xp.maximum(xp.abs(d_c), xp.abs(d_i)).max()))
    minima = values <= values.min() + tol
    stationary = minima & (xp.maximum(xp.abs(d_c), xp.abs(d_i)) <= gtol)
    ignores_ei = bool((values.max(axis=1) - values.min(axis=1) <= tol).all())

    attained = bool(stationary.any())
    found = float(gap[stationary].min()) if attained else math.nan
    tested = tuple(f * found for f in (0.25, 0.5, 0.75)) if found > step else tuple(margins)
    cond1 = all(bool((gap[minima] > m).all()) for m in tested)
    cond2 = all(_pushes_apart(loss, m, e, params) for m in tested)

    own = params.get("margin", inspect.signature(loss).parameters.get("margin"))
    own = own.default if isinstance(own, inspect.Parameter) else own
    if ignores_ei or found < -step or not (attained or (cond1 and cond2)):
        margin = "none"
    elif abs(found) <= step:
        margin = "0"
    elif own is not None and abs(found - own) <= step:
        margin = "m"
    else:
        margin = "> 0"
    return Conditions(getattr(loss, "__name__", str(loss)), margin, found, cond1, cond2, tested,
                      _convex(values, tol))
