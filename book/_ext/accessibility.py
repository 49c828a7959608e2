"""Sphinx extension: the built book is accessible (WCAG 2.1 AA).

- A figure's text alternative and caption, written where the figure is made
  (``ebmlib.plot.show_figure``), travel in its output's metadata,
  ``{"image/png": {"alt": ..., "caption": ...}}``. MyST-NB takes only width and
  height from there, so its image rendering is wrapped: the image gets its
  ``alt`` and, in a figure, its caption. An image output without alt text is a
  warning, so the strict build fails on an undescribed figure.
- Bibliography entries: docutils gives each ``role="doc-biblioentry"`` (deprecated
  in DPUB-ARIA 1.1, and not a ``listitem``, which its ``role="list"`` wrapper
  needs); here each is a ``listitem``.
- The book's title in the primary sidebar sits in a ``nav`` landmark
  (``templates/navbar-logo.html``), as every other part of the page does.
"""
from pathlib import Path

from docutils import nodes
from docutils.writers.html5_polyglot import HTMLTranslator
from myst_nb.core.render import NbElementRenderer

TEMPLATES = Path(__file__).parent / "templates"
_render_image = NbElementRenderer.render_image


def render_described_image(self, data):
    """MyST-NB's image node, with the alt text and caption of the output's metadata."""
    described = data.output_metadata.get(data.mime_type, {})
    rendered = _render_image(self, data)
    if not described.get("alt"):
        self.logger.warning(f"cell {data.cell_index + 1}: an image output without alt text; "
                            f"show the figure with ebmlib.plot.show_figure(fig, caption, alt)",
                            subtype="image", line=data.line)
        return rendered
    (image,) = rendered
    image["alt"] = described["alt"]
    if not described.get("caption"):
        return [image]
    return [nodes.figure("", image, nodes.caption(described["caption"], described["caption"]))]


def visit_citation(self, node):
    """docutils' ``visit_citation`` with ``role="listitem"``."""
    if not isinstance(node.previous_sibling(), type(node)):
        self.body.append('<div role="list" class="citation-list">\n')
    self.body.append(self.starttag(node, "div", classes=[node.tagname], role="listitem"))


def add_templates(app, config):
    config.templates_path.insert(0, str(TEMPLATES))


def setup(app):
    NbElementRenderer.render_image = render_described_image
    app.add_node(nodes.citation, override=True,
                 html=(visit_citation, HTMLTranslator.depart_citation))
    app.connect("config-inited", add_templates)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
