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


def _fake_experiment():
    """What surface_panels reads of a demos.Experiment: a flat and a contrasted snapshot."""
    from types import SimpleNamespace

    from ebmlib import demos
    ys = np.linspace(0.0, 1.0, 3)
    shape = (len(demos.SURFACE_X), len(demos.surface_ys(ys)))
    steep = np.add.outer(np.zeros(shape[0]), np.linspace(2.0, 6.0, shape[1]))
    return SimpleNamespace(ys=ys, X=np.zeros((2, 1)), Y=np.zeros((2, 1)),
                           snapshots={0: np.full(shape, 0.5), 3: steep},
                           history={"spread": [0.0, 1.0, 2.0, 4.0]})


def test_surface_panels_share_one_scale_from_zero_so_flat_looks_flat():
    fig = plot.surface_panels(_fake_experiment(), (0, 3), title="t")
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert [im.get_clim() for im in images] == [(0.0, 6.0), (0.0, 6.0)]
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["epoch 0, spread 0.00", "epoch 3, spread 4.00"]
    assert len(fig.axes) == 3  # two panels and one colour bar


def test_surface_panels_with_own_scales_show_each_shape():
    fig = plot.surface_panels(_fake_experiment(), (0, 3), shared=False)
    clims = [ax.images[0].get_clim() for ax in fig.axes if ax.images]
    assert clims[1] == (2.0, 6.0)  # the steep panel spans its own energies
    assert len(fig.axes) == 4  # a colour bar per panel


def _training_experiment():
    """What surface_animation reads of a demos.Experiment: three snapshots, from
    flat to steep, and the diagnostics of each epoch (gap -0.001 rounds to 0.00)."""
    fake = _fake_experiment()
    fake.snapshots[1] = (fake.snapshots[0] + fake.snapshots[3]) / 2
    fake.history.update(gap=[-0.001, 0.5, 1.0, 1.5], error=[0.3, 0.2, 0.1, 0.05])
    return fake


def test_surface_animation_has_a_frame_per_epoch_with_its_diagnostics():
    import io

    from PIL import Image

    anim = plot.surface_animation(_training_experiment(), dpi=50, size=(4.0, 3.0))
    assert anim.labels == ["epoch 0: spread 0.00, gap 0.00, error 0.30",
                           "epoch 1: spread 1.00, gap 0.50, error 0.20",
                           "epoch 3: spread 4.00, gap 1.50, error 0.05"]
    images = [Image.open(io.BytesIO(f)) for f in anim.frames]
    assert all(im.format == "PNG" and im.size == (200, 150) for im in images)
    pixels = [np.asarray(im.convert("RGB")).astype(int) for im in images]
    assert all(np.abs(a - b).sum() > 0 for a, b in zip(pixels, pixels[1:]))
    assert anim._repr_png_() == anim.frames[-1]  # what shows where HTML cannot


def test_surface_animation_plays_offline_with_every_control():
    import json
    import re

    anim = plot.surface_animation(_training_experiment(), epochs=(0, 3), shared=False, dpi=40)
    page = anim._repr_html_()
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)  # the frames
    assert "//" not in text and "http" not in text  # nothing remote to load
    actions = re.findall(r'<button type="button" data-action="(\w+)"', page)
    assert actions == ["first", "previous", "play", "pause", "next", "last"]
    assert re.search(r'<input type="range" min="0" max="1" step="1"', page)
    data = json.loads(re.search(r'class="ebm-animation-data">(.*?)</script>', page).group(1))
    assert data["labels"] == anim.labels and len(data["frames"]) == 2
    assert data["frames"][0] is None  # frame 0 is the <img>'s own src, not repeated
    assert 'src="data:image/png;base64,' in page and page.count("data:image/png") == 2


def test_surface_animation_wants_recorded_epochs():
    import pytest

    with pytest.raises(ValueError, match=r"no snapshot of epochs \[2\]"):
        plot.surface_animation(_training_experiment(), epochs=(0, 2))
    with pytest.raises(ValueError, match="fps must be > 0"):
        plot.surface_animation(_training_experiment(), fps=0)
