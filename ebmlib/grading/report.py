"""What grading writes: ``grades.csv``, a JSON and a Markdown feedback per student, and the
LMS imports ``canvas_grades.csv`` and ``moodle_grades.csv``.

Hidden tests appear by name and message only; their source never leaves the
instructor's folder.
"""
import csv
import datetime
import json
import pathlib

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
EXPORTS = ("canvas", "moodle")
UNFINISHED = ("pending", "crashed")   # graded again on the next run: no grade is exported
MOODLE_COLUMNS = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                  "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
                  "Feedback comments"]


def not_graded(exercise, status, message, key):
    """The result of an exercise whose notebook is missing or unreadable."""
    return {"exercise": exercise.name, "notebook": exercise.filename, "key": key,
            "status": status, "message": message, "points": 0.0, "maximum": exercise.maximum,
            "notes": [], "duration": 0.0,
            "questions": [{"id": q, "points": 0.0, "maximum": p, "status": status,
                           "message": message, "duration": 0.0, "tests": []}
                          for q, p in exercise.points.items()]}


def student_result(student, exercises, isolation, notes, name=None):
    """A student's whole result: what ``results/<student>.json`` holds (with the student's
    ``name`` in the LMS, for an LMS download)."""
    return {"student": student, **({"name": name} if name else {}),
            "points": round(sum(e["points"] for e in exercises), 3),
            "maximum": sum(e["maximum"] for e in exercises), "isolation": isolation,
            "notes": notes, "exercises": exercises}


def result_path(out, student):
    return pathlib.Path(out) / "results" / f"{student}.json"


def load_previous(out, student):
    """A student's previous result (for skipping unchanged work), or None."""
    try:
        return json.loads(result_path(out, student).read_text())
    except (OSError, ValueError):
        return None


def write_student(out, result):
    """Write ``results/<student>.json`` and ``feedback/<student>.md``."""
    path = result_path(out, result["student"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    feedback = pathlib.Path(out) / "feedback" / f"{result['student']}.md"
    feedback.parent.mkdir(parents=True, exist_ok=True)
    feedback.write_text(markdown(result), errors="backslashreplace")  # a file name not UTF-8


def write_csv(out, results, names):
    """``grades.csv``: a row per student, the points per exercise, total and maximum, then
    each exercise's status (``graded``, ``missing``, ``unreadable``, ...), so that a notebook
    never handed in is not mistaken for a blank one."""
    rows = [["student", *names, "total", "maximum", *(f"{n} status" for n in names)]]
    for r in results:
        by_name = {e["exercise"]: e for e in r["exercises"]}
        rows.append([r["student"], *(_num(by_name[n]["points"]) for n in names),
                     _num(r["points"]), _num(r["maximum"]), *(by_name[n]["status"] for n in names)])
    write_rows(pathlib.Path(out) / "grades.csv", rows)


def write_export(out, lms, results, exercises):
    """The grades as ``lms`` (``canvas`` or ``moodle``) imports them, for the exercises that at
    least one student handed in (a download of one LMS assignment holds only its notebooks).

    ``canvas_grades.csv``: Canvas's gradebook import, a column per exercise named as the
    exercise, its points in the ``Points Possible`` row, ``ID`` the Canvas user id; a notebook
    not handed in (or not graded yet) is left blank, so Canvas keeps what it has.
    ``moodle_grades.csv``: Moodle's grading worksheet, one grade (the sum over those exercises,
    a notebook not handed in counting 0; blank while one is not graded yet), ``Identifier``
    ``Participant <id>``, per exercise its points in ``Feedback comments``."""
    named = [e for e in exercises if any(_exercise(r, e)["status"] != "missing" for r in results)]
    if lms == "canvas":
        rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                 *(e.name for e in named)],
                ["Points Possible", "", "", "", "", *(_num(e.maximum) for e in named)]]
        rows += [[r.get("name", r["student"]), r["student"], "", "", "",
                  *("" if _exercise(r, e)["status"] in ("missing", *UNFINISHED)
                    else _num(_exercise(r, e)["points"]) for e in named)] for r in results]
    else:
        graded = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        rows = [MOODLE_COLUMNS]
        for r in results:
            done = [_exercise(r, e) for e in named]
            total = round(sum(e["points"] for e in done), 3)
            rows.append([f"Participant {r['student']}", r.get("name", r["student"]), "",
                         "Submitted for grading",
                         "" if any(e["status"] in UNFINISHED for e in done) else _num(total),
                         _num(sum(e.maximum for e in named)), "Yes", "", graded,
                         "; ".join(f"{e['exercise']}: {_num(e['points'])} / {_num(e['maximum'])}"
                                   + ("" if e["status"] == "graded" else f" ({e['status']})")
                                   for e in done)])
    write_rows(pathlib.Path(out) / f"{lms}_grades.csv", rows)


