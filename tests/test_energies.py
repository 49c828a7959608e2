"""Energy machines: each against its formula, and its dE/dW by finite differences."""
import numpy as np
import pytest

from ebmlib.backend import asnumpy
from ebmlib.energies import (Classifier, LatentEnergy, Matcher, Perceptron, Regressor,
                             linear_regression)
from ebmlib.gradcheck import check_energy, check_function
from ebmlib.modules import Cascade, Linear, Parameters, Tanh, nn_2layer, nn_layer

RNG = np.random.default_rng(7)


def _machines():
    def regressor():
        p = Parameters(seed=1)
        return Regressor(nn_2layer(2, 4, 3, p), "l2"), RNG.standard_normal((3, 2)), \
            RNG.standard_normal((5, 3))

    def regressor_l1_per_sample_ys():
        p = Parameters(seed=2)
        return Regressor(nn_layer(2, 3, p), "l1"), RNG.standard_normal((3, 2)), \
            RNG.standard_normal((3, 4, 3))

    def matcher():
        p = Parameters(seed=3)
        return Matcher(nn_layer(1, 4, p), nn_layer(1, 4, p), "l1"), \
            RNG.uniform(-1, 1, (3, 1)), RNG.uniform(0, 1, (6, 1))

    def linreg():
        return linear_regression(3, 2), RNG.standard_normal((4, 3)), RNG.standard_normal((5, 2))

    def classifier():
        p = Parameters(seed=4)
        return Classifier(Cascade(Linear(3, 4, p), Tanh(4, p))), RNG.standard_normal((5, 3)), None

    def perceptron():
        return Perceptron(3, scale=0.5), RNG.standard_normal((4, 3)), None

    def latent():
        p = Parameters(seed=5)
        inner = Regressor(nn_layer(2, 2, p), "l2")  # scores [y; z] against G(X)
        return LatentEnergy(inner, np.linspace(-1, 1, 3)), RNG.standard_normal((3, 2)), \
            RNG.standard_normal((4, 1))

    return {f.__name__: f for f in (regressor, regressor_l1_per_sample_ys, matcher, linreg,
                                     classifier, perceptron, latent)}


@pytest.mark.parametrize("name", list(_machines()))
def test_energy_gradients_by_finite_differences(name):
    machine, X, Ys = _machines()[name]()
    result = check_energy(machine, X, Ys)
    assert result.ok, str(result)


def test_regressor_and_linear_regression_formulas():
    machine, X, Ys = _machines()["linreg"]()
    W = asnumpy(machine.g1.w.x)
    E = asnumpy(machine.fprop(X, Ys))
    expected = 0.5 * ((Ys[None, :, :] - (X @ W.T)[:, None, :]) ** 2).sum(axis=2)
    np.testing.assert_allclose(E, expected)
    np.testing.assert_allclose(asnumpy(machine.infer(X, (X @ W.T)[0:1])), (X @ W.T)[[0, 0, 0, 0]])


def test_matcher_formula_l1():
    machine, X, Ys = _machines()["matcher"]()
    E = asnumpy(machine.fprop(X, Ys))
    g1 = np.tanh(X @ asnumpy(machine.g1.modules[0].w.x).T + asnumpy(machine.g1.modules[1].bias.x))
    g2 = np.tanh(Ys @ asnumpy(machine.g2.modules[0].w.x).T + asnumpy(machine.g2.modules[1].bias.x))
    np.testing.assert_allclose(E, np.abs(g1[:, None, :] - g2[None, :, :]).sum(axis=2))


def test_perceptron_energy_and_inference():
    machine, X, _ = _machines()["perceptron"]()
    machine.scale = 1.0
    r = X @ asnumpy(machine.linear.w.x).T[:, 0]
    np.testing.assert_allclose(asnumpy(machine.fprop(X)), np.stack([r, -r], axis=1))
    np.testing.assert_array_equal(asnumpy(machine.infer(X)), np.where(r > 0, 1.0, -1.0))


def test_classifier_energy_is_the_cost_of_each_class():
    machine, X, _ = _machines()["classifier"]()
    E = asnumpy(machine.fprop(X))
    assert E.shape == (5, 4)
    np.testing.assert_array_equal(asnumpy(machine.infer(X)), E.argmin(axis=1))


def test_latent_energy_is_the_min_over_z():
    machine, X, Ys = _machines()["latent"]()
    E = asnumpy(machine.fprop(X, Ys))
    inner = machine.machine
    for j, z in enumerate(np.linspace(-1, 1, 3)):
        pairs = np.concatenate([Ys, np.full((len(Ys), 1), z)], axis=1)
        Ez = asnumpy(inner.fprop(X, pairs))
        assert (E <= Ez + 1e-12).all()
        hit = asnumpy(machine.z_index) == j
        np.testing.assert_allclose(E[hit], Ez[hit])


def test_bad_input_names_the_argument():
    machine, X, Ys = _machines()["regressor"]()
    with pytest.raises(ValueError, match=r"Linear\(2->4\).fprop: input x has shape \(3, 5\)"):
        machine.fprop(np.ones((3, 5)), Ys)
    with pytest.raises(ValueError, match=r"Perceptron.fprop: X must have shape \(batch, 3\)"):
        Perceptron(3).fprop(np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"Regressor.fprop: Ys must have shape"):
        machine.fprop(X, np.ones((2, 2, 2, 2)))
    machine.fprop(X, Ys)
    with pytest.raises(ValueError, match=r"Regressor.bprop: dE must have the energies' shape"):
        machine.bprop(np.ones((3, 4)))
    with pytest.raises(ValueError, match="distance must be one of"):
        Regressor(Linear(1, 1), "l3")


@pytest.mark.parametrize("wrt", ["x", "y"])
@pytest.mark.parametrize("kind", ["matcher", "regressor"])
def test_energy_and_grad_of_paired_rows_by_finite_differences(kind, wrt):
    p = Parameters(seed=4)
    machine = Matcher(nn_2layer(2, 5, 3, p), nn_2layer(3, 5, 3, p), "l2") if kind == "matcher" \
        else Regressor(nn_2layer(2, 5, 3, p), "l2")
    X, Y = RNG.standard_normal((4, 2)), RNG.standard_normal((4, 3))
    p.dx[...] = 1.0  # a gradient accumulated before: it must be left alone
    energy, grad = machine.energy_and_grad(X, Y, wrt)
    assert np.all(asnumpy(p.dx) == 1.0)
    direct = asnumpy(machine.fprop(X, Y[:, None, :]))[:, 0]
    np.testing.assert_allclose(asnumpy(energy), direct, rtol=1e-12)
    # rows are independent: the sum's gradient holds each row's gradient
    x, y = X.reshape(-1).copy(), Y.reshape(-1).copy()   # perturbed in place by the check
    f = lambda: machine.fprop(x.reshape(X.shape), y.reshape(Y.shape)[:, None, :]).sum()
    result = check_function(f"dE/d{wrt.upper()}", f, x if wrt == "x" else y,
                            asnumpy(grad).reshape(-1))
    assert result.ok, str(result)
    with pytest.raises(ValueError, match="wrt must be"):
        machine.energy_and_grad(X, Y, "w")
