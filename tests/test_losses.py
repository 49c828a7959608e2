"""Losses against their formulas (written here independently), finite differences,
limits, extreme values and bad input."""
import math

import numpy as np
import pytest

from ebmlib import losses
from ebmlib.backend import asnumpy
from ebmlib.gradcheck import check_function

N_ANSWERS = 4


def _bar(e, c, ys=None, radius=0.0):
    """The most offending incorrect answer, by a plain loop."""
    best = None
    for y in range(len(e)):
        if y == c or (ys is not None and abs(ys[y] - ys[c]) <= radius):
            continue
        if best is None or e[y] < e[best]:
            best = y
    return best


def _softmin(e, beta):
    """The Gibbs distribution, computed around the lowest energy."""
    w = np.exp(-beta * (np.asarray(e) - min(e)))
    return w / w.sum()


# Each formula as the paper's Table 1 prints it, one sample at a time.
FORMULAS = {
    "energy_loss": lambda e, c, b: e[c],
    "perceptron_loss": lambda e, c, b: e[c] - min(e),
    "hinge_loss": lambda e, c, b, margin: max(0.0, margin + e[c] - e[b]),
    "log_loss": lambda e, c, b: math.log(1 + math.exp(e[c] - e[b])),
    "lvq2_loss": lambda e, c, b, saturation: min(saturation, max(0.0, (e[c] - e[b]) / e[b])),
    "mce_loss": lambda e, c, b: 1 / (1 + math.exp(-(e[c] - e[b]))),
    "square_square_loss": lambda e, c, b, margin: e[c] ** 2 + max(0.0, margin - e[b]) ** 2,
    "square_exp_loss": lambda e, c, b, gamma: e[c] ** 2 + gamma * math.exp(-e[b]),
    "nll_loss": lambda e, c, b, beta: e[c] + math.log(np.exp(-beta * np.asarray(e)).sum()) / beta,
    "mee_loss": lambda e, c, b, beta: 1 - _softmin(e, beta)[c],
}
# Parameters chosen so that, with energies k + u (k distinct integers, u in [0, 0.3]),
# no sample sits near a kink: m + E_C - E_I and M - (E_C - E_I) / E_I stay off 0.
PARAMS = {"hinge_loss": {"margin": 0.5}, "lvq2_loss": {"saturation": 0.45},
          "square_square_loss": {"margin": 2.5}, "square_exp_loss": {"gamma": 1.7},
          "nll_loss": {"beta": 0.8}, "mee_loss": {"beta": 0.6}}
BETA_LOSSES = ["nll_loss", "mee_loss"]


def _energies(batch, seed, offset=0.0):
    """Energies with no near-ties: distinct integers plus noise in [0, 0.3]."""
    rng = np.random.default_rng(seed)
    levels = np.stack([rng.permutation(N_ANSWERS) for _ in range(batch)])
    return offset + levels + 0.3 * rng.random((batch, N_ANSWERS)), rng.integers(0, N_ANSWERS, batch)


def _block_jacobian(grad):
    """d values[k] / d energies[k', j] from the per-sample gradient (batch, n)."""
    b, n = grad.shape
    jac = np.zeros((b, b, n))
    jac[np.arange(b), np.arange(b)] = grad
    return jac.reshape(b, b * n)


@pytest.mark.parametrize("batch", [1, 6])
@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_loss_matches_formula_and_finite_differences(name, batch):
    loss, params = getattr(losses, name), PARAMS.get(name, {})
    e, c = _energies(batch, seed=batch, offset=1.0 if name == "lvq2_loss" else 0.0)
    values, grad = (asnumpy(a) for a in loss(e, c, **params))
    assert values.shape == (batch,) and grad.shape == (batch, N_ANSWERS)
    expected = [FORMULAS[name](list(e[k]), c[k], _bar(e[k], c[k]), **params) for k in range(batch)]
    np.testing.assert_allclose(values, expected, rtol=1e-12, atol=1e-12)
    if name == "lvq2_loss":   # away from both kinks of the ratio
        ratio = np.array([(e[k, c[k]] - e[k, _bar(e[k], c[k])]) / e[k, _bar(e[k], c[k])]
                          for k in range(batch)])
        assert np.abs(ratio).min() > 1e-3 and np.abs(ratio - params["saturation"]).min() > 1e-3
    check = check_function(name, lambda: loss(e, c, **params)[0], e, _block_jacobian(grad))
    assert check.ok, str(check)


