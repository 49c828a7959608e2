"""Figures of the book: energy surfaces, loss landscapes, training curves, and
training as an animation.

Host-only code: arrays are converted with ``asnumpy`` at the edge. Each
function draws on a matplotlib ``ax`` (a new figure when none is given) and
returns it, except :func:`surface_animation`, which returns a
:class:`SurfaceAnimation` that a notebook shows as a self-contained player.

Every figure is readable without its colours and without seeing it (WCAG 2.1
AA): the colour maps are perceptually uniform (lightness rises with the value),
the lines of a plot differ in style (:func:`line_style`), and a notebook shows
a finished figure with :func:`show_figure`, which gives it a caption and a text
alternative that says what it shows and what to see in it.
"""
import base64
import hashlib
import html
import inspect
import io
import json

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from .backend import asnumpy, to_device
from .conditions import landscape
from .demos import SURFACE_X, surface_ys

__all__ = ["energy_surface", "surface_panels", "surface_animation", "SurfaceAnimation",
           "surface_text", "loss_landscape", "landscape_text", "training_curves", "line_style",
           "show_figure", "DescribedFigure"]

# Line styles and markers of the k-th line (line_style): the first four lines
# differ in dashes, the next four add a marker.
_LINES = (("-", ""), ("--", ""), ("-.", ""), (":", ""),
          ("-", "o"), ("--", "s"), ("-.", "^"), (":", "D"))


_ANIMATION_ALT = ("Energy surface E(W, Y, X) as colours over X (across) and Y (up), "
                  "dark where the energy is low, the training samples as dots; one frame per "
                  "epoch.")


def _axes(ax):
    return plt.subplots(figsize=(4.5, 3.6))[1] if ax is None else ax


def energy_surface(xs, ys, energies, X=None, Y=None, ax=None, title=None, colorbar=True,
                   vmin=None, vmax=None):
    """E(Y, X) as an image over (X, Y) (low energy dark), with the data
    (X, Y) on top; ``energies`` has shape (len(xs), len(ys)). ``vmin`` and
    ``vmax`` fix the colour scale (and contour levels), e.g. to compare panels."""
    ax = _axes(ax)
    E = asnumpy(energies)
    image = ax.imshow(E.T, origin="lower", aspect="auto", cmap="viridis",
                      extent=(xs[0], xs[-1], ys[0], ys[-1]), vmin=vmin, vmax=vmax)
    lo, hi = image.get_clim()
    if hi > lo:
        ax.contour(np.asarray(xs), np.asarray(ys), E.T, levels=np.linspace(lo, hi, 10)[1:-1],
                   colors="white", linewidths=0.5, alpha=0.6)
    if X is not None:
        ax.scatter(asnumpy(X).ravel(), asnumpy(Y).ravel(), s=4, c="tab:red", label="data")
    ax.set(xlabel="X", ylabel="Y", title=title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label=r"$E(W, Y, X)$")
    return ax


