"""The four subcommands on the sample exercise: release, check, verify, grade."""
import csv
import shutil

import nbformat

from grading_course import (GRAD, LIMIT_ARGS, PUBLIC_TESTS, correct, grading, load_json, save,
                            student)

WRONG_GRAD = GRAD.replace("return p / p.sum()", "g = p / p.sum()\n    g[1] = -g[1]\n    return g")


def test_release_is_deterministic_and_carries_the_public_tests(course, tmp_path):
    again = tmp_path / "release"
    assert grading("release", course["source"], again, *LIMIT_ARGS).returncode == 0
    assert (again / "free_energy.ipynb").read_bytes() == course["released"].read_bytes()
    meta = nbformat.read(str(course["released"]), as_version=4).metadata["ebm_grading"]
    assert [q["id"] for q in meta["questions"]] == ["softmax", "free_energy", "grad"]
    assert [t["name"] for t in meta["public_tests"]] == [
        "a batch of 4 rows of 6 energies", "a batch of 4 rows of 6 energies",
        "dF/dE against finite differences"]
    text = course["released"].read_text()
    assert "HIDDEN" not in text and "beta 3" not in text


def test_check_passes_a_correct_notebook(course, tmp_path):
    path = save(student(course, correct()), tmp_path / "free_energy.ipynb")
    run = grading("check", path, *LIMIT_ARGS)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "[PASS] grad: 1/1 public tests pass" in run.stdout


def test_check_says_which_jacobian_entries_are_off(course, tmp_path):
    path = save(student(course, correct(grad=WRONG_GRAD)), tmp_path / "free_energy.ipynb")
    run = grading("check", path, *LIMIT_ARGS)
    assert run.returncode == 1
    assert "[PASS] softmax: 1/1" in run.stdout and "[FAIL] grad: 0/1" in run.stdout
    assert "d out[0] / d in[1]: analytic -" in run.stdout


def test_check_explains_a_notebook_it_cannot_use(tmp_path):
    bad = tmp_path / "free_energy.ipynb"
    bad.write_bytes(b"")
    run = grading("check", bad)
    assert run.returncode == 2 and "is empty (0 bytes)" in run.stdout
    nbformat.write(nbformat.v4.new_notebook(), str(bad))
    run = grading("check", bad)
    assert run.returncode == 2 and "carries no public tests" in run.stdout


def test_verify_accepts_the_sample_exercise(course):
    run = grading("verify", course["source"], "-j", "2", *LIMIT_ARGS)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "verify: 5 runs over 1 exercises, 0 failed" in run.stdout
    assert "ok     free_energy: mutant of question 'grad' (cell 5, region 1)" in run.stdout


def test_verify_catches_a_test_that_leans_on_another_question(course, tmp_path):
    source = tmp_path / "exercises" / "source"
    shutil.copytree(course["source"], source)
    shutil.copytree(course["hidden"], tmp_path / "exercises" / "hidden")
    (source / "free_energy_tests.py").write_text(PUBLIC_TESTS.replace(
        '"free_energy", batch)', '"free_energy(*args) + 0 * softmax(*args).sum(-1)", batch)'))
    run = grading("verify", source, "-j", "2", *LIMIT_ARGS)
    assert run.returncode == 1
    assert "FAILED free_energy: mutant of question 'softmax'" in run.stdout
    assert "question 'free_energy' got 1 points instead of 2" in run.stdout


def test_verify_with_no_exercises_says_so(tmp_path):
    run = grading("verify", tmp_path)
    assert run.returncode == 0 and "no exercise notebooks" in run.stdout


def test_grade_writes_csv_json_feedback_and_skips_unchanged_work(course, tmp_path):
    subs, out = tmp_path / "submissions", tmp_path / "out"
    save(student(course, correct()), subs / "ada" / "free_energy.ipynb")
    save(student(course, correct(grad=WRONG_GRAD)), subs / "bob" / "free_energy.ipynb")
    args = ["grade", subs, "--out", out, "--source", course["source"], "-j", "2", *LIMIT_ARGS]
    run = grading(*args)
    assert run.returncode == 0, run.stderr
    assert "graded 2 notebooks (0 unchanged, reused)" in run.stderr
    assert "grading: 100%" in run.stderr  # the progress bar
    rows = list(csv.reader(open(out / "grades.csv")))
    assert rows == [["student", "free_energy", "total", "maximum", "free_energy status"],
                    ["ada", "6", "6", "6", "graded"], ["bob", "4", "4", "6", "graded"]]
    bob = load_json(out / "results" / "bob.json")
    grad = bob["exercises"][0]["questions"][2]
    assert (grad["id"], grad["points"], grad["maximum"], grad["status"]) == ("grad", 0, 2, "wrong")
    assert {"message", "duration", "tests"} <= set(grad)
    assert [t["visibility"] for t in grad["tests"]] == ["public", "hidden"]
    feedback = (out / "feedback" / "bob.md").read_text()
    assert "Total: **4 / 6** points." in feedback and "| grad | 0 / 2 | wrong |" in feedback
    assert "hidden test 'dF/dE with beta 2': **wrong**" in feedback
    for text in (feedback, (out / "results" / "bob.json").read_text()):
        assert "HIDDEN-SOURCE-MARKER" not in text and "jacobian_fd" not in text

    run = grading(*args)
    assert "graded 0 notebooks (2 unchanged, reused)" in run.stderr
    save(student(course, correct()), subs / "bob" / "free_energy.ipynb")
    run = grading(*args)
    assert "graded 1 notebooks (1 unchanged, reused)" in run.stderr
    assert list(csv.reader(open(out / "grades.csv")))[2] == ["bob", "6", "6", "6", "graded"]


def test_grade_warns_loudly_when_the_machine_cannot_isolate(course, tmp_path, monkeypatch, capsys):
    from ebmlib.grading import sandbox
    from ebmlib.grading.cli import main

    monkeypatch.setattr(sandbox, "_probe", lambda: (False, "no namespaces on this machine"))
    subs, out = tmp_path / "submissions", tmp_path / "out"
    save(student(course, correct()), subs / "ada" / "free_energy.ipynb")
    assert main(["grade", str(subs), "--out", str(out), "--source", str(course["source"]),
                 *LIMIT_ARGS]) == 0
    err = capsys.readouterr().err
    assert err.count("WARNING: student code is NOT isolated") == 2
    assert "no namespaces on this machine" in err
    ada = load_json(out / "results" / "ada.json")
    assert ada["points"] == 6 and ada["isolation"]["level"] == "none"
    assert "NOT isolated" in ada["isolation"]["warning"]