def test_lvq2_covers_its_three_regimes():
    e = np.array([[1.0, 2.0], [2.2, 2.0], [5.0, 2.0], [3.0, 0.0], [0.0, 0.0]])
    values, grad = (asnumpy(a) for a in losses.lvq2_loss(e, np.zeros(5, int), saturation=0.5))
    np.testing.assert_allclose(values, [0.0, 0.1, 0.5, 0.5, 0.0])
    np.testing.assert_allclose(grad[1], [1 / 2.0, -2.2 / 2.0 ** 2])
    assert not grad[[0, 2, 3, 4]].any()


@pytest.mark.parametrize("name", ["hinge_loss", "log_loss", "lvq2_loss", "mce_loss",
                                  "square_square_loss", "square_exp_loss"])
def test_margin_losses_use_the_forbidden_sphere(name):
    """Continuous Y on a grid: answers within the radius of Y^i are not Ybar."""
    loss, params = getattr(losses, name), PARAMS.get(name, {})
    ys = np.linspace(-1.0, 1.0, 9)
    e = 1.0 + (ys[None, :] - np.array([[0.2], [-0.6]])) ** 2 + np.array([[0.0], [0.05]]) * ys
    c = np.array([5, 2])
    values, grad = (asnumpy(a) for a in loss(e, c, ys=ys, radius=0.3, **params))
    bars = [_bar(e[k], c[k], ys, 0.3) for k in range(2)]
    assert all(abs(ys[b] - ys[k]) > 0.3 for b, k in zip(bars, c))
    expected = [FORMULAS[name](list(e[k]), c[k], bars[k], **params) for k in range(2)]
    np.testing.assert_allclose(values, expected, rtol=1e-12)
    touched = [set(np.flatnonzero(grad[k])) for k in range(2)]
    assert all(t <= {c[k], bars[k]} for k, t in enumerate(touched))


def test_nll_tends_to_perceptron_as_beta_grows():
    e, c = _energies(8, seed=3)
    p_values, p_grad = (asnumpy(a) for a in losses.perceptron_loss(e, c))
    gaps = []
    for beta in (1.0, 10.0, 100.0, 1e4):
        values, grad = (asnumpy(a) for a in losses.nll_loss(e, c, beta=beta))
        assert np.all(values >= p_values - 1e-12)   # the soft-min lies below the min
        assert np.all(values - p_values <= math.log(N_ANSWERS) / beta + 1e-12)
        gaps.append(np.abs(grad - p_grad).max())
    assert gaps[-1] < 1e-12 and gaps == sorted(gaps, reverse=True)


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_extreme_energies_and_beta_stay_finite(name):
    e = np.array([[0.0, 1e4, 1e4], [1e4, 0.0, 1e4], [1e4, 1e4 - 1e-3, 0.0], [3.0, 2.0, 1e4]])
    c = np.array([0, 0, 1, 2])
    for params in ([{"beta": 1e6}, {"beta": 1e-6}] if name in BETA_LOSSES
                   else [PARAMS.get(name, {})]):
        for sign in ((1.0, -1.0) if name not in ("lvq2_loss", "square_exp_loss") else (1.0,)):
            values, grad = (asnumpy(a) for a in getattr(losses, name)(sign * e, c, **params))
            assert np.isfinite(values).all() and np.isfinite(grad).all(), (params, sign)


def test_extreme_values_are_right():
    e = np.array([[0.0, 1e4], [1e4, 0.0]])
    c = np.array([0, 0])
    np.testing.assert_allclose(asnumpy(losses.nll_loss(e, c, beta=1e6)[0]), [0.0, 1e4])
    np.testing.assert_allclose(asnumpy(losses.mee_loss(e, c, beta=1e6)[0]), [0.0, 1.0])
    np.testing.assert_allclose(asnumpy(losses.log_loss(e, c)[0]), [0.0, 1e4])
    np.testing.assert_allclose(asnumpy(losses.mce_loss(e, c)[0]), [0.0, 1.0])
    tiny = asnumpy(losses.log_loss(np.array([[0.0, 40.0]]), [0])[0])
    np.testing.assert_allclose(tiny, [math.exp(-40.0)], rtol=1e-12)


