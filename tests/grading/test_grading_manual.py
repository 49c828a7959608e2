"""Written answers graded by hand: a markdown cell tagged ``manual:<id>`` and ``points:<n>``.

``grade`` exports every answer into ``manual/<exercise>-<question>.html`` (escaped text, no
student HTML runs) and a score sheet ``manual/scores.csv``; until scored, the answer is
``pending`` (grades.csv column ``pending``); ``grade --manual`` merges the sheet into
grades.csv, the results and the feedback, and refuses a sheet with a bad row, changing
nothing."""
import csv
import html.parser
import shutil

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell

from ebmlib.grading import report
from ebmlib.grading.exercise import Exercise, load_exercise
from ebmlib.grading.notebook import FormatError
from grading_course import (HIDDEN_TESTS, LIMIT_ARGS, PUBLIC_TESTS, correct, grading, load_json,
                            save, source_notebook, student)

PROMPT = "*Your answer here.*"
HOSTILE = ('<script>alert("pwned")</script><img src="http://evil.example/x.png" '
           'onerror="alert(1)"> & <style>body{display:none}</style>')
ANSWERS = {"ada": "F is the soft minimum of the energies,\nso dF/dE is the Gibbs distribution.",
           "eve": HOSTILE}
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "code", "div",
                "pre"}


def write_manual_course(root):
    source, hidden = root / "exercises" / "source", root / "exercises" / "hidden"
    source.mkdir(parents=True)
    hidden.mkdir()
    nb = source_notebook()
    nb.cells.append(new_markdown_cell("Why is dF/dE a probability distribution?"))
    nb.cells.append(new_markdown_cell(PROMPT, metadata={"tags": ["manual:explain", "points:2"]}))
    nbformat.write(nb, str(source / "free_energy.ipynb"))
    (source / "free_energy_tests.py").write_text(PUBLIC_TESTS)
    (hidden / "free_energy_tests.py").write_text(HIDDEN_TESTS)
    return source


def answered(course, text):
    nb = student(course, correct())
    for cell in nb.cells:
        if "manual:explain" in cell.metadata.get("tags", []):
            cell.source = text
    return nb


@pytest.fixture(scope="module")
def graded(public_dir):
    """A class of three graded once: ada and eve answered (eve's answer is hostile HTML),
    bob handed in nothing."""
    root = public_dir("manual")
    source = write_manual_course(root)
    course = {"source": source, "released": root / "release" / "free_energy.ipynb"}
    run = grading("release", source, root / "release", *LIMIT_ARGS)
    assert run.returncode == 0, run.stderr
    subs, out = root / "submissions", root / "out"
    for name, text in ANSWERS.items():
        save(answered(course, text), subs / name / "free_energy.ipynb")
    (subs / "bob").mkdir()
    args = ["grade", subs, "--out", out, "--source", source, "-j", "2", *LIMIT_ARGS]
    run = grading(*args)
    assert run.returncode == 0, run.stderr
    return {**course, "subs": subs, "out": out, "args": args, "stderr": run.stderr}


def rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def write_sheet(path, body):
    path.write_text("student,exercise,question,max_points,points,comment\n" + body)
    return path


def regrade(graded, out, *extra):
    args = [a if a != graded["out"] else out for a in graded["args"]]
    return grading(*args, *extra)


def snapshot(out):
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
            and ".cache" not in p.parts}


