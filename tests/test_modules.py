"""Modules: Jacobian checks for every module and a cascade, pooled parameters,
and the errors a student meets first (shapes, bprop before fprop)."""
import numpy as np
import pytest

from ebmlib.backend import asnumpy, to_device
from ebmlib.gradcheck import check_module
from ebmlib.modules import (RBF, Cascade, Euclidean, L1Distance, Linear, Parameters,
                            ShapeError, Sigmoid, State, Tanh, nn_2layer, nn_layer)

RNG = np.random.default_rng(42)


def _modules():
    return {
        "Linear": (lambda p: Linear(3, 4, p), [(5, 3)]),
        "Tanh": (lambda p: Tanh(4, p), [(5, 4)]),
        "Sigmoid": (lambda p: Sigmoid(4, p), [(5, 4)]),
        "Euclidean": (lambda p: Euclidean(), [(5, 3), (5, 3)]),
        "L1Distance": (lambda p: L1Distance(), [(5, 3), (5, 3)]),  # random inputs: no kink
        "RBF": (lambda p: RBF(3, 4, p), [(5, 3)]),
        "nn_layer": (lambda p: nn_layer(3, 4, p), [(5, 3)]),
        "nn_2layer": (lambda p: nn_2layer(3, 6, 2, p), [(5, 3)]),
    }


@pytest.mark.parametrize("name", list(_modules()))
@pytest.mark.parametrize("batch", [1, 5])
def test_jacobians(name, batch):
    make, shapes = _modules()[name]
    params = Parameters(seed=3)
    module = make(params)
    if len(params):  # move the biases off zero so that they are really checked
        params.x[...] = to_device(RNG.uniform(-0.8, 0.8, len(params)))
    inputs = [RNG.standard_normal((batch, s[1])) for s in shapes]
    results = check_module(module, *inputs)
    assert len(results) == len(shapes) + (1 if len(params) else 0)
    for r in results:
        assert r.ok, str(r)


def test_gradcheck_catches_a_wrong_bprop():
    class BadTanh(Tanh):
        @staticmethod
        def _df(y):  # forgets the square: tanh' = 1 - tanh
            return 1 - y

    results = check_module(BadTanh(3), RNG.standard_normal((2, 3)))
    assert not results[0].ok
    assert "d out[" in str(results[0]) and "WRONG" in str(results[0])


def test_linear_matches_formula():
    params = Parameters()
    lin = Linear(3, 2, params)
    x = RNG.standard_normal((4, 3))
    out = State()
    lin.fprop(State(to_device(x)), out)
    np.testing.assert_allclose(asnumpy(out.x), x @ asnumpy(lin.w.x).T)


def test_tanh_and_sigmoid_match_formula():
    x = RNG.standard_normal((3, 4)) * 10
    for cls, f in [(Tanh, np.tanh), (Sigmoid, lambda s: 1 / (1 + np.exp(-s)))]:
        m = cls(4)
        m.params.x[...] = to_device(np.arange(4.0))
        out = State()
        m.fprop(State(to_device(x)), out)
        np.testing.assert_allclose(asnumpy(out.x), f(x + np.arange(4.0)), atol=1e-12)


def test_euclidean_energy():
    a, b = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    out = State()
    Euclidean().fprop(State(to_device(a)), State(to_device(b)), out)
    np.testing.assert_allclose(asnumpy(out.x), 0.5 * ((a - b) ** 2).sum(axis=1))


def test_l1_and_rbf_match_formula():
    a, b = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    out = State()
    L1Distance().fprop(State(to_device(a)), State(to_device(b)), out)
    np.testing.assert_allclose(asnumpy(out.x), np.abs(a - b).sum(axis=1))
    rbf = RBF(3, 2)
    rbf.fprop(State(to_device(a)), out)
    c = asnumpy(rbf.centres.x)
    np.testing.assert_allclose(asnumpy(out.x)[:, 1], ((a - c[1]) ** 2).sum(axis=1))


def test_pooled_views_alias_the_flat_vector():
    params = Parameters(seed=0)
    net = nn_2layer(2, 3, 1, params)
    lin1, tanh1 = net.modules[0].modules
    lin2, tanh2 = net.modules[1].modules
    assert len(params) == 2 * 3 + 3 + 3 * 1 + 1
    before = asnumpy(lin1.w.x).copy()
    params.x -= 1.0  # one vector operation ...
    np.testing.assert_allclose(asnumpy(lin1.w.x), before - 1.0)  # ... moves every module's weights
    np.testing.assert_allclose(asnumpy(tanh2.bias.x), -1.0)
    params.dx[...] = 7.0
    assert float(asnumpy(lin2.w.dx).min()) == 7.0 and float(asnumpy(tanh1.bias.dx).max()) == 7.0
    lin1.w.x[0, 0] = 123.0  # and a write through a view lands in the vector
    assert float(asnumpy(params.x)[0]) == 123.0


def test_parameter_gradients_accumulate_input_gradients_are_overwritten():
    lin = Linear(2, 2)
    x = State(to_device(RNG.standard_normal((3, 2))))
    out = State()
    lin.fprop(x, out)
    out.dx = to_device(np.ones((3, 2)))
    lin.bprop(x, out)
    dw, dx = asnumpy(lin.w.dx).copy(), asnumpy(x.dx).copy()
    lin.bprop(x, out)
    np.testing.assert_allclose(asnumpy(lin.w.dx), 2 * dw)
    np.testing.assert_allclose(asnumpy(x.dx), dx)
    lin.params.clear_grad()
    assert not asnumpy(lin.w.dx).any()


def test_requires_dx_false_skips_the_input_gradient():
    lin = Linear(2, 2)
    x = State(to_device(np.ones((1, 2))), requires_dx=False)
    out = State()
    lin.fprop(x, out)
    out.dx = to_device(np.ones((1, 2)))
    lin.bprop(x, out)
    assert x.dx is None and asnumpy(lin.w.dx).any()


def test_float32_pool():
    params = Parameters(dtype="float32")
    net = nn_layer(3, 2, params)
    out = State()
    net.fprop(State(to_device(np.ones((2, 3)), "float32")), out)
    assert params.x.dtype == np.float32 and out.x.dtype == np.float32


def test_shape_mismatch_in_fprop_names_module_and_shapes():
    with pytest.raises(ShapeError, match=r"Linear\(3->4\)\.fprop: input x has shape \(5, 2\), "
                                         r"expected \(batch, 3\)"):
        Linear(3, 4).fprop(State(to_device(np.ones((5, 2)))), State())
    with pytest.raises(ShapeError, match=r"Euclidean\(\)\.fprop: input y has shape \(5, 2\), "
                                         r"expected \(5, 3\)"):
        Euclidean().fprop(State(to_device(np.ones((5, 3)))), State(to_device(np.ones((5, 2)))),
                          State())


def test_shape_mismatch_in_bprop():
    lin = Linear(3, 4)
    x, out = State(to_device(np.ones((5, 3)))), State()
    lin.fprop(x, out)
    out.dx = to_device(np.ones((5, 2)))
    with pytest.raises(ShapeError, match=r"Linear\(3->4\)\.bprop: output dx has shape \(5, 2\), "
                                         r"expected \(5, 4\)"):
        lin.bprop(x, out)


def test_bprop_before_fprop():
    with pytest.raises(ShapeError, match=r"Tanh\(3\)\.bprop: output x is not set \(call fprop"):
        Tanh(3).bprop(State(to_device(np.ones((1, 3)))), State())


def test_cascade_needs_one_pool():
    with pytest.raises(ValueError, match="different Parameters pools"):
        Cascade(Linear(2, 2), Tanh(2))
