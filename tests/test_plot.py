"""The book's figures draw what they are given."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from ebmlib import losses, plot  # noqa: E402


def test_energy_surface_draws_the_energies_with_y_upwards():
    xs, ys = np.linspace(-1, 1, 5), np.linspace(0, 1, 4)
    E = np.add.outer(xs, 10 * ys)
    ax = plot.energy_surface(xs, ys, E, X=[0.0], Y=[0.5])
    image = ax.images[0]
    np.testing.assert_array_equal(image.get_array(), E.T)
    assert image.origin == "lower" and ax.get_ylabel() == "Y"
    np.testing.assert_allclose(ax.collections[-1].get_offsets(), [[0.0, 0.5]])


def test_loss_landscape_draws_the_margin_line():
    ax = plot.loss_landscape(losses.hinge_loss, margin=0.5, e_range=(0.0, 2.0), n=11)
    (line,) = ax.lines
    np.testing.assert_allclose(line.get_ydata() - line.get_xdata(), 0.5)
    assert "0.5" in line.get_label()
    arrows = ax.collections[-1]  # just inside the margin the hinge pushes along [-1, 1]
    np.testing.assert_allclose(arrows.U, -np.sqrt(0.5))
    np.testing.assert_allclose(arrows.V, np.sqrt(0.5))


def test_loss_landscape_arrows_follow_the_negative_gradient():
    ax = plot.loss_landscape(losses.log_loss, margin=0.5, e_range=(0.0, 2.0), n=11)
    arrows = ax.collections[-1]  # log loss: -grad is along [-1, 1] everywhere
    np.testing.assert_allclose(arrows.U, -np.sqrt(0.5))
    np.testing.assert_allclose(arrows.V, np.sqrt(0.5))


def test_loss_landscape_of_a_loss_without_margin_places_the_line_only():
    ax = plot.loss_landscape(losses.nll_loss, margin=1.0, e_range=(0.0, 2.0), n=11, beta=2.0)
    np.testing.assert_allclose(np.diff(ax.lines[0].get_ydata() - ax.lines[0].get_xdata()), 0)
    assert (ax.collections[-1].U < 0).all() and (ax.collections[-1].V > 0).all()


def test_training_curves_plot_each_key():
    ax = plot.training_curves({"loss": [3.0, 2.0, 1.0], "gap": [0.0, 0.1, 0.2]}, ("loss", "gap"))
    assert [tuple(line.get_ydata()) for line in ax.lines] == [(3.0, 2.0, 1.0), (0.0, 0.1, 0.2)]
