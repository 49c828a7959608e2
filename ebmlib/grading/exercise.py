"""Exercises: an instructor notebook, its public and hidden test modules, their digest.

For ``source/<name>.ipynb`` the public tests are ``source/<name>_tests.py`` and
the hidden ones ``hidden/<name>_tests.py``; each module lists ``TESTS``, a list
of :class:`~.spec.Test`. Loading a module runs it in the grader's process
(instructor code, trusted); the student's kernel never sees it.

A written answer is a question graded by hand: a markdown cell tagged ``manual:<id>`` and
``points:<n>`` (the cell where the student writes; it has no tests). ``grade`` exports the
answers for review and merges the instructor's scores (see :mod:`~.report`).
"""
import dataclasses
import functools
import hashlib
import hmac
import importlib.util
import json
import pathlib
from typing import Optional

from .notebook import QUESTION_ID, FormatError, code_cells, read_source
from .spec import Case, Test, make_case, within_round_off

GRADER_VERSION = "1"
LIBRARY = pathlib.Path(__file__).resolve().parents[1]


@dataclasses.dataclass
class Exercise:
    """What one notebook is graded on: questions with points, and the test cases."""

    name: str
    points: dict
    cases: list
    digest: str = ""
    notebook: object = None
    cell_seconds: Optional[dict] = None   # the reference run's seconds per cell (grader.cell_key)
    manual: dict = dataclasses.field(default_factory=dict)  # written answers: {id: points}

    @property
    def maximum(self):
        return sum(self.points.values()) + sum(self.manual.values())

    @property
    def filename(self):
        return f"{self.name}.ipynb"

    def public_metadata(self):
        """Plain data embedded in the released notebook, for ``check``."""
        return {"exercise": self.name, "grader_version": GRADER_VERSION,
                "questions": [{"id": q, "points": p} for q, p in self.points.items()],
                **({"manual": [{"id": q, "points": p} for q, p in self.manual.items()]}
                   if self.manual else {}),
                "public_tests": [c.to_json() for c in self.cases if not c.hidden]}

    def keep_released_cases(self, metadata):
        """Keep the public cases of an earlier release (its ``ebm_grading`` metadata) that
        differ from the new ones only by round-off (see :func:`~.spec.within_round_off`)."""
        try:
            previous = {(c.question, c.name): c for c in Exercise.from_release(metadata).cases}
        except (KeyError, TypeError, ValueError):
            return
        for case in self.cases:
            old = previous.get((case.question, case.name))
            if not case.hidden and old is not None and within_round_off(case, old):
                case.args, case.expected = old.args, old.expected

    def for_student(self, student, secret):
        """This exercise with the inputs of its hidden tests drawn from a seed of the
        instructor's ``secret`` and the student's id, so that values seen in feedback or
        passed between students are of no use (their expected values are still to compute)."""
        def own(case):
            seed = int.from_bytes(hmac.new(secret, f"{self.name}/{student}/{case.question}/"
                                           f"{case.name}".encode(), "sha256").digest()[:8], "little")
            return dataclasses.replace(make_case(case.test, case.index, self.name, True, seed),
                                       seconds=case.seconds)
        return dataclasses.replace(self, cases=[own(c) if c.hidden and callable(c.test.args)
                                                else c for c in self.cases])

    def for_worker(self):
        """What a worker needs to run the tests: the inputs, not the instructor's notebook,
        the expected values or the tests' source."""
        return dataclasses.replace(self, notebook=None, cases=[
            dataclasses.replace(c, expected=None, test=None) for c in self.cases])

    @classmethod
    def from_release(cls, metadata):
        """The public part of an exercise, from a released notebook's metadata."""
        return cls(str(metadata["exercise"]),
                   {str(q["id"]): float(q["points"]) for q in metadata["questions"]},
                   [Case.from_json(c) for c in metadata["public_tests"]])


def load_exercises(source_dir, hidden_dir):
    """Every exercise of ``source_dir`` (sorted by name); raises FormatError."""
    return [load_exercise(p, hidden_dir) for p in sorted(pathlib.Path(source_dir).glob("*.ipynb"))]