def surface_panels(result, epochs, title=None, shared=True):
    """The energy surface of a demo experiment (:func:`ebmlib.demos.experiment`)
    at the ``epochs`` of its snapshots, two panels a row, data on top, each
    titled with the epoch and the spread. ``shared=True`` puts every panel on
    one colour scale from 0 (so that a flat surface looks flat next to a
    contrasted one); ``shared=False`` gives each panel its own scale and
    colour bar (so that each panel shows its shape). Returns the figure."""
    ys = surface_ys(result.ys)
    rows = -(-len(epochs) // 2)
    fig, axes = plt.subplots(rows, 2, figsize=(8.5, 3.1 * rows), sharex=True, sharey=True,
                             constrained_layout=True, squeeze=False)
    vmax = max(float(asnumpy(result.snapshots[e]).max()) for e in epochs) if shared else None
    for ax, epoch in zip(axes.flat, epochs):
        energy_surface(SURFACE_X, ys, result.snapshots[epoch], result.X, result.Y, ax=ax,
                       colorbar=not shared, vmin=0.0 if shared else None, vmax=vmax,
                       title=f"epoch {epoch}, spread {result.history['spread'][epoch]:.2f}")
        ax.grid(False)
    for ax in axes.flat[len(epochs):]:
        ax.set_visible(False)
    for ax in axes[:-1].flat:
        ax.set_xlabel("")
    for ax in axes[:, 1:].flat:
        ax.set_ylabel("")
    if shared:
        fig.colorbar(axes.flat[0].images[0], ax=axes, label=r"$E(W, Y, X)$")
    if title:
        fig.suptitle(title)
    return fig


def _caption(history, epoch):
    """"epoch k: spread s, gap g, error e": the diagnostics a demo's history
    holds at ``epoch`` (index 0 = before training), rounded, never -0.00."""
    values = [f"{key} {round(float(history[key][epoch]), 2) + 0.0:.2f}"
              for key in ("spread", "gap", "error") if key in history]
    return f"epoch {epoch}: " + ", ".join(values)


def surface_text(result, epoch):
    """The energy surface of a demo experiment at ``epoch`` (a snapshot), in
    words for alt text: "epoch k: E from lo to hi; spread s, gap g, error e"."""
    if epoch not in result.snapshots:
        raise ValueError(f"surface_text: no snapshot of epoch {epoch!r}; it recorded "
                         f"{sorted(result.snapshots)}")
    E = asnumpy(result.snapshots[epoch])
    label, _, values = _caption(result.history, epoch).partition(": ")
    return f"{label}: E from {_number(E.min())} to {_number(E.max())}; {values}"


def _number(x):
    """Two decimals, or two significant digits below 0.01 (so that a flat
    surface's 0.0012 does not read 0.00); never -0.00."""
    x = float(x)
    return f"{x:.2g}" if 0 < abs(x) < 0.005 else f"{round(x, 2) + 0.0:.2f}"


def _png(canvas):
    """The canvas as PNG bytes, in a palette of 256 colours (a quarter of the
    size of full colour for these images)."""
    out = io.BytesIO()
    image = Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3])
    image.quantize(256, Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(out, "png")
    return out.getvalue()


def surface_animation(result, epochs=None, shared=True, fps=4, dpi=80, size=(4.8, 3.2),
                      caption="The energy surface over training.", alt=_ANIMATION_ALT):
    """The energy surface of a demo experiment (:func:`ebmlib.demos.experiment`)
    over its training, one frame per epoch of ``epochs`` (default: every
    snapshot the experiment recorded, e.g. with ``snapshots=range(epochs + 1)``),
    each titled with the epoch and that epoch's collapse diagnostics (spread,
    gap, error). ``shared`` as in :func:`surface_panels`: one colour scale from
    0 for all frames, or one per frame. The frames, ``size`` inches at ``dpi``,
    are drawn by blitting the changing artists onto a fixed background, without
    the contour lines of the panels (too slow to redraw for every frame);
    ``fps`` frames a second when playing. ``caption`` and ``alt`` describe the
    player as :func:`show_figure` describes a figure; a frame's alt text is
    ``alt`` and the frame's title (:meth:`SurfaceAnimation.frame_alt`).
    Returns a :class:`SurfaceAnimation` (matplotlib's
    ``FuncAnimation.to_jshtml`` draws every frame twice and loads its button
    icons from a CDN)."""
    epochs = sorted(result.snapshots) if epochs is None else [int(e) for e in epochs]
    missing = [e for e in epochs if e not in result.snapshots]
    if not epochs or missing:
        raise ValueError(f"surface_animation: no snapshot of epochs {missing or epochs}; train "
                         f"with experiment(..., snapshots=...) including them (it recorded "
                         f"{sorted(result.snapshots)})")
    if not fps > 0:
        raise ValueError(f"surface_animation: fps must be > 0, got {fps!r}")
    caption, alt = _text("caption", caption), _text("alt", alt)
    ys = surface_ys(result.ys)
    surfaces = [asnumpy(result.snapshots[e]) for e in epochs]
    vmax = max(float(s.max()) for s in surfaces)
    fig = Figure(figsize=size, dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.13, 0.15, 0.63, 0.75))
    cax = fig.add_axes((0.79, 0.15, 0.03, 0.75))
    energy_surface(SURFACE_X, ys, surfaces[0], result.X, result.Y, ax=ax, colorbar=False,
                   vmin=0.0, vmax=vmax)
    ax.grid(False)
    image, dots = ax.images[0], ax.collections[-1]
    for contour in ax.collections[:-1]:
        contour.remove()
    fig.colorbar(image, cax=cax, label=r"$E(W, Y, X)$")
    ax.set_title(" ", fontsize=9)
    changing = [image, dots, ax.title] + ([] if shared else [cax.yaxis])
    for artist in changing:
        artist.set_visible(False)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    for artist in changing:
        artist.set_visible(True)
    frames, labels = [], []
    for epoch, E in zip(epochs, surfaces):
        canvas.restore_region(background)
        image.set_data(E.T)
        if not shared:
            image.set_clim(float(E.min()), float(E.max()))
        labels.append(_caption(result.history, epoch))
        ax.set_title(labels[-1])
        for artist in (image, dots, *ax.spines.values(), ax.title):
            ax.draw_artist(artist)
        if not shared:
            cax.draw_artist(cax.yaxis)
        frames.append(_png(canvas))
    return SurfaceAnimation(frames, labels, canvas.get_width_height(), fps, caption, alt)


