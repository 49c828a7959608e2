"""Inference: argmin, the most offending answer, Gibbs, free energy, gradient
descent, Langevin sampling and min-sum on a chain, against brute force, closed
forms and quadrature."""
import itertools
import math

import numpy as np
import pytest

from ebmlib import inference
from ebmlib.backend import asnumpy


def test_argmin_indices_and_values():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(5, 7))
    ys = np.linspace(-3.0, 3.0, 7)
    np.testing.assert_array_equal(asnumpy(inference.argmin(e)), e.argmin(axis=1))
    np.testing.assert_array_equal(asnumpy(inference.argmin(e, ys=ys)), ys[e.argmin(axis=1)])
    per_sample = rng.normal(size=(5, 7))
    np.testing.assert_array_equal(asnumpy(inference.argmin(e, ys=per_sample)),
                                  per_sample[np.arange(5), e.argmin(axis=1)])
    assert int(inference.argmin(np.array([2.0, -1.0, 0.5]))) == 1


def test_most_offending_discrete():
    e = np.array([[0.1, 0.3, 0.2], [0.1, 0.3, 0.2], [5.0, 1.0, 3.0]])
    np.testing.assert_array_equal(asnumpy(inference.most_offending(e, [0, 2, 1])), [2, 0, 2])


def test_most_offending_with_radius_matches_brute_force():
    rng = np.random.default_rng(1)
    ys = np.linspace(0.0, 1.0, 21)
    e = rng.random((6, 21))
    c = rng.integers(0, 21, 6)
    for radius in (0.0, 0.12, 0.33):
        got = asnumpy(inference.most_offending(e, c, ys=ys, radius=radius))
        for k in range(6):
            allowed = [y for y in range(21) if y != c[k] and abs(ys[y] - ys[c[k]]) > radius + 1e-12]
            assert got[k] == min(allowed, key=lambda y: e[k, y])
            assert abs(ys[got[k]] - ys[c[k]]) > radius


