"""Finding each student's notebooks, and what grades.csv says of the missing ones."""
import csv

from ebmlib.grading import report
from ebmlib.grading.exercise import Exercise
from ebmlib.grading.submissions import locate

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
