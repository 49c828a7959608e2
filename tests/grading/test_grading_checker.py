"""Checking from a cell: ``check = Checker.for_notebook()``, ``check("question")``, ``check.all()``.

The course's released notebooks, with answers filled in, are executed headless (nbclient)
with their check cells; their output is compared with what is expected and with the
terminal ``python -m ebmlib.grading check`` of the same notebook."""
import dataclasses
import json
import os
import pathlib
import re
import signal
import time

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from ebmlib.grading import Checker
from ebmlib.grading.checker import GRADED, NotebookNotFound
from ebmlib.grading.exercise import _tests, load_exercise
from ebmlib.grading.spec import decode_array, make_case
from grading_course import grading

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE, HIDDEN, RELEASE = (ROOT / "exercises" / d for d in ("source", "hidden", "release"))
EXERCISES = tuple(sorted(p.stem for p in SOURCE.glob("*.ipynb")))
CHECK_CALL = re.compile(r'^check\("([A-Za-z_][A-Za-z0-9_]*)"\)$')

WRONG_HINGE = ("grad[rows, bar] = -active", "grad[rows, bar] = active")   # dL/dE_I: wrong sign
WRONG_PERCEPTRON = ("return energies[rows, correct] - energies[rows, best], grad",
                    "return (energies[rows, correct] - energies[rows, best])[:, None], grad")


def question_of(cell):
    return next((t.split(":", 1)[1] for t in cell.metadata.get("tags", [])
                 if t.startswith("question:")), None)


def solutions(name):
    """{question: the source notebook's cell} (each question is one cell)."""
    nb = nbformat.read(str(SOURCE / f"{name}.ipynb"), as_version=4)
    return {question_of(c): c.source for c in nb.cells if question_of(c)}


def public_tests(name):
    meta = nbformat.read(str(RELEASE / f"{name}.ipynb"), as_version=4).metadata["ebm_grading"]
    return [(t["question"], t["name"]) for t in meta["public_tests"]]


def student(name, answers, after=()):
    """The released notebook with ``answers`` {question: code} in place of the stubs."""
    nb = nbformat.read(str(RELEASE / f"{name}.ipynb"), as_version=4)
    for cell in nb.cells:
        if question_of(cell) in answers:
            cell.source = answers[question_of(cell)]
    nb.cells += [new_code_cell(c) for c in after]
    return nb


def execute(nb, path):
    """Save ``nb`` at ``path`` and run it headless in a kernel told its file, as Jupyter does."""
    nbformat.write(nb, str(path))
    env = {**os.environ, "JPY_SESSION_NAME": str(path), "MPLBACKEND": "Agg"}
    client = NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=env)
    return nb


def shown(cell):
    """``(text/plain, text/html)`` of a cell's result (None if it shows none)."""
    for out in cell.outputs:
        if out.output_type == "execute_result":
            return out.data.get("text/plain"), out.data.get("text/html")
    return None


def errors(cell):
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


def check_cells(nb):
    """{question: cell} of the notebook's ``check("question")`` cells (the first of each)."""
    cells = {}
    for c in nb.cells:
        if c.cell_type == "code" and CHECK_CALL.match(c.source):
            cells.setdefault(CHECK_CALL.match(c.source).group(1), c)
    return cells


def printed_json(cell):
    return json.loads("".join(o.text for o in cell.outputs if o.output_type == "stream"))


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """The losses release, every question answered with the solution, executed."""
    path = tmp_path_factory.mktemp("solved") / "losses.ipynb"
    nb = execute(student("losses", solutions("losses"), after=[
        "check.all()", "import json; print(json.dumps(check.all().to_json()))",
        # which modules the kernel has loaded: never a test module
        "import sys; print(json.dumps(sorted(m for m, v in sys.modules.items()\n"
        "    if 'tests' in m or 'hidden' in str(getattr(v, '__file__', None) or ''))))"]), path)
    return {"path": path, "nb": nb}


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """The losses release with a wrong dL/dE (hinge), a wrong shape (perceptron), one
    question left unanswered (nll), executed; then hinge fixed in the kernel and checked
    again without saving. The terminal check of the same notebook (without those last
    cells) comes with it."""
    answers = solutions("losses")
    answers["hinge_loss"] = answers["hinge_loss"].replace(*WRONG_HINGE)
    answers["perceptron_loss"] = answers["perceptron_loss"].replace(*WRONG_PERCEPTRON)
    del answers["nll_loss"]
    assert WRONG_HINGE[1] in answers["hinge_loss"] and "[:, None]" in answers["perceptron_loss"]
    saved = tmp_path_factory.mktemp("terminal") / "losses.ipynb"
    nbformat.write(student("losses", answers), str(saved))
    terminal = grading("check", saved)
    nb = execute(student("losses", answers, after=[
        "import json; print(json.dumps(check.all().to_json()))",
        solutions("losses")["hinge_loss"], 'check("hinge_loss")']),
        tmp_path_factory.mktemp("broken") / "losses.ipynb")
    return {"nb": nb, "terminal": terminal}


