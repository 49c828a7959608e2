"""What grading writes: ``grades.csv``, a JSON and a Markdown feedback per student, the
LMS imports ``canvas_grades.csv`` and ``moodle_grades.csv``, and for written answers graded by
hand (``manual:<id>`` cells) the review files ``manual/<exercise>-<question>.html`` and the
score sheet ``manual/scores.csv``, which ``grade --manual`` reads back.

Hidden tests appear by name and message only; their source never leaves the
instructor's folder.
"""
import csv
import datetime
import hashlib
import html
import io
import json
import math
import os
import pathlib
import sys

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
            "maximum": sum(e["maximum"] for e in exercises),
            "pending": sum(e.get("pending", 0.0) for e in exercises), "isolation": isolation,
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
    _replace(path, json.dumps(result, indent=1) + "\n")
    feedback = pathlib.Path(out) / "feedback" / f"{result['student']}.md"
    feedback.parent.mkdir(parents=True, exist_ok=True)
    _replace(feedback, markdown(result))


def write_csv(out, results, names, manual=False):
    """``grades.csv``: a row per student, the points per exercise, total and maximum, then
    each exercise's status (``graded``, ``missing``, ``unreadable``, ...), so that a notebook
    never handed in is not mistaken for a blank one.

    With written answers (``manual``), a ``pending`` column after ``maximum`` holds the points
    of answers not scored by hand yet (not counted in the points or the total), and such an
    exercise's status reads ``graded, manual pending``."""
    rows = [["student", *names, "total", "maximum", *(["pending"] if manual else []),
             *(f"{n} status" for n in names)]]
    for r in results:
        by_name = {e["exercise"]: e for e in r["exercises"]}
        rows.append([r["student"], *(_num(by_name[n]["points"]) for n in names),
                     _num(r["points"]), _num(r["maximum"]),
                     *([_num(r.get("pending", 0.0))] if manual else []),
                     *(by_name[n]["status"] + (", manual pending" if by_name[n].get("pending")
                                               else "") for n in names)])
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
                  *("" if _exercise(r, e)["status"] == "missing" or _unfinished(_exercise(r, e))
                    else _num(_exercise(r, e)["points"]) for e in named)] for r in results]
    else:
        graded = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        rows = [MOODLE_COLUMNS]
        for r in results:
            done = [_exercise(r, e) for e in named]
            total = round(sum(e["points"] for e in done), 3)
            rows.append([f"Participant {r['student']}", r.get("name", r["student"]), "",
                         "Submitted for grading",
                         "" if any(_unfinished(e) for e in done) else _num(total),
                         _num(sum(e.maximum for e in named)), "Yes", "", graded,
                         "; ".join(f"{e['exercise']}: {_num(e['points'])} / {_num(e['maximum'])}"
                                   + ("" if e["status"] == "graded" else f" ({e['status']})")
                                   + (" (written answer to grade)" if e.get("pending") else "")
                                   for e in done)])
    write_rows(pathlib.Path(out) / f"{lms}_grades.csv", rows)


def _unfinished(result):
    """Not graded yet (no grade exported): grading stopped or crashed, or a written answer
    still to be scored by hand."""
    return result["status"] in UNFINISHED or bool(result.get("pending"))


def _exercise(result, exercise):
    return next(e for e in result["exercises"] if e["exercise"] == exercise.name)


def write_rows(path, rows):
    """Every CSV the grader writes: each cell made inert (see :func:`_inert`), quoted as needed
    (a comma, a quote, a line break)."""
    text = io.StringIO(newline="")
    csv.writer(text).writerows([[_inert(str(cell)) for cell in row] for row in rows])
    _replace(pathlib.Path(path), text.getvalue())


def _replace(path, text):
    """Write ``path`` whole or not at all (a grader killed mid-write leaves the previous
    file); a file name that is not UTF-8 is written escaped."""
    part = path.with_name(f".{path.name}.part")
    with open(part, "w", newline="", errors="backslashreplace") as f:
        f.write(text)
    os.replace(part, path)


