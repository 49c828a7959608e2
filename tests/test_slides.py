"""Every slide of the lecture is covered: ``book/lecture_slides.txt`` lists the slide
titles, and the table of ``book/slides.md`` maps each of them, in order, to sections of
the book by links whose targets exist (a chapter file and one of its heading anchors,
slugged as MyST does with ``myst_heading_anchors``)."""
import json
import re
from pathlib import Path

import pytest
from myst_parser.mdit_to_docutils.base import default_slugify

BOOK = Path(__file__).resolve().parents[1] / "book"
LINK = re.compile(r"\[([^\]]+)\]\(([^)#\s]+)(?:#([^)\s]+))?\)")
ANCHOR_DEPTH = 3  # myst_heading_anchors in _config.yml


def slide_titles():
    lines = (BOOK / "lecture_slides.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def table_rows():
    """(first cell, rest of the row) for each body row of the slide table."""
    rows = [line for line in (BOOK / "slides.md").read_text().splitlines()
            if line.startswith("|")]
    body = [r for r in rows[1:] if not re.fullmatch(r"[|\s:-]+", r)]
    cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in body]
    return [(c[0], " | ".join(c[1:])) for c in cells]


def markdown_of(path):
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text()


def anchors(path):
    """The heading anchors MyST gives ``path`` (levels 1 to ANCHOR_DEPTH)."""
    slugs, fence = [], False
    for line in markdown_of(path).splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
        match = None if fence else re.match(r"(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if match and len(match.group(1)) <= ANCHOR_DEPTH:
            slug = base = default_slugify(match.group(2))
            n = 0
            while slug in slugs:
                n += 1
                slug = f"{base}-{n}"
            slugs.append(slug)
    return set(slugs)


def test_every_slide_is_in_the_table_once_and_in_order():
    assert [title for title, _ in table_rows()] == slide_titles()


@pytest.mark.parametrize("title,cell", table_rows(), ids=lambda v: str(v)[:40])
def test_each_slide_links_to_sections_that_exist(title, cell):
    links = LINK.findall(cell)
    assert links, f"{title!r}: no link to the section that covers it"
    for text, target, anchor in links:
        path = BOOK / target
        assert path.is_file(), f"{title!r}: {target} is not a file of the book"
        if anchor:
            assert anchor in anchors(path), \
                f"{title!r}: {target} has no heading with anchor #{anchor} ({sorted(anchors(path))})"


def test_the_anchors_follow_myst():
    assert default_slugify("Demo 1: architecture A, energy loss") == \
        "demo-1-architecture-a-energy-loss"
