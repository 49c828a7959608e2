"""LMS in and out: Canvas's and Moodle's downloads are attributed to (student id, notebook)
and grade like student folders; what cannot be attributed is reported, never lost or fatal;
the grades are exported as Canvas and Moodle import them; no CSV cell is a formula."""
import csv
import datetime
import os
import shutil

from ebmlib.grading import lms, report
from ebmlib.grading.exercise import Exercise
from ebmlib.grading.sandbox import NO_ISOLATION, Limits
from ebmlib.grading.submissions import plan
from grading_course import LIMIT_ARGS, correct, grading, load_json, save, student
from test_grading_cli import WRONG_GRAD
from test_grading_notebook import within

EXERCISES = [Exercise("losses", {"q": 2.0}, []), Exercise("backprop", {"q": 3.0}, [])]
EXTRA = Exercise("extra", {"q": 1.0}, [])   # nobody handed it in: not exported
HOSTILE = ['=HYPERLINK("http://x","y")', 'doe, "jo"', "+1", "-1", "@sum", "\tx", "\rx", "a\nb"]
INERT = ['\'=HYPERLINK("http://x","y")', 'doe, "jo"', "'+1", "'-1", "'@sum", "'\tx", "'\rx",
         "a\nb"]


def _touch(path, text="{}"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def _why(down, folder):
    return {str(path.relative_to(folder)): why for path, why in down.unattributed}


def test_a_canvas_download_is_attributed_to_user_ids_and_latest_submissions(tmp_path):
    subs, out = tmp_path / "canvas", tmp_path / "out"
    ok = _touch(subs / "doejane_101_5001_losses.ipynb")
    again = _touch(subs / "doejane_101_5001_backprop-1.ipynb")       # resubmitted: losses-1
    _touch(subs / "doejane_101_5001_backprop.ipynb")                 # ... replaced by it
    _touch(subs / "roebob_late_102_4000_losses.ipynb")               # an older submission
    late = _touch(subs / "roebob_late_102_4100_losses.ipynb")
    copy = _touch(subs / "roebob_late_102_4100_losses-Copy1.ipynb")  # not an exercise
    _touch(subs / "smithal_103_4200_notes.txt")
    _touch(subs / "README.txt")
    _touch(subs / "ann_١٢_1_losses.ipynb")                         # not ASCII digits
    _touch(subs / "unzipped" / "doejane_101_5001_losses.ipynb")
    (subs / "linked_104_1_losses.ipynb").symlink_to("/dev/zero")
    os.mkfifo(subs / "fifo_105_1_losses.ipynb")
    odd = os.fsdecode(b"we\nird\xff_106_1_losses.ipynb")
    _touch(subs / odd)
    down = lms.attribute(subs, EXERCISES, "canvas")
    assert down.files == {
        "101": {"losses.ipynb": ok, "backprop.ipynb": again},
        "105": {"losses.ipynb": subs / "fifo_105_1_losses.ipynb"},
        "104": {"losses.ipynb": subs / "linked_104_1_losses.ipynb"},
        "102": {"losses.ipynb": late, "losses-Copy1.ipynb": copy},
        "103": {"notes.txt": subs / "smithal_103_4200_notes.txt"},
        "106": {"losses.ipynb": subs / odd}}
    assert down.names == {"101": "doejane", "102": "roebob", "103": "smithal", "104": "linked",
                          "105": "fifo", "106": "we\\nird\\udcff"}
    why = _why(down, subs)
    assert set(why) == {"doejane_101_5001_backprop.ipynb", "roebob_late_102_4000_losses.ipynb",
                        "roebob_late_102_4100_losses-Copy1.ipynb", "smithal_103_4200_notes.txt",
                        "README.txt", "ann_١٢_1_losses.ipynb", "unzipped"}
    assert why["doejane_101_5001_backprop.ipynb"] == (
        "another file for student 101 and backprop.ipynb, 'doejane_101_5001_backprop-1.ipynb' "
        "(a higher submission id), was graded instead")
    assert "'roebob_late_102_4100_losses.ipynb' (a higher submission id)" in \
        why["roebob_late_102_4000_losses.ipynb"]
    assert why["roebob_late_102_4100_losses-Copy1.ipynb"].startswith(
        "unknown notebook name 'losses-Copy1.ipynb' (student 102): the exercise notebooks are "
        "backprop.ipynb, losses.ipynb")
    assert why["README.txt"].startswith("name pattern not recognised")
    assert why["ann_١٢_1_losses.ipynb"].startswith("name pattern not recognised")
    assert why["unzipped"].startswith("a folder: a Canvas download is one flat folder")

    with within(10):   # the link and the FIFO are attributed, then refused unread, as today
        students, tasks, _ = plan(down.files, EXERCISES, out, Limits(), NO_ISOLATION)
    assert list(students) == ["101", "105", "104", "102", "103", "106"]
    assert sorted((t[0], t[1].name, t[2][0].name) for t in tasks) == [
        ("101", "backprop", again.name), ("101", "losses", ok.name),
        ("102", "losses", late.name), ("106", "losses", odd)]
    results = {s: r for s, (r, _) in students.items()}
    assert "is a symbolic link, not a plain file" in results["104"]["losses"]["message"]
    assert "is a FIFO (named pipe), not a plain file" in results["105"]["losses"]["message"]
    assert "found 'losses-Copy1.ipynb'" in results["102"]["backprop"]["message"]
    assert students["102"][1] == ["'losses-Copy1.ipynb' is not one of the exercise notebooks "
                                  "(backprop.ipynb, losses.ipynb); it was not graded"]
    assert "holds no notebook" in results["103"]["losses"]["message"]


def test_a_moodle_download_is_attributed_to_participant_ids(tmp_path):
    subs = tmp_path / "moodle"
    jane = subs / "Jane Doe_201_assignsubmission_file_"
    _touch(jane / "losses.ipynb")
    _touch(jane / "backprop.ipynb")
    _touch(jane / "scratch.ipynb")
    bob = _touch(subs / 'Bob, "the" Roe_202_assignsubmission_file' / "losses.ipynb")
    flat = _touch(subs / "Al_Smith_203_assignsubmission_file_losses.ipynb")   # no folders
    newer = _touch(subs / "Al_Smith_203_assignsubmission_file_" / "losses.ipynb")
    os.utime(flat, ns=(10**18, 10**18))
    os.utime(newer, ns=(2 * 10**18, 2 * 10**18))
    _touch(subs / "Cy Lee_204_assignsubmission_onlinetext_" / "onlinetext.html")
    (subs / "Eve_205_assignsubmission_file_").symlink_to(jane)
    (subs / "dan_206_assignsubmission_file_").mkdir()
    (subs / "dan_206_assignsubmission_file_" / "losses.ipynb").symlink_to("/dev/zero")
    _touch(subs / "Fay_207_assignsubmission_file_")               # a file, not a folder
    _touch(subs / "notes.txt")
    down = lms.attribute(subs, EXERCISES, "moodle")
    assert down.files == {
        "203": {"losses.ipynb": newer},
        "202": {"losses.ipynb": bob},
        "206": {"losses.ipynb": subs / "dan_206_assignsubmission_file_" / "losses.ipynb"},
        "201": {"losses.ipynb": jane / "losses.ipynb", "backprop.ipynb": jane / "backprop.ipynb",
                "scratch.ipynb": jane / "scratch.ipynb"}}
    assert down.names == {"201": "Jane Doe", "202": 'Bob, "the" Roe', "203": "Al_Smith",
                          "206": "dan"}
    assert list(down.files) == ["203", "202", "206", "201"]   # by name, whatever the case
    why = _why(down, subs)
    assert why == {
        "Al_Smith_203_assignsubmission_file_losses.ipynb":
            "another file for student 203 and losses.ipynb, 'Al_Smith_203_assignsubmission_file_/"
            "losses.ipynb' (a later modification time), was graded instead",
        "Jane Doe_201_assignsubmission_file_/scratch.ipynb":
            "unknown notebook name 'scratch.ipynb' (student 201): the exercise notebooks are "
            "backprop.ipynb, losses.ipynb",
        "Cy Lee_204_assignsubmission_onlinetext_":
            "a Moodle 'onlinetext' submission, not a file submission (assignsubmission_file): "
            "not graded",
        "Eve_205_assignsubmission_file_": "a symbolic link: not followed",
        "Fay_207_assignsubmission_file_": "a file, where Moodle writes a folder",
        "notes.txt": "name pattern not recognised (Moodle names folders <full name>_<participant "
                     "id>_assignsubmission_file)"}


def test_the_unattributed_are_listed_in_a_file_and_on_stderr(tmp_path, capsys):
    subs, out = tmp_path / "canvas", tmp_path / "out"
    out.mkdir()
    _touch(subs / "README.txt")
    _touch(subs / os.fsdecode(b"x\xff\ny_1_2_losses-Copy1.ipynb"))
    lms.write_unattributed(out, subs, lms.attribute(subs, EXERCISES, "canvas").unattributed)
    lines = (out / "unattributed.txt").read_text().splitlines()
    assert lines == ["README.txt: name pattern not recognised (Canvas names files <name>_<user "
                     "id>_<submission id>_<file name>)",
                     "x\\udcff\\ny_1_2_losses-Copy1.ipynb: unknown notebook name "
                     "'losses-Copy1.ipynb' (student 1): the exercise notebooks are backprop.ipynb, "
                     "losses.ipynb"]
    err = capsys.readouterr().err
    assert f"not attributed to a student and notebook: 2 file(s) of {subs}" in err and f"  {lines[1]}\n" in err
    lms.write_unattributed(out, subs, [])   # a later run with nothing left over says so
    assert (out / "unattributed.txt").read_text() == "" and capsys.readouterr().err == ""


def _graded(name, points):
    return {"exercise": name, "status": "graded", "points": points,
            "maximum": {"losses": 2.0, "backprop": 3.0}[name]}


def test_exports_parse_to_the_gradebook_rows(tmp_path):
    pending = report.not_graded(EXERCISES[0], "pending", "not graded yet", None)
    results = [
        report.student_result("101", [_graded("losses", 2.0), _graded("backprop", 1.5),
                                      report.not_graded(EXTRA, "missing", "", None)], {}, [],
                              "doejane"),
        report.student_result("102", [_graded("losses", 0.0), report.not_graded(
            EXERCISES[1], "missing", "", None), report.not_graded(EXTRA, "missing", "", None)],
            {}, []),
        report.student_result("103", [pending, _graded("backprop", 3.0),
                                      report.not_graded(EXTRA, "missing", "", None)], {}, [],
                              "Smith, Al")]
    for lms_name in report.EXPORTS:
        report.write_export(tmp_path, lms_name, results, EXERCISES + [EXTRA])
    assert _rows(tmp_path / "canvas_grades.csv") == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "losses", "backprop"],
        ["Points Possible", "", "", "", "", "2", "3"],
        ["doejane", "101", "", "", "", "2", "1.5"],
        ["102", "102", "", "", "", "0", ""],           # not handed in: blank, Canvas keeps its own
        ["Smith, Al", "103", "", "", "", "", "3"]]     # not graded yet: blank
    rows = _rows(tmp_path / "moodle_grades.csv")
    assert rows[0] == ["Identifier", "Full name", "Email address", "Status", "Grade",
                       "Maximum Grade", "Grade can be changed", "Last modified (submission)",
                       "Last modified (grade)", "Feedback comments"]
    graded = datetime.datetime.fromisoformat(rows[1][8])
    assert graded.tzinfo and abs(datetime.datetime.now().astimezone() - graded).total_seconds() < 60
    assert [r[:8] + r[9:] for r in rows[1:]] == [
        ["Participant 101", "doejane", "", "Submitted for grading", "3.5", "5", "Yes", "",
         "losses: 2 / 2; backprop: 1.5 / 3"],
        ["Participant 102", "102", "", "Submitted for grading", "0", "5", "Yes", "",
         "losses: 0 / 2; backprop: 0 / 3 (missing)"],
        ["Participant 103", "Smith, Al", "", "Submitted for grading", "", "5", "Yes", "",
         "losses: 0 / 2 (pending); backprop: 3 / 3"]]


