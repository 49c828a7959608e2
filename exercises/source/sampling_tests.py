"""Public tests of the sampling exercise. The sampler's tests compare the moments of the
final samples of many chains with those of the Gibbs distribution of a quadratic energy,
E = a (Y - m)^2: mean m, variance 1/(2 a beta). Their tolerance covers the Monte Carlo
error of the number of chains (the variance's relative standard error is sqrt(2/n),
1.4% for 10000 chains; the mean's sqrt(variance/n)) and the bias of the finite step (the
chains settle at the variance 1/(2 a beta (1 - a eta)), 2% too large for a eta = 0.02),
with room for a sampler that draws its noise in another order than ours."""
import numpy as np

from ebmlib.grading import Test, close, equal

# args = (a, m, beta, eta, steps, n_chains, seed); every chain starts at Y = 0
RUN = ("langevin(lambda y: (args[0] * (y - args[1]) ** 2, 2 * args[0] * (y - args[1])), "
       "np.zeros(args[5]), args[3], args[4], beta=args[2], seed=args[6])")
QUADRATIC = (2.0, 1.0, 1.0, 0.01, 300, 10000, 1)
COLD = (2.0, 1.0, 4.0, 0.01, 300, 10000, 2)


def grid_energy(rng):
    ys = np.linspace(-3.0, 5.0, 401)
    return 2.0 * (ys - 1.0) ** 2, ys


TESTS = [
    Test("langevin_step", "y, grad and noise of shape (6,), eta 0.1, beta 1", "langevin_step",
         lambda rng: (rng.normal(size=6), rng.normal(size=6), 0.1, 1.0, rng.normal(size=6))),
    Test("langevin_step", "eta 0.05, beta 4 (the noise shrinks as beta grows)", "langevin_step",
         lambda rng: (rng.normal(size=6), rng.normal(size=6), 0.05, 4.0, rng.normal(size=6))),

    Test("langevin", "E = 2 (Y - 1)^2, beta 1, eta 0.01, 300 steps of 10000 chains from Y = 0: "
         "their mean is m = 1 within 0.05", f"np.mean({RUN}[0])", QUADRATIC,
         reference="args[1]", compare=close(rtol=0.0, atol=0.05)),
    Test("langevin", "the same chains: their variance is 1/(2 a beta) = 0.25 within 10% (if it is "
         "about 2x off, look at the noise's scale sqrt(2 eta / beta); near 0, give each chain its "
         "own noise)", f"np.var({RUN}[0])", QUADRATIC,
         reference="1 / (2 * args[0] * args[2])", compare=close(rtol=0.1, atol=0.0)),
    Test("langevin", "beta 4: the variance shrinks to 1/(2 a beta) = 0.0625, within 10% (if it "
         "does not, look at how beta scales the noise)", f"np.var({RUN}[0])", COLD,
         reference="1 / (2 * args[0] * args[2])", compare=close(rtol=0.1, atol=0.0)),
    Test("langevin", "the energies: one row per iterate, y0 included, shape (steps + 1, n_chains) "
         "= (26, 7)", f"np.array(np.shape({RUN}[1]))", (2.0, 1.0, 1.0, 0.01, 25, 7, 0),
         compare=equal()),
    Test("langevin", "the first row of the energies is E(y0) = a m^2, before any step",
         f"{RUN}[1][0]", (2.0, 1.0, 1.0, 0.01, 25, 7, 0)),
    Test("langevin", "the same seed twice gives the same samples: 0 difference (draw the noise "
         "from np.random.default_rng(seed))", f"(lambda run: np.abs(run() - run()).max())"
         f"(lambda: {RUN}[0])", (2.0, 1.0, 1.0, 0.01, 20, 50, 5), compare=equal()),

    Test("gibbs_moments", "E = 2 (y - 1)^2 on a grid of 401 points in [-3, 5], beta 1",
         "gibbs_moments", grid_energy),
    Test("gibbs_moments", "random energies on 9 points, beta 3", "gibbs_moments(*args, beta=3.0)",
         lambda rng: (rng.normal(size=9), np.linspace(0.0, 2.0, 9))),

    Test("nll_gradient_estimate", "50 data points, 80 samples", "nll_gradient_estimate",
         lambda rng: (1.0 + rng.normal(size=50), rng.normal(size=80))),
]
