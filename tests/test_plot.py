"""The book's figures draw what they are given."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

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
    png, described = anim._repr_png_()  # what shows where HTML cannot, described
    assert png == anim.frames[-1] and described["alt"] == anim.frame_alt(-1)


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


def test_surface_animation_describes_the_player_and_every_frame():
    import html
    import json
    import re

    anim = plot.surface_animation(_training_experiment(), epochs=(0, 3), dpi=40,
                                  caption="A flat surface grows steep.",
                                  alt="The surface over training.")
    assert anim.frame_alt(0) == ("The surface over training. This frame: "
                                 "epoch 0: spread 0.00, gap 0.00, error 0.30.")
    page = anim._repr_html_()
    assert page.startswith('<figure class="ebm-animation"') and page.endswith("</figure>")
    assert re.search(r"<figcaption>A flat surface grows steep.</figcaption>", page)
    img_alt = re.search(r'<img [^>]*alt="([^"]*)"', page).group(1)
    assert html.unescape(img_alt) == anim.frame_alt(0)
    data = json.loads(re.search(r'class="ebm-animation-data">(.*?)</script>', page).group(1))
    assert data["alts"] == [anim.frame_alt(0), anim.frame_alt(1)]  # the script shows these
    assert "img.alt = data.alts[k]" in page
    with pytest.raises(ValueError, match="alt must be a non-empty string"):
        plot.surface_animation(_training_experiment(), alt=" ")


def test_surface_text_says_what_a_snapshot_shows():
    fake = _training_experiment()
    fake.snapshots[0] = np.full_like(fake.snapshots[0], 0.0012)   # flat, near zero
    assert plot.surface_text(fake, 0) == ("epoch 0: E from 0.0012 to 0.0012; "
                                          "spread 0.00, gap 0.00, error 0.30")
    assert plot.surface_text(fake, 3) == ("epoch 3: E from 2.00 to 6.00; "
                                          "spread 4.00, gap 1.50, error 0.05")
    with pytest.raises(ValueError, match="no snapshot of epoch 2"):
        plot.surface_text(fake, 2)


def test_described_figure_carries_alt_and_caption_in_the_image_metadata():
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [1, 0])
    described = plot.DescribedFigure(fig, " A line.\n", "A line falling from 1 to 0.")
    png, metadata = described._repr_png_()
    assert png.startswith(b"\x89PNG")
    assert metadata == {"alt": "A line falling from 1 to 0.", "caption": "A line."}
    assert repr(described) == repr(fig)           # plain text as matplotlib's
    for bad in ("", "   ", None):
        with pytest.raises(ValueError, match="alt must be a non-empty string"):
            plot.DescribedFigure(fig, "A line.", bad)
    with pytest.raises(ValueError, match="caption must be a non-empty string"):
        plot.DescribedFigure(fig, "", "A line.")
    plt.close(fig)


def test_show_figure_displays_the_described_figure_once(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    fig, ax = plt.subplots()
    assert plot.show_figure(fig, "Empty axes.", "Empty axes from 0 to 1.") is None
    (described,) = shown
    assert described._repr_png_()[1]["alt"] == "Empty axes from 0 to 1."
    assert not plt.fignum_exists(fig.number)      # closed: the inline backend shows nothing


def test_lines_of_a_multi_line_plot_differ_in_style_not_only_colour():
    keys = ("spread", "gap", "error", "loss")
    ax = plot.training_curves({k: [1.0, 0.5, 0.2] for k in keys}, keys)
    looks = [(line.get_linestyle(), line.get_marker()) for line in ax.lines]
    assert len(set(looks)) == len(keys), looks
    styles = [plot.line_style(k) for k in range(8)]
    assert len({(s["linestyle"], s["marker"]) for s in styles}) == 8
    with pytest.raises(ValueError, match="k must be an integer >= 0"):
        plot.line_style(-1)


def _lightness(rgb):
    """CIELAB L* of sRGB colours in [0, 1] (D65)."""
    rgb = np.asarray(rgb)[..., :3]
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    y = linear @ np.array([0.2126, 0.7152, 0.0722])
    return np.where(y > (6 / 29) ** 3, 116 * np.cbrt(y) - 16, y * (29 / 3) ** 3)


def test_lightness_is_cielab():
    assert _lightness([1.0, 1.0, 1.0]) == pytest.approx(100.0)
    assert _lightness([0.0, 0.0, 0.0]) == pytest.approx(0.0)
    assert _lightness([0.5, 0.5, 0.5]) == pytest.approx(53.39, abs=0.01)


def test_surface_and_landscape_colours_rise_in_lightness_with_the_value():
    # readable without colour (greyscale, colour-vision deficiencies): the
    # lightness of the map rises steadily from low values to high ones
    xs, ys = np.linspace(-1, 1, 5), np.linspace(0, 1, 4)
    surface = plot.energy_surface(xs, ys, np.add.outer(xs, ys)).images[0].get_cmap()
    landscape = plot.loss_landscape(losses.hinge_loss, margin=0.5, n=11).collections[0]
    for cmap in (surface, landscape.get_cmap()):
        L = _lightness(cmap(np.linspace(0, 1, 64)))
        assert (np.diff(L) > 0).all() and L[-1] - L[0] > 50, cmap.name
    rainbow = _lightness(plt.get_cmap("jet")(np.linspace(0, 1, 64)))
    assert not (np.diff(rainbow) > 0).all()         # the check can fail


def test_landscape_text_says_where_the_loss_is_lowest_and_where_it_pushes():
    hinge = plot.landscape_text(losses.hinge_loss, margin=1.0, n=41)
    assert "where E_I - E_C is 1.00 or more" in hinge
    assert hinge.endswith("on the margin line E_I = E_C + 1, the arrows point into the upper left")
    flat = plot.landscape_text(losses.perceptron_loss, margin=0.5, n=41)
    assert "where E_I - E_C is 0.00 or more" in flat and flat.endswith("the loss is flat there")
    log = plot.landscape_text(losses.log_loss, margin=0.5, n=41)
    assert "lowest at the single point E_C = 0, E_I = 4" in log


def test_landscape_text_sees_a_loss_that_pushes_along_the_margin_line():
    def square_square_as_printed(energies, correct, margin=1.0):
        # E_C^2 + (min(0, m - E_I))^2, the misprinted version: the push on E_I is a pull
        e_c, e_i = energies[:, 0], energies[:, 1]
        gap = np.minimum(0.0, margin - e_i)
        return e_c ** 2 + gap ** 2, np.stack([2 * e_c, -2 * gap], axis=1)

    text = plot.landscape_text(square_square_as_printed, margin=1.0, n=41)
    assert text.endswith("the arrows run along the line")
