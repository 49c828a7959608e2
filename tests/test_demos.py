"""The lecture's claims about the demos, each over seeds 0-4 (about a minute)."""
import functools

import numpy as np
import pytest

from ebmlib import demos, gradcheck, losses
from ebmlib.backend import asnumpy, get_backend, to_device
from ebmlib.modules import State

SEEDS = (0, 1, 2, 3, 4)


@functools.lru_cache(maxsize=None)
def run(architecture, loss, data="parabola", seed=0, **kwargs):
    """One experiment, shared by the tests that look at it (a radius schedule
    and a variance penalty are given as ((key, value), ...))."""
    for key in ("radius", "variance"):
        if isinstance(kwargs.get(key), tuple):
            kwargs[key] = dict(kwargs[key])
    return demos.experiment(architecture, loss, data, seed=seed, **kwargs)


@functools.lru_cache(maxsize=None)
def rbf(loss, seed):
    return demos.rbf_experiment(loss, seed=seed)


def first_epoch(values, predicate):
    return next((i for i, v in enumerate(values) if predicate(v)), None)


def show(h):
    """The history, rounded, for the assertion messages."""
    return {k: [round(v, 3) for v in h[k]] for k in ("spread", "gap", "error") if k in h}


@pytest.mark.parametrize("seed", SEEDS)
def test_a_with_the_energy_loss_learns_y_equals_x_squared(seed):
    h = run("A", "energy", seed=seed).history
    assert h["error"][0] > 0.2 and h["error"][-1] < 0.05, show(h)
    assert min(h["spread"]) > 1.0, show(h)  # the V in Y cannot flatten


@pytest.mark.parametrize("seed", SEEDS)
def test_a_with_the_quadratic_energy_learns_it_at_a_constant_rate(seed):
    h = run("A", "energy", seed=seed, distance="l2", decay=0).history
    assert h["error"][-1] < 0.05 and min(h["spread"]) > 1.0, show(h)


@pytest.mark.parametrize("loss", ["energy", "perceptron"])
@pytest.mark.parametrize("seed", SEEDS)
def test_b_with_the_energy_or_perceptron_loss_collapses_and_answers_wrong(seed, loss):
    h = run("B", loss, seed=seed).history
    flat = first_epoch(h["spread"], lambda s: s < 0.05)
    assert flat is not None and flat <= 15, show(h)
    assert max(h["spread"][flat:]) < 0.05 < h["spread"][0], show(h)  # flat for good
    assert abs(h["gap"][-1]) < 0.01, show(h)  # the wrong answers are as good as the right one
    assert h["error"][-1] > 0.2 and np.mean(h["error"][flat:]) > 0.2, show(h)


@pytest.mark.parametrize("loss", ["square-square", "nll"])
@pytest.mark.parametrize("seed", SEEDS)
def test_b_with_square_square_and_nll_learns_and_never_flattens(seed, loss):
    h = run("B", loss, seed=seed).history
    assert h["error"][-1] < 0.05, show(h)
    assert min(h["spread"]) > 0.05 and h["spread"][-1] > 1.0, show(h)
    assert h["gap"][-1] > (0.4 if loss == "square-square" else 0.9), show(h)


@pytest.mark.parametrize("seed", SEEDS)
def test_b_with_scalar_outputs_collapses_even_under_square_square(seed):
    r = run("B", "square-square", seed=seed, n_out=1)
    assert r.history["spread"][-1] < 0.05, show(r.history)
    assert abs(np.median(r.surface()) - 0.5) < 0.05  # flat at m / 2 = 0.5
    assert abs(r.history["loss"][-1] - 0.5) < 0.01  # the loss m^2 / 2 of that compromise


@pytest.mark.parametrize("seed", SEEDS)
def test_ybar_from_a_few_gradient_descent_starts_is_enough(seed):
    r = run("B", "square-square", seed=seed, search="descent")
    assert r.history["error"][-1] < 0.05, show(r.history)
    assert min(r.history["spread"]) > 0.05 and r.history["gap"][-1] > 0.4, show(r.history)
    assert r.cost["energies"] < run("B", "square-square", seed=seed).cost["energies"]


@pytest.mark.parametrize("seed", SEEDS)
def test_the_forbidden_sphere_schedule_beats_the_small_sphere(seed):
    fixed = run("B", "square-square", seed=seed, radius=0.1).history
    schedule = run("B", "square-square", seed=seed, radius=((0, 0.2), (10, 0.1))).history
    assert schedule["spread"][-1] > 2 * fixed["spread"][-1], (show(fixed), show(schedule))
    assert schedule["error"][-1] < fixed["error"][-1], (show(fixed), show(schedule))