def load_exercise(path, hidden_dir):
    path = pathlib.Path(path)
    nb, points = read_source(path)
    manual = manual_questions(nb, path.name, points)
    name = path.stem
    public = path.with_name(f"{name}_tests.py")
    hidden = pathlib.Path(hidden_dir) / f"{name}_tests.py"
    tests = [(t, False) for t in _tests(public)] + [(t, True) for t in _tests(hidden)]
    cases = []
    for test, is_hidden in tests:
        if test.question in manual:
            raise FormatError(f"{name}: test {test.name!r} is for question {test.question!r}, "
                              f"a written answer graded by hand (tag 'manual:'), which takes "
                              f"no tests")
        if test.question not in points:
            raise FormatError(f"{name}: test {test.name!r} is for question {test.question!r}, "
                              f"which no cell of {path.name} is tagged with")
        try:
            cases.append(make_case(test, len(cases), name, is_hidden))
        except ValueError as exc:
            raise FormatError(str(exc)) from None
    names = [(c.question, c.name) for c in cases]
    if len(set(names)) != len(names):
        raise FormatError(f"{name}: two tests of the same question share a name")
    # every automatic question needs a test; a written answer (manual) has none
    untested = [q for q in points if not any(c.question == q for c in cases)]
    if untested:
        raise FormatError(f"{name}: no test for question(s) {', '.join(untested)}")
    digest = hashlib.sha256()
    for part in (GRADER_VERSION.encode(), library_digest().encode(), path.read_bytes(),
                 *(p.read_bytes() for p in (public, hidden) if p.exists())):
        digest.update(hashlib.sha256(part).digest())
    return Exercise(name, points, cases, digest.hexdigest(), nb, manual=manual)


def manual_questions(nb, filename, points):
    """``{id: points}`` of the written answers of an instructor notebook: markdown cells
    tagged ``manual:<id>`` and ``points:<n>``; raises FormatError."""
    manual = {}
    for number, cell in enumerate(nb.cells, 1):
        tags = cell.metadata.get("tags", [])
        qid = _manual_id(tags)
        if qid is None:
            continue
        where = f"{filename}, cell {number}"
        if cell.cell_type != "markdown":
            raise FormatError(f"{where}: 'manual:{qid}' tags a {cell.cell_type} cell; a "
                              f"written answer is a markdown cell")
        if not QUESTION_ID.match(qid):
            raise FormatError(f"{where}: question id {qid!r} must be a Python-like name")
        if qid in points:
            raise FormatError(f"{where}: {qid!r} is both a tested question and a written "
                              f"answer ('manual:')")
        if qid in manual:
            raise FormatError(f"{where}: two cells are tagged 'manual:{qid}'")
        values = [t for t in tags if t.startswith("points:")]
        if len(values) != 1:
            raise FormatError(f"{where}: the written answer {qid!r} needs exactly one "
                              f"'points:<n>' tag")
        try:
            value = float(values[0].split(":", 1)[1])
        except ValueError:
            value = -1.0
        if not value > 0:
            raise FormatError(f"{where}: {values[0]!r} is not a positive number of points")
        manual[qid] = value
    return manual


def _manual_id(tags):
    return next((t.split(":", 1)[1] for t in tags if isinstance(t, str)
                 and t.startswith("manual:")), None)


def manual_answers(data, exercise):
    """``{id: text or None}``: the student's written answers, from the bytes of a submitted
    notebook (already read safely and parsed once by the grader; None where the tagged
    cell is gone)."""
    answers = {q: None for q in exercise.manual}
    try:
        cells = json.loads(data.decode("utf-8")).get("cells")
    except (ValueError, AttributeError, RecursionError):
        return answers
    for cell in cells if isinstance(cells, list) else []:
        meta = cell.get("metadata") if isinstance(cell, dict) else None
        tags = meta.get("tags") if isinstance(meta, dict) else None
        qid = _manual_id(tags) if isinstance(tags, list) else None
        if qid not in answers or cell.get("cell_type") == "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        if isinstance(source, str):
            answers[qid] = source if answers[qid] is None else answers[qid] + "\n\n" + source
    return answers


def released_text(exercise, qid):
    """The text of a written answer's cell as released (what an unanswered cell holds)."""
    return next((c.source for c in exercise.notebook.cells
                 if _manual_id(c.metadata.get("tags", [])) == qid), None)


def _tests(path):
    if not path.exists():
        return []
    spec = importlib.util.spec_from_file_location(f"ebm_tests_{path.stem}_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tests = getattr(module, "TESTS", None)
    if not isinstance(tests, list) or not all(isinstance(t, Test) for t in tests):
        raise FormatError(f"{path}: TESTS must be a list of ebmlib.grading.Test")
    return tests


@functools.lru_cache(maxsize=1)
def library_digest():
    """Hash of ebmlib's sources: a library change re-grades everything."""
    digest = hashlib.sha256()
    for path in sorted(LIBRARY.rglob("*.py")):
        digest.update(path.relative_to(LIBRARY).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def source_cells(exercise):
    """Code cells of the instructor notebook (what the reference run executes)."""
    return code_cells(exercise.notebook)
