"""Public tests of the collapse exercise: the grader makes up the surfaces,
histories and energies (no training happens during grading)."""
import numpy as np

from ebmlib.grading import Test, equal

HISTORY = ("is_collapsed(dict(spread=list(args[0]), gap=list(args[1]), error=list(args[2])), "
           "tol=args[3])")
GRID = np.linspace(-0.1, 1.1, 21)   # the answers of the demos for architecture B


def decaying(rng, epochs, start, end):
    """A noisy curve from ``start`` to ``end`` over ``epochs`` + 1 values."""
    t = np.linspace(0, 1, epochs + 1)
    return start * (end / start) ** t * (1 + 0.2 * rng.uniform(-1, 1, epochs + 1))


def history(spread_end, gap_end, epochs=20):
    def make(rng):
        spread = decaying(rng, epochs, 2.0, spread_end)
        gap = np.linspace(-0.05, gap_end, epochs + 1)
        error = rng.uniform(0.05, 0.4, epochs + 1)
        return spread, gap, error, 0.05
    return make


def offending(n, per_sample=False):
    def make(rng):
        correct = rng.integers(0, len(GRID), n)
        energies = rng.uniform(0, 2, (n, len(GRID)))
        if not per_sample:
            return energies, correct, GRID, 0.25
        ys = np.concatenate([rng.uniform(0, 1, (n, 1)), np.broadcast_to(GRID, (n, len(GRID)))], 1)
        energies = rng.uniform(0, 2, (n, len(GRID) + 1))
        return energies, np.zeros(n, dtype=np.int64), ys, 0.3
    return make


TESTS = [
    Test("energy_spread", "a surface of 7 inputs by 161 answers", "energy_spread",
         lambda rng: (rng.uniform(0, 3, (7, 161)),)),

    Test("is_collapsed", "a run whose spread and gap fall to about 0.005 (tol 0.05)", HISTORY,
         history(0.005, 0.004), compare=equal()),
    Test("is_collapsed", "a healthy run: spread 3, gap 1 at the end (tol 0.05)", HISTORY,
         history(3.0, 1.0, epochs=40), compare=equal()),

    Test("most_offending_gap", "6 samples, one shared grid of 21 answers, radius 0.25",
         "most_offending_gap", offending(6)),
    Test("most_offending_gap", "4 samples with ys given per sample ([Y^i, grid]), radius 0.3",
         "most_offending_gap", offending(4, per_sample=True)),
]
