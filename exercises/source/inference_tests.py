"""Public tests of the inference exercise (MAP, Gibbs distribution, free energy)."""
import numpy as np

from ebmlib.grading import Test, equal


def grid_batch(rng):
    """Energies of 5 inputs over a grid of 11 answers (no ties)."""
    return rng.normal(size=(5, 11)), np.linspace(-1.0, 1.0, 11)


def batch(rng):
    return (rng.normal(size=(4, 6)),)


TESTS = [
    Test("map_inference", "5 inputs on a grid of 11 answers", "map_inference", grid_batch,
         compare=equal()),
    Test("gibbs", "a batch of 4 rows of 6 energies, beta = 1", "gibbs", batch),
    Test("gibbs", "a batch of 4 rows of 6 energies, beta = 3", "gibbs(*args, beta=3.0)", batch),
    Test("free_energy", "a batch of 4 rows of 6 energies, beta = 1", "free_energy", batch),
    Test("free_energy", "a batch of 4 rows of 6 energies, beta = 0.5",
         "free_energy(*args, beta=0.5)", batch),
    Test("gap_to_min", "betas 0.1, 1, 10 on a batch of 3 rows of 5 energies", "gap_to_min",
         lambda rng: (rng.normal(size=(3, 5)), np.array([0.1, 1.0, 10.0]))),
]