def test_every_csv_written_escapes_formulas_in_ids_and_names(tmp_path):
    missing = [report.not_graded(EXERCISES[0], "missing", "", None), _graded("backprop", 1.0)]
    results = [report.student_result(s, missing, {}, [], n)
               for s, n in zip(HOSTILE, HOSTILE[1:] + HOSTILE[:1])]
    report.write_csv(tmp_path, results, ["losses", "backprop"])
    for lms_name in report.EXPORTS:
        report.write_export(tmp_path, lms_name, results, EXERCISES)
    grades, canvas, moodle = (_rows(tmp_path / f) for f in ("grades.csv", "canvas_grades.csv",
                                                            "moodle_grades.csv"))
    assert [r[0] for r in grades[1:]] == INERT
    assert [r[:2] for r in canvas[2:]] == [[n, s] for s, n in zip(INERT, INERT[1:] + INERT[:1])]
    assert [r[:2] for r in moodle[1:]] == [[f"Participant {s}", n]
                                           for s, n in zip(HOSTILE, INERT[1:] + INERT[:1])]
    for rows in (grades, canvas, moodle):
        assert len(rows) == (2 if rows is canvas else 1) + len(HOSTILE)   # a newline splits none
        assert not [c for r in rows for c in r if c.startswith(report.FORMULA_STARTS)]


