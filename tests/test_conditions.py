"""Table 1's margin column, recovered from the (E_C, E_I) plane by ebmlib.conditions."""
import numpy as np
import pytest

from ebmlib import conditions, losses
from ebmlib.backend import asnumpy, xp

# LeCun et al. (2006), Table 1, "margin" column.
TABLE1 = {"energy_loss": "none", "perceptron_loss": "0", "hinge_loss": "m", "log_loss": "> 0",
          "lvq2_loss": "0", "mce_loss": "> 0", "square_square_loss": "m",
          "square_exp_loss": "> 0", "nll_loss": "> 0", "mee_loss": "> 0"}

# Condition 2 fails only where the loss is flat on the margin line (E_I - E_C = m > 0).
FLAT_ON_MARGIN_LINE = {"perceptron_loss", "lvq2_loss"}
# The losses that saturate are not convex in (E_C, E_I), the lecture's assumption.
NOT_CONVEX = {"lvq2_loss", "mce_loss", "mee_loss"}


@pytest.mark.parametrize("grid", [{}, {"e_range": (0.0, 8.0), "n": 41}])
@pytest.mark.parametrize("name", sorted(TABLE1))
def test_table1_margin_column(name, grid):
    found = conditions.check_conditions(getattr(losses, name), **grid)
    assert found.loss == name
    assert found.margin == TABLE1[name], found
    assert found.minima_in_half_plane == (TABLE1[name] in ("m", "> 0")), found
    assert found.pushes_apart == (name not in FLAT_ON_MARGIN_LINE), found
    assert found.convex == (name not in NOT_CONVEX), found


@pytest.mark.parametrize("name", ["hinge_loss", "square_square_loss"])
@pytest.mark.parametrize("margin", [0.7, 2.0, 4.5])
def test_margin_value_follows_the_margin_parameter(name, margin):
    found = conditions.check_conditions(getattr(losses, name), margin=margin)
    assert found.margin == "m" and abs(found.margin_value - margin) <= 0.05, found
    assert found.minima_in_half_plane and found.pushes_apart

def test_zero_margin_parameter():
    assert conditions.check_conditions(losses.hinge_loss, margin=0.0).margin == "0"
    # on energies >= 0, E_C^2 + max(0, -E_I)^2 no longer depends on E_I
    assert conditions.check_conditions(losses.square_square_loss, margin=0.0).margin == "none"


def test_the_slides_square_square_sign_would_fail():
    """With min(0, m - E_I) (as printed on the slide) E_I is pulled down to m."""
    def slide_square_square(energies, correct, margin=1.0):
        e = asnumpy(energies)
        e_c, e_i = e[:, 0], e[:, 1]
        gap = np.minimum(0.0, margin - e_i)
        return xp.asarray(e_c ** 2 + gap ** 2), xp.asarray(np.stack([2 * e_c, -2 * gap], axis=1))

    found = conditions.check_conditions(slide_square_square)
    assert found.margin == "0" and not found.minima_in_half_plane


def test_condition2_fails_for_a_loss_that_pulls_the_wrong_way():
    def backwards(energies, correct):
        e = asnumpy(energies)
        s = 1 / (1 + np.exp(e[:, 0] - e[:, 1]))
        return xp.asarray(np.log1p(np.exp(e[:, 1] - e[:, 0]))), xp.asarray(np.stack([-s, s], 1))

    found = conditions.check_conditions(backwards)
    assert found.margin == "none" and not found.pushes_apart and not found.minima_in_half_plane


def test_convexity_check_sees_a_sigmoid_and_a_saturation():
    """A convex bowl passes; its sigmoid, and its cap at a level, do not."""
    def bowl(energies, correct, squash=None):
        e = asnumpy(energies)
        q = 0.1 * ((e[:, 0] - 2.0) ** 2 + (e[:, 1] - 5.0) ** 2)
        grad = 0.2 * (e - [2.0, 5.0])
        if squash == "sigmoid":
            s = 1 / (1 + np.exp(-q))
            q, grad = s, (s * (1 - s))[:, None] * grad
        elif squash == "cap":
            grad = np.where((q < 1.0)[:, None], grad, 0.0)
            q = np.minimum(q, 1.0)
        return xp.asarray(q), xp.asarray(grad)

    assert conditions.check_conditions(bowl).convex
    assert not conditions.check_conditions(bowl, squash="sigmoid").convex
    assert not conditions.check_conditions(bowl, squash="cap").convex


def test_landscape_samples_the_loss():
    ec, ei, values = (asnumpy(a) for a in conditions.landscape(losses.hinge_loss, (0.0, 4.0), 9,
                                                               margin=0.5))
    assert ec.shape == ei.shape == values.shape == (9, 9)
    np.testing.assert_allclose(ec[:, 0], np.linspace(0.0, 4.0, 9))
    np.testing.assert_allclose(ei[0], np.linspace(0.0, 4.0, 9))
    np.testing.assert_allclose(values, np.maximum(0.0, 0.5 + ec - ei))


@pytest.mark.parametrize("kwargs, match", [
    ({"e_range": (5.0, 1.0)}, r"e_range must be \(low, high\) with low < high"),
    ({"n": 2}, "n must be an integer >= 3"),
    ({"margins": (0.5, -1.0)}, r"margins must lie in \(0, 10.0\)"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        conditions.check_conditions(losses.hinge_loss, **kwargs)
