"""What a student may call: the ebmlib functions an exercise asks for refuse while it is graded."""
import importlib
import json
import pathlib
import re

import matplotlib
import nbformat
import numpy as np
import pytest

import ebmlib.inference
import ebmlib.losses
from ebmlib.grading import Checker, allowed
from ebmlib.grading.exercise import load_exercise
from grading_course import LIMIT_ARGS, grading, save

matplotlib.use("Agg")
ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE, HIDDEN, RELEASE = (ROOT / "exercises" / d for d in ("source", "hidden", "release"))
E = np.array([[0.5, 2.0, 1.0], [3.0, 0.2, 1.5]])
C = np.array([0, 2])


def test_every_way_of_reaching_a_forbidden_function_refuses_with_a_clear_message():
    from ebmlib.losses import hinge_loss as imported
    held = {"f": ebmlib.losses.hinge_loss}
    expected = ebmlib.losses.hinge_loss(E, C)[0]
    with allowed.disabled("losses", "hinge_loss"):
        for call in (lambda: imported(E, C), lambda: ebmlib.losses.hinge_loss(E, C),
                     lambda: importlib.import_module("ebmlib.losses").hinge_loss(E, C, 2.0),
                     lambda: held["f"](E, C)):
            with pytest.raises(allowed.LibraryFunctionDisabled,
                               match=r"this exercise asks you to write hinge_loss yourself; "
                                     r"ebmlib's hinge_loss \(ebmlib.losses.hinge_loss\) is "
                                     r"disabled while grading"):
                call()
        # the library's other functions stay usable, most_offending included for this question
        assert ebmlib.inference.most_offending(E, C).tolist() == [2, 1]
        assert np.isfinite(ebmlib.losses.log_loss(E, C)[0]).all()
    np.testing.assert_array_equal(imported(E, C)[0], expected)   # whole again afterwards


def test_forbidden_only_during_its_questions():
    with allowed.disabled("losses", "most_offending"):
        with pytest.raises(allowed.LibraryFunctionDisabled, match="write most_offending"):
            ebmlib.inference.most_offending(E, C)
    with allowed.disabled("losses", "square_square_loss"):
        ebmlib.inference.most_offending(E, C)
    with allowed.disabled("linear", "perceptron_step"):
        ebmlib.train.train  # noqa: B018 - only refuses under question train
        with pytest.raises(allowed.LibraryFunctionDisabled, match="Linear.bprop"):
            from ebmlib.modules import Linear, Parameters, State
            layer, inp, out = Linear(2, 1, Parameters()), State(np.ones((1, 2))), State()
            layer.fprop(inp, out)
            out.dx = np.ones((1, 1))
            layer.bprop(inp, out)


@pytest.mark.parametrize("exercise", sorted(allowed.FORBIDDEN))
def test_every_forbidden_name_is_a_library_function_that_can_refuse(exercise):
    for question in allowed.QUESTIONS[exercise]:
        names = allowed.forbidden(exercise, question)
        for name in names:
            allowed.resolve(name)   # a renamed library function must be renamed here too
        with allowed.disabled(exercise, question) as swapped:
            assert len(swapped) == len(names)


@pytest.mark.parametrize("exercise", sorted(allowed.FORBIDDEN))
def test_the_table_matches_the_exercises_and_their_notebooks(exercise):
    ex = load_exercise(SOURCE / f"{exercise}.ipynb", HIDDEN)
    assert set(allowed.QUESTIONS[exercise]) == {c.question for c in ex.cases}
    assert all(set(qs) <= set(ex.points) for qs in allowed.FORBIDDEN[exercise].values() if qs)
    assert allowed.exercise_of(set(ex.points) & set(allowed.QUESTIONS[exercise])) == exercise
    intro = ex.notebook.cells[0].source
    said = re.search(r"You may use numpy[^\n]*(?:\n[^\n]+)*", intro)
    assert said, f"{exercise}.ipynb's intro does not say what may be used"
    for name in allowed.FORBIDDEN[exercise]:
        assert name.split(".", 1)[1] in said.group(0).replace("\n", " "), name


