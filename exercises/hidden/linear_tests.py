"""Hidden tests of the linear-machines exercise: edge cases (W'X = 0, exact fits, confident
samples, no epoch, one sample)."""
import numpy as np

from ebmlib.grading import Test


def blobs(rng, n):
    Y = np.where(np.arange(n) % 2 == 0, -1.0, 1.0)
    points = rng.normal(scale=0.8, size=(n, 2)) + Y[:, None]
    return np.column_stack([points, np.ones(n)]), Y


def misclassified(Y, d, eta):
    def make(rng):
        W, X = rng.normal(size=d), rng.normal(size=d)
        if np.sign(W @ X) == Y:
            X = -X
        return W, X, Y, eta
    return make


def confident(Y, r, eta=0.5):
    """W and X with W'X = r exactly (X along W, scaled)."""
    def make(rng):
        W = np.array([1.0, -2.0, 2.0])              # ||W||^2 = 9
        return W, W * (r / 9.0), Y, eta
    return make


TESTS = [
    Test("perceptron_step", "W = 0, so W'X = 0 and sign(0) = -1: a sample with Y = +1 is "
         "misclassified", "perceptron_step",
         lambda rng: (np.zeros(3), rng.normal(size=3), 1.0, 0.1)),
    Test("perceptron_step", "a misclassified sample with Y = -1 and 5 features, eta 0.01",
         "perceptron_step", misclassified(-1.0, 5, 0.01)),

    Test("regression_step", "an exact fit (Y = W'X): W does not change", "regression_step",
         lambda rng: (np.array([2.0, -1.0, 0.5]), np.array([1.0, 3.0, 2.0]), 0.0, 0.1)),
    Test("regression_step", "a large residual (Y = 1000) with eta 1e-3, 2 features",
         "regression_step", lambda rng: (rng.normal(size=2), rng.normal(size=2), 1000.0, 1e-3)),

    Test("logistic_step", "W = 0, so W'X = 0: the step is eta ((Y + 1)/2 - 1/2) X",
         "logistic_step", lambda rng: (np.zeros(4), rng.normal(size=4), -1.0, 0.3)),
    Test("logistic_step", "a confident correct sample (Y = +1, W'X = 40): almost no change",
         "logistic_step", confident(1.0, 40.0)),
    Test("logistic_step", "a confident correct sample (Y = -1, W'X = -800): no overflow, "
         "almost no change", "logistic_step", confident(-1.0, -800.0)),

    Test("train", "logistic_update from W0 = 0, eta 0.5, 4 epochs on 20 blob samples",
         "train(logistic_update, *args)",
         lambda rng: (np.zeros(3), *blobs(rng, 20), 0.5, 4)),
    Test("train", "0 epochs: only W0, as an array of shape (1, d)",
         "train(perceptron_update, *args)",
         lambda rng: (rng.normal(size=3), *blobs(rng, 6), 0.1, 0)),
    Test("train", "a single sample, 5 epochs of perceptron_update from a given W0",
         "train(perceptron_update, *args)",
         lambda rng: (np.array([-1.0, -1.0, 0.0]), blobs(rng, 2)[0][1:2], np.array([1.0]),
                      0.1, 5)),

    Test("error_rate", "W = 0: every sample is classified -1 (sign(0) = -1)", "error_rate",
         lambda rng: (np.zeros(3), *blobs(rng, 10))),
    Test("error_rate", "one misclassified sample: the rate is 1", "error_rate",
         lambda rng: (np.array([1.0, 1.0, 0.0]), np.array([[-1.0, -2.0, 1.0]]), np.array([1.0]))),
]
