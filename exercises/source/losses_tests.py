"""Public tests of the losses exercise: loss values, dL/dE, and dL/dE against finite differences."""
import numpy as np

from ebmlib.grading import Test, equal, jacobian


def batch(rng, n=5, k=4):
    """n samples, k answers, energies in [0, 3] (no ties), random correct answers."""
    return rng.uniform(0.0, 3.0, size=(n, k)), rng.integers(0, k, size=n)


def misclassified(rng, k=4):
    """One sample whose correct answer is 0.4 above the most offending one."""
    energies, correct = batch(rng, 1, k)
    others = np.delete(energies[0], correct[0])
    energies[0, correct[0]] = others.min() + 0.4
    return energies, correct


def low_wrong_answer(rng, k=4):
    """One sample with energies in [1.5, 3] except one wrong answer in [0.2, 0.8]."""
    energies = rng.uniform(1.5, 3.0, size=(1, k))
    correct = rng.integers(0, k, size=1)
    wrong = (correct[0] + 1 + rng.integers(0, k - 1)) % k
    energies[0, wrong] = rng.uniform(0.2, 0.8)
    return energies, correct


def wide(rng):
    """5 samples, 4 answers, energies in [0, 6]: some satisfy a margin of 1, some do not."""
    return rng.uniform(0.0, 6.0, size=(5, 4)), rng.integers(0, 4, size=5)


def tests(question, one_sample, many=batch):
    """Values and dL/dE on a batch, and dL/dE of one sample against finite differences."""
    return [
        Test(question, "loss values on a batch of 5 samples with 4 answers",
             f"{question}(*args)[0]", many),
        Test(question, "dL/dE on a batch of 5 samples with 4 answers",
             f"{question}(*args)[1]", many),
        Test(question, "dL/dE of one sample against finite differences of the loss "
             "(in[k] is the energy of answer k)",
             f"{question}(*args)[1]", one_sample,
             reference=f"jacobian_fd(lambda e, c: {question}(e, c)[0], *args)",
             compare=jacobian()),
    ]


TESTS = [
    Test("most_offending", "a batch of 5 samples with 4 answers", "most_offending", batch,
         compare=equal()),
    Test("most_offending", "a batch of 6 samples with 7 answers", "most_offending",
         lambda rng: batch(rng, 6, 7), compare=equal()),
    *tests("energy_loss", lambda rng: batch(rng, 1)),
    *tests("perceptron_loss", misclassified),
    *tests("hinge_loss", misclassified, wide),
    *tests("square_square_loss", low_wrong_answer),
    *tests("square_exp_loss", lambda rng: batch(rng, 1)),
    *tests("nll_loss", lambda rng: batch(rng, 1)),
]