@pytest.mark.parametrize("seed", SEEDS)
def test_the_variance_penalty_keeps_b_with_the_energy_loss_from_collapsing(seed):
    # the rate at which the energy loss alone flattens B within a few epochs (the chapter)
    plain = run("B", "energy", seed=seed, eta=0.1).history
    kept = run("B", "energy", seed=seed, eta=0.1,
               variance=tuple(demos.VARIANCE.items())).history
    assert plain["spread"][-1] < 0.05 and abs(plain["gap"][-1]) < 0.02, show(plain)
    assert min(kept["spread"][1:]) > 1.0 and kept["gap"][-1] > 0.5, show(kept)
    assert kept["error"][-1] < 0.06, show(kept)


def test_variance_penalty_value_and_gradient():
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((8, 4)) * np.array([0.05, 0.2, 1.0, 3.0])
    std = np.sqrt(Z.var(axis=0, ddof=1) + 1e-4)
    gamma = 0.6
    assert np.abs(std - gamma).min() > 0.1  # away from the kink
    value, grad = demos.variance_penalty(Z, gamma)
    np.testing.assert_allclose(asnumpy(value), np.maximum(0.0, gamma - std).mean())
    assert (std < gamma).any() and (std > gamma).any()
    assert np.all(asnumpy(grad)[:, std > gamma] == 0.0)  # spread enough: left alone
    check = gradcheck.check_function("variance_penalty",
                                     lambda: demos.variance_penalty(Z, gamma)[0], Z, grad)
    assert check.ok, check
    point, _ = demos.variance_penalty(np.ones((5, 3)), gamma)  # all on one point: the maximum
    np.testing.assert_allclose(asnumpy(point), gamma - np.sqrt(1e-4))


def test_embedding_penalty_gradient_in_the_weights():
    b = demos.architecture_b(seed=1, n_out=3)
    X, Y = demos.parabola(n=6, seed=1)
    b.params.clear_grad()
    value = demos.embedding_penalty(b, X, Y, gamma=0.5, weight=2.0)
    grad = b.params.dx.copy()
    assert value > 0 and np.abs(grad).max() > 0
    check = gradcheck.check_function(
        "embedding_penalty", lambda: demos.embedding_penalty(b, X, Y, gamma=0.5, weight=2.0),
        b.params.x, grad)
    assert check.ok, check


def test_cost_per_step_counts_evaluations_and_back_propagations():
    n = len(demos.Y_GRIDS["parabola", "B"]) + 1
    assert run("B", "energy", epochs=1).cost == {"energies": 1.0, "backprops": 1.0}
    assert run("B", "nll", epochs=1).cost == {"energies": n, "backprops": n}
    square = run("B", "square-square", epochs=1).cost
    assert square["energies"] == n and 1 < square["backprops"] <= 2
    d = demos.DESCENT
    descent = run("B", "square-square", epochs=1, search="descent").cost
    assert descent["energies"] == (d["steps"] + 1) * d["starts"] + 1 + d["starts"]


@pytest.mark.parametrize("seed", SEEDS)
def test_eye_pattern_b_keeps_two_valleys_a_averages_them(seed):
    xs = np.linspace(-0.7, 0.7, 8)
    ys = np.linspace(-0.6, 0.6, 41)
    branch = 0.5 * (1 - xs ** 2)
    b = run("B", "nll", "eye", seed=seed).surface(xs, ys)
    a = run("A", "energy", "eye", seed=seed).surface(xs, ys)
    two_right = [len(m) == 2 and np.all(np.abs(np.abs(ys[m]) - bx) < 0.1)
                 for m, bx in zip(demos.local_minima(b), branch)]
    assert sum(two_right) >= 6, demos.local_minima(b)
    assert all(len(m) <= 1 for m in demos.local_minima(a))  # one answer per X


def _margins(machine, seed):
    """E of the best wrong class minus E of the right one, per training sample,
    and the ratio of the largest to the smallest class energy."""
    X, labels = demos.blobs(seed=seed)
    e = asnumpy(machine.fprop(X))
    rows = np.arange(len(X))
    wrong = np.where(np.arange(e.shape[1]) == labels[:, None], np.inf, e).min(axis=1)
    return wrong - e[rows, labels], e.max(axis=1) / e.min(axis=1)