def test_the_exercise_is_recognised_from_its_questions_only_when_unique():
    assert allowed.exercise_of({"hinge_loss"}) == "losses"
    assert allowed.exercise_of({"free_energy"}) == "inference"
    assert allowed.exercise_of({"softmax", "free_energy"}) is None   # the sample course
    assert allowed.exercise_of({"hinge_loss"}, "inference") == "inference"
    assert allowed.exercise_of(set()) is None


LIBRARY_ANSWER = {
    "most_offending": "def most_offending(energies, correct):\n"
                      "    return ybar_index(energies, correct)",
    "hinge_loss": "import ebmlib.losses as L\n\n"
                  "def hinge_loss(energies, correct, margin=1.0):\n"
                  "    return L.hinge_loss(energies, correct, margin)",
    "nll_loss": "from ebmlib.inference import free_energy, gibbs\n\n"
                "def nll_loss(energies, correct, beta=1.0):\n"
                "    rows = np.arange(len(correct))\n"
                "    grad = -gibbs(energies, beta)\n"
                "    grad[rows, correct] += 1.0\n"
                "    return energies[rows, correct] - free_energy(energies, beta), grad",
}


def _submission():
    """The losses solution, three questions of it answered with the library instead."""
    nb = nbformat.read(str(SOURCE / "losses.ipynb"), as_version=4)
    for cell in nb.cells:
        tags = [t.split(":", 1)[1] for t in cell.metadata.get("tags", [])
                if t.startswith("question:")]
        if tags and tags[0] in LIBRARY_ANSWER:
            cell.source = LIBRARY_ANSWER[tags[0]]
    return nb


def test_check_from_a_cell_refuses_the_library_answer_and_passes_the_rest():
    released = nbformat.read(str(RELEASE / "losses.ipynb"), as_version=4)
    namespace = {}
    for cell in _submission().cells:
        if cell.cell_type == "code" and "check(" not in cell.source and \
                "Checker" not in cell.source:
            try:
                exec(cell.source, namespace)
            except Exception:
                pass
    check = Checker.for_notebook(RELEASE / "losses.ipynb", namespace=namespace)
    report = check.all().to_json()["questions"]
    by_id = {q["id"]: q for q in report}
    for question in LIBRARY_ANSWER:
        assert by_id[question]["status"] == "error", by_id[question]
        assert "LibraryFunctionDisabled" in by_id[question]["message"], by_id[question]
        assert "is disabled while grading" in by_id[question]["message"]
    for question in set(by_id) - set(LIBRARY_ANSWER):
        assert by_id[question]["status"] == "ok", by_id[question]
    assert released.metadata  # the release the check used exists


def test_grading_scores_the_library_answer_zero_and_the_rest_full(public_dir):
    folder = public_dir("allowed")
    save(_submission(), folder / "subs" / "alice" / "losses.ipynb")
    out = folder / "out"
    run = grading("grade", folder / "subs", "--out", out, "--source", SOURCE, "--tests", HIDDEN,
                  *LIMIT_ARGS[:2], "--timeout", "300", "--memory-mb", "2048")
    assert run.returncode == 0, run.stderr
    result = json.loads((out / "results" / "alice.json").read_text())
    result = next(e for e in result["exercises"] if e["exercise"] == "losses")
    by_id = {q["id"]: q for q in result["questions"]}
    for question in LIBRARY_ANSWER:
        assert by_id[question]["points"] == 0, by_id[question]
        assert "is disabled while grading" in by_id[question]["message"], by_id[question]
    for question in set(by_id) - set(LIBRARY_ANSWER):
        assert by_id[question]["points"] == by_id[question]["maximum"], by_id[question]
