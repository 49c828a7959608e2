"""Hidden tests of the latent exercise."""
import numpy as np

from ebmlib.grading import Test, equal


def hidden_template(n, k, m, y, z, noise=0.3, scales=None):
    def make(rng):
        templates = rng.normal(size=(k, m))
        if scales is not None:
            templates *= np.asarray(scales)[:, None]
        signal = noise * rng.normal(size=n)
        signal[z:z + m] += templates[y]
        return signal, templates
    return make


def chain(T, K, scale=1.0):
    return lambda rng: (rng.normal(size=(T, K)), scale * rng.normal(size=(K, K)))


TESTS = [
    Test("template_energies", "a template as long as the signal: a single shift",
         "template_energies", lambda rng: (rng.normal(size=7), rng.normal(size=7))),
    Test("template_energies", "a template of one sample", "template_energies",
         lambda rng: (rng.normal(size=12), rng.normal(size=1))),

    Test("locate", "a single template, hidden at the last shift", "locate",
         hidden_template(20, 1, 4, 0, 16)),
    Test("locate", "templates scaled by 0.5, 1 and 3: the energy decides, not the correlation",
         "locate(*args)[:2]", hidden_template(40, 3, 8, 1, 5, scales=(0.5, 1.0, 3.0)),
         compare=equal(), seed=4),

    Test("min_sum_chain", "T = 1: a single position", "min_sum_chain", chain(1, 4)),
    Test("min_sum_chain", "K = 1: a single label", "min_sum_chain", chain(5, 1)),
    Test("min_sum_chain", "labels of a long chain with strong couplings (T = 30, K = 5)",
         "min_sum_chain(*args)[0]", chain(30, 5, scale=3.0), compare=equal()),
]