def test_grade_exports_each_answer_and_a_score_sheet_and_shows_them_pending(graded):
    out = graded["out"]
    meta = nbformat.read(str(graded["released"]), as_version=4).metadata["ebm_grading"]
    assert meta["manual"] == [{"id": "explain", "points": 2.0}]
    assert [q["id"] for q in meta["questions"]] == ["softmax", "free_energy", "grad"]
    page = (out / "manual" / "free_energy-explain.html").read_text()
    assert "<h2>ada</h2>" in page and "<h2>eve</h2>" in page and "bob" not in page
    assert "F is the soft minimum of the energies,\nso dF/dE is the Gibbs" in page
    assert list((out / "manual").iterdir()) and sorted(p.name for p in (out / "manual").iterdir()) \
        == ["free_energy-explain.html", "scores.csv"]
    assert rows(out / "manual" / "scores.csv") == [
        ["student", "exercise", "question", "max_points", "points", "comment"],
        ["ada", "free_energy", "explain", "2", "", ""],
        ["eve", "free_energy", "explain", "2", "", ""]]
    # pending, not 0: its own column, and the exercise's status says so
    assert rows(out / "grades.csv") == [
        ["student", "free_energy", "total", "maximum", "pending", "free_energy status"],
        ["ada", "6", "6", "8", "2", "graded, manual pending"],
        ["bob", "0", "0", "8", "0", "missing"],
        ["eve", "6", "6", "8", "2", "graded, manual pending"]]
    ada = load_json(out / "results" / "ada.json")
    q = ada["exercises"][0]["questions"][-1]
    assert (q["id"], q["status"], q["maximum"], q["manual"]) == ("explain", "pending", 2, True)
    assert ada["pending"] == 2 and ada["exercises"][0]["pending"] == 2
    bob = load_json(out / "results" / "bob.json")["exercises"][0]["questions"][-1]
    assert (bob["status"], bob["points"]) == ("missing", 0)
    feedback = (out / "feedback" / "ada.md").read_text()
    assert "Total: **6 / 8** points so far: written answers worth 2 points are still" in feedback
    assert "| explain | pending / 2 | written answer, to be graded by hand |" in feedback
    assert "written answers: 2 of 3 students have answers still to score" in graded["stderr"]


class Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs = set(), []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs += [name for name, _ in attrs]


def test_a_hostile_answer_stays_text(graded):
    page = (graded["out"] / "manual" / "free_energy-explain.html").read_text()
    parser = Tags()
    parser.feed(page)
    assert parser.tags <= ALLOWED_TAGS, parser.tags - ALLOWED_TAGS        # no script, no img
    assert not {"src", "href", "onerror"} & set(parser.attrs)             # nothing remote
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;&lt;img src=" in page
    assert "<script" not in page.lower() and page.count("<style>") == 1


