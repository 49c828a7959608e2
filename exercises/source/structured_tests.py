"""Public tests of the structured exercise (features, min-sum prediction, structured
perceptron and hinge updates on a chain). Every instance has real weights in general
position, and the sequences of lowest energy all have the same counts (checked by brute
force), so the expected values do not depend on how min-sum breaks ties."""
import itertools

import numpy as np

from ebmlib.grading import Test, equal


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


TESTS = [
    Test("chain_features", "T = 12, K = 3: (disagreements with X, changes of label in Y)",
         "chain_features", lambda rng: noisy(rng, 12, 3), compare=equal()),

    Test("predict", "labels of a noisy chain, T = 9, K = 3, random W (a unique minimum)",
         "predict", chain(9, 3, unique=True), compare=equal()),
    Test("predict", "W = (1, 0), no smoothing: the observation itself", "predict",
         lambda rng: (np.array([1.0, 0.0]), noisy(rng, 10, 4)[0], 4), compare=equal()),

    Test("perceptron_update", "a wrong prediction, T = 8, K = 3, eta 0.1: (loss, "
         "new W = W - eta (phi(X, Y) - phi(X, Y_hat)))",
         "perceptron_update", chain(8, 3, update=True)),
    Test("perceptron_update", "the prediction is already right: loss 0, W unchanged",
         "perceptron_update", chain(8, 3, update=False, y_predicted=True)),

    Test("hinge_update", "margin 1, T = 8, K = 3, eta 0.1: (loss, new W), Y_hat from "
         "loss-augmented inference", "hinge_update",
         chain(8, 3, margin=1.0, update=True)),
]
