"""Public tests of the latent exercise (template location, min-sum on a chain)."""
from ebmlib.grading import Test, equal


def hidden_template(n, k, m, y, z, noise=0.3):
    """A signal of ``n`` samples hiding template ``y`` of ``k`` random ones at shift ``z``."""
    def make(rng):
        templates = rng.normal(size=(k, m))
        signal = noise * rng.normal(size=n)
        signal[z:z + m] += templates[y]
        return signal, templates
    return make


def chain(T, K):
    return lambda rng: (rng.normal(size=(T, K)), rng.normal(size=(K, K)))


TESTS = [
    Test("template_energies", "a signal of 30 samples, a template of 5", "template_energies",
         lambda rng: (rng.normal(size=30), rng.normal(size=5))),

    Test("locate", "(Y, z): 3 templates of 6, template 2 hidden at shift 11 of 30",
         "locate(*args)[:2]", hidden_template(30, 3, 6, 2, 11), compare=equal()),
    Test("locate", "the energy of the best (Y, z)", "locate(*args)[2]",
         hidden_template(30, 3, 6, 2, 11)),

    Test("min_sum_chain", "labels of a random chain, T = 6, K = 3", "min_sum_chain(*args)[0]",
         chain(6, 3), compare=equal()),
    Test("min_sum_chain", "minimal energy of a random chain, T = 6, K = 3",
         "min_sum_chain(*args)[1]", chain(6, 3)),
]
