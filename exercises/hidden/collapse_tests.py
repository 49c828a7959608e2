"""Hidden tests of the collapse exercise."""
import numpy as np

from ebmlib.grading import Test, equal

HISTORY = ("is_collapsed(dict(spread=list(args[0]), gap=list(args[1]), error=list(args[2])), "
           "tol=args[3])")
GRID = np.linspace(-0.1, 1.1, 21)


def v_shaped(rng):
    """E = |y - Y^i| + small noise: the lowest answers crowd the forbidden sphere."""
    correct = np.array([3, 10, 17])
    energies = np.abs(GRID[None, :] - GRID[correct][:, None]) + 0.01 * rng.uniform(0, 1, (3, 21))
    return energies, correct, GRID, 0.25


def dip_then_recover(rng):
    spread = np.concatenate([np.linspace(2.0, 0.01, 10), np.linspace(0.2, 1.5, 11)])
    return spread, rng.uniform(-0.02, 0.02, 21), rng.uniform(0, 0.3, 21), 0.05


def flat_at_last_epoch(rng):
    spread = np.concatenate([rng.uniform(0.5, 2.0, 15), [0.02]])
    gap = np.concatenate([rng.uniform(-0.2, 0.2, 15), [-0.01]])
    return spread, gap, rng.uniform(0, 0.3, 16), 0.05


def flat_with_negative_gap(rng):
    spread = np.linspace(2.0, 0.01, 21)
    return spread, np.linspace(0.0, -0.1, 21), rng.uniform(0, 0.3, 21), 0.05


TESTS = [
    Test("energy_spread", "a single input (one row) of negative energies", "energy_spread",
         lambda rng: (-rng.uniform(1, 5, (1, 31)),)),
    Test("energy_spread", "a flat surface: spread 0", "energy_spread",
         lambda rng: (np.full((5, 9), 0.3),)),

    Test("is_collapsed", "only the last epoch counts: the spread dips below tol, then recovers", HISTORY,
         dip_then_recover, compare=equal()),
    Test("is_collapsed", "a run that becomes flat at its very last epoch", HISTORY,
         flat_at_last_epoch, compare=equal()),
    Test("is_collapsed", "flat, but the last gap is -0.1: |gap| is not below tol", HISTORY,
         flat_with_negative_gap, compare=equal()),

    Test("most_offending_gap", "radius 0: only Y^i itself is excluded", "most_offending_gap",
         lambda rng: (rng.uniform(0, 2, (5, 21)), rng.integers(0, 21, 5), GRID, 0.0)),
    Test("most_offending_gap", "a V-shaped surface: Ybar is the first answer outside the sphere",
         "most_offending_gap", v_shaped),
    Test("most_offending_gap", "one sample on a collapsed surface (a negative gap)",
         "most_offending_gap",
         lambda rng: (np.concatenate([[0.5], 0.45 + 0.01 * rng.uniform(0, 1, 20)])[None, :],
                      np.array([0]), GRID, 0.25)),
]
