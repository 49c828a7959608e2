"""The chain energy, its loss-augmented min-sum inference and the structured losses,
against brute force over all K^T sequences of short chains; dL/dW by finite
differences; the learning claims of the latent chapter over seeds 0-4."""
import itertools

import numpy as np
import pytest

from ebmlib.backend import asnumpy
from ebmlib.gradcheck import check_function
from ebmlib.structured import ChainEnergy, noisy_chains, structured_loss, train_chain

K, T = 3, 6
SEQUENCES = np.array(list(itertools.product(range(K), repeat=T)))   # all K^T = 729


def brute_energies(w_u, lam, x):
    """E(W, Y, x) of every sequence Y, by the formula."""
    unary = (SEQUENCES != x).sum(axis=1)
    pairs = (SEQUENCES[:, :-1] != SEQUENCES[:, 1:]).sum(axis=1)
    return w_u * unary + lam * pairs


def chain(seed):
    """A random observation, a random desired answer, and generic weights W."""
    rng = np.random.default_rng(seed)
    x, y = rng.integers(0, K, T), rng.integers(0, K, T)
    return x, y, rng.uniform(0.2, 2.0), rng.uniform(0.2, 2.0)


@pytest.mark.parametrize("seed", range(5))
def test_features_and_energy_follow_the_formula(seed):
    x, y, w_u, lam = chain(seed)
    machine = ChainEnergy(K, w_u, lam)
    counts = [(y != x).sum(), (y[:-1] != y[1:]).sum()]
    np.testing.assert_array_equal(asnumpy(machine.features(x, y)), counts)
    assert float(machine.energy(x, y)) == pytest.approx(w_u * counts[0] + lam * counts[1])
    j = int(np.flatnonzero((SEQUENCES == y).all(axis=1))[0])
    assert float(machine.energy(x, y)) == pytest.approx(brute_energies(w_u, lam, x)[j])


@pytest.mark.parametrize("margin", [0.0, 0.7, 2.5])
@pytest.mark.parametrize("seed", range(5))
def test_inference_is_the_brute_force_minimum(seed, margin):
    x, y, w_u, lam = chain(seed)
    machine = ChainEnergy(K, w_u, lam)
    augmented = brute_energies(w_u, lam, x) - margin * (SEQUENCES != y).sum(axis=1)
    labels = asnumpy(machine.infer(x, y, margin))
    j = int(np.flatnonzero((SEQUENCES == labels).all(axis=1))[0])
    assert augmented[j] == pytest.approx(augmented.min())
    if np.sort(augmented)[1] - augmented.min() > 1e-9:      # a unique minimum: the same labels
        np.testing.assert_array_equal(labels, SEQUENCES[int(np.argmin(augmented))])


@pytest.mark.parametrize("margin", [0.0, 0.7, 2.5])
@pytest.mark.parametrize("seed", range(5))
def test_structured_loss_is_its_formula(seed, margin):
    x, y, w_u, lam = chain(seed)
    machine = ChainEnergy(K, w_u, lam)
    E = brute_energies(w_u, lam, x)
    j = int(np.flatnonzero((SEQUENCES == y).all(axis=1))[0])
    expected = (E[j] - E + margin * (SEQUENCES != y).sum(axis=1)).max()   # >= 0 (Y = Y^i)
    loss, _ = structured_loss(machine, x, y, margin)
    assert float(loss) == pytest.approx(expected)
    if margin == 0.0:
        assert float(loss) == pytest.approx(E[j] - E.min())             # the perceptron loss


@pytest.mark.parametrize("margin", [0.0, 0.7, 2.5])
@pytest.mark.parametrize("seed", range(5))
def test_structured_loss_gradient_by_finite_differences(seed, margin):
    x, y, w_u, lam = chain(seed)           # generic real weights: away from the kinks
    machine = ChainEnergy(K, w_u, lam)
    _, grad = structured_loss(machine, x, y, margin)
    result = check_function("structured_loss dL/dW",
                            lambda: structured_loss(machine, x, y, margin)[0],
                            machine.params.x, grad)
    assert result.ok, str(result)