@pytest.mark.parametrize("seed", SEEDS)
def test_rbf_centres_collapse_under_the_energy_loss_and_decisions_drift(seed):
    machine, h = rbf("energy", seed)
    assert h["centre_distance"][-1] < 0.01 < h["centre_distance"][0]
    assert h["accuracy"][-1] < max(h["accuracy"]), h["accuracy"]
    _, ratio = _margins(machine, seed)  # energies tiny, but far from equal: no rounding
    assert ratio.min() > 2.0, ratio.min()


@pytest.mark.parametrize("seed", SEEDS)
def test_rbf_contrastive_losses_keep_the_centres_apart(seed):
    for loss in ("nll", "square-square"):
        _, h = rbf(loss, seed)
        assert h["centre_distance"][-1] > 1.0 and h["accuracy"][-1] > 0.95, (loss, h)


@pytest.mark.parametrize("seed", SEEDS)
def test_rbf_perceptron_loss_stops_at_zero_with_no_margin(seed):
    machine, h = rbf("perceptron", seed)
    square, _ = rbf("square-square", seed)
    assert h["loss"][-1] == 0.0 and h["accuracy"][-1] == 1.0
    margin = _margins(machine, seed)[0].min()
    assert margin < 0.2 and margin < _margins(square, seed)[0].min()
    X, labels = demos.blobs(seed=seed)
    weights = machine.params.x.copy()
    machine.params.x[...] *= 0.1  # a shrunken machine: energies / 100, same decisions
    shrunk = float(losses.perceptron_loss(machine.fprop(X), labels)[0].max())
    machine.params.x[...] = weights
    assert shrunk == 0.0


def test_snapshots_and_history_lengths():
    r = demos.experiment("B", "energy", epochs=3, snapshots=(0, 3))
    assert sorted(r.snapshots) == [0, 3]
    assert r.snapshots[0].shape == (len(demos.SURFACE_X), len(demos.surface_ys(r.ys)))
    assert len(r.history["loss"]) == 3 and len(r.history["spread"]) == 4
    assert not np.allclose(r.snapshots[0], r.snapshots[3])


@pytest.mark.parametrize("seed", SEEDS)
def test_hidden_biases_break_the_odd_symmetry(seed):
    b = demos.architecture_b(seed=seed)
    g, bias = State(), b.g1.modules[0].modules[1].bias.x
    b.g1.fprop(State(to_device(np.array([[-0.5], [0.5]])), requires_dx=False), g)
    assert np.abs(bias).max() <= 1.0 and np.abs(bias).min() > 0.0
    assert np.abs(g.x[0] + g.x[1]).max() > 0.1  # with zero biases G1(-x) = -G1(x)


def test_local_minima():
    e = np.array([[3.0, 1.0, 2.0, 0.5, 1.0], [0.0, 1.0, 2.0, 3.0, 4.0]])
    assert [list(m) for m in demos.local_minima(e)] == [[1, 3], []]


def test_bad_arguments():
    with pytest.raises(ValueError, match="architecture must be 'A' or 'B'"):
        demos.experiment("C")
    with pytest.raises(ValueError, match="search must be"):
        demos.experiment("B", "nll", search="descent")
    with pytest.raises(ValueError, match="variance must be None"):
        demos.experiment("A", variance=demos.VARIANCE)
    with pytest.raises(ValueError, match="variance must be None"):
        demos.experiment("B", variance=dict(demos.VARIANCE, samples=1))
    with pytest.raises(ValueError, match="Z must be a 2-D array"):
        demos.variance_penalty(np.ones(4))
    with pytest.raises(ValueError, match="gamma must be > 0"):
        demos.variance_penalty(np.ones((3, 2)), gamma=0.0)
    with pytest.raises(ValueError, match="two-input matcher"):
        demos.embedding_penalty(demos.architecture_a(), np.ones((3, 1)), np.ones((3, 1)))


@pytest.mark.skipif(get_backend() != "strict_device", reason="needs pytest --strict-device")
@pytest.mark.parametrize("loss", sorted(demos.LOSSES))
def test_a_training_step_reads_back_only_its_input_checks(loss, device_transfers):
    """On a GPU every read-back of a device value waits for the device. A step reads
    back only the loss's checks of its energies (finite, answers in range): one per
    call of a validating function, at most 3; the loss is read once an epoch."""
    arch = "A" if loss == "energy" else "B"
    before = device_transfers()
    r = demos.experiment(arch, loss, epochs=2, snapshots=())
    steps = 2 * len(r.X)
    per_step = (device_transfers() - before - 20) / steps    # 20: the epochs' diagnostics
    assert per_step <= 3, per_step
