"""Inference: finding low-energy answers, the Gibbs distribution they induce,
and samples drawn from it.

``energies`` has the answers on its last axis (shape (batch, n_answers) for a
batch of inputs X^i); low energy = good answer.

Free energy: we use the paper's sign convention (LeCun et al. 2006, Sec. 1.3),
``F_beta = -(1/beta) log sum_y exp(-beta E(y))``, which tends to ``min_y E(y)``
as beta grows. (The lecture's "Log-Likelihood Loss" slide writes it without the
minus sign; its NLL loss is then ``E(Y^i) - F_beta`` in our convention.)
"""
import numbers

from .backend import xp, to_device

__all__ = ["argmin", "most_offending", "gibbs", "free_energy",
           "gradient_descent", "langevin", "min_sum_chain"]


def _param(fn, arg, value, strict=True):
    """Check a scalar hyper-parameter: > 0 (strict) or >= 0."""
    ok = isinstance(value, numbers.Real) and (value > 0 if strict else value >= 0)
    if not ok:
        raise ValueError(f"{fn}: {arg} must be {'>' if strict else '>='} 0, got {value}")
    return float(value)


def _energies(fn, energies, correct=None, batched=True):
    """Validate ``energies`` ((batch, n_answers), or (..., n_answers) unless
    ``batched``) and ``correct`` (batch,) indices."""
    e = to_device(energies)
    if e.dtype.kind not in "fiu":
        raise ValueError(f"{fn}: energies must be real numbers, got dtype {e.dtype}")
    e = e.astype(xp.float64) if e.dtype.kind != "f" else e
    if (e.ndim != 2 if batched else e.ndim == 0) or e.shape[-1] == 0:
        want = "a 2-D array (batch, n_answers)" if batched else "an array (..., n_answers)"
        raise ValueError(f"{fn}: energies must be {want}, got shape {tuple(e.shape)}")
    checks = [xp.isfinite(e).all()]
    if correct is not None:
        c = to_device(correct)
        if c.shape != (e.shape[0],) or c.dtype.kind not in "iu":
            raise ValueError(f"{fn}: correct must be integer indices of shape (batch,) = "
                             f"({e.shape[0]},), got {c.dtype} of shape {tuple(c.shape)}")
        checks.append(((c >= 0) & (c < e.shape[1])).all())
    finite, *inside = xp.stack(checks).tolist()   # one device-to-host transfer
    if not finite:
        raise ValueError(f"{fn}: energies must be finite, got NaN or inf")
    if correct is None:
        return e
    if not inside[0]:
        raise ValueError(f"{fn}: correct must hold indices in [0, {e.shape[1]}), got "
                         f"values from {int(c.min())} to {int(c.max())}")
    return e, c.astype(xp.int64)


def _answers(fn, ys, shape):
    """Broadcast the answers' values ``ys`` ((n,) or (batch, n)) to ``shape``."""
    ys = to_device(ys)
    if ys.shape not in (shape, shape[-1:]):
        raise ValueError(f"{fn}: ys must have shape (n_answers,) = ({shape[-1]},) or "
                         f"that of the energies {shape}, got {tuple(ys.shape)}")
    return xp.broadcast_to(ys, shape)


def argmin(energies, ys=None):
    """MAP inference ``Y = argmin_y E(W, y, X)`` along the last axis (slide
    "Energy-Based Models"): the indices, or the answers' values when ``ys`` is
    given ((n_answers,) or (batch, n_answers), e.g. a grid over a continuous Y)."""
    e = _energies("argmin", energies, batched=False)
    best = xp.argmin(e, axis=-1)
    if ys is None:
        return best
    return xp.take_along_axis(_answers("argmin", ys, e.shape), best[..., None], -1)[..., 0]


def most_offending(energies, correct, ys=None, radius=0.0):
    """Index of the most offending incorrect answer
    ``Ybar = argmin_{y != Y^i} E(W, y, X^i)`` (slide "Conditions on the Loss").

    For a continuous (gridded) Y give the answers' values ``ys``: every answer
    with ``|ys - ys[correct]| <= radius`` is excluded as well (the demos'
    "forbidden sphere" around Y^i).
    """
    e, c = _energies("most_offending", energies, correct)
    radius = _param("most_offending", "radius", radius, strict=False)
    excluded = xp.arange(e.shape[1])[None, :] == c[:, None]
    if ys is not None:
        ys = _answers("most_offending", ys, e.shape)
        excluded |= xp.abs(ys - xp.take_along_axis(ys, c[:, None], 1)) <= radius
    empty = excluded.all(axis=1)
    if bool(empty.any()):
        raise ValueError(f"most_offending: no incorrect answer is left for sample "
                         f"{int(xp.argmax(empty))} (n_answers={e.shape[1]}, "
                         f"radius={radius}): need another answer outside the radius")
    return xp.argmin(xp.where(excluded, xp.inf, e), axis=1)


def _boltzmann(fn, energies, beta):
    """Boltzmann weights shifted by the lowest energy: ``(beta, min E,
    w = exp(-beta (E - min E)), sum of w over all but the lowest answer)``;
    ``Z = exp(-beta min E) (1 + rest)``, and ``log1p(rest)`` keeps tiny gaps."""
    beta = _param(fn, "beta", beta)
    e = _energies(fn, energies, batched=False)
    lowest = xp.argmin(e, axis=-1)[..., None]
    low = xp.take_along_axis(e, lowest, -1)
    w = xp.exp(-beta * (e - low))
    rest = xp.where(xp.arange(e.shape[-1]) == lowest, 0.0, w).sum(axis=-1)
    return beta, low[..., 0], w, rest


