"""Inference: argmin, the most offending answer, Gibbs, free energy, gradient
descent and min-sum on a chain, against brute force and closed forms."""
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


def test_gradient_descent_on_a_quadratic():
    a = np.array([[3.0, 1.0], [1.0, 2.0]])
    target = np.array([1.0, -2.0])

    def energy_and_grad(y):
        d = asnumpy(y) - target
        return 0.5 * d @ a @ d, a @ d

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