def test_a_canvas_download_of_odd_files_is_reported_and_graded_without_a_crash(course, tmp_path):
    subs, out = tmp_path / "canvas", tmp_path / "out"
    _touch(subs / "README.txt")
    _touch(subs / os.fsdecode(b"=x\xff_301_1_free_energy.ipynb"), "")
    (subs / "link_302_1_free_energy.ipynb").symlink_to(course["released"])
    (subs / "nested").mkdir()
    run = grading("grade", subs, "--out", out, "--layout", "canvas", "--export", "canvas",
                  "--source", course["source"], *LIMIT_ARGS)
    assert run.returncode == 0, run.stderr
    assert _rows(out / "grades.csv")[1:] == [["301", "0", "0", "6", "unreadable"],
                                             ["302", "0", "0", "6", "unreadable"]]
    assert "'=x\\udcff_301_1_free_energy.ipynb' is empty" in \
        (out / "feedback" / "301.md").read_text()
    assert load_json(out / "results" / "301.json")["name"] == "=x\\udcff"
    assert _rows(out / "canvas_grades.csv")[2][:2] == ["'=x\\udcff", "301"]
    assert (out / "unattributed.txt").read_text().splitlines() == [
        "README.txt: name pattern not recognised (Canvas names files <name>_<user id>_<submission "
        "id>_<file name>)", "nested: a folder: a Canvas download is one flat folder of files"]