class SurfaceAnimation:
    """Frames of :func:`surface_animation` (``frames``: PNG bytes; ``labels``:
    each frame's epoch and diagnostics; ``caption`` and ``alt``: what the player
    shows) and their player: in a notebook and in the built book, a
    self-contained HTML/JS player in a ``<figure>`` with its caption, with play,
    pause, step, a slider and a frame counter (every frame embedded as a
    ``data:`` URL, nothing remote); the last frame, described, where only
    images show."""

    _BUTTONS = (("first", "First frame", "|\u25c1"), ("previous", "Previous frame", "\u25c1"),
                ("play", "Play", "\u25b6\ufe0e"), ("pause", "Pause", "\u275a\u275a"),
                ("next", "Next frame", "\u25b7"), ("last", "Last frame", "\u25b7|"))
    _SCRIPT = """(function () {
  var tries = 0;
  function start() {
    var root = document.getElementById("__ID__");
    /* a notebook may attach the output to the page after running this */
    if (!root) { if (tries++ < 100) setTimeout(start, 50); return; }
    var data = JSON.parse(root.querySelector("script.ebm-animation-data").textContent);
    var img = root.querySelector("img"), slider = root.querySelector("input"),
        label = root.querySelector(".ebm-animation-label"), last = data.labels.length - 1,
        k = 0, timer = null;
    data.frames[0] = img.getAttribute("src");
    function show(i) {
      k = Math.max(0, Math.min(last, i));
      img.src = data.frames[k];
      img.alt = data.alts[k];
      label.textContent = "frame " + (k + 1) + " of " + (last + 1);
      slider.value = k;
    }
    function pause() { clearInterval(timer); timer = null; }
    function play() {
      pause();
      if (k === last) show(0);
      timer = setInterval(function () { if (k < last) show(k + 1); else pause(); },
                          data.interval);
    }
    var actions = {first: function () { pause(); show(0); },
                   previous: function () { pause(); show(k - 1); },
                   play: play, pause: pause,
                   next: function () { pause(); show(k + 1); },
                   last: function () { pause(); show(last); }};
    Array.prototype.forEach.call(root.querySelectorAll("button[data-action]"), function (b) {
      b.addEventListener("click", actions[b.getAttribute("data-action")]);
    });
    slider.addEventListener("input", function () { pause(); show(parseInt(slider.value, 10)); });
  }
  start();
})();"""

    def __init__(self, frames, labels, size, fps, caption, alt):
        self.frames, self.labels, self.size, self.fps = list(frames), list(labels), size, fps
        self.caption, self.alt = caption, alt

    def __repr__(self):
        return f"SurfaceAnimation({len(self.frames)} frames of {self.size[0]} x {self.size[1]} px)"

    def frame_alt(self, k):
        """The alt text of frame ``k``: what the player shows, then the frame's title."""
        return f"{self.alt} This frame: {self.labels[k]}."

    @staticmethod
    def _url(png):
        return "data:image/png;base64," + base64.b64encode(png).decode("ascii")

    def _repr_html_(self):
        uid = "ebm-animation-" + hashlib.sha1(b"".join(self.frames)).hexdigest()[:12]
        width, height = self.size
        data = json.dumps({"frames": [None] + [self._url(f) for f in self.frames[1:]],
                           "labels": self.labels,
                           "alts": [self.frame_alt(k) for k in range(len(self.frames))],
                           "interval": round(1000 / self.fps)})
        data = data.replace("</", "<\\/")  # no "</script>" inside the data
        buttons = "".join(f'<button type="button" data-action="{action}" title="{name}" '
                          f'aria-label="{name}">{glyph}</button>'
                          for action, name, glyph in self._BUTTONS)
        alt = html.escape(self.frame_alt(0))
        return (f'<figure class="ebm-animation" id="{uid}" style="display:inline-block;'
                f'text-align:center;max-width:100%;margin:0">\n'
                f'<img src="{self._url(self.frames[0])}" alt="{alt}" width="{width}" '
                f'height="{height}" style="max-width:100%;height:auto">\n'
                f'<div><input type="range" min="0" max="{len(self.frames) - 1}" step="1" '
                f'value="0" aria-label="Frame" style="width:{int(0.9 * width)}px;'
                f'max-width:90%"></div>\n'
                f'<div>{buttons}</div>\n'
                f'<div class="ebm-animation-label" style="font-size:0.85em">frame 1 of '
                f'{len(self.frames)}</div>\n'
                f'<script type="application/json" class="ebm-animation-data">'
                f'{data}</script>\n'
                f'<figcaption>{html.escape(self.caption)}</figcaption>\n'
                f'<script>{self._SCRIPT.replace("__ID__", uid)}</script>\n</figure>')

    def _repr_png_(self):
        return self.frames[-1], {"alt": self.frame_alt(-1), "caption": self.caption}


