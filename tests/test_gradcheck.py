"""The finite-difference checker itself: it passes right derivatives, catches
wrong ones, and says where."""
import numpy as np

from ebmlib.gradcheck import check_function, compare_jacobians, numerical_jacobian


def test_numerical_jacobian_of_a_linear_map_is_the_matrix():
    A = np.arange(6.0).reshape(2, 3)
    x = np.ones(3)
    np.testing.assert_allclose(numerical_jacobian(lambda: A @ x, x), A, atol=1e-8)
    np.testing.assert_array_equal(x, np.ones(3))  # restored after perturbation


def test_check_function_accepts_the_right_gradient_and_rejects_a_wrong_one():
    x = np.array([0.3, -1.2, 2.0])
    good = check_function("sin", lambda: np.sin(x), x, np.diag(np.cos(x)))
    assert good.ok and good.error < 1e-8
    wrong = np.diag(np.cos(x))
    wrong[1, 1] += 0.5
    bad = check_function("sin", lambda: np.sin(x), x, wrong)
    assert not bad.ok and bad.index == (1, 1)
    (k, j, analytic, numerical), = bad.wrong_entries()
    assert (k, j) == (1, 1) and analytic == wrong[1, 1]
    assert abs(numerical - np.cos(x[1])) < 1e-8
    assert "d out[1] / d in[1]" in str(bad)


def test_compare_jacobians_rejects_mismatched_shapes():
    import pytest
    with pytest.raises(ValueError, match=r"analytic Jacobian has shape \(2, 2\)"):
        compare_jacobians("f", np.zeros((2, 2)), np.zeros((2, 3)))
