"""Hidden tests of the structured exercise: edge cases (one position, one label, no
change, negative weights, long chains), a prediction right within the margin, and a
margin of 0. Weights are in general position, as in the public tests."""
import itertools

import numpy as np

from ebmlib.grading import Test, equal

COUNTS = "(lambda x, y: np.array([np.sum(y != x), np.sum(y[1:] != y[:-1])]))"


def noisy(rng, T, K, p=0.3):
    """A sequence of T labels in runs of 2 to 4, and a copy with each label replaced by a
    random one with probability p: (x, y)."""
    runs, label = [], int(rng.integers(K))
    while len(runs) < T:
        runs += [label] * int(rng.integers(2, 5))
        label = (label + int(rng.integers(1, K))) % K if K > 1 else 0
    y = np.array(runs[:T])
    return np.where(rng.random(T) < p, rng.integers(0, K, T), y), y


def lowest(w, x, K, y=None, margin=0.0):
    """By brute force over all K^T sequences: the sequences, their counts phi, and the
    indices of those whose energy (minus margin times the Hamming distance to y) is
    within 1e-6 of the lowest."""
    seqs = np.array(list(itertools.product(range(K), repeat=len(x))))
    phi = np.stack([(seqs != x).sum(1), (seqs[:, 1:] != seqs[:, :-1]).sum(1)], 1)
    energy = phi @ w - (margin * (seqs != y).sum(1) if margin else 0.0)
    return seqs, phi, np.flatnonzero(energy <= energy.min() + 1e-6)


def chain(T, K, margin=None, update=None, unique=False, y_predicted=False, scale=(0.5, 1.5),
          eta=0.1):
    """Inputs drawn again until they fit: ``(w, x, K)`` for predict (``update`` None), else
    ``(w, x, y, K, eta)`` and ``margin`` when given. W is random real in ``scale`` and every
    sequence of lowest (loss-augmented) energy has the same counts, so the answer does not
    depend on how min-sum breaks ties; ``unique``: a single such sequence, and not X itself;
    ``y_predicted``: Y is the (unique) prediction; ``update``: whether W must change."""
    def make(rng):
        for _ in range(1000):
            w = rng.uniform(*scale, size=2)
            x, y = noisy(rng, T, K)
            if y_predicted:
                seqs, _, best = lowest(w, x, K)
                if len(best) > 1:
                    continue
                y = seqs[best[0]]
            seqs, phi, best = lowest(w, x, K, y, margin or 0.0)
            counts = {tuple(p) for p in phi[best]}
            if len(counts) > 1 or unique and (len(best) > 1 or (seqs[best[0]] == x).all()):
                continue
            if update is None or update == (counts != {tuple(phi[seqs.tolist().index(y.tolist())])}):
                break
        else:
            raise ValueError("no such chain in 1000 draws: loosen the conditions")
        if update is None:
            return w, x, K
        return (w, x, y, K, eta) + (() if margin is None else (margin,))
    return make


def long_chain(T, K, scale=(0.5, 1.5)):
    """A chain too long for brute force; ties there change the labels, not the counts."""
    def make(rng):
        return rng.uniform(*scale, size=2), noisy(rng, T, K)[0], K
    return make


TESTS = [
    Test("chain_features", "a single position: no pair of neighbours", "chain_features",
         lambda rng: (np.array([2]), np.array([1])), compare=equal()),
    Test("chain_features", "Y = X, alternating between two labels", "chain_features",
         lambda rng: (np.arange(9) % 2, np.arange(9) % 2), compare=equal()),
    Test("chain_features", "T = 30, K = 5 (counts, not their fractions)", "chain_features",
         lambda rng: noisy(rng, 30, 5, p=0.5), compare=equal()),

    Test("predict", "a single position, K = 4", "predict",
         lambda rng: (np.array([0.7, 1.3]), np.array([2]), 4), compare=equal()),
    Test("predict", "a single label (K = 1): every position gets label 0", "predict",
         lambda rng: (np.array([0.8, 1.1]), np.zeros(6, dtype=np.int64), 1), compare=equal()),
    Test("predict", "a negative lambda rewards changes of label (T = 7, K = 3): the counts "
         "phi(X, Y_hat) of your prediction", COUNTS + "(args[1], np.asarray(predict(*args)))",
         chain(7, 3, scale=((0.5, -1.0), (1.5, -0.2))), compare=equal()),
    Test("predict", "a long chain (T = 40, K = 5): the counts phi(X, Y_hat) of your prediction",
         COUNTS + "(args[1], np.asarray(predict(*args)))", long_chain(40, 5), compare=equal()),

    Test("perceptron_update", "a wrong prediction, K = 4, eta 0.5: (loss, new W)",
         "perceptron_update", chain(6, 4, update=True, eta=0.5)),
    Test("perceptron_update", "a single position, a wrong prediction: (loss, new W)",
         "perceptron_update", lambda rng: (np.array([0.9, 0.4]), np.array([1]), np.array([0]),
                                           3, 0.1)),
    Test("perceptron_update", "small weights, the prediction right: loss 0, W unchanged",
         "perceptron_update", chain(7, 3, update=False, y_predicted=True, scale=(0.2, 0.6))),

    Test("hinge_update", "margin 0: the perceptron update", "hinge_update",
         chain(8, 3, margin=0.0, update=True)),
    Test("hinge_update", "the prediction is right, but not by the margin: loss > 0, W changes",
         "hinge_update", chain(7, 3, margin=1.0, update=True, y_predicted=True,
                               scale=(0.2, 0.6))),
    Test("hinge_update", "Y wins by more than the margin: loss 0, W unchanged", "hinge_update",
         chain(7, 3, margin=0.5, update=False, y_predicted=True, scale=(2.0, 3.0))),
]
