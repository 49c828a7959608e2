"""Notebooks: defensive reading of submissions, solution regions, questions, release.

Instructor notebooks mark answers with nbgrader-style regions inside code cells::

    def softmax(energies, beta=1.0):
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

and tag the cells of a question ``question:<id>`` (one cell of it also
``points:<n>``). Cells tagged ``hidden`` and ``### BEGIN HIDDEN TESTS`` /
``### END HIDDEN TESTS`` regions are instructor-only and never released.
"""
import copy
import dataclasses
import json
import os
import re
import stat
import sys

import nbformat

SOLUTION = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_TESTS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
STUB = ("# YOUR CODE HERE", "raise NotImplementedError")
QUESTION_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
RECOVER = "re-download it or restore it from a checkpoint (File > Revert Notebook to Checkpoint)"
MAX_NOTEBOOK_MB = 32
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"),
         (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a device"),
         (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


class Unreadable(Exception):
    """A submitted file that is not a usable notebook; the message says what to do."""


class FormatError(Exception):
    """An instructor notebook that breaks the exercise format."""


@dataclasses.dataclass
class Cell:
    """A code cell as the grader needs it: its number in the notebook, source and tags."""

    number: int
    source: str
    tags: tuple

    @property
    def question(self):
        return question_of(self.tags)


def read_bytes(path):
    """The bytes of a submitted file; raises :class:`Unreadable` for anything but a regular
    file of at most :data:`MAX_NOTEBOOK_MB`. A link is never followed, and a FIFO or a device
    is never opened, so nothing a student puts in its place can hang or feed the grader."""
    limit = MAX_NOTEBOOK_MB << 20
    try:
        _check_regular(path.name, os.lstat(path), limit)
        with open(os.open(path, OPEN_FLAGS), "rb") as f:
            _check_regular(path.name, os.fstat(f.fileno()), limit)  # swapped since the lstat?
            data = f.read(limit + 1)
    except OSError as exc:
        raise Unreadable(f"Your notebook '{path.name}' could not be read "
                         f"({exc.strerror}).") from None
    if len(data) > limit:
        raise _too_large(path.name)
    return data


def _check_regular(name, status, limit):
    if not stat.S_ISREG(status.st_mode):
        what = next((w for is_kind, w in KINDS if is_kind(status.st_mode)), "not a regular file")
        raise Unreadable(f"'{name}' is {what}, not a plain file: submit the notebook file itself.")
    if status.st_size > limit:
        raise _too_large(name)


def _too_large(name):
    return Unreadable(f"Your notebook '{name}' is larger than {MAX_NOTEBOOK_MB} MB, the most a "
                      f"submission may be: clear its outputs (Edit > Clear Outputs of All Cells), "
                      f"save it and submit it again.")


def read_submission(path, data=None):
    """``(code cells, notebook metadata)`` of a submitted notebook, outputs dropped, from its
    bytes ``data`` (by default :func:`read_bytes`); raises :class:`Unreadable` with a message
    for the student."""
    name = path.name
    content = _parse(name, read_bytes(path) if data is None else data)
    cells = content.get("cells") if isinstance(content, dict) else None
    if not isinstance(cells, list):
        raise Unreadable(f"Your file '{name}' is JSON but not a Jupyter notebook (it has no "
                         f"'cells' list): submit the .ipynb file saved by Jupyter, not an export.")
    code = []
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict):
            raise Unreadable(f"Cell {number} of your notebook '{name}' is damaged: {RECOVER}.")
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise Unreadable(f"Cell {number} of your notebook '{name}' has a damaged source: "
                             f"{RECOVER}.")
        meta = cell.get("metadata")
        tags = meta.get("tags") if isinstance(meta, dict) else None
        tags = tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else ()
        code.append(Cell(number, source, tags))
    metadata = content.get("metadata")
    return code, metadata if isinstance(metadata, dict) else {}


def _parse(name, data):
    """The JSON value of a notebook's bytes; raises :class:`Unreadable`."""
    if not data.strip():
        raise Unreadable(f"Your notebook '{name}' is empty ({len(data)} bytes): {RECOVER}.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"Your notebook '{name}' is not UTF-8 text (byte 0x{data[exc.start]:02x} "
                         f"at offset {exc.start}): it is not a notebook or it was damaged; "
                         f"{RECOVER}.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unreadable(f"Your notebook '{name}' is not valid JSON ({_json_problem(exc, data)}): "
                         f"{RECOVER}.") from None
    except RecursionError:
        raise Unreadable(f"Your notebook '{name}' nests brackets too deeply to be a notebook: "
                         f"it is not a notebook or it was damaged; {RECOVER}.") from None
    except ValueError:  # an integer literal longer than Python converts
        raise Unreadable(f"Your notebook '{name}' holds a number of more than "
                         f"{sys.get_int_max_str_digits()} digits, which no notebook has: it is "
                         f"not a notebook or it was damaged; {RECOVER}.") from None


def _json_problem(exc, data):
    ends_early = exc.pos >= len(exc.doc.rstrip()) - 1 or exc.msg.startswith("Unterminated")
    if ends_early:
        return f"truncated at byte {len(data)}"
    offset = len(exc.doc[:exc.pos].encode("utf-8"))
    return f"{exc.msg} at line {exc.lineno}, column {exc.colno}, byte {offset}"


def question_of(tags):
    """The question id a cell's tags name (``question:<id>``), or None."""
    for tag in tags:
        if tag.startswith("question:"):
            return tag.split(":", 1)[1]
    return None


def regions(source, markers=SOLUTION):
    """``(first, last, indent)`` line spans of the marked regions of ``source``."""
    found, start = [], None
    for i, line in enumerate(source.split("\n")):
        text = line.strip()
        if text.startswith(markers[0]):
            if start is not None:
                raise FormatError(f"line {i + 1}: '{markers[0]}' inside another region")
            start = (i, line[:len(line) - len(line.lstrip())])
        elif text.startswith(markers[1]):
            if start is None:
                raise FormatError(f"line {i + 1}: '{markers[1]}' without '{markers[0]}'")
            found.append((start[0], i, start[1]))
            start = None
    if start is not None:
        raise FormatError(f"line {start[0] + 1}: '{markers[0]}' is never closed")
    return found


def stub(source, which=None):
    """``source`` with its solution regions (all, or the indexes in ``which``) replaced by the stub."""
    lines = source.split("\n")
    for k, (first, last, indent) in reversed(list(enumerate(regions(source)))):
        if which is None or k in which:
            lines[first:last + 1] = [indent + s for s in STUB]
    return "\n".join(lines)


def strip_hidden(source):
    lines = source.split("\n")
    for first, last, _ in reversed(regions(source, HIDDEN_TESTS)):
        del lines[first:last + 1]
    return "\n".join(lines)


def read_source(path):
    """Read an instructor notebook and its questions: ``(notebook, {id: points})``."""
    nb = nbformat.read(str(path), as_version=4)
    points = {}
    for number, cell in enumerate(nb.cells, 1):
        tags = cell.metadata.get("tags", [])
        qid = question_of(tags)
        where = f"{path.name}, cell {number}"
        if cell.cell_type == "code":
            try:
                spans = regions(cell.source)
                regions(cell.source, HIDDEN_TESTS)
            except FormatError as exc:
                raise FormatError(f"{where}: {exc}") from None
            if spans and qid is None:
                raise FormatError(f"{where}: a solution region in a cell with no "
                                  f"'question:<id>' tag")
        if qid is None:
            continue
        if not QUESTION_ID.match(qid):
            raise FormatError(f"{where}: question id {qid!r} must be a Python-like name")
        points.setdefault(qid, None)
        for tag in tags:
            if tag.startswith("points:"):
                value = _points(tag, where)
                if points[qid] not in (None, value):
                    raise FormatError(f"{where}: question {qid!r} is given "
                                      f"{points[qid]:g} and {value:g} points")
                points[qid] = value
    missing = [q for q, p in points.items() if p is None]
    if missing:
        raise FormatError(f"{path.name}: no 'points:<n>' tag for question(s) {', '.join(missing)}")
    return nb, points


def _points(tag, where):
    try:
        value = float(tag.split(":", 1)[1])
    except ValueError:
        value = -1.0
    if not value > 0:
        raise FormatError(f"{where}: {tag!r} is not a positive number of points")
    return value


def solution_sites(nb):
    """``(cell index, region index, question)`` for every solution region, in order."""
    return [(i, k, question_of(cell.metadata.get("tags", [])))
            for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for k in range(len(regions(cell.source)))]


def mutant(nb, cell_index, region_index):
    """A copy of ``nb`` with one solution region replaced by the stub."""
    nb = copy.deepcopy(nb)
    cell = nb.cells[cell_index]
    cell.source = stub(cell.source, {region_index})
    return nb


def release(nb, grading_metadata):
    """The student version of an instructor notebook (a new notebook)."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if "hidden" not in c.metadata.get("tags", [])]
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.source = stub(strip_hidden(cell.source))
            cell.outputs = []
            cell.execution_count = None
    nb.metadata["ebm_grading"] = grading_metadata
    return nb


def code_cells(nb):
    """The :class:`Cell` list of an in-memory notebook (instructor side)."""
    return [Cell(number, cell.source, tuple(cell.metadata.get("tags", [])))
            for number, cell in enumerate(nb.cells, 1) if cell.cell_type == "code"]