def test_canvas_and_moodle_downloads_grade_like_student_folders(course, tmp_path):
    good, wrong = student(course, correct()), student(course, correct(grad=WRONG_GRAD))
    folders, canvas, moodle = tmp_path / "folders", tmp_path / "canvas", tmp_path / "moodle"
    save(good, folders / "101" / "free_energy.ipynb")
    save(wrong, folders / "102" / "free_energy.ipynb")
    save(good, canvas / "=2+3_101_9001_free_energy.ipynb")
    save(good, canvas / "roebob_late_102_9000_free_energy.ipynb")    # replaced by 9002
    save(wrong, canvas / "roebob_late_102_9002_free_energy-1.ipynb")
    _touch(canvas / "roebob_102_text.html")
    save(good, moodle / 'Ada "A" Lovelace_101_assignsubmission_file_' / "free_energy.ipynb")
    save(wrong, moodle / "Bob Roe_102_assignsubmission_file" / "free_energy.ipynb")
    save(good, moodle / "Bob Roe_102_assignsubmission_file" / "free_energy-Copy1.ipynb")
    common = ["--source", course["source"], "--secret", "a secret of the course", "-j", "2",
              *LIMIT_ARGS]
    runs = {}
    for layout, subs in (("folders", folders), ("canvas", canvas), ("moodle", moodle)):
        extra = [] if layout == "folders" else ["--layout", layout, "--export", "canvas",
                                                "--export", "moodle"]
        runs[layout] = grading("grade", subs, "--out", tmp_path / f"out-{layout}", *extra,
                               *common)
        assert runs[layout].returncode == 0, runs[layout].stderr
        assert "graded 2 notebooks (0 unchanged, reused)" in runs[layout].stderr
    out = {layout: tmp_path / f"out-{layout}" for layout in runs}
    expected = [["student", "free_energy", "total", "maximum", "free_energy status"],
                ["101", "6", "6", "6", "graded"], ["102", "4", "4", "6", "graded"]]
    for layout in runs:
        assert _rows(out[layout] / "grades.csv") == expected
        assert [[q["points"] for e in load_json(out[layout] / "results" / f"{s}.json")["exercises"]
                 for q in e["questions"]] for s in ("101", "102")] == [[2, 2, 2], [2, 2, 0]]
    assert not (out["folders"] / "unattributed.txt").exists()
    assert "name" not in load_json(out["folders"] / "results" / "101.json")
    assert load_json(out["canvas"] / "results" / "101.json")["name"] == "=2+3"
    assert (out["moodle"] / "feedback" / "101.md").read_text().startswith(
        '# Feedback for Ada "A" Lovelace (101)')
    assert [line.split(":")[0] for line in
            (out["canvas"] / "unattributed.txt").read_text().splitlines()] == [
        "roebob_102_text.html", "roebob_late_102_9000_free_energy.ipynb"]
    assert "not attributed to a student and notebook: 2 file(s)" in runs["canvas"].stderr
    assert (out["moodle"] / "unattributed.txt").read_text().startswith(
        "Bob Roe_102_assignsubmission_file/free_energy-Copy1.ipynb: unknown notebook name")
    assert _rows(out["canvas"] / "canvas_grades.csv") == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "free_energy"],
        ["Points Possible", "", "", "", "", "6"],
        ["'=2+3", "101", "", "", "", "6"], ["roebob", "102", "", "", "", "4"]]
    assert [r[:7] for r in _rows(out["moodle"] / "moodle_grades.csv")[1:]] == [
        ["Participant 101", 'Ada "A" Lovelace', "", "Submitted for grading", "6", "6", "Yes"],
        ["Participant 102", "Bob Roe", "", "Submitted for grading", "4", "6", "Yes"]]

    again = grading("grade", canvas, "--out", out["canvas"], "--layout", "canvas", *common)
    assert "graded 0 notebooks (2 unchanged, reused)" in again.stderr
    shutil.copy(canvas / "=2+3_101_9001_free_energy.ipynb",
                canvas / "roebob_late_102_9003_free_energy.ipynb")   # a newer submission
    again = grading("grade", canvas, "--out", out["canvas"], "--layout", "canvas", *common)
    assert "graded 1 notebooks (1 unchanged, reused)" in again.stderr
    assert _rows(out["canvas"] / "grades.csv")[2] == ["102", "6", "6", "6", "graded"]
