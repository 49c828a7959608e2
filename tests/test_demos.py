"""The lecture's claims about the demos, each over three fixed seeds, in seconds."""
import numpy as np
import pytest

from ebmlib import demos

SEEDS = (0, 1, 2)


def first_epoch_below(errors, level):
    return next((i for i, e in enumerate(errors) if e < level), len(errors))


@pytest.mark.parametrize("seed", SEEDS)
def test_a_with_the_energy_loss_learns_y_equals_x_squared(seed):
    h = demos.experiment("A", "energy", seed=seed).history
    assert h["error"][0] > 0.3 and h["error"][-1] < 0.1, h["error"]
    assert h["spread"][-1] > 1.0  # the fixed distance keeps the surface from flattening


@pytest.mark.parametrize("seed", SEEDS)
def test_b_with_the_energy_loss_collapses(seed):
    h = demos.experiment("B", "energy", seed=seed).history
    assert len(h["loss"]) <= 20
    assert h["spread"][-1] < 0.05 < h["spread"][0], h["spread"]
    assert abs(h["gap"][-1]) < 0.02  # the wrong answers are as good as the right one


@pytest.mark.parametrize("seed", SEEDS)
def test_b_with_square_square_and_nll_does_not_collapse(seed):
    sq = demos.experiment("B", "square-square", seed=seed).history
    nll = demos.experiment("B", "nll", seed=seed).history
    assert sq["spread"][-1] > 1.0 and sq["error"][-1] < 0.05, (sq["spread"], sq["error"])
    assert nll["spread"][-1] > 3.0 and nll["error"][-1] < 0.12, (nll["spread"], nll["error"])
    # NLL gets there in fewer epochs, with a deeper well
    assert first_epoch_below(nll["error"], 0.15) < first_epoch_below(sq["error"], 0.15)
    assert nll["gap"][-1] > 1.5 * sq["gap"][-1] > 1.0


@pytest.mark.parametrize("seed", SEEDS)
def test_b_with_scalar_outputs_collapses_even_under_square_square(seed):
    r = demos.experiment("B", "square-square", seed=seed, n_out=1)
    assert r.history["spread"][-1] < 0.05, r.history["spread"]
    assert abs(np.median(r.surface()) - 0.5) < 0.05  # flat at m / 2 = 0.5


@pytest.mark.parametrize("seed", SEEDS)
def test_eye_pattern_b_keeps_two_valleys_a_averages_them(seed):
    xs = np.linspace(-0.7, 0.7, 8)
    ys = np.linspace(-0.6, 0.6, 41)
    branch = 0.5 * (1 - xs ** 2)
    b = demos.experiment("B", "nll", "eye", seed=seed).surface(xs, ys)
    a = demos.experiment("A", "energy", "eye", seed=seed).surface(xs, ys)
    two_right = [len(m) == 2 and np.all(np.abs(np.abs(ys[m]) - bx) < 0.1)
                 for m, bx in zip(demos.local_minima(b), branch)]
    assert sum(two_right) >= 6, demos.local_minima(b)
    assert all(len(m) <= 1 for m in demos.local_minima(a))  # one answer per X


@pytest.mark.parametrize("seed", SEEDS)
def test_rbf_centres_collapse_under_the_energy_loss_only(seed):
    _, energy = demos.rbf_experiment("energy", seed=seed)
    _, nll = demos.rbf_experiment("nll", seed=seed)
    _, sq = demos.rbf_experiment("square-square", seed=seed)
    assert energy["centre_distance"][-1] < 0.01 < energy["centre_distance"][0]
    assert nll["centre_distance"][-1] > 1.0 and nll["accuracy"][-1] > 0.95
    assert sq["centre_distance"][-1] > 1.0 and sq["accuracy"][-1] > 0.95


def test_snapshots_and_history_lengths():
    r = demos.experiment("B", "energy", epochs=3, snapshots=(0, 3))
    assert sorted(r.snapshots) == [0, 3]
    assert r.snapshots[0].shape == (len(demos.SURFACE_X), len(demos.surface_ys(r.ys)))
    assert len(r.history["loss"]) == 3 and len(r.history["spread"]) == 4
    assert not np.allclose(r.snapshots[0], r.snapshots[3])


def test_local_minima():
    e = np.array([[3.0, 1.0, 2.0, 0.5, 1.0], [0.0, 1.0, 2.0, 3.0, 4.0]])
    assert [list(m) for m in demos.local_minima(e)] == [[1, 3], []]


def test_bad_arguments():
    with pytest.raises(ValueError, match="architecture must be 'A' or 'B'"):
        demos.experiment("C")
