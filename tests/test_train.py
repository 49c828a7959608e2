"""SGD over the pooled vector: a 2-layer net learns a small regression."""
import numpy as np
import pytest

from ebmlib.backend import asnumpy, to_device, xp
from ebmlib.modules import Euclidean, Parameters, State, nn_2layer
from ebmlib.train import sgd_step, train


def test_sgd_step_is_one_vector_update():
    params = Parameters()
    params.new(np.ones(3))
    params.dx[...] = to_device(np.array([1.0, 2.0, 3.0]))
    sgd_step(params, 0.5)
    np.testing.assert_allclose(asnumpy(params.x), [0.5, 0.0, -0.5])
    with pytest.raises(ValueError, match="eta must be > 0"):
        sgd_step(params, 0.0)


def _regression(seed, epochs):
    """The lecture's training cycle on Y = X^2 with a 1-20-1 tanh net."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (200, 1))
    Y = X ** 2
    params = Parameters(seed=seed)
    net, cost = nn_2layer(1, 20, 1, params), Euclidean()
    out, energy = State(), State()

    def objective(idx):
        x = State(to_device(X[idx]), requires_dx=False)
        y = State(to_device(Y[idx]), requires_dx=False)
        net.fprop(x, out)
        cost.fprop(out, y, energy)
        energy.dx = xp.full(len(idx), 1.0 / len(idx))
        cost.bprop(out, y, energy)
        net.bprop(x, out)
        return float(asnumpy(energy.x).mean())

    return train(params, objective, len(X), epochs=epochs, eta=0.05, batch_size=1, seed=seed)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_layer_net_learns_a_regression(seed):
    history = _regression(seed, epochs=30)
    assert len(history["loss"]) == 30
    assert history["loss"][-1] < history["loss"][0] / 10, history["loss"]


def test_training_is_deterministic():
    assert _regression(5, 2)["loss"] == _regression(5, 2)["loss"]


def test_on_epoch_values_are_recorded():
    params = Parameters()
    params.new(np.zeros(1))
    hist = train(params, lambda idx: 0.0, 4, epochs=3, eta=0.1, batch_size=2,
                 on_epoch=lambda e: {"epoch": e})
    assert hist == {"loss": [0.0, 0.0, 0.0], "epoch": [0, 1, 2]}


def test_a_schedule_sets_each_epochs_rate():
    params = Parameters()
    params.new(np.zeros(1))

    def objective(idx):
        params.dx[...] = 1.0  # dL/dW = 1: each step moves W by -rate
        return 0.0

    train(params, objective, 2, epochs=3, eta=lambda t: 0.1 / (1 + t), batch_size=1)
    # two steps per epoch at 0.1, 0.05, 0.1 / 3
    np.testing.assert_allclose(asnumpy(params.x), [-2 * (0.1 + 0.05 + 0.1 / 3)])