def test_a_good_sheet_merges_into_grades_results_and_feedback_and_is_kept(graded, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(graded["out"], out)
    sheet = write_sheet(tmp_path / "scores.csv",
                        "ada,free_energy,explain,2,1.5,\"Right idea; say why it sums to 1.\"\n"
                        "eve,free_energy,explain,2,0,=not a formula\n")
    run = regrade(graded, out, "--manual", sheet)
    assert run.returncode == 0, run.stderr
    assert "merged 2 hand scores" in run.stderr and "graded 0 notebooks" in run.stderr
    assert rows(out / "grades.csv")[1:] == [["ada", "7.5", "7.5", "8", "0", "graded"],
                                            ["bob", "0", "0", "8", "0", "missing"],
                                            ["eve", "6", "6", "8", "0", "graded"]]
    q = load_json(out / "results" / "ada.json")["exercises"][0]["questions"][-1]
    assert (q["status"], q["points"], q["comment"]) == ("manual", 1.5,
                                                        "Right idea; say why it sums to 1.")
    feedback = (out / "feedback" / "ada.md").read_text()
    assert "Total: **7.5 / 8** points." in feedback
    assert "| explain | 1.5 / 2 | written answer, graded by hand |" in feedback
    assert "> Right idea; say why it sums to 1." in feedback
    # the sheet is written back filled in (cells made inert), and a later run keeps the scores
    assert rows(out / "manual" / "scores.csv")[1:] == [
        ["ada", "free_energy", "explain", "2", "1.5", "Right idea; say why it sums to 1."],
        ["eve", "free_energy", "explain", "2", "0", "'=not a formula"]]
    run = regrade(graded, out)
    assert run.returncode == 0, run.stderr
    assert rows(out / "grades.csv")[1][:5] == ["ada", "7.5", "7.5", "8", "0"]
    # a changed answer is pending again
    save(answered(graded, "something else"), out.parent / "subs" / "ada" / "free_energy.ipynb")
    shutil.copytree(graded["subs"] / "eve", out.parent / "subs" / "eve")
    (out.parent / "subs" / "bob").mkdir()
    run = grading("grade", out.parent / "subs", "--out", out, "--source", graded["source"],
                  *LIMIT_ARGS)
    assert run.returncode == 0, run.stderr
    assert rows(out / "grades.csv")[1] == ["ada", "6", "6", "8", "2", "graded, manual pending"]
    assert rows(out / "grades.csv")[3] == ["eve", "6", "6", "8", "0", "graded"]


def test_a_sheet_with_bad_rows_merges_nothing_and_says_what_to_fix(graded, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(graded["out"], out)
    before = snapshot(out)
    sheet = write_sheet(tmp_path / "scores.csv",
                        "ada,free_energy,explain,2,2,good\n"        # line 2: fine
                        "mallory,free_energy,explain,2,1,\n"        # 3: unknown student
                        "eve,free_energy,why,2,1,\n"                # 4: unknown question
                        "eve,free_energy,explain,2,two,\n"          # 5: non-numeric
                        "eve,free_energy,explain,2,'-1,\n"          # 6: negative
                        "eve,free_energy,explain,2,2.5,\n"          # 7: above the maximum
                        "bob,free_energy,explain,2,1,\n"            # 8: nothing handed in
                        "ada,free_energy,explain,2,1,\n")           # 9: scored twice
    run = regrade(graded, out, "--manual", sheet)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    err = run.stderr
    assert f"{sheet}, line 3: unknown student 'mallory'" in err
    assert f"{sheet}, line 4: unknown question 'free_energy'/'why': the written answers are " \
           f"free_energy/explain" in err
    assert f"{sheet}, line 5: points 'two' is not a number; write a number from 0 to 2" in err
    assert f"{sheet}, line 6: points -1 is negative; write a number from 0 to 2" in err
    assert f"{sheet}, line 7: points 2.5 is above the maximum; write a number from 0 to 2" in err
    assert f"{sheet}, line 8: 'bob' has no graded notebook free_energy.ipynb" in err
    assert f"{sheet}, line 9: 'ada' free_energy/explain is scored again (first on line 2)" in err
    assert "line 2" not in err.replace("first on line 2", "")
    assert f"nothing merged from {sheet} (7 bad rows)" in err
    assert snapshot(out) == before      # not even the good row: grades, results, feedback, sheet
    assert (tmp_path / "scores.csv").read_text().count("\n") == 9      # the instructor's file

    run = regrade(graded, out, "--manual", tmp_path / "absent.csv")
    assert run.returncode == 2 and "absent.csv: cannot read it" in run.stderr
    assert "Traceback" not in run.stderr
    (tmp_path / "bad.csv").write_text("who,points\nada,2\n")
    run = regrade(graded, out, "--manual", tmp_path / "bad.csv")
    assert run.returncode == 2 and "bad.csv, line 1: the header must be" in run.stderr
    assert snapshot(out) == before


def test_read_scores_skips_blank_points_and_reads_inert_cells(tmp_path):
    ex = Exercise("x", {"q": 1.0}, [], manual={"essay": 3.0})
    sheet = write_sheet(tmp_path / "s.csv", "'=ann,x,essay,3,,\n'-bo,x,essay,3,3,'=fine\n\n")
    scores, errors = report.read_scores(sheet, {"=ann": {"x"}, "-bo": {"x"}}, [ex])
    assert errors == [] and scores == {("-bo", "x", "essay"): (3.0, "=fine")}
    scores, errors = report.read_scores(write_sheet(tmp_path / "t.csv", "-bo,x,essay,3,nan,\n"),
                                        {"-bo": {"x"}}, [ex])
    assert scores == {} and errors and "is not a number" in errors[0]


def test_a_written_answer_needs_no_test_and_takes_none(tmp_path):
    source = write_manual_course(tmp_path)
    ex = load_exercise(source / "free_energy.ipynb", tmp_path / "exercises" / "hidden")
    assert ex.manual == {"explain": 2.0} and "explain" not in ex.points and ex.maximum == 8
    (source / "free_energy_tests.py").write_text(
        PUBLIC_TESTS + 'TESTS.append(Test("explain", "t", "softmax", batch))\n')
    with pytest.raises(FormatError, match="a written answer graded by hand"):
        load_exercise(source / "free_energy.ipynb", tmp_path / "exercises" / "hidden")
    nb = nbformat.read(str(source / "free_energy.ipynb"), as_version=4)
    nb.cells[-1].metadata["tags"] = ["manual:explain"]
    nbformat.write(nb, str(source / "free_energy.ipynb"))
    with pytest.raises(FormatError, match="needs exactly one 'points:<n>' tag"):
        load_exercise(source / "free_energy.ipynb", tmp_path / "exercises" / "hidden")