def _landscape(loss, e_range, n, margin, params):
    """What :func:`loss_landscape` draws: the loss over the plane, the margin m,
    and the descent directions -grad L at points ``ec`` just inside the margin
    line, where a kinked loss (hinge) is still active."""
    m = 0.0 if margin is None else float(margin)
    if margin is not None and "margin" in inspect.signature(loss).parameters:
        params = dict(params, margin=margin)
    e_c, e_i, values = (asnumpy(a) for a in landscape(loss, e_range, n, **params))
    ec = np.linspace(e_range[0], e_range[1] - m, 7)[1:-1]
    inside = ec + m - 1e-6 * (e_range[1] - e_range[0])
    _, grad = loss(to_device(np.stack([ec, inside], axis=1)), to_device(np.zeros(len(ec), int)),
                   **params)
    return e_c, e_i, values, m, ec, -asnumpy(grad)


def loss_landscape(loss, e_range=(0.0, 4.0), n=81, margin=None, ax=None, title=None,
                   **params):
    """The loss over the (E(Y^i), E(Ybar)) plane (lecture, "Condition on the
    Loss"), with the margin line E(Ybar) = E(Y^i) + m and, on it, arrows along
    the negative gradient (the direction a descent step moves the two energies),
    taken just inside the margin, where a kinked loss (hinge) is still active.
    ``margin`` is passed to the loss when it takes one; otherwise it only
    places the line (default 0). :func:`landscape_text` says what it shows."""
    ax = _axes(ax)
    e_c, e_i, values, m, ec, g = _landscape(loss, e_range, n, margin, params)
    ax.contourf(e_c, e_i, values, levels=20, cmap="magma")
    line = np.linspace(e_range[0], e_range[1] - m, 2)
    ax.plot(line, line + m, color="cyan", lw=1.5, label=f"margin line, m = {m:g}")
    g /= np.maximum(np.hypot(g[:, 0], g[:, 1]), 1e-12)[:, None]
    ax.quiver(ec, ec + m, g[:, 0], g[:, 1], color="cyan", angles="xy", scale=12, width=0.006)
    ax.set(xlabel=r"$E(W, Y^i, X^i)$", ylabel=r"$E(W, \bar{Y}, X^i)$",
           title=title or getattr(loss, "__name__", ""), xlim=e_range, ylim=e_range)
    ax.legend(loc="lower right", fontsize="small")
    return ax