def _inert(text):
    """``text`` as a spreadsheet shows it and never evaluates it (a formula gets a leading ')."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _num(x):
    return f"{x:g}"


def markdown(result):
    """The feedback a student reads."""
    who = f"{result['name']} ({result['student']})" if result.get("name") else result["student"]
    pending = result.get("pending", 0.0)
    lines = [f"# Feedback for {who}", "",
             f"Total: **{_num(result['points'])} / {_num(result['maximum'])}** points"
             + (f" so far: written answers worth {_num(pending)} points are still to be graded "
                f"by hand." if pending else "."), ""]
    lines += [f"- {n}" for n in result["notes"]] + ([""] if result["notes"] else [])
    for ex in result["exercises"]:
        lines += [f"## {ex['notebook']}: {_num(ex['points'])} / {_num(ex['maximum'])}", ""]
        if ex["status"] != "graded":
            lines += [f"**{ex['status']}**: {ex['message']}", ""]
            continue
        if ex["notes"]:
            lines += ["Notes on running your notebook:", ""] + [f"- {n}" for n in ex["notes"]] + [""]
        lines += ["| question | points | status |", "|---|---|---|"]
        lines += [f"| {q['id']} | {_points_cell(q)} / {_num(q['maximum'])} | {_status_cell(q)} |"
                  for q in ex["questions"]]
        lines.append("")
        for q in ex["questions"]:
            if q.get("manual"):
                if q.get("comment"):
                    lines += [f"### {q['id']}: written answer, graded by hand", "",
                              *(f"> {line}" for line in q["comment"].split("\n")), ""]
                continue
            if q["status"] == "ok":
                continue
            lines += [f"### {q['id']}: {q['status']}", ""]
            for t in q["tests"] or [{"name": q["id"], "visibility": "", "status": q["status"],
                                     "message": q["message"]}]:
                if t["status"] != "ok":
                    lines += _test_lines(t)
            lines.append("")
    return "\n".join(lines) + "\n"


def _points_cell(q):
    return "pending" if q.get("manual") and q["status"] == "pending" else _num(q["points"])


def _status_cell(q):
    if not q.get("manual"):
        return q["status"]
    return {"pending": "written answer, to be graded by hand",
            "manual": "written answer, graded by hand"}.get(q["status"], q["status"])


def _test_lines(test):
    head, *rest = test["message"].split("\n")
    label = f"{test['visibility']} test '{test['name']}'" if test["visibility"] else test["name"]
    lines = [f"- {label}: **{test['status']}**: {head}"]
    if rest:
        lines += ["", "  ```", *(f"  {line}" for line in rest), "  ```"]
    return lines


def headline(question):
    """``[PASS] id: n/m public tests pass``: one question of a self-check (``check``, and
    :class:`~.checker.Checker` in a notebook)."""
    if not question["tests"]:
        return f"[ -- ] {question['id']}: no public tests (graded by hidden tests only)"
    passed = sum(t["status"] == "ok" for t in question["tests"])
    mark = "PASS" if question["status"] == "ok" else "FAIL"
    return f"[{mark}] {question['id']}: {passed}/{len(question['tests'])} public tests pass"


def check_text(result):
    """The self-check report printed by ``check``."""
    lines = [f"{result['notebook']}: public tests"]
    lines += [f"  note: {n}" for n in result["notes"]]
    for q in result["questions"]:
        lines.append(f"  {headline(q)}")
        for t in q["tests"]:
            if t["status"] != "ok":
                lines += [f"      {t['name']}: {t['status']}: " + t["message"].replace("\n", "\n        ")]
    return "\n".join(lines)


# ---------------------------------------------------------------- written answers (manual)

SCORE_COLUMNS = ["student", "exercise", "question", "max_points", "points", "comment"]


def answer_digest(text):
    return hashlib.sha256((text or "").encode("utf-8", "backslashreplace")).hexdigest()


def with_manual(result, exercise, answers, scores):
    """A copy of one exercise's ``result`` with its written answers added as questions
    (``"manual": true``): scored by hand where ``scores`` ``{id: (points, comment)}`` says
    so, else ``pending`` (worth nothing yet, counted in ``"pending"``); 0 when the notebook
    was not graded (missing, unreadable, ...). ``answers``: ``{id: text or None}``."""
    result = dict(result)
    auto = [q for q in result["questions"] if not q.get("manual")]
    added, pending = [], 0.0
    for qid, maximum in exercise.manual.items():
        q = {"id": qid, "points": 0.0, "maximum": maximum, "manual": True, "duration": 0.0,
             "tests": [], "comment": ""}
        if result["status"] != "graded":
            q.update(status=result["status"], message=result["message"])
        elif qid in scores:
            points, comment = scores[qid]
            q.update(points=points, status="manual", comment=comment,
                     message=comment or "graded by hand",
                     answer=answer_digest(answers.get(qid)))
        else:
            q.update(status="pending", message="written answer, to be graded by hand",
                     answer=answer_digest(answers.get(qid)))
            pending += maximum
        added.append(q)
    result["questions"] = auto + added
    result["points"] = round(sum(q["points"] for q in result["questions"]), 3)
    result["maximum"] = exercise.maximum
    result["pending"] = pending
    return result


def previous_scores(previous, exercise, answers):
    """The hand scores of an earlier result ``{id: (points, comment)}`` whose answer text is
    still the same (a changed answer is to be graded again)."""
    by_name = {e.get("exercise"): e for e in (previous or {}).get("exercises", [])}
    kept = {}
    for q in by_name.get(exercise.name, {}).get("questions", []):
        if (q.get("manual") and q.get("status") == "manual" and q.get("id") in exercise.manual
                and q.get("answer") == answer_digest(answers.get(q["id"]))):
            kept[q["id"]] = (float(q["points"]), str(q.get("comment", "")))
    return kept


REVIEW_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; }}
.answer {{ border: 1px solid #bbb; border-radius: 4px; margin: 1em 0; padding: 0 1em; }}
pre {{ white-space: pre-wrap; word-wrap: break-word; background: #f6f6f6; padding: 0.6em; }}
.none {{ color: #a00; }}
</style></head><body>
<h1>{title}</h1>
<p>{count} answers, worth {maximum} points each. Score them in <code>scores.csv</code> (beside
this file), then run <code>grade ... --manual scores.csv</code>. Answers are shown as plain
text: nothing a student wrote is run or rendered.</p>
{answers}
</body></html>
"""


