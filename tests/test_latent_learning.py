"""Learning through a latent variable: the template energy against its formula, its
dE/dW by finite differences (alone and under the min over the shift), and the latent
chapter's claim over seeds 0-4: with the energy loss the templates merge, with the
hinge or the NLL loss they stay apart."""
import functools

import numpy as np
import pytest

from ebmlib.backend import asnumpy
from ebmlib.energies import LatentEnergy
from ebmlib.gradcheck import check_energy
from ebmlib.inference import argmin
from ebmlib.location import (LENGTH, WIDTH, TemplateEnergy, buzz, learn_templates, signals,
                             template_distances, templates)

SEEDS = (0, 1, 2, 3, 4)
SHIFTS = np.arange(LENGTH - WIDTH + 1)
TRUE_GAP = float(np.min(template_distances(templates())[np.triu_indices(3, 1)]))


@functools.lru_cache(maxsize=None)
def run(loss, seed):
    return learn_templates(loss, seed)


def test_template_energy_is_half_the_squared_distance_to_the_placed_template():
    rng = np.random.default_rng(0)
    machine = TemplateEnergy(rng.standard_normal((3, 4)), 10)
    X = rng.standard_normal((2, 10))
    pairs = np.array([(0, 0), (1, 6), (2, 3), (1, 2)])
    T = asnumpy(machine.templates.x)
    placed = np.zeros((4, 10))
    for row, (y, z) in enumerate(pairs):
        placed[row, z:z + 4] = T[y]
    np.testing.assert_allclose(asnumpy(machine.place(pairs)), placed)
    expected = 0.5 * ((X[:, None, :] - placed[None]) ** 2).sum(axis=2)
    np.testing.assert_allclose(asnumpy(machine.fprop(X, pairs)), expected)


@pytest.mark.parametrize("seed", range(3))
def test_template_energy_gradient_by_finite_differences(seed):
    rng = np.random.default_rng(seed)
    machine = TemplateEnergy(rng.standard_normal((3, 4)), 10)
    X = rng.standard_normal((2, 10))
    pairs = np.array([(y, z) for y in range(3) for z in (0, 2, 6)])
    result = check_energy(machine, X, pairs)
    assert result.ok, str(result)


@pytest.mark.parametrize("seed", range(3))
def test_gradient_through_the_min_over_the_shift_by_finite_differences(seed):
    rng = np.random.default_rng(seed)       # generic templates: no tie between shifts
    machine = LatentEnergy(TemplateEnergy(rng.standard_normal((3, 4)), 10), np.arange(7))
    result = check_energy(machine, rng.standard_normal((3, 10)), np.arange(3)[:, None])
    assert result.ok, str(result)


def test_template_distances_ignore_a_shift():
    T = np.zeros((3, 6))
    T[0, 1:3] = [1.0, 2.0]
    T[1, 3:5] = [1.0, 2.0]                  # T_0 moved by two samples
    T[2, 0] = 3.0
    D = asnumpy(template_distances(T))
    np.testing.assert_allclose(D, D.T)
    np.testing.assert_allclose(np.diag(D), 0.0, atol=1e-12)
    assert D[0, 1] == pytest.approx(0.0, abs=1e-12)
    # T_2's 3 is best matched with the 2 of T_0: sqrt(1 + 1)
    assert D[0, 2] == pytest.approx(np.sqrt(2.0))


@pytest.mark.parametrize("seed", SEEDS)
def test_the_true_templates_recognise_signals_with_a_buzz(seed):
    X, y = signals(300, seed, loud=3.0)
    machine = LatentEnergy(TemplateEnergy(templates(), LENGTH), SHIFTS)
    assert float((asnumpy(argmin(machine.fprop(X, np.arange(3)[:, None]))) == asnumpy(y)).mean()) > 0.95


@pytest.mark.parametrize("seed", SEEDS)
def test_with_the_energy_loss_templates_merge_onto_the_buzz(seed):
    machine, h = run("energy", seed)
    T = asnumpy(machine.machine.templates.x)
    assert h["distance"][-1] < 0.25 * TRUE_GAP, h["distance"]
    assert h["accuracy"] < 0.5, h["accuracy"]
    to_buzz = asnumpy(template_distances(np.vstack([T, buzz()[None]])))[:3, 3]
    assert (to_buzz < 0.25 * np.linalg.norm(buzz())).sum() >= 2, to_buzz


@pytest.mark.parametrize("loss", ["hinge", "nll"])
@pytest.mark.parametrize("seed", SEEDS)
def test_with_a_margin_loss_or_the_nll_templates_stay_apart(seed, loss):
    _, h = run(loss, seed)
    assert h["distance"][-1] > 0.5 * TRUE_GAP, h["distance"]
    assert h["accuracy"] > 0.8, h["accuracy"]
    assert h["accuracy"] > run("energy", seed)[1]["accuracy"] + 0.3


def test_signals_hide_one_template_and_a_buzz_apart():
    X, y = (asnumpy(a) for a in signals(20, 0, loud=3.0, sigma=0.0))
    T, B = templates(), buzz()
    for x, label in zip(X, y):
        z = [s for s in SHIFTS if np.allclose(x[s:s + WIDTH], T[label])]
        b = [s for s in SHIFTS if np.allclose(x[s:s + WIDTH], B)]
        assert len(z) == 1 and len(b) == 1 and abs(z[0] - b[0]) >= WIDTH
        assert np.allclose(np.delete(x, [*range(z[0], z[0] + WIDTH), *range(b[0], b[0] + WIDTH)]), 0)


def test_bad_input_says_what_to_fix():
    machine = TemplateEnergy(templates(), LENGTH)
    with pytest.raises(ValueError, match=r"Z in \[0, 39\], got \(1, 40\)"):
        machine.place(np.array([(1, 40)]))
    with pytest.raises(ValueError, match=r"integer Y in \[0, 3\)"):
        machine.fprop(np.zeros((1, LENGTH)), np.array([(3, 0)]))
    with pytest.raises(ValueError, match=r"candidates must be rows \(Y, Z\)"):
        machine.place(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="templates must have shape"):
        TemplateEnergy(np.zeros((3, 50)), LENGTH)
    with pytest.raises(ValueError, match="loss must be one of"):
        learn_templates("square")
    with pytest.raises(ValueError, match="loud must be >= 0"):
        signals(5, loud=-1.0)
    with pytest.raises(ValueError, match="length must hold the template and the buzz"):
        signals(5, loud=3.0, length=12)