def landscape_text(loss, e_range=(0.0, 4.0), n=81, margin=None, **params):
    """What :func:`loss_landscape` draws with the same arguments, in words for
    alt text: the range of the loss, where it is lowest, and whether the arrows
    on the margin line point into the upper left, where the desired answer wins
    (condition 2 of the lecture's "Condition on the Loss")."""
    e_c, e_i, values, m, _, descent = _landscape(loss, e_range, n, margin, params)
    low = values <= values.min() + 1e-9
    where = (f"lowest at the single point E_C = {e_c[low][0]:g}, E_I = {e_i[low][0]:g}"
             if low.sum() == 1 else
             f"lowest on {low.mean():.1%} of the plane, where E_I - E_C is "
             f"{_number((e_i - e_c)[low].min())} or more")
    size = np.hypot(descent[:, 0], descent[:, 1])
    cos = (descent[:, 1] - descent[:, 0]) / np.maximum(np.sqrt(2) * size, 1e-300)
    arrows = ("no arrows: the loss is flat there" if size.max() < 1e-12
              else "the arrows point into the upper left" if (cos > 0.01).all()
              else "the arrows run along the line" if (np.abs(cos) <= 0.01).all()
              else "not all the arrows point into the upper left")
    line = ("on the line E_I = E_C" if margin is None
            else f"on the margin line E_I = E_C + {m:g}")
    return (f"the loss from {_number(values.min())} to {_number(values.max())}, {where}; "
            f"{line}, {arrows}")


def training_curves(history, keys=("loss",), ax=None, title=None, logy=False):
    """The per-epoch values of ``history`` (from :func:`ebmlib.train.train`),
    one :func:`line_style` per key."""
    ax = _axes(ax)
    for k, key in enumerate(keys):
        ax.plot(np.arange(len(history[key])), history[key], label=key, **line_style(k))
    ax.set(xlabel="epoch", title=title)
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize="small")
    return ax


def line_style(k):
    """Colour, dashes and marker of the k-th line of a plot (``ax.plot(...,
    **line_style(k))``): colour ``C{k}`` and, for up to 8 lines, a pattern of
    its own, so that lines are told apart by style and label, not colour alone."""
    if not (isinstance(k, (int, np.integer)) and k >= 0):
        raise ValueError(f"line_style: k must be an integer >= 0 (the line's index), got {k!r}")
    linestyle, marker = _LINES[k % len(_LINES)]
    return {"color": f"C{k % 10}", "linestyle": linestyle, "marker": marker, "markevery": 0.1}


def _text(name, value):
    if not (isinstance(value, str) and value.strip()):
        raise ValueError(f"{name} must be a non-empty string that says what the figure shows "
                         f"(and, for alt, what to see in it), got {value!r}")
    return " ".join(value.split())


class DescribedFigure:
    """A finished figure as a PNG with its ``caption`` and ``alt`` text (see
    :func:`show_figure`). In a notebook it shows as the image; both texts go
    into the output's metadata, ``{"image/png": {"alt": ..., "caption": ...}}``,
    where the book's build reads them (``book/_ext/accessibility.py``) and nbval
    does not compare them; its plain text is matplotlib's (``<Figure size ...>``)."""

    def __init__(self, fig, caption, alt):
        self.caption, self.alt = _text("caption", caption), _text("alt", alt)
        out = io.BytesIO()
        fig.savefig(out, format="png", bbox_inches="tight")
        self.png, self.text = out.getvalue(), repr(fig)

    def __repr__(self):
        return self.text

    def _repr_png_(self):
        return self.png, {"alt": self.alt, "caption": self.caption}


def show_figure(fig, caption, alt):
    """Show the finished figure ``fig`` in a notebook, described (WCAG 2.1,
    1.1.1 "Non-text Content"): ``caption`` titles it under the image; ``alt``,
    its text alternative, says what it shows and what to see in it, with the
    numbers of the run, e.g. ``f"energy surface after {n} epochs: flat, E
    between {lo:.2f} and {hi:.2f} everywhere"``. Closes ``fig``, so that it
    shows once."""
    from IPython.display import display

    described = DescribedFigure(fig, caption, alt)
    plt.close(fig)
    display(described)