def _exercise(result, exercise):
    return next(e for e in result["exercises"] if e["exercise"] == exercise.name)


def write_rows(path, rows):
    """Every CSV the grader writes: each cell made inert (see :func:`_inert`), quoted as needed
    (a comma, a quote, a line break)."""
    with open(path, "w", newline="", errors="backslashreplace") as f:
        csv.writer(f).writerows([[_inert(str(cell)) for cell in row] for row in rows])


def _inert(text):
    """``text`` as a spreadsheet shows it and never evaluates it (a formula gets a leading ')."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _num(x):
    return f"{x:g}"


def markdown(result):
    """The feedback a student reads."""
    who = f"{result['name']} ({result['student']})" if result.get("name") else result["student"]
    lines = [f"# Feedback for {who}", "",
             f"Total: **{_num(result['points'])} / {_num(result['maximum'])}** points.", ""]
    lines += [f"- {n}" for n in result["notes"]] + ([""] if result["notes"] else [])
    for ex in result["exercises"]:
        lines += [f"## {ex['notebook']}: {_num(ex['points'])} / {_num(ex['maximum'])}", ""]
        if ex["status"] != "graded":
            lines += [f"**{ex['status']}**: {ex['message']}", ""]
            continue
        if ex["notes"]:
            lines += ["Notes on running your notebook:", ""] + [f"- {n}" for n in ex["notes"]] + [""]
        lines += ["| question | points | status |", "|---|---|---|"]
        lines += [f"| {q['id']} | {_num(q['points'])} / {_num(q['maximum'])} | {q['status']} |"
                  for q in ex["questions"]]
        lines.append("")
        for q in ex["questions"]:
            if q["status"] == "ok":
                continue
            lines += [f"### {q['id']}: {q['status']}", ""]
            for t in q["tests"] or [{"name": q["id"], "visibility": "", "status": q["status"],
                                     "message": q["message"]}]:
                if t["status"] != "ok":
                    lines += _test_lines(t)
            lines.append("")
    return "\n".join(lines) + "\n"


def _test_lines(test):
    head, *rest = test["message"].split("\n")
    label = f"{test['visibility']} test '{test['name']}'" if test["visibility"] else test["name"]
    lines = [f"- {label}: **{test['status']}**: {head}"]
    if rest:
        lines += ["", "  ```", *(f"  {line}" for line in rest), "  ```"]
    return lines


def check_text(result):
    """The self-check report printed by ``check``."""
    lines = [f"{result['notebook']}: public tests"]
    lines += [f"  note: {n}" for n in result["notes"]]
    for q in result["questions"]:
        if not q["tests"]:
            lines.append(f"  [ -- ] {q['id']}: no public tests (graded by hidden tests only)")
            continue
        passed = sum(t["status"] == "ok" for t in q["tests"])
        mark = "PASS" if q["status"] == "ok" else "FAIL"
        lines.append(f"  [{mark}] {q['id']}: {passed}/{len(q['tests'])} public tests pass")
        for t in q["tests"]:
            if t["status"] != "ok":
                lines += [f"      {t['name']}: {t['status']}: " + t["message"].replace("\n", "\n        ")]
    return "\n".join(lines)