def _sigmoid(d):
    """1 / (1 + exp(-d)), without overflow."""
    return 1 / (1 + math.exp(-d)) if d >= 0 else math.exp(d) / (1 + math.exp(d))


def _pair(c, b, n, d_c, d_i):
    g = np.zeros(n)
    g[c], g[b] = d_c, d_i
    return g


def _lvq2_grad(e, c, b, saturation):
    on = 0 < e[c] - e[b] < saturation * e[b]
    return _pair(c, b, len(e), 1 / e[b] if on else 0.0, -e[c] / e[b] / e[b] if on else 0.0)


# dL/dE of each formula, one sample at a time, written entry by entry.
GRADIENTS = {
    "energy_loss": lambda e, c, b: _pair(c, b, len(e), 1.0, 0.0),
    "perceptron_loss": lambda e, c, b: (np.eye(len(e))[c] - np.eye(len(e))[int(np.argmin(e))]),
    "hinge_loss": lambda e, c, b, margin: _pair(c, b, len(e), *(
        (1.0, -1.0) if margin + e[c] - e[b] > 0 else (0.0, 0.0))),
    "log_loss": lambda e, c, b: _pair(c, b, len(e), _sigmoid(e[c] - e[b]), -_sigmoid(e[c] - e[b])),
    "lvq2_loss": _lvq2_grad,
    "mce_loss": lambda e, c, b: _pair(c, b, len(e), _sigmoid(e[c] - e[b]) * _sigmoid(e[b] - e[c]),
                                      -_sigmoid(e[c] - e[b]) * _sigmoid(e[b] - e[c])),
    "square_square_loss": lambda e, c, b, margin: _pair(c, b, len(e), 2 * e[c],
                                                        -2 * max(0.0, margin - e[b])),
    "square_exp_loss": lambda e, c, b, gamma: _pair(c, b, len(e), 2 * e[c],
                                                    -gamma * np.exp(-np.float64(e[b]))),
    "nll_loss": lambda e, c, b, beta: np.eye(len(e))[c] - _softmin(e, beta),
    "mee_loss": lambda e, c, b, beta: (beta * _softmin(e, beta)[c]
                                       * (np.eye(len(e))[c] - _softmin(e, beta))),
}
# Energies of magnitude 800 and 1e4 (exp(800) overflows), gaps of 1e-3 to 2e4,
# and for LVQ2 (energies >= 0) ratios E_C / E_I from 0 to 1e310.
EXTREME = np.array([[0.0, 1e4, 1e4], [1e4, 0.0, 1e4], [1e4, 1e4 - 1e-3, 0.0], [3.0, 2.0, 1e4],
                    [800.0, -800.0, 5.0], [-800.0, 800.0, 1e4], [1e4, -1e4, -1e4 + 1e-3]])
EXTREME_C = np.array([0, 0, 1, 2, 0, 1, 2])
EXTREME_LVQ2 = np.array([[1e300, 1e-10, 5.0], [3e-200, 2e-200, 1.0], [1e-300, 1e300, 2.0],
                         [1e4, 0.0, 1e4], [0.0, 0.0, 1.0]])
EXTREME_LVQ2_C = np.array([0, 0, 0, 0, 0])


def _extreme_cases(name):
    if name == "lvq2_loss":
        return [(EXTREME_LVQ2, EXTREME_LVQ2_C, PARAMS[name])]
    cases = [{"beta": 1e6}, {"beta": 1e-6}, {"beta": 1.0}] if name in BETA_LOSSES \
        else [PARAMS.get(name, {})]
    return [(sign * EXTREME, EXTREME_C, params) for params in cases for sign in (1.0, -1.0)]


