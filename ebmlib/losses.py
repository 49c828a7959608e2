"""Loss functions of the lecture and of Table 1 of LeCun et al. (2006).

A loss sees the machine only through the energies of the answers (slide "Form
of the Loss Function"): every loss here is ``loss(energies, correct, **params)
-> (values, grad)``, with ``energies`` (batch, n_answers), ``correct`` (batch,)
integer indices of Y^i, ``values`` (batch,) and ``grad = d values / d energies``
(batch, n_answers); ``dL/dW = sum_Y dL/dE(Y) dE(Y)/dW`` is then the machine's job.

Notation: ``E_C = E(W, Y^i, X^i)``, ``Ybar`` the most offending incorrect answer
(:func:`ebmlib.inference.most_offending`; for a continuous Y pass ``ys`` and the
exclusion ``radius``), ``E_I = E(W, Ybar, X^i)``. Each docstring quotes the
margin of Table 1; :mod:`ebmlib.conditions` recovers it numerically.
"""
from .backend import xp
from .inference import _energies, _param, argmin, free_energy, gibbs, most_offending

__all__ = ["energy_loss", "perceptron_loss", "hinge_loss", "log_loss", "lvq2_loss",
           "mce_loss", "square_square_loss", "square_exp_loss", "nll_loss", "mee_loss"]


def _gather(e, index):
    return e[xp.arange(e.shape[0]), index]


def _put(grad, index, values):
    """Add ``values`` (batch,) or a scalar to ``grad[k, index[k]]`` in place, and return
    ``grad``. Gradients are written entry by entry, never as ``d * onehot``: an
    infinite d (``exp`` overflowing) would make ``inf * 0 = nan`` in every other entry."""
    grad[xp.arange(grad.shape[0]), index] += values
    return grad


def _margin_loss(fn, energies, correct, ys, radius, q):
    """Generalized margin loss ``Q(E_C, E_I)`` (slide "Examples of Loss
    Functions"; LeCun and Huang 2005); ``q(E_C, E_I) -> (values, dQ/dE_C, dQ/dE_I)``."""
    e, c = _energies(fn, energies, correct)
    bar = most_offending(e, c, ys, radius)
    values, d_c, d_i = q(_gather(e, c), _gather(e, bar))
    return values, _put(_put(xp.zeros(e.shape), c, d_c), bar, d_i)


def _on_pair(loss, e_c, e_i):
    """A loss over all answers, applied to the pair (Y^i, Ybar) at beta = 1."""
    values, grad = loss(xp.stack([e_c, e_i], axis=1), xp.zeros(e_c.shape[0], xp.int64), 1.0)
    return values, grad[:, 0], grad[:, 1]


def _nll(e, c, beta):
    return _gather(e, c) - free_energy(e, beta), _put(-gibbs(e, beta), c, 1.0)


def _mee(e, c, beta):
    p = gibbs(e, beta)
    p_c = _gather(p, c)
    # 1 - P(Y^i|X^i), summed over the other answers to keep its precision near 0
    return _put(p.copy(), c, -p_c).sum(axis=1), beta * p_c[:, None] * _put(-p, c, 1.0)


def energy_loss(energies, correct):
    """Energy loss ``L = E_C`` (slide "Examples of Loss: Energy Loss"; paper
    Sec. 2.2.1, Table 1). Margin: none -- it only works for architectures
    where pulling E_C down pushes the other energies up."""
    e, c = _energies("energy_loss", energies, correct)
    return _gather(e, c), _put(xp.zeros(e.shape), c, 1.0)


def perceptron_loss(energies, correct):
    """Generalized perceptron loss ``L = E_C - min_Y E(W, Y, X^i)``, the min over
    all answers (slide "Examples of Loss: Perceptron Loss"; paper Sec. 2.2.2,
    Table 1). Margin: 0."""
    e, c = _energies("perceptron_loss", energies, correct)
    best = argmin(e)
    return _gather(e, c) - _gather(e, best), _put(_put(xp.zeros(e.shape), c, 1.0), best, -1.0)


def hinge_loss(energies, correct, margin=1.0, ys=None, radius=0.0):
    """Hinge loss ``L = max(0, m + E_C - E_I)`` (slide "Special Cases of the
    Generalized Margin Loss"; paper Sec. 2.2.3, Table 1). Margin: m."""
    m = _param("hinge_loss", "margin", margin, strict=False)

    def q(e_c, e_i):
        push = (m + e_c - e_i > 0).astype(xp.float64)
        return xp.maximum(0.0, m + e_c - e_i), push, -push
    return _margin_loss("hinge_loss", energies, correct, ys, radius, q)