def test_most_offending_per_sample_ys_and_errors():
    ys = np.array([[0.0, 0.1, 0.9], [0.0, 0.5, 1.0]])
    e = np.array([[1.0, 0.0, 2.0], [1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(asnumpy(inference.most_offending(e, [0, 0], ys=ys, radius=0.2)),
                                  [2, 1])
    on_the_sphere = np.array([[0.0, 0.5, 1.0]])   # |ys - ys[correct]| == radius is excluded
    assert int(inference.most_offending([[2.0, 0.0, 1.0]], [0], ys=on_the_sphere, radius=0.5)[0]) == 2
    with pytest.raises(ValueError, match="most_offending: no incorrect answer is left for sample 0"):
        inference.most_offending(e, [0, 0], ys=ys, radius=1.0)
    with pytest.raises(ValueError, match="most_offending: ys must have shape"):
        inference.most_offending(e, [0, 0], ys=np.zeros(4))
    with pytest.raises(ValueError, match="most_offending: radius must be >= 0, got -1"):
        inference.most_offending(e, [0, 0], ys=ys, radius=-1)


def test_gibbs_is_the_normalised_boltzmann_distribution():
    rng = np.random.default_rng(2)
    e = rng.normal(size=(4, 5))
    for beta in (0.3, 1.0, 4.0):
        p = asnumpy(inference.gibbs(e, beta))
        expected = np.exp(-beta * e) / np.exp(-beta * e).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(p, expected, rtol=1e-12)
    extreme = np.array([[0.0, 1e4, -1e4], [1e4, 1e4, 1e4]])
    for beta in (1e-6, 1.0, 1e6):
        p = asnumpy(inference.gibbs(extreme, beta))
        assert np.isfinite(p).all()
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


def test_free_energy_formula_limit_and_extremes():
    rng = np.random.default_rng(3)
    e = rng.normal(size=(4, 6))
    np.testing.assert_allclose(asnumpy(inference.free_energy(e, 0.7)),
                               -np.log(np.exp(-0.7 * e).sum(axis=1)) / 0.7, rtol=1e-12)
    low = e.min(axis=1)
    previous = None
    for beta in (0.1, 1.0, 10.0, 1e3, 1e6):
        f = asnumpy(inference.free_energy(e, beta))
        assert np.all(f <= low + 1e-12) and np.all(f >= low - math.log(6) / beta - 1e-12)
        assert previous is None or np.all(f >= previous)   # rises towards min E
        previous = f
    np.testing.assert_allclose(previous, low, atol=1e-5)
    extreme = np.array([[1e4, -1e4, 0.0], [1e4, 1e4, 1e4]])
    f = asnumpy(inference.free_energy(extreme, 1e6))
    np.testing.assert_allclose(f, [-1e4, 1e4 - math.log(3) / 1e6], rtol=1e-12)
    assert np.isfinite(asnumpy(inference.free_energy(extreme, 1e-6))).all()
    assert inference.free_energy(np.array([0.0, 0.0]), 1.0).shape == ()


@pytest.mark.parametrize("fn", [inference.gibbs, inference.free_energy])
def test_beta_and_energies_are_validated(fn):
    for beta in (0.0, -1.0):
        with pytest.raises(ValueError, match=f"{fn.__name__}: beta must be > 0, got {beta}"):
            fn(np.zeros((1, 3)), beta)
    with pytest.raises(ValueError, match=f"{fn.__name__}: energies must be finite"):
        fn(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match=rf"{fn.__name__}: energies must be an array \(\.\.\., n_answers\)"):
        fn(np.float64(1.0))


QUADRATIC_A, QUADRATIC_TARGET = np.array([[3.0, 1.0], [1.0, 2.0]]), np.array([1.0, -2.0])


def quadratic(y):
    """E = 1/2 (y - t)' A (y - t) and its gradient A (y - t)."""
    d = asnumpy(y) - QUADRATIC_TARGET
    return 0.5 * d @ QUADRATIC_A @ d, QUADRATIC_A @ d


def test_gradient_descent_on_a_quadratic():
    target, energy_and_grad = QUADRATIC_TARGET, quadratic
    y, history = inference.gradient_descent(energy_and_grad, np.zeros(2), eta=0.2, steps=60)
    history = asnumpy(history)
    assert history.shape == (61,)
    np.testing.assert_allclose(asnumpy(y), target, atol=1e-6)
    assert np.all(np.diff(history) <= 0) and history[-1] < 1e-10
    np.testing.assert_allclose(history[0], energy_and_grad(np.zeros(2))[0])
    with pytest.raises(ValueError, match="gradient_descent: eta must be > 0, got 0"):
        inference.gradient_descent(energy_and_grad, np.zeros(2), eta=0, steps=3)
    with pytest.raises(ValueError, match="gradient_descent: steps must be an integer >= 0"):
        inference.gradient_descent(energy_and_grad, np.zeros(2), eta=0.1, steps=-1)


def _chain_energy(labels, unary, pairwise):
    pw = pairwise if pairwise.ndim == 3 else [pairwise] * (len(labels) - 1)
    return (sum(unary[t, y] for t, y in enumerate(labels))
            + sum(pw[t][labels[t], labels[t + 1]] for t in range(len(labels) - 1)))


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("length", [1, 2, 5])
def test_min_sum_chain_matches_brute_force(length, shared):
    rng = np.random.default_rng(10 * length + shared)
    k = 3
    unary = rng.normal(size=(length, k))
    pairwise = rng.normal(size=(k, k) if shared else (length - 1, k, k))
    labels, energy = inference.min_sum_chain(unary, pairwise)
    best = min(itertools.product(range(k), repeat=length),
               key=lambda ls: _chain_energy(ls, unary, pairwise))
    assert tuple(asnumpy(labels)) == best
    np.testing.assert_allclose(float(energy), _chain_energy(best, unary, pairwise), rtol=1e-12)


def test_min_sum_chain_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"min_sum_chain: unary must have shape \(T, K\)"):
        inference.min_sum_chain(np.zeros(3), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"min_sum_chain: pairwise must have shape \(K, K\) = \(3, 3\)"):
        inference.min_sum_chain(np.zeros((4, 3)), np.zeros((2, 3, 3)))


# Langevin dynamics. Each element of y0 is a chain, so n chains give n independent
# draws from the law of y after `steps` steps. Tolerances are 4 standard errors of
# that law (a false alarm about once in 16 000 checks) plus, against the Gibbs
# distribution, the law's own distance from it (burn-in and the O(eta) bias of the
# unadjusted scheme), computed in closed form or by quadrature, never from the draws.
N_CHAINS = 4000
Z = 4.0


def _quadratic(a, m):
    return lambda y: (a * (y - m) ** 2, 2 * a * (y - m))


def _double_well(y):
    """A tilted double well: two minima near -1 and 1, the lower at -1."""
    return (y ** 2 - 1) ** 2 + 0.5 * y, 4 * y * (y ** 2 - 1) + 0.5


def _moments(y):
    y = asnumpy(y)
    return y.mean(), y.var(ddof=1)


@pytest.mark.parametrize("energy", [_quadratic(2.0, 0.5), _double_well])
def test_langevin_test_energies_have_the_right_gradient(energy):
    from ebmlib.gradcheck import check_function
    y = np.linspace(-2.0, 2.0, 9)
    result = check_function("dE/dy", lambda: energy(y)[0], y, np.diag(energy(y)[1]))
    assert result.ok, str(result)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("a, m, beta, eta", [(2.0, 0.5, 1.0, 0.01), (0.5, -1.0, 4.0, 0.05)])
def test_langevin_samples_the_gaussian_of_a_quadratic_energy(a, m, beta, eta, seed):
    """E = a (y - m)^2: the Gibbs distribution at beta is N(m, 1 / (2 a beta)).

    From y0 = m + 3 the chains follow d <- c d + sqrt(2 eta / beta) N(0, 1), with
    d = y - m and c = 1 - 2 a eta, so after k steps y ~ N(m + 3 c^k, v (1 - c^2k)),
    v = 1 / (2 a beta (1 - a eta)). Monte Carlo: the standard errors sqrt(var / n)
    of the mean and var sqrt(2 / (n - 1)) of the variance, n = 4000 (1.6% of the
    standard deviation, 2.2% of the variance). Bias: the burn-in term 3 c^k (below
    1e-8 here) and the discretisation bias v - 1 / (2 a beta), 2.0% and 2.6% of the
    variance for the two settings.
    """
    steps = 500
    c = 1 - 2 * a * eta
    law_mean, law_var = m + 3 * c ** steps, (1 - c ** (2 * steps)) / (2 * a * beta * (1 - a * eta))
    gibbs_mean, gibbs_var = m, 1 / (2 * a * beta)
    y, energies = inference.langevin(_quadratic(a, m), np.full(N_CHAINS, m + 3.0), eta, steps,
                                     beta=beta, seed=seed)
    assert energies.shape == (steps + 1, N_CHAINS)
    mean, var = _moments(y)
    se_mean, se_var = math.sqrt(law_var / N_CHAINS), law_var * math.sqrt(2 / (N_CHAINS - 1))
    assert abs(mean - law_mean) <= Z * se_mean
    assert abs(var - law_var) <= Z * se_var
    assert abs(mean - gibbs_mean) <= Z * se_mean + abs(law_mean - gibbs_mean)
    assert abs(var - gibbs_var) <= Z * se_var + abs(law_var - gibbs_var)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_langevin_bias_of_a_large_step_is_the_predicted_one(seed):
    """With a eta = 0.2 the stationary variance of the chains is 1 / (2 a (1 - a eta)),
    25% above the Gibbs variance 1 / (2 a): many standard errors away (n = 4000,
    SE 2.2% of the variance), and the draws find the biased value, not the Gibbs one."""
    a, eta = 1.0, 0.2
    y, _ = inference.langevin(_quadratic(a, 0.0), np.zeros(N_CHAINS), eta, 200, seed=seed)
    _, var = _moments(y)
    law_var = 1 / (2 * a * (1 - a * eta))
    se_var = law_var * math.sqrt(2 / (N_CHAINS - 1))
    assert abs(var - law_var) <= Z * se_var
    assert abs(var - 1 / (2 * a)) > Z * se_var


def _law_on_a_grid(energy_and_grad, y0, eta, steps, beta, grid):
    """The law of the Langevin chain after `steps` steps from y0, by quadrature: the
    transition density N(y - eta dE/dy, 2 eta / beta) discretised on `grid`."""
    drift = grid - eta * energy_and_grad(grid)[1]
    kernel = np.exp(-(grid[None, :] - drift[:, None]) ** 2 / (4 * eta / beta))
    kernel /= kernel.sum(axis=1, keepdims=True)
    p = (np.abs(grid - y0) == np.abs(grid - y0).min()).astype(float)
    for _ in range(steps):
        p = p @ kernel
    return p


@pytest.fixture(scope="module")
def double_well_reference():
    """Moments (mean, variance, 4th central moment, P(y > 0)) of the Gibbs
    distribution of the double well at beta = 1 and of the law of the chains after
    1000 steps of eta = 0.01 from y0 = 0, by quadrature on a grid of step 0.01."""
    grid = np.linspace(-3.0, 3.0, 601)
    gibbs_p = np.exp(-_double_well(grid)[0])
    law = _law_on_a_grid(_double_well, 0.0, 0.01, 1000, 1.0, grid)

    def moments(p):
        p = p / p.sum()
        mean = (p * grid).sum()
        right = p[grid > 0].sum() + p[grid == 0].sum() / 2
        return mean, (p * (grid - mean) ** 2).sum(), (p * (grid - mean) ** 4).sum(), right
    return moments(gibbs_p), moments(law)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_langevin_samples_a_double_well(seed, double_well_reference):
    """E = (y^2 - 1)^2 + y / 2 at beta = 1: not Gaussian, two wells. The Gibbs
    moments (mean -0.397, variance 0.721, P(y > 0) = 0.304) come from quadrature.

    Monte Carlo: the standard errors sqrt(var / n) of the mean, sqrt((mu4 - var^2) / n)
    of the variance and sqrt(p (1 - p) / n) of the fraction p of chains in the right
    well, with the moments of the chains' law after 1000 steps of eta = 0.01 from
    y0 = 0 (by quadrature of the transition density), n = 4000: 0.013, 0.012, 0.007.
    Bias: the law's distance from the Gibbs values (burn-in and discretisation),
    +0.006 in the mean, -0.003 in the variance, +0.002 in P(y > 0).
    """
    gibbs_m, law_m = double_well_reference
    y, _ = inference.langevin(_double_well, np.zeros(N_CHAINS), 0.01, 1000, seed=seed)
    mean, var = _moments(y)
    right = np.mean(asnumpy(y) > 0)
    law_mean, law_var, law_mu4, law_right = law_m
    for got, law, gibbs, se in [
            (mean, law_mean, gibbs_m[0], math.sqrt(law_var / N_CHAINS)),
            (var, law_var, gibbs_m[1], math.sqrt((law_mu4 - law_var ** 2) / N_CHAINS)),
            (right, law_right, gibbs_m[3], math.sqrt(law_right * (1 - law_right) / N_CHAINS))]:
        assert abs(got - law) <= Z * se
        assert abs(got - gibbs) <= Z * se + abs(law - gibbs)


def test_langevin_at_large_beta_is_gradient_descent():
    energy_and_grad = quadratic
    y_gd, e_gd = inference.gradient_descent(energy_and_grad, np.zeros(2), eta=0.2, steps=60)
    y_inf, e_inf = inference.langevin(energy_and_grad, np.zeros(2), eta=0.2, steps=60,
                                      beta=math.inf)
    np.testing.assert_array_equal(asnumpy(y_inf), asnumpy(y_gd))
    np.testing.assert_array_equal(asnumpy(e_inf), asnumpy(e_gd))
    y_big, e_big = inference.langevin(energy_and_grad, np.zeros(2), eta=0.2, steps=60, beta=1e12)
    np.testing.assert_allclose(asnumpy(y_big), asnumpy(y_gd), atol=1e-5)
    np.testing.assert_allclose(asnumpy(e_big), asnumpy(e_gd), atol=1e-5)
    y_one, _ = inference.langevin(energy_and_grad, np.zeros(2), eta=0.2, steps=60, beta=1.0)
    assert np.abs(asnumpy(y_one) - asnumpy(y_gd)).max() > 0.01   # at beta = 1 the noise shows


def test_langevin_shapes_rows_as_chains_and_seeds():
    """Rows of y0 are independent chains of a 2-D Gaussian, E = |y|^2 / 2 per row:
    after 300 steps of eta = 0.1 each coordinate has variance 1 / (1 - eta / 2) and
    the two are uncorrelated (4 standard errors, n = 4000)."""
    def energy_and_grad(y):
        return 0.5 * (y ** 2).sum(axis=-1), y

    eta, steps = 0.1, 300
    y, energies = inference.langevin(energy_and_grad, np.zeros((N_CHAINS, 2)), eta, steps, seed=3)
    assert y.shape == (N_CHAINS, 2) and energies.shape == (steps + 1, N_CHAINS)
    np.testing.assert_allclose(asnumpy(energies[-1]), 0.5 * (asnumpy(y) ** 2).sum(axis=1))
    cov = np.cov(asnumpy(y).T)
    var = 1 / (1 - eta / 2)
    assert np.all(np.abs(np.diag(cov) - var) <= Z * var * math.sqrt(2 / (N_CHAINS - 1)))
    assert abs(cov[0, 1]) <= Z * var / math.sqrt(N_CHAINS)

    scalar, history = inference.langevin(energy_and_grad, 0.0, 0.1, 5)
    assert np.shape(scalar) == () and history.shape == (6,)
    start, none = inference.langevin(energy_and_grad, np.ones((3, 2)), 0.1, 0)
    np.testing.assert_array_equal(asnumpy(start), np.ones((3, 2)))
    assert none.shape == (1, 3)

    same = [asnumpy(inference.langevin(energy_and_grad, np.zeros((5, 2)), 0.1, 3, seed=s)[0])
            for s in (7, 7, 8)]
    np.testing.assert_array_equal(same[0], same[1])
    assert not np.allclose(same[0], same[2])
    assert len(np.unique(same[0])) == same[0].size   # chains from one start part ways


def test_langevin_rejects_bad_input():
    energy_and_grad = _quadratic(1.0, 0.0)
    for kwargs, message in [
            (dict(eta=0), "langevin: eta must be > 0, got 0"),
            (dict(eta=-0.1), "langevin: eta must be > 0, got -0.1"),
            (dict(steps=-1), "langevin: steps must be an integer >= 0, got -1"),
            (dict(steps=2.5), "langevin: steps must be an integer >= 0, got 2.5"),
            (dict(beta=0), "langevin: beta must be > 0, got 0"),
            (dict(beta=-1.0), "langevin: beta must be > 0, got -1.0"),
            (dict(beta=None), "langevin: beta must be > 0, got None"),
            (dict(seed=-1), "langevin: seed must be an integer >= 0, got -1"),
            (dict(seed=1.5), "langevin: seed must be an integer >= 0, got 1.5")]:
        args = dict(eta=0.1, steps=3, beta=1.0, seed=0) | kwargs
        with pytest.raises(ValueError, match=message):
            inference.langevin(energy_and_grad, np.zeros(3), **args)