def test_check_cells_of_a_solved_notebook_pass(solved):
    nb = solved["nb"]
    setup = next(c for c in nb.cells if "Checker.for_notebook()" in c.source)
    assert not errors(setup) and not setup.outputs
    cells = check_cells(nb)
    assert list(cells) == list(dict.fromkeys(q for q, _ in public_tests("losses")))
    for question, cell in cells.items():
        assert not errors(cell), errors(cell)
        text, page = shown(cell)
        n = sum(q == question for q, _ in public_tests("losses"))
        assert text.split("\n")[0] == f"[PASS] {question}: {n}/{n} public tests pass", text
        assert text.count("\n    pass  ") == n and "FAIL" not in text
        assert page.count("&#10004; pass") == n and "&#10008;" not in page
    text, _ = shown(nb.cells[-3])   # check.all()
    assert text.split("\n")[0] == "losses: 20/20 public tests pass, 7/7 questions", text


def test_check_cells_say_what_to_fix(broken):
    nb = broken["nb"]
    cells = check_cells(nb)
    text, page = shown(cells["hinge_loss"])
    assert text.startswith("[FAIL] hinge_loss: 1/3 public tests pass\n"), text
    assert "    pass  loss values on a batch of 5 samples with 4 answers" in text
    assert re.search(r"FAIL  dL/dE on a batch of 5 samples with 4 answers: wrong: \d+ of 20 "
                     r"entries differ .*first at index \(\d, \d\): got 1, expected -1", text), text
    # the Jacobian entries that are off, as the grader words them
    assert re.search(r"wrong: your Jacobian: WRONG.*\n +d out\[0\] / d in\[\d\]: analytic 1, "
                     r"finite differences -1", text), text
    assert "your Jacobian: WRONG" in page and "&#10008; wrong" in page
    text, _ = shown(cells["perceptron_loss"])
    assert "loss values on a batch of 5 samples with 4 answers: wrong: has shape (5, 1), " \
           "expected (5,)" in text, text
    text, _ = shown(cells["nll_loss"])
    assert text.count("error: not answered yet: replace `raise NotImplementedError`") == 3, text
    text, _ = shown(cells["most_offending"])
    assert text.startswith("[PASS] most_offending: 2/2"), text
    # the kernel as it is: hinge fixed in a later cell, checked again, nothing saved
    text, _ = shown(nb.cells[-1])
    assert text.startswith("[PASS] hinge_loss: 3/3 public tests pass"), text


def test_check_all_runs_every_public_test(solved):
    ran = printed_json(solved["nb"].cells[-2])
    assert [(q["id"], t["name"]) for q in ran["questions"] for t in q["tests"]] == \
        public_tests("losses")
    assert all(t["status"] == "ok" for q in ran["questions"] for t in q["tests"])
    for name in EXERCISES:   # every exercise: all() lists each public test once, in order
        report = Checker.for_notebook(name, namespace={}).all()
        assert [(t["question"], t["name"]) for t in report.tests] == public_tests(name)
        assert {t["status"] for t in report.tests} == {"missing"}


def test_html_and_text_forms(broken):
    text, page = shown(check_cells(broken["nb"])["hinge_loss"])
    assert page.startswith("<table") and page.endswith("</table>")
    assert page.count("<tr>") == 1 + 3   # the header, then one row per public test
    assert "<th>question</th><th>test</th><th>result</th><th>what to fix</th>" in page
    assert "d out[0] / d in[" in page and "<script" not in page
    assert text.split("\n")[0] == "[FAIL] hinge_loss: 1/3 public tests pass"
    report = Checker.for_notebook("losses", namespace={})("hinge_loss", "nll_loss")
    assert str(report) == repr(report) and str(report).startswith(
        "losses: 0/6 public tests pass, 0/2 questions\n  [FAIL] hinge_loss: 0/3")
    ns = {}   # messages are escaped in HTML
    exec("def most_offending(e, c):\n    raise ValueError('<b>&')", ns)
    page = Checker.for_notebook("losses", namespace=ns)("most_offending")._repr_html_()
    assert "raised ValueError: &lt;b&gt;&amp;" in page and "<b>&" not in page