def log_loss(energies, correct, ys=None, radius=0.0):
    """Log loss ``L = log(1 + exp(E_C - E_I))`` (paper Sec. 2.2.3, Table 1), a
    soft hinge; computed as the NLL loss of the pair (Y^i, Ybar) at beta = 1.
    Margin: > 0."""
    return _margin_loss("log_loss", energies, correct, ys, radius,
                        lambda e_c, e_i: _on_pair(_nll, e_c, e_i))


def lvq2_loss(energies, correct, saturation=1.0, ys=None, radius=0.0):
    """LVQ2 loss ``L = min(M, max(0, (E_C - E_I) / E_I))`` (Kohonen 1990; paper
    Sec. 2.2.3 and Table 1), with ``M = saturation``: the loss stops growing once
    the ratio E_C / E_I reaches 1 + M. The paper's text writes the same ratio
    scaled by 1/delta and saturating at 1. Needs E_I >= 0; at E_I = 0 any excess
    E_C > 0 saturates. Margin: 0."""
    big = _param("lvq2_loss", "saturation", saturation)

    def q(e_c, e_i):
        if bool((e_i < 0).any()):
            raise ValueError(f"lvq2_loss: energies of the most offending answers must be "
                             f">= 0 (the loss divides by them), got {float(e_i.min())}")
        excess = xp.maximum(0.0, e_c - e_i)
        full = (excess > 0) & (excess >= big * e_i)
        safe = xp.where(full | (e_i == 0), 1.0, e_i)
        active = xp.where((excess > 0) & ~full, 1.0 / safe, 0.0)
        return xp.where(full, big, excess / safe), active, -active * e_c / safe
    return _margin_loss("lvq2_loss", energies, correct, ys, radius, q)


def mce_loss(energies, correct, ys=None, radius=0.0):
    """Minimum classification error loss ``L = (1 + exp(-(E_C - E_I)))^-1``, a
    sigmoid of E_C - E_I (Juang et al. 1997; paper Sec. 2.2.3, Table 1); computed
    as the MEE loss of the pair (Y^i, Ybar) at beta = 1. Margin: > 0."""
    return _margin_loss("mce_loss", energies, correct, ys, radius,
                        lambda e_c, e_i: _on_pair(_mee, e_c, e_i))


def square_square_loss(energies, correct, margin=1.0, ys=None, radius=0.0):
    """Square-square loss ``L = E_C^2 + (max(0, m - E_I))^2`` (paper Sec. 2.2.3,
    Table 1). This is the paper's equation. The lecture prints it two other ways:
    slide "Special Cases of the Generalized Margin Loss" with ``min(0, m - E_I)``,
    slide "EBM Demos: good losses" with a minus sign before the second term;
    either would pull E_I down instead of pushing it above m. Margin: m."""
    m = _param("square_square_loss", "margin", margin, strict=False)

    def q(e_c, e_i):
        gap = xp.maximum(0.0, m - e_i)
        return e_c ** 2 + gap ** 2, 2 * e_c, -2 * gap
    return _margin_loss("square_square_loss", energies, correct, ys, radius, q)


def square_exp_loss(energies, correct, gamma=1.0, ys=None, radius=0.0):
    """Square-exponential loss ``L = E_C^2 + gamma exp(-E_I)`` (Osadchy, Miller,
    LeCun 2004; paper Sec. 2.2.3, Table 1; the slide's K exp(-beta E_I) with
    K = gamma, beta = 1). Margin: > 0."""
    g = _param("square_exp_loss", "gamma", gamma)

    def q(e_c, e_i):
        push = g * xp.exp(-e_i)
        return e_c ** 2 + push, 2 * e_c, -push
    return _margin_loss("square_exp_loss", energies, correct, ys, radius, q)


def nll_loss(energies, correct, beta=1.0):
    """Negative log-likelihood loss (maximum mutual information, MMI, in speech
    recognition: Bahl et al. 1986)
    ``L = E_C + (1/beta) log sum_y exp(-beta E(y)) = E_C - F_beta``
    (slides "Examples of Loss: Log-Likelihood Loss", "Examples of Loss
    Functions"; paper Sec. 2.2.4, Table 1), with F_beta the free energy of
    :func:`ebmlib.inference.free_energy`; ``dL/dE = onehot(Y^i) - P(Y|X)``.
    Tends to the perceptron loss as beta grows. Margin: > 0."""
    beta = _param("nll_loss", "beta", beta)
    return _nll(*_energies("nll_loss", energies, correct), beta)


def mee_loss(energies, correct, beta=1.0):
    """Minimum empirical error loss
    ``L = 1 - exp(-beta E_C) / sum_y exp(-beta E(y)) = 1 - P(Y^i|X^i)``
    (Ljolje et al. 1990; paper Sec. 2.2.4, Table 1). Margin: > 0."""
    beta = _param("mee_loss", "beta", beta)
    return _mee(*_energies("mee_loss", energies, correct), beta)
