"""The book and the library move together.

Every name a chapter uses from ``ebmlib`` must exist in ``ebmlib``: modules
(``import ebmlib.losses``), imported names (``from ebmlib.inference import
argmin``) and attribute chains (``ebmlib.losses.hinge_loss``, or
``inf.gibbs`` after ``import ebmlib.inference as inf``). The code cells of
every notebook under ``book/`` are parsed (never executed) and each name is
resolved against the installed library.
"""
from __future__ import annotations

import ast
import importlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
LIBRARY = "ebmlib"


@dataclass(frozen=True)
class Use:
    """One use of a library name: where it is, and the dotted name."""

    where: str
    line: int
    name: str

    def __str__(self) -> str:
        return f"{self.where}, line {self.line}: {self.name}"


def book_notebooks() -> list[Path]:
    return sorted(p for p in BOOK.rglob("*.ipynb")
                  if "_build" not in p.parts and ".ipynb_checkpoints" not in p.parts)


def code_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            src = cell.get("source", "")
            cells.append("".join(src) if isinstance(src, list) else src)
    return cells


def _python_only(source: str) -> str:
    """Blank out IPython magics and shell escapes so that ``ast`` can parse the cell."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        return ""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def _is_library(module: str | None) -> bool:
    return module is not None and (module == LIBRARY or module.startswith(LIBRARY + "."))


def _dotted(node: ast.AST) -> tuple[str, list[str]] | None:
    """``a.b.c`` -> ("a", ["b", "c"]); None if the chain is not rooted at a plain name."""
    attrs = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return node.id, attrs[::-1]
    return None


class _Collector(ast.NodeVisitor):
    """Collects library names used in a sequence of cells (imports carry over)."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}   # local name -> dotted library path
        self.uses: list[Use] = []
        self.where = ""

    def _use(self, node: ast.AST, name: str) -> None:
        self.uses.append(Use(self.where, getattr(node, "lineno", 0), name))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not _is_library(alias.name):
                continue
            self._use(node, alias.name)
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:   # "import ebmlib.losses" binds "ebmlib"
                top = alias.name.split(".")[0]
                self.aliases[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not _is_library(node.module):
            return
        self._use(node, node.module)
        for alias in node.names:
            if alias.name == "*":
                continue
            full = f"{node.module}.{alias.name}"
            self._use(node, full)
            self.aliases[alias.asname or alias.name] = full

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain = _dotted(node)
        if chain is not None and chain[0] in self.aliases:
            root, attrs = chain
            self._use(node, ".".join([self.aliases[root], *attrs]))
            return   # the inner attributes are prefixes of this chain
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        # a rebinding of an alias ("argmin = ...") hides the library name
        if isinstance(node.ctx, ast.Store):
            self.aliases.pop(node.id, None)


def library_uses(cells: list[str], where: str = "<cells>") -> list[Use]:
    """All library names used by ``cells``, in order; raises SyntaxError on bad code."""
    collector = _Collector()
    for k, source in enumerate(cells):
        collector.where = f"{where}, cell {k}"
        tree = ast.parse(_python_only(source), filename=collector.where)
        collector.visit(tree)
    return collector.uses


def resolves(name: str) -> bool:
    """Does the dotted name exist in the library (as a module or an attribute)?"""
    parts = name.split(".")
    try:
        obj = importlib.import_module(parts[0])
    except ImportError:
        return False
    path = parts[0]
    for part in parts[1:]:
        path = f"{path}.{part}"
        if hasattr(obj, part):
            obj = getattr(obj, part)
            continue
        try:
            obj = importlib.import_module(path)
        except ImportError:
            return False
    return True


def missing_names(cells: list[str], where: str = "<cells>") -> list[Use]:
    return [use for use in library_uses(cells, where) if not resolves(use.name)]


NOTEBOOKS = book_notebooks()


def test_book_has_notebooks_that_use_the_library():
    assert NOTEBOOKS, f"no notebooks under {BOOK}"
    used = [p for p in NOTEBOOKS if library_uses(code_cells(p), p.name)]
    assert used, "no chapter notebook uses ebmlib; the check below would be vacuous"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_ebmlib_name_in_the_book_exists(notebook: Path):
    where = str(notebook.relative_to(ROOT))
    missing = missing_names(code_cells(notebook), where)
    assert not missing, ("the book uses names that ebmlib does not define:\n  "
                         + "\n  ".join(map(str, missing)))


# The check itself must be able to fail.

SYNTHETIC = [
    "import numpy as np\nimport ebmlib\nfrom ebmlib.inference import argmin, no_such_function\n",
    "%matplotlib inline\nimport ebmlib.backend as be\nx = be.xp.zeros(3)\n",
    "y = ebmlib.no_such_module.f(x)\nz = ebmlib.inference.gibbs(x, 1.0)\n",
    "from ebmlib.no_such_module import g\nbe.missing_attribute\n",
]


def test_synthetic_missing_names_are_reported():
    missing = {use.name for use in missing_names(SYNTHETIC, "synthetic")}
    assert missing == {
        "ebmlib.inference.no_such_function",
        "ebmlib.no_such_module.f",
        "ebmlib.no_such_module",
        "ebmlib.no_such_module.g",
        "ebmlib.backend.missing_attribute",
    }


def test_synthetic_existing_names_are_collected_and_accepted():
    names = {use.name for use in library_uses(SYNTHETIC, "synthetic")}
    for name in ("ebmlib", "ebmlib.inference", "ebmlib.inference.argmin",
                 "ebmlib.backend", "ebmlib.backend.xp.zeros", "ebmlib.inference.gibbs"):
        assert name in names
        assert resolves(name), name
    assert not any(n.startswith("numpy") or n.startswith("np.") for n in names)


def test_reported_location_points_at_the_cell_and_line():
    (use,) = missing_names(["import ebmlib\n\n\nebmlib.nowhere()\n"], "nb.ipynb")
    assert (use.where, use.line, use.name) == ("nb.ipynb, cell 0", 4, "ebmlib.nowhere")
