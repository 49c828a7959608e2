"""Finding and reading each student's notebooks (a link, a FIFO or a device is never read),
and what grades.csv says of the missing ones and of student ids."""
import csv
import json
import os
import pathlib

from ebmlib.grading import report
from ebmlib.grading.batch import Ready, collect_task, file_digest, finish, load
from ebmlib.grading.exercise import Exercise
from ebmlib.grading.sandbox import NO_ISOLATION, Limits
from ebmlib.grading.submissions import locate, plan
from test_grading_notebook import within

EXERCISES = [Exercise("losses", {"q": 2.0}, []), Exercise("backprop", {"q": 3.0}, [])]


def test_a_notebook_not_handed_in_is_missing_not_misnamed(tmp_path):
    (tmp_path / "losses.ipynb").write_text("{}")
    assert locate(tmp_path, EXERCISES[0], EXERCISES) == (tmp_path / "losses.ipynb", None)
    path, message = locate(tmp_path, EXERCISES[1], EXERCISES)
    assert path is None and "'backprop.ipynb' is missing from your submission" in message
    assert "rename" not in message


def test_a_stray_notebook_is_named_as_the_one_to_rename(tmp_path):
    (tmp_path / "losses.ipynb").write_text("{}")
    (tmp_path / "backprop-Copy1.ipynb").write_text("{}")
    path, message = locate(tmp_path, EXERCISES[1], EXERCISES)
    assert path is None and "found 'backprop-Copy1.ipynb'" in message
    assert "losses.ipynb" not in message and "rename" in message


def test_an_empty_folder_holds_no_notebook(tmp_path):
    assert "holds no notebook" in locate(tmp_path, EXERCISES[0], EXERCISES)[1]


def test_grades_csv_tells_missing_from_blank(tmp_path):
    blank = {"exercise": "losses", "status": "graded", "points": 0.0, "maximum": 2.0}
    missing = report.not_graded(EXERCISES[1], "missing", "not handed in", None)
    result = report.student_result("ada", [blank, missing], {"level": "none"}, [])
    report.write_csv(tmp_path, [result], ["losses", "backprop"])
    rows = list(csv.reader(open(tmp_path / "grades.csv")))
    assert rows == [["student", "losses", "backprop", "total", "maximum", "losses status",
                     "backprop status"],
                    ["ada", "0", "0", "0", "5", "graded", "missing"]]


def _hostile_folder(root):
    """Students whose losses.ipynb is a good notebook, a trap or a file no grader should read."""
    good = json.dumps({"cells": [{"cell_type": "code", "source": "x = 1"}]})
    (root / "ada").mkdir()
    (root / "ada" / "losses.ipynb").write_text(good)
    traps = {"zero": "/dev/zero", "copycat": root / "ada" / "losses.ipynb",
             "instructor": pathlib.Path(__file__)}
    for name, target in traps.items():
        (root / name).mkdir()
        (root / name / "losses.ipynb").symlink_to(target)
    (root / "pipe").mkdir()
    os.mkfifo(root / "pipe" / "losses.ipynb")
    (root / "folder").mkdir()
    (root / "folder" / "losses.ipynb").mkdir()
    (root / "huge").mkdir()
    with open(root / "huge" / "losses.ipynb", "wb") as f:
        f.truncate(64 << 20)
    (root / "deep").mkdir()
    (root / "deep" / "losses.ipynb").write_bytes(b"[" * 100_000)
    (root / "linked_student").symlink_to(root / "ada")
    return good.encode()


def test_plan_reads_each_notebook_once_and_never_follows_or_blocks(tmp_path):
    subs, out = tmp_path / "submissions", tmp_path / "out"
    subs.mkdir()
    good = _hostile_folder(subs)
    with within(10):
        students, tasks, reused = plan(subs, EXERCISES[:1], out, Limits(), NO_ISOLATION)
    assert "linked_student" not in students and reused == 0
    assert {t[0]: t[2] for t in tasks} == {
        "ada": (subs / "ada" / "losses.ipynb", file_digest(good)),
        "deep": (subs / "deep" / "losses.ipynb", file_digest(b"[" * 100_000))}
    status = {name: results.get("losses", {}).get("message")
              for name, (results, _) in students.items()}
    for name in ("zero", "copycat", "instructor"):
        assert status[name] == ("'losses.ipynb' is a symbolic link, not a plain file: submit the "
                                "notebook file itself.")
    assert "is a FIFO (named pipe), not a plain file" in status["pipe"]
    assert "is a folder, not a plain file" in status["folder"]
    assert "is larger than 32 MB" in status["huge"]
    assert all(students[n][0]["losses"]["status"] == "unreadable"
               for n in ("zero", "copycat", "instructor", "pipe", "folder", "huge"))


def grade_file_task(task):
    """Grade a planned notebook as ``grade`` does: read again, run, judged here."""
    try:
        return finish(task, collect_task(load(task)))
    except Ready as ready:
        return ready.result


def test_the_grade_task_reads_again_safely_and_grades_only_the_planned_bytes(tmp_path):
    subs, out = tmp_path / "submissions", tmp_path / "out"
    subs.mkdir()
    _hostile_folder(subs)
    with within(10):
        _, tasks, _ = plan(subs, EXERCISES[:1], out, Limits(), NO_ISOLATION)
    deep = next(t for t in tasks if t[0] == "deep")
    with within(10):
        result = grade_file_task(deep)
    assert (result["status"], result["key"]) == ("unreadable", deep[3])
    assert "nests brackets too deeply" in result["message"]
    (subs / "deep" / "losses.ipynb").write_bytes(b"[" * 100_001)   # changed since the plan
    with within(10):
        result = grade_file_task(deep)
    assert (result["status"], result["key"]) == ("pending", None)
    (subs / "deep" / "losses.ipynb").unlink()
    (subs / "deep" / "losses.ipynb").symlink_to("/dev/zero")          # replaced by a trap
    with within(10):
        result = grade_file_task(deep)
    assert result["status"] == "unreadable" and "symbolic link" in result["message"]


def test_unreadable_results_are_reused_until_the_file_changes(tmp_path):
    subs, out = tmp_path / "submissions", tmp_path / "out"
    subs.mkdir()
    _hostile_folder(subs)
    with within(10):
        students, _, _ = plan(subs, EXERCISES[:1], out, Limits(), NO_ISOLATION)
    for name in ("zero", "pipe", "huge"):
        results, notes = students[name]
        report.write_student(out, report.student_result(name, [results["losses"]], {}, notes))
    (subs / "huge" / "losses.ipynb").write_text("{}")
    with within(10):
        _, tasks, reused = plan(subs, EXERCISES[:1], out, Limits(), NO_ISOLATION)
    assert reused == 2 and "huge" in {t[0] for t in tasks}


def test_student_ids_in_grades_csv_are_never_formulas(tmp_path):
    ids = ['=HYPERLINK("http://x","y")', 'doe, "jo"', "+1", "-1", "@sum", "\tx", "\rx", "ada"]
    missing = [report.not_graded(EXERCISES[0], "missing", "not handed in", None)]
    report.write_csv(tmp_path, [report.student_result(s, missing, {}, []) for s in ids], ["losses"])
    with open(tmp_path / "grades.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["student", "losses", "total", "maximum", "losses status"]
    assert [r[0] for r in rows[1:]] == ['\'=HYPERLINK("http://x","y")', 'doe, "jo"', "'+1", "'-1",
                                        "'@sum", "'\tx", "'\rx", "ada"]
    assert all(r[1:] == ["0", "0", "2", "missing"] for r in rows[1:])
