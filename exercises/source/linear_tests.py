"""Public tests of the linear-machines exercise: one step of each rule, the training loop,
the training error."""
import numpy as np

from ebmlib.grading import Test


def blobs(rng, n):
    """n samples alternately around (-1, -1) (Y = -1) and (1, 1) (Y = +1), rows [x1, x2, 1]."""
    Y = np.where(np.arange(n) % 2 == 0, -1.0, 1.0)
    points = rng.normal(scale=0.8, size=(n, 2)) + Y[:, None]
    return np.column_stack([points, np.ones(n)]), Y


def line(rng, n):
    """n samples of Y = 0.8 x - 0.5 + noise, rows [x, 1]."""
    x = rng.uniform(-2.0, 2.0, size=n)
    return np.column_stack([x, np.ones(n)]), 0.8 * x - 0.5 + 0.3 * rng.normal(size=n)


def sample(Y, margin_sign, d=3, eta=0.1):
    """Random W and X with sign(W'X) = margin_sign * Y, as (W, X, Y, eta)."""
    def make(rng):
        W, X = rng.normal(size=d), rng.normal(size=d)
        if np.sign(W @ X) != margin_sign * Y:
            X = -X
        return W, X, Y, eta
    return make


def training(n, epochs, eta, data=blobs, d=3):
    def make(rng):
        X, Y = data(rng, n)
        return np.zeros(d), X, Y, eta, epochs
    return make


TESTS = [
    Test("perceptron_step", "a misclassified sample (Y = +1, W'X < 0), eta 0.1",
         "perceptron_step", sample(1.0, -1)),
    Test("perceptron_step", "a correctly classified sample (Y = -1, W'X < 0): W does not change",
         "perceptron_step", sample(-1.0, 1)),
    Test("regression_step", "one sample, eta 0.1", "regression_step",
         lambda rng: (rng.normal(size=3), rng.normal(size=3), float(rng.normal()), 0.1)),
    Test("logistic_step", "a misclassified sample with Y = +1, eta 0.5", "logistic_step",
         sample(1.0, -1, eta=0.5)),
    Test("logistic_step", "a correctly classified sample with Y = -1, eta 0.5", "logistic_step",
         sample(-1.0, 1, eta=0.5)),
    Test("train", "perceptron_update from W0 = 0, eta 0.1, 3 epochs on 20 blob samples",
         "train(perceptron_update, *args)", training(20, 3, 0.1)),
    Test("train", "regression_update from W0 = 0, eta 0.05, 2 epochs on 15 samples",
         "train(regression_update, *args)", training(15, 2, 0.05, line, d=2)),
    Test("error_rate", "W = (1, 1, 0) on 20 blob samples", "error_rate",
         lambda rng: (np.array([1.0, 1.0, 0.0]), *blobs(rng, 20))),
    Test("error_rate", "W = (1, -1, 0.5) on 20 blob samples", "error_rate",
         lambda rng: (np.array([1.0, -1.0, 0.5]), *blobs(rng, 20))),
]