def write_review(out, exercise, qid, answers, names):
    """``manual/<exercise>-<question>.html``: every student's answer to the written question
    ``qid``, one after another, as escaped text (no student HTML or script runs), a page
    with no remote resource. ``answers``: ``{student: text or None}`` (None: no such cell)."""
    released = _released(exercise, qid)
    blocks = []
    for student, text in answers.items():
        who = html.escape(f"{names[student]} ({student})" if names.get(student) else student)
        if text is None:
            body = (f'<p class="none">no answer: the notebook has no cell tagged '
                    f'<code>manual:{html.escape(qid)}</code> (deleted, or its tags removed)</p>')
        else:
            same = released is not None and text.strip() == released.strip()
            body = ((f'<p class="none">unchanged from the released notebook</p>' if same else "")
                    + f"<pre>{html.escape(text)}</pre>")
        blocks.append(f'<div class="answer"><h2>{who}</h2>\n{body}</div>')
    path = pathlib.Path(out) / "manual" / f"{exercise.name}-{qid}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(REVIEW_PAGE.format(
        title=html.escape(f"{exercise.name}: written answer '{qid}'"), count=len(answers),
        maximum=_num(exercise.manual[qid]), answers="\n".join(blocks)),
        errors="backslashreplace")
    return path


def _released(exercise, qid):
    from .exercise import released_text
    return released_text(exercise, qid) if exercise.notebook is not None else None


