"""Hidden tests of the sampling exercise: a sampler in two dimensions, a non-Gaussian
energy (moments by quadrature on a fine grid), a cold chain, 0 steps, other seeds; the
moments on a grid with extreme energies and temperatures; the gradient estimate at the
data. Tolerances as in the public tests (Monte Carlo error and the step's bias, see there)."""
import numpy as np

from ebmlib.grading import Test, close, equal

RUN = ("langevin(lambda y: (args[0] * (y - args[1]) ** 2, 2 * args[0] * (y - args[1])), "
       "np.zeros(args[5]), args[3], args[4], beta=args[2], seed=args[6])")
# args = (a, m0, m1, beta, eta, steps, n_chains, seed): E = a |Y - (m0, m1)|^2 in 2-D
RUN_2D = ("langevin(lambda y: (args[0] * ((y - np.array([args[1], args[2]])) ** 2).sum(axis=1), "
          "2 * args[0] * (y - np.array([args[1], args[2]]))), np.zeros((args[6], 2)), args[4], "
          "args[5], beta=args[3], seed=args[7])")
PLANE = (1.5, 1.0, -2.0, 2.0, 0.01, 300, 10000, 4)
# args = (beta, eta, steps, n_chains, seed): E = Y^4 / 4 - Y, skewed, not Gaussian
QUARTIC = ("langevin(lambda y: (y * y * y * y / 4 - y, y * y * y - 1), np.zeros(args[3]), "
           "args[1], args[2], beta=args[0], seed=args[4])")
# its moments under exp(-beta E), by quadrature on a fine grid
GIBBS = "(lambda y: (lambda p: {})(np.exp(-args[0] * (y ** 4 / 4 - y - (y ** 4 / 4 - y).min()))))" \
        "(np.linspace(-6.0, 6.0, 120001))"
MEAN = GIBBS.format("np.sum(p * y) / np.sum(p)")
VARIANCE = GIBBS.format("np.sum(p * (y - np.sum(p * y) / np.sum(p)) ** 2) / np.sum(p)")
SKEWED = (1.0, 0.01, 400, 20000, 6)


def around(level, n):
    return lambda rng: (level + rng.normal(size=n), np.linspace(-1.0, 1.0, n))


TESTS = [
    Test("langevin_step", "arrays of shape (4, 3) (a batch of 4 chains in 3 dimensions)",
         "langevin_step", lambda rng: (rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), 0.02,
                                       0.5, rng.normal(size=(4, 3)))),
    Test("langevin_step", "beta 1e6: almost a plain gradient step", "langevin_step",
         lambda rng: (rng.normal(size=5), rng.normal(size=5), 0.1, 1e6, rng.normal(size=5))),
    Test("langevin_step", "a zero gradient: only the noise moves y", "langevin_step",
         lambda rng: (rng.normal(size=5), np.zeros(5), 0.3, 2.0, rng.normal(size=5))),

    Test("langevin", "2-D, E = 1.5 |Y - (1, -2)|^2, beta 2, 10000 chains: the mean of each "
         "coordinate within 0.05", f"np.mean({RUN_2D}[0], axis=0)", PLANE,
         reference="np.array([args[1], args[2]])", compare=close(rtol=0.0, atol=0.05)),
    Test("langevin", "2-D: the variance of each coordinate is 1/(2 a beta) within 10% (each "
         "coordinate of each chain needs its own noise)", f"np.var({RUN_2D}[0], axis=0)", PLANE,
         reference="np.full(2, 1 / (2 * args[0] * args[3]))", compare=close(rtol=0.1, atol=0.0)),
    Test("langevin", "E = Y^4/4 - Y (not Gaussian), beta 1, 20000 chains: the mean, by "
         "quadrature, within 0.05", f"np.mean({QUARTIC}[0])", SKEWED, reference=MEAN,
         compare=close(rtol=0.0, atol=0.05)),
    Test("langevin", "E = Y^4/4 - Y: the variance, by quadrature, within 10%",
         f"np.var({QUARTIC}[0])", SKEWED, reference=VARIANCE, compare=close(rtol=0.1, atol=0.0)),
    Test("langevin", "beta 100 (a cold chain): the variance 1/(2 a beta) = 0.0025 within 10%",
         f"np.var({RUN}[0])", (2.0, 1.0, 100.0, 0.01, 300, 10000, 3),
         reference="1 / (2 * args[0] * args[2])", compare=close(rtol=0.1, atol=0.0)),
    Test("langevin", "the mean energy at the last iterate is 1/(2 beta) within 10% "
         "(equipartition)", f"np.mean({RUN}[1][-1])", (2.0, 1.0, 1.0, 0.01, 300, 10000, 7),
         reference="1 / (2 * args[2])", compare=close(rtol=0.1, atol=0.0)),
    Test("langevin", "two seeds give different samples (1 if any differs)",
         f"float(np.any({RUN.replace('args[6]', 'args[6] + 1')}[0] != {RUN}[0]))",
         (2.0, 1.0, 1.0, 0.01, 20, 50, 8), compare=equal()),
    Test("langevin", "0 steps: y0 back, and its energies as the one row, shape (1, n_chains)",
         "langevin(lambda y: (y ** 2, 2 * y), args[0], 0.01, 0, seed=0)",
         lambda rng: (rng.normal(size=5),)),

    Test("gibbs_moments", "energies near 1e4 with beta 10 (shift by the lowest energy)",
         "gibbs_moments(*args, beta=10.0)", around(1e4, 11)),
    Test("gibbs_moments", "energies near -1e4 with beta 10", "gibbs_moments(*args, beta=10.0)",
         around(-1e4, 11)),
    Test("gibbs_moments", "beta 1e-3: nearly uniform", "gibbs_moments(*args, beta=1e-3)",
         around(0.0, 7)),
    Test("gibbs_moments", "a single grid point: its value, variance 0", "gibbs_moments",
         lambda rng: (np.array([3.0]), np.array([0.7]))),

    Test("nll_gradient_estimate", "the samples are the data: a zero gradient",
         "nll_gradient_estimate", lambda rng: (lambda d: (d, d.copy()))(rng.normal(size=40))),
    Test("nll_gradient_estimate", "a single sample", "nll_gradient_estimate",
         lambda rng: (rng.normal(size=30), np.array([0.4]))),
    Test("nll_gradient_estimate", "data and samples around 100", "nll_gradient_estimate",
         lambda rng: (100 + rng.normal(size=20), 100 + rng.normal(size=25))),
]