@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")
@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_gradients_at_extreme_energies_are_their_formula(name):
    """Each entry of dL/dE is its formula's, and finite wherever the loss is."""
    for e, c, params in _extreme_cases(name):
        values, grad = (asnumpy(a) for a in getattr(losses, name)(e, c, **params))
        for k in range(len(e)):
            b = _bar(e[k], c[k])
            want = GRADIENTS[name](list(e[k]), c[k], b, **params)
            np.testing.assert_allclose(grad[k], want, rtol=1e-12, atol=0, err_msg=f"{params} {k}")
            if np.isfinite(values[k]):
                assert np.isfinite(grad[k]).all(), (params, k)


@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")
def test_square_exp_overflow_stays_in_its_own_entry():
    """exp(-E_I) overflows for E_I < -709: L and dL/dE_I are infinite, and every
    other entry of dL/dE keeps its value (2 E_C at Y^i, 0 elsewhere), never NaN."""
    e = np.array([[1.5, -710.0, 3.0, -1e4], [-800.0, 2.0, 0.5, 7.0]])
    c = np.array([2, 1])
    values, grad = (asnumpy(a) for a in losses.square_exp_loss(e, c, gamma=0.5))
    assert np.isposinf(values).all()
    np.testing.assert_array_equal(grad, [[0.0, 0.0, 6.0, -np.inf], [-np.inf, 4.0, 0.0, 0.0]])


ALL = [getattr(losses, n) for n in sorted(FORMULAS)]
GOOD_E, GOOD_C = np.array([[0.5, 1.0, 2.0]]), np.array([0])


@pytest.mark.parametrize("loss", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize("energies, correct, match", [
    (np.array([[0.5, np.nan, 2.0]]), GOOD_C, "energies must be finite"),
    (np.array([0.5, 1.0, 2.0]), GOOD_C, r"energies must be a 2-D array"),
    (GOOD_E, np.array([3]), r"correct must hold indices in \[0, 3\)"),
    (GOOD_E, np.array([-1]), r"correct must hold indices"),
    (GOOD_E, np.array([[0]]), r"correct must be integer indices of shape \(batch,\)"),
    (GOOD_E, np.array([0.0]), r"correct must be integer indices"),
])
def test_bad_energies_or_correct_raise(loss, energies, correct, match):
    with pytest.raises(ValueError, match=f"{loss.__name__}: {match}"):
        loss(energies, correct)


@pytest.mark.parametrize("name, params, match", [
    ("hinge_loss", {"margin": -1.0}, r"hinge_loss: margin must be >= 0, got -1.0"),
    ("square_square_loss", {"margin": -0.5}, r"square_square_loss: margin must be >= 0"),
    ("square_exp_loss", {"gamma": 0.0}, r"square_exp_loss: gamma must be > 0, got 0.0"),
    ("lvq2_loss", {"saturation": -1.0}, r"lvq2_loss: saturation must be > 0"),
    ("nll_loss", {"beta": 0.0}, r"nll_loss: beta must be > 0, got 0.0"),
    ("mee_loss", {"beta": -2.0}, r"mee_loss: beta must be > 0, got -2.0"),
    ("nll_loss", {"beta": float("nan")}, r"nll_loss: beta must be > 0, got nan"),
    ("hinge_loss", {"radius": -0.1, "ys": np.arange(3.0)}, r"most_offending: radius must be >= 0"),
    ("log_loss", {"ys": np.arange(4.0)}, r"most_offending: ys must have shape"),
])
def test_bad_parameters_raise(name, params, match):
    with pytest.raises(ValueError, match=match):
        getattr(losses, name)(GOOD_E, GOOD_C, **params)


def test_lvq2_rejects_negative_energies():
    with pytest.raises(ValueError, match=r"lvq2_loss: energies of the most offending .* >= 0"):
        losses.lvq2_loss(np.array([[1.0, -0.5]]), [0])


def test_no_incorrect_answer_left_raises():
    with pytest.raises(ValueError, match="most_offending: no incorrect answer is left"):
        losses.hinge_loss(np.array([[0.0]]), [0])
    with pytest.raises(ValueError, match="no incorrect answer is left for sample 1"):
        losses.hinge_loss(np.zeros((2, 3)), [0, 1], ys=np.array([[0.0, 1.0, 2.0], [0.0, 0.1, 0.2]]),
                          radius=0.5)
