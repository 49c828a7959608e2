"""Hidden tests of the losses exercise: edge cases (a batch of 1, extreme energies, other
margins)."""
import numpy as np

from ebmlib.grading import Test, equal, jacobian


def batch(rng, n=5, k=4, low=0.0, high=3.0):
    return rng.uniform(low, high, size=(n, k)), rng.integers(0, k, size=n)


def correct_lowest(rng, n=4, k=5):
    """Every correct answer has the lowest energy of its row."""
    energies = rng.uniform(0.0, 3.0, size=(n, k))
    return energies, energies.argmin(axis=1)


def margin_satisfied(rng, n=4, k=4):
    """Every most offending answer is 1.5 above the correct one."""
    energies, correct = batch(rng, n, k)
    rows = np.arange(n)
    others = np.where(np.arange(k) == correct[:, None], np.inf, energies)
    energies[rows, correct] = others.min(axis=1) - 1.5
    return energies, correct


def one_violating(rng, k=4):
    """One sample whose correct answer is 1 below the most offending one."""
    energies, correct = batch(rng, 1, k)
    others = np.delete(energies[0], correct[0])
    energies[0, correct[0]] = others.min() - 1.0
    return energies, correct


def wrong_above(rng, n=4, k=4):
    """Correct energies in [0, 1], every wrong answer in [1.2, 3]."""
    energies, correct = batch(rng, n, k, 1.2, 3.0)
    energies[np.arange(n), correct] = rng.uniform(0.0, 1.0, size=n)
    return energies, correct


def fd(question, params):
    return f"jacobian_fd(lambda e, c: {question}(e, c, {params})[0], *args)"


TESTS = [
    Test("most_offending", "the correct answers have the lowest energies: Ybar is the "
         "second lowest", "most_offending", correct_lowest, compare=equal()),
    Test("most_offending", "2 answers: Ybar is the other answer", "most_offending",
         lambda rng: batch(rng, 3, 2), compare=equal()),
    Test("most_offending", "a batch of 1 with energies near 1e6", "most_offending",
         lambda rng: (1e6 + rng.normal(size=(1, 6)), np.array([2])), compare=equal()),

    Test("energy_loss", "a batch of 1 with 2 answers (loss and dL/dE)", "energy_loss",
         lambda rng: batch(rng, 1, 2)),
    Test("energy_loss", "negative energies near -100 (loss and dL/dE)", "energy_loss",
         lambda rng: batch(rng, 3, 4, -101.0, -99.0)),

    Test("perceptron_loss", "the correct answers already have the lowest energy: zero loss "
         "and zero dL/dE", "perceptron_loss", correct_lowest),
    Test("perceptron_loss", "energies near 1e4 on a batch of 4 (loss and dL/dE)",
         "perceptron_loss", lambda rng: batch(rng, 4, 5, 1e4, 1e4 + 3.0)),

    Test("hinge_loss", "margin satisfied (E_I > E_C + m): zero loss and zero dL/dE",
         "hinge_loss", margin_satisfied),
    Test("hinge_loss", "margin 2.5, one sample (dL/dE against finite differences; in[k] is "
         "answer k)",
         "hinge_loss(*args, margin=2.5)[1]", one_violating,
         reference=fd("hinge_loss", "margin=2.5"), compare=jacobian()),
    Test("hinge_loss", "margin 0 on a batch of 4 (loss and dL/dE)",
         "hinge_loss(*args, margin=0.0)", lambda rng: batch(rng, 4)),

    Test("square_square_loss", "E_I above the margin: dL/dE is 2 E_C at Y^i and 0 elsewhere",
         "square_square_loss", wrong_above),
    Test("square_square_loss", "margin 3, one sample (dL/dE against finite differences; "
         "in[k] is answer k)",
         "square_square_loss(*args, margin=3.0)[1]", lambda rng: batch(rng, 1),
         reference=fd("square_square_loss", "margin=3.0"), compare=jacobian()),

    Test("square_exp_loss", "gamma 0.25 on a batch of 3 (loss and dL/dE)",
         "square_exp_loss(*args, gamma=0.25)", lambda rng: batch(rng, 3)),
    Test("square_exp_loss", "a batch of 1 with 2 answers, gamma 3 (dL/dE against finite "
         "differences; in[k] is answer k)", "square_exp_loss(*args, gamma=3.0)[1]",
         lambda rng: batch(rng, 1, 2),
         reference=fd("square_exp_loss", "gamma=3.0"), compare=jacobian()),

    Test("nll_loss", "beta 1e3 with energies near 1e4 (no overflow; loss and dL/dE)",
         "nll_loss(*args, beta=1000.0)", lambda rng: batch(rng, 3, 4, 1e4, 1e4 + 3.0)),
    Test("nll_loss", "beta 0.1, one sample (dL/dE against finite differences; in[k] is "
         "answer k)",
         "nll_loss(*args, beta=0.1)[1]", lambda rng: batch(rng, 1, 5),
         reference=fd("nll_loss", "beta=0.1"), compare=jacobian()),
    Test("nll_loss", "beta 50 on a batch of 4, close to the perceptron loss (loss and dL/dE)",
         "nll_loss(*args, beta=50.0)", lambda rng: batch(rng, 4)),
]
