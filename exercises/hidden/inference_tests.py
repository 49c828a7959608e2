"""Hidden tests of the inference exercise: edge cases (one input, extreme energies, large beta)."""
import numpy as np

from ebmlib.grading import Test, equal, jacobian


def around(level, rows, cols):
    """Energies near ``level`` (gaps of order 1, no ties)."""
    return lambda rng: (level + rng.normal(size=(rows, cols)),)


TESTS = [
    Test("map_inference", "a batch of 1: E(Y) = (Y - 0.3)^2 on a grid of 41 values in [-1, 1]",
         "map_inference",
         lambda rng: (((np.linspace(-1, 1, 41) - 0.3) ** 2)[None, :], np.linspace(-1, 1, 41)),
         compare=equal()),
    Test("map_inference", "energies near 1e6 with the lowest one in the last column",
         "map_inference",
         lambda rng: (1e6 + np.column_stack([rng.uniform(1, 2, size=(3, 6)), np.zeros(3)]),
                      np.arange(7.0)),
         compare=equal()),
    Test("gibbs", "energies near 1000 with beta 5 (exp(-beta E) underflows unless shifted)",
         "gibbs(*args, beta=5.0)", around(1000.0, 3, 7)),
    Test("gibbs", "energies near -1000 with beta 2 (exp(-beta E) overflows unless shifted)",
         "gibbs(*args, beta=2.0)", around(-1000.0, 2, 5)),
    Test("gibbs", "P(Y|X) is the derivative dF/dE of the free energy (one row, finite "
         "differences)", "gibbs(*args, beta=1.5)", around(0.0, 1, 6),
         reference="jacobian_fd(lambda e: free_energy(e, beta=1.5), *args)",
         compare=jacobian()),
    Test("free_energy", "energies near 1e4 with beta 1e3 (no overflow)",
         "free_energy(*args, beta=1000.0)", around(1e4, 3, 6)),
    Test("free_energy", "energies near -1e4 with beta 1e3 (no overflow)",
         "free_energy(*args, beta=1000.0)", around(-1e4, 3, 6)),
    Test("free_energy", "a batch of 1 with 2 answers, beta 0.01 (high temperature)",
         "free_energy(*args, beta=0.01)", around(0.0, 1, 2)),
    Test("gap_to_min", "betas up to 1e6 with energies near 1e4",
         "gap_to_min", lambda rng: (1e4 + rng.normal(size=(2, 6)),
                                    np.array([1.0, 1e2, 1e4, 1e6]))),
    Test("gap_to_min", "all energies equal: the gap is log(n) / beta",
         "gap_to_min", lambda rng: (np.full((2, 5), 3.0), np.array([0.5, 2.0, 1e3]))),
    Test("gap_to_min", "a batch of 1 with beta 1e-3 (high temperature)",
         "gap_to_min", lambda rng: (rng.normal(size=(1, 4)), np.array([1e-3]))),
]