def write_template(out, results, exercises):
    """``manual/scores.csv``: a row per written answer to score (student, exercise, question,
    max_points, then points and comment, filled where already scored), through
    :func:`write_rows`. An earlier sheet with edits not merged yet is kept beside it
    (``scores.csv.<n>.bak``) rather than written over. Returns the path."""
    rows = [SCORE_COLUMNS]
    manual = {ex.name for ex in exercises if ex.manual}
    for r in results:
        for e in r["exercises"]:
            if e["exercise"] not in manual:
                continue
            for q in e["questions"]:
                if q.get("manual") and q["status"] in ("pending", "manual"):
                    scored = q["status"] == "manual"
                    rows.append([r["student"], e["exercise"], q["id"], _num(q["maximum"]),
                                 _num(q["points"]) if scored else "",
                                 q.get("comment", "") if scored else ""])
    path = pathlib.Path(out) / "manual" / "scores.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    new = path.with_name("scores.csv.new")
    write_rows(new, rows)
    if path.exists() and path.read_bytes() != new.read_bytes() and _has_unmerged(path, rows):
        n = 1
        while path.with_name(f"scores.csv.{n}.bak").exists():
            n += 1
        path.rename(path.with_name(f"scores.csv.{n}.bak"))
        print(f"note: {path} held scores not merged yet; kept as scores.csv.{n}.bak "
              f"(merge it with --manual)", file=sys.stderr)
    new.replace(path)
    return path


def _has_unmerged(path, rows):
    """Whether the sheet at ``path`` holds a score or comment that ``rows`` lack."""
    written = {tuple(r[:3]): tuple(r[4:6]) for r in rows[1:]}
    try:
        with open(path, newline="", errors="replace") as f:
            for row in list(csv.reader(f))[1:]:
                row = [_uninert(c) for c in row] + [""] * 6
                if (row[4].strip() or row[5].strip()) and \
                        written.get(tuple(row[:3])) != tuple(row[4:6]):
                    return True
    except (OSError, csv.Error):
        return True
    return False


def _uninert(text):
    """A cell as typed, from one :func:`write_rows` wrote (its leading ' taken off)."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def read_scores(path, graded, exercises):
    """The instructor's scores of written answers: ``({(student, exercise, question):
    (points, comment)}, errors)``. ``graded``: ``{student: {exercise names whose notebook
    was graded}}``. A row with no points is skipped (still pending). Each bad row gives an
    error naming the file, the line and what to fix; the caller merges nothing if any."""
    manual = {ex.name: ex.manual for ex in exercises}
    scores, errors, seen = {}, [], {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return {}, [f"{path}: cannot read it ({exc})"]
    if not rows or [c.strip().lower() for c in rows[0][:len(SCORE_COLUMNS)]] != SCORE_COLUMNS:
        return {}, [f"{path}, line 1: the header must be {','.join(SCORE_COLUMNS)} (start "
                    f"from the manual/scores.csv that grade writes)"]
    for line, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        student, exercise, question, _, points = ([_uninert(c.strip()) for c in row] + [""] * 5)[:5]
        comment = _uninert(row[5]) if len(row) > 5 else ""
        where = f"{path}, line {line}"
        if student not in graded:
            errors.append(f"{where}: unknown student {student!r}: no such student in the "
                          f"submissions; fix the id or delete the row")
            continue
        if question not in manual.get(exercise, {}):
            known = [f"{e}/{q}" for e, qs in manual.items() for q in qs]
            errors.append(f"{where}: unknown question {exercise!r}/{question!r}: the written "
                          f"answers are {', '.join(known) or 'none'}; fix the exercise or "
                          f"question column or delete the row")
            continue
        if exercise not in graded[student]:
            errors.append(f"{where}: {student!r} has no graded notebook {exercise}.ipynb, so no "
                          f"answer to score (it counts 0); delete the row")
            continue
        if not points:
            continue
        maximum = manual[exercise][question]
        try:
            value = float(points)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value):
            errors.append(f"{where}: points {points!r} is not a number; write a number from 0 "
                          f"to {_num(maximum)}, or leave it empty to keep the answer pending")
            continue
        if not 0 <= value <= maximum:
            why = "negative" if value < 0 else "above the maximum"
            errors.append(f"{where}: points {points} is {why}; write a number from 0 to "
                          f"{_num(maximum)}")
            continue
        key = (student, exercise, question)
        if key in seen:
            errors.append(f"{where}: {student!r} {exercise}/{question} is scored again (first "
                          f"on line {seen[key]}); keep one row")
            continue
        seen[key] = line
        scores[key] = (round(value, 3), comment.strip())
    return scores, errors