def reachable(obj, seen=None, found=None):
    """Every string and array reachable from ``obj`` through attributes and containers."""
    seen = set() if seen is None else seen
    found = {"strings": set(), "arrays": []} if found is None else found
    if id(obj) in seen or obj is None or isinstance(obj, (int, float, bool, type)):
        return found
    seen.add(id(obj))
    if isinstance(obj, str):
        found["strings"].add(obj)
    elif isinstance(obj, np.ndarray):
        found["arrays"].append(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            reachable(k, seen, found)
            reachable(v, seen, found)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            reachable(v, seen, found)
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            reachable(getattr(obj, f.name), seen, found)
    elif hasattr(obj, "__dict__"):
        reachable(vars(obj), seen, found)
    return found


def leaks(checker, name):
    """The hidden tests of ``name`` whose name or inputs are reachable from ``checker`` (an
    input array counts when no public test of the release has the same array)."""
    found = reachable(checker)
    public = {n for _, n in public_tests(name)}
    meta = nbformat.read(str(RELEASE / f"{name}.ipynb"), as_version=4).metadata["ebm_grading"]
    released = [decode_array(a) for t in meta["public_tests"] for a in t["args"] + t["expected"]]
    hidden = [make_case(t, k, name, True)
              for k, t in enumerate(_tests(HIDDEN / f"{name}_tests.py"))]
    assert hidden, name

    def among(array, arrays):
        return any(a.shape == array.shape and np.array_equal(a, array) for a in arrays)
    leaked = {c.name for c in hidden if c.name in found["strings"] and c.name not in public}
    for case in hidden:
        for arg in case.args:
            if arg.size > 1 and among(arg, found["arrays"]) and not among(arg, released):
                leaked.add(f"inputs of {case.name!r}")
    return leaked


@pytest.mark.parametrize("name", EXERCISES)
def test_no_hidden_test_is_reachable_from_the_checker(name):
    checker = Checker.for_notebook(name, namespace={})
    found = reachable(checker)
    assert {n for _, n in public_tests(name)} <= found["strings"]   # the walk sees the tests
    assert leaks(checker, name) == set()
    released = (RELEASE / f"{name}.ipynb").read_text()
    public = {n for _, n in public_tests(name)}
    assert not [t.name for t in _tests(HIDDEN / f"{name}_tests.py")
                if t.name not in public and json.dumps(t.name) in released]


def test_the_leak_detector_sees_hidden_tests():
    """The check above can fail: a checker given the instructor's full exercise leaks."""
    full = load_exercise(SOURCE / "losses.ipynb", HIDDEN)
    leaked = leaks(Checker(full, {}), "losses")
    assert "margin 0 on a batch of 4 (loss and dL/dE)" in leaked
    assert "inputs of 'margin 0 on a batch of 4 (loss and dL/dE)'" in leaked


def test_the_kernel_never_loads_a_test_module(solved):
    assert printed_json(solved["nb"].cells[-1]) == []


def parse_terminal(stdout):
    """{question: (mark, passed, total, {failing test: (status, message)})} of ``check``."""
    questions, current, last = {}, None, None
    for line in stdout.split("\n"):
        head = re.match(r"^  \[(PASS|FAIL)\] (\S+): (\d+)/(\d+) public tests pass$", line)
        test = re.match(r"^      (.+?): (wrong|error|timeout|missing|memory|crashed): (.*)$", line)
        if head:
            current = questions[head[2]] = (head[1], int(head[3]), int(head[4]), {})
        elif test:
            last = test[1]
            current[3][last] = (test[2], test[3])
        elif line.startswith("        ") and last:
            status, message = current[3][last]
            current[3][last] = (status, message + "\n" + line[8:])
    return questions


def test_the_terminal_check_agrees_with_the_cells(broken):
    terminal = broken["terminal"]
    assert terminal.returncode == 1, terminal.stdout + terminal.stderr
    expected = parse_terminal(terminal.stdout)
    cells = printed_json(broken["nb"].cells[-3])   # check.all() before hinge was fixed
    assert list(expected) == [q["id"] for q in cells["questions"]]
    for q in cells["questions"]:
        failing = {t["name"]: (t["status"], t["message"])
                   for t in q["tests"] if t["status"] != "ok"}
        passed = len(q["tests"]) - len(failing)
        assert expected[q["id"]] == ("PASS" if not failing else "FAIL", passed, len(q["tests"]),
                                     failing), q["id"]
    assert sum(bool(f) for _, _, _, f in expected.values()) == 3   # hinge, perceptron, nll
    # under the grader the check cells do nothing: the only cells that raised are the
    # cells that try the unanswered nll_loss
    notes = [n.strip() for n in terminal.stdout.split("\n") if "note:" in n]
    assert notes and all(re.fullmatch(r"note: cell \d+ raised NotImplementedError", n)
                         for n in notes), notes


def test_the_terminal_check_of_a_solved_notebook_passes_with_no_notes(solved):
    run = grading("check", solved["path"])
    assert run.returncode == 0, run.stdout + run.stderr
    assert "note:" not in run.stdout and run.stdout.count("[PASS]") == 7


def test_under_the_grader_a_check_cell_does_nothing():
    check = Checker.for_notebook(namespace={GRADED: True})
    start = time.monotonic()
    for report in (check("hinge_loss"), check("no such question"), check.all()):
        assert "not run while the notebook is graded" in str(report)
        assert "not run while the notebook is graded" in report._repr_html_()
    assert time.monotonic() - start < 0.1


def test_for_notebook_finds_the_exercise(tmp_path, monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotebookNotFound, match=r'Checker.for_notebook\("losses"\)') as info:
        Checker.for_notebook(namespace={})
    assert "exercises found: backprop, collapse, inference, latent, linear, losses" \
        in str(info.value)
    # the notebook Jupyter runs, whatever its file name: its metadata says which exercise
    mine = tmp_path / "my copy of losses.ipynb"
    mine.write_bytes((RELEASE / "losses.ipynb").read_bytes())
    monkeypatch.setenv("JPY_SESSION_NAME", str(mine))
    check = Checker.for_notebook(namespace={})
    assert check.exercise == "losses" and check.notebook == str(mine)
    assert Checker.for_notebook(namespace={"__vsc_ipynb_file__": str(RELEASE / "latent.ipynb")}) \
        .exercise == "latent"
    # an instructor's source notebook (no public tests in it): the release of the same name
    monkeypatch.setenv("JPY_SESSION_NAME", str(SOURCE / "backprop.ipynb"))
    assert Checker.for_notebook(namespace={}).exercise == "backprop"
    # by name, or by path
    assert Checker.for_notebook("inference", namespace={}).exercise == "inference"
    by_path = Checker.for_notebook(str(RELEASE / "collapse.ipynb"), namespace={})
    assert by_path.exercise == "collapse"
    with pytest.raises(NotebookNotFound, match="no released notebook of the exercise 'lossses'"):
        Checker.for_notebook("lossses", namespace={})
    with pytest.raises(ValueError, match="losses has no question 'hinge': its questions are "
                                         "most_offending, energy_loss"):
        check("hinge")


def test_for_notebook_uses_the_callers_globals_outside_a_kernel():
    def hinge_loss(energies, correct, margin=1.0):
        raise ZeroDivisionError("from the caller")
    scope = {"hinge_loss": hinge_loss, "Checker": Checker}
    exec("check = Checker.for_notebook('losses')", scope)
    text = str(scope["check"]("hinge_loss"))
    assert "error: raised ZeroDivisionError: from the caller" in text, text


def test_a_function_that_hangs_times_out():
    ns = {}
    exec("def most_offending(e, c):\n    while True:\n        pass\n"
         "def energy_loss(e, c):\n    return e.sum(axis=1), e", ns)
    check = Checker.for_notebook("losses", namespace=ns, timeout=0.5)
    start = time.monotonic()
    report = check("most_offending", "energy_loss")
    assert time.monotonic() - start < 5
    tests = {(t["question"], t["name"]): t for t in report.tests}
    assert {t["status"] for (q, _), t in tests.items() if q == "most_offending"} == {"timeout"}
    assert "did not finish within 0.5 s (an infinite loop" in str(report)
    assert {t["status"] for (q, _), t in tests.items() if q == "energy_loss"} == {"wrong"}
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