def gibbs(energies, beta=1.0):
    """Gibbs distribution ``P(Y|X) = exp(-beta E(Y)) / sum_y exp(-beta E(y))``
    along the last axis (slide "Energy-Based Models")."""
    _, _, w, rest = _boltzmann("gibbs", energies, beta)
    return w / (1.0 + rest[..., None])


def free_energy(energies, beta=1.0):
    """Free energy ``F_beta = -(1/beta) log sum_y exp(-beta E(y))`` of the
    answers (paper Sec. 1.3; see the module docstring for the sign), over
    the last axis. Computed around ``min E``, it tends to ``min E`` as beta grows."""
    beta, low, _, rest = _boltzmann("free_energy", energies, beta)
    return low - xp.log1p(rest) / beta


def _descend(fn, energy_and_grad, y0, eta, steps, beta=None, seed=0):
    """``y <- y - eta dE/dy``, plus ``sqrt(2 eta / beta) N(0, 1)`` noise drawn
    from ``seed`` when ``beta`` (checked by the caller) is given, ``steps``
    times; returns the final point and the energies of all ``steps + 1`` iterates."""
    eta = _param(fn, "eta", eta)
    if not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"{fn}: steps must be an integer >= 0, got {steps}")
    if beta is not None:
        scale = (2.0 * eta / beta) ** 0.5
        if not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"{fn}: seed must be an integer >= 0, got {seed}")
        rng = xp.random.default_rng(int(seed))
    y = to_device(y0, dtype=xp.float64)
    history = []
    for _ in range(steps):
        energy, grad = energy_and_grad(y)
        history.append(to_device(energy))
        y = y - eta * to_device(grad)
        if beta is not None:
            y = y + scale * rng.standard_normal(size=y.shape)
    history.append(to_device(energy_and_grad(y)[0]))
    return y, xp.stack(history)


def gradient_descent(energy_and_grad, y0, eta, steps):
    """Minimise an energy over a continuous Y (or latent Z) by gradient descent.

    ``energy_and_grad(y) -> (energy, dE/dy)``; ``y <- y - eta dE/dy``, ``steps``
    times. Returns the final point and the energies of all ``steps + 1`` iterates.
    """
    return _descend("gradient_descent", energy_and_grad, y0, eta, steps)


def langevin(energy_and_grad, y0, eta, steps, beta=1.0, seed=0):
    """Sample ``P(y) ∝ exp(-beta E(y))`` by unadjusted Langevin dynamics
    (Welling and Teh 2011, Sec. 2): ``y <- y - eta dE/dy + sqrt(2 eta / beta) N(0, 1)``,
    ``steps`` times, the noise drawn from ``seed``.

    The MCMC of the slide "Architecture + Inference Algo + Loss Function = Model",
    for the NLL gradient's expectation over P (paper Sec. 2.2.4). Same callable and
    return as :func:`gradient_descent`, which it becomes as ``beta -> inf``; each
    element (or row) of ``y0`` is an independent chain. Without a Metropolis test
    the chains' law carries a bias of order ``eta``: for ``E = a (y - m)^2`` its
    variance tends to ``1 / (2 a beta (1 - a eta))``, not ``1 / (2 a beta)``.
    """
    beta = _param("langevin", "beta", beta)
    return _descend("langevin", energy_and_grad, y0, eta, steps, beta, seed)


def min_sum_chain(unary, pairwise):
    """Min-sum (Viterbi) inference on a chain factor graph (slide "EBMs as
    Factor Graphs"; Kschischang, Frey, Loeliger 2001).

    ``E(y) = sum_t unary[t, y_t] + sum_t pairwise[t, y_t, y_{t+1}]`` with
    ``unary`` (T, K) and ``pairwise`` (K, K), shared, or (T-1, K, K).
    Returns the minimising labels (T,) and the minimal energy.
    """
    u = to_device(unary, dtype=xp.float64)
    p = to_device(pairwise, dtype=xp.float64)
    if u.ndim != 2 or u.shape[0] == 0:
        raise ValueError(f"min_sum_chain: unary must have shape (T, K), got {tuple(u.shape)}")
    t_len, k = u.shape
    if p.shape == (k, k):
        p = xp.broadcast_to(p, (max(t_len - 1, 0), k, k))
    if p.shape != (max(t_len - 1, 0), k, k):
        raise ValueError(f"min_sum_chain: pairwise must have shape (K, K) = ({k}, {k}) "
                         f"or (T-1, K, K) = ({t_len - 1}, {k}, {k}), got {tuple(p.shape)}")
    cost, back = u[0], []
    for t in range(1, t_len):
        total = cost[:, None] + p[t - 1]          # (previous label, label)
        back.append(xp.argmin(total, axis=0))
        cost = total.min(axis=0) + u[t]
    labels = [int(xp.argmin(cost))]
    for b in reversed(back):
        labels.append(int(b[labels[-1]]))
    return xp.asarray(labels[::-1]), cost.min()