def test_a_perceptron_update_fixes_a_mistake():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    x = y.copy()
    x[2] = 2                                # one wrong observation
    machine = ChainEnergy(3, unary_weight=1.0, lam=0.0)
    assert not np.array_equal(asnumpy(machine.infer(x)), y)   # lambda = 0 keeps the noise
    loss, grad = structured_loss(machine, x, y)
    assert float(loss) > 0
    # Y^i has one more disagreement and two fewer changes than the answer X:
    np.testing.assert_allclose(asnumpy(grad), [1.0, -2.0])
    machine.params.x[...] -= 0.5 * grad     # one step of the perceptron rule
    np.testing.assert_array_equal(asnumpy(machine.infer(x)), y)
    assert float(structured_loss(machine, x, y)[0]) == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_every_update_lowers_the_energy_of_the_right_answer_against_the_wrong_one(seed):
    x, y, w_u, lam = chain(seed)
    machine = ChainEnergy(K, w_u, lam)
    wrong = asnumpy(machine.infer(x))
    if np.array_equal(wrong, y):
        pytest.skip("no mistake to fix")
    before = float(machine.energy(x, y) - machine.energy(x, wrong))
    _, grad = structured_loss(machine, x, y)
    machine.params.x[...] -= 0.1 * grad
    after = float(machine.energy(x, y) - machine.energy(x, wrong))
    assert after == pytest.approx(before - 0.1 * float((asnumpy(grad) ** 2).sum()))
    assert after < before


def test_noisy_chains_are_runs_seen_through_noise():
    truths, observed = (asnumpy(a) for a in noisy_chains(50, seed=0))
    assert truths.shape == observed.shape == (50, 80)
    changes = np.flatnonzero(np.diff(truths[0]) != 0)
    assert (np.diff(changes) >= 5).all() and (np.diff(changes) <= 15).all()
    # a label is replaced with probability 0.3, by itself one time in four: 0.225 wrong
    assert 0.19 < (truths != observed).mean() < 0.26


def _test_errors(ratio, truths, observed):
    machine = ChainEnergy(4, 1.0, ratio)
    return sum(int((asnumpy(machine.infer(x)) != y).sum()) for x, y in zip(observed, truths))


@pytest.fixture(scope="module")
def test_chains():
    return tuple(asnumpy(a) for a in noisy_chains(100, seed=5))


@pytest.mark.parametrize("seed", range(5))
def test_learned_smoothness_matches_or_beats_the_hand_set_value(seed, test_chains):
    """The chapter's claims: the plain perceptron's W does not settle, the averaged
    perceptron and the structured hinge learn a ratio lambda / w_u that does about as
    well as the hand-set 1.5 on new chains, the hinge better."""
    truths, observed = noisy_chains(40, seed=seed)
    hand = _test_errors(1.5, *test_chains)
    plain = ChainEnergy(4, 1.0, 0.0)
    ratios = [w[1] / w[0] for w in train_chain(plain, observed, truths)["w"]]
    assert max(ratios) - min(ratios) > 0.25, ratios
    averaged, hinge = ChainEnergy(4, 1.0, 0.0), ChainEnergy(4, 1.0, 0.0)
    train_chain(averaged, observed, truths, average=True)
    train_chain(hinge, observed, truths, margin=1.0, eta=1 / 32)
    for machine, slack in ((averaged, 1.05), (hinge, 1.0)):
        w_u, lam = asnumpy(machine.w.x)
        assert w_u > 0 and 1.0 < lam / w_u < 2.5, (w_u, lam)
        assert _test_errors(lam / w_u, *test_chains) <= slack * hand


def test_bad_input_says_what_to_fix():
    machine = ChainEnergy(3, 1.0, 0.5)
    with pytest.raises(ValueError, match="n_labels must be an integer >= 2"):
        ChainEnergy(1)
    with pytest.raises(ValueError, match="lam must be a finite real number"):
        ChainEnergy(3, 1.0, float("nan"))
    with pytest.raises(ValueError, match=r"x must be a non-empty 1-D array of integer labels"):
        machine.infer(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 3\)"):
        machine.features(np.array([0, 1]), np.array([0, 3]))
    with pytest.raises(ValueError, match="y must have the length of x, 2, got 3"):
        machine.energy(np.array([0, 1]), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="margin must be >= 0"):
        structured_loss(machine, np.array([0, 1]), np.array([0, 1]), margin=-1.0)
    with pytest.raises(ValueError, match="margin > 0 needs y_true"):
        machine.infer(np.array([0, 1]), margin=1.0)
    with pytest.raises(ValueError, match="machine must be a ChainEnergy"):
        structured_loss(object(), np.array([0, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="n_labels - 1 must be an integer >= 1"):
        noisy_chains(3, n_labels=1)
    with pytest.raises(ValueError, match=r"noise must be a probability in \[0, 1\]"):
        noisy_chains(3, noise=1.5)
    with pytest.raises(ValueError, match="X and Y must hold as many chains"):
        train_chain(machine, np.zeros((2, 4), int), np.zeros((3, 4), int))
