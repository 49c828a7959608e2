"""Every figure of the book and of the exercises is described (WCAG 2.1, 1.1.1
"Non-text Content"), without running anything.

* Book: every image output of the committed notebooks carries, in its output
  metadata, the alt text and caption that ``ebmlib.plot.show_figure`` (or an
  animation's ``_repr_png_``) put there, which the build turns into ``<img alt>``
  and ``<figcaption>``; every animation player has an ``<img alt>`` and a
  ``<figcaption>``. Alt text says what the figure shows with numbers of the run
  (at least one digit), and is never a file name.
* Exercises: they are committed without outputs, so every code cell that draws a
  figure must show it with ``show_figure(fig, caption, alt)``, and no cell may
  leave a figure to matplotlib's own display.

The browser test (``test_book_browser.py``) checks the ``<img>`` of the built pages.
"""
from __future__ import annotations

import ast
import html
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = sorted((ROOT / "book").glob("*.ipynb"))
EXERCISES = sorted((ROOT / "exercises" / "source").glob("*.ipynb"))
MIN_ALT = 40            # characters: a description, not a label
FILE_NAME = re.compile(r"\.(png|svg|jpe?g|gif|webp)$|^[./\\\w-]*[/\\][\w./\\-]*$"
                       r"|^[0-9a-f]{16,}$", re.IGNORECASE)
# What draws a figure in an exercise cell, and what shows it described.
DRAWS = re.compile(r"\bplt\.(subplots|figure)\(|\b(energy_surface|loss_landscape|"
                   r"training_curves|surface_panels)\(")


def bad_alt(alt: str | None, role: str | None = None) -> str | None:
    """Why ``alt`` is not a text alternative, or None if it is one. ``alt=""`` is
    allowed only on an image marked decorative (``role="presentation"``)."""
    if alt is None:
        return "no alt attribute"
    if not alt.strip():
        return None if role in ("presentation", "none") else "empty alt, not decorative"
    if FILE_NAME.search(alt.strip()):
        return f"a file name as alt text: {alt!r}"
    return None


def test_bad_alt_tells_descriptions_from_file_names():
    assert bad_alt("Energy surface after 20 epochs: flat, E between 0.02 and 0.03.") is None
    assert bad_alt("", "presentation") is None
    for alt in (None, "", " ", "../_images/3524e67.png", "logo.svg", "_static/logo",
                "3524aa0be67f0c1d2e3f", "figure.JPG"):
        assert bad_alt(alt) is not None, alt


def _image_outputs(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            if any(mime.startswith("image/") for mime in output.get("data", {})):
                yield i, output


def _animations(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            page = "".join(output.get("data", {}).get("text/html", ""))
            if 'class="ebm-animation"' in page:
                yield i, page


def _described(alt, caption) -> list[str]:
    problems = []
    why = bad_alt(alt)
    if why or len(alt.strip()) < MIN_ALT or not re.search(r"\d", alt):
        problems.append(why or f"alt text too short or without a number: {alt!r}")
    if not (isinstance(caption, str) and caption.strip()):
        problems.append("no caption")
    return problems


@pytest.mark.parametrize("path", BOOK, ids=lambda p: p.stem)
def test_every_image_output_of_the_book_is_described(path):
    outputs = list(_image_outputs(path))
    problems = [f"cell {i}: {problem}" for i, output in outputs
                for mime in output["data"] if mime.startswith("image/")
                for problem in _described(output.get("metadata", {}).get(mime, {}).get("alt"),
                                          output.get("metadata", {}).get(mime, {}).get("caption"))]
    assert not problems, f"{path.name}: show each figure with ebmlib.plot.show_figure:\n  " \
                         + "\n  ".join(problems)


def test_the_book_has_figures_to_check():
    assert sum(len(list(_image_outputs(p))) for p in BOOK) >= 40


@pytest.mark.parametrize("path", [p for p in BOOK if list(_animations(p))], ids=lambda p: p.stem)
def test_every_animation_player_is_described(path):
    problems = []
    for i, page in _animations(path):
        alt = re.search(r'<img [^>]*alt="([^"]*)"', page)
        caption = re.search(r"<figcaption>(.*?)</figcaption>", page, re.DOTALL)
        problems += [f"cell {i}: {problem}" for problem in _described(
            html.unescape(alt.group(1)) if alt else None,
            html.unescape(caption.group(1)) if caption else None)]
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


def _calls(source: str, name: str) -> list[ast.Call]:
    return [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)
            and (getattr(node.func, "id", None) == name
                 or getattr(node.func, "attr", None) == name)]


def _code_cells(path: Path) -> list[tuple[int, str]]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [(i, "".join(c["source"])) for i, c in enumerate(nb["cells"])
            if c["cell_type"] == "code"]


def figure_problems(source: str) -> list[str]:
    """Why a code cell's figures are not all shown described (empty if they are)."""
    if not DRAWS.search(source):
        return []
    problems = []
    shows = _calls(source, "show_figure")
    if not shows:
        problems.append("draws a figure but never shows it with show_figure(fig, caption, alt)")
    for call in shows:
        given = len(call.args) + len([k for k in call.keywords if k.arg in ("caption", "alt")])
        if given < 3:
            problems.append("show_figure without both a caption and an alt text")
    if re.search(r"\bplt\.show\(", source):
        problems.append("plt.show() shows a figure without its description")
    return problems


def test_figure_problems_finds_undescribed_figures():
    assert figure_problems("x = 1") == []
    assert figure_problems("fig, ax = plt.subplots()\nshow_figure(fig, 'c', f'a {x}')") == []
    assert figure_problems("fig, ax = plt.subplots()\nshow_figure(fig, caption='c', alt='a')") == []
    assert figure_problems("fig, ax = plt.subplots()\nplt.show()")
    assert figure_problems("ax = energy_surface(xs, ys, E)\nax.legend();")
    assert figure_problems("fig, ax = plt.subplots()\nshow_figure(fig, 'c')")


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.stem)
def test_every_figure_of_the_exercises_is_described(path):
    problems = [f"cell {i}: {problem}" for i, source in _code_cells(path)
                for problem in figure_problems(source)]
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)
