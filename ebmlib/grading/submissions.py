"""The submissions folder: one folder per student, holding notebooks under their released names
(or an LMS download, once :func:`~.lms.attribute` has said whose each file is).

:func:`plan` finds each student's notebooks and reads each once (see
:func:`~.notebook.read_bytes`), explains the missing, misnamed or unreadable ones, and
reuses a previous result when nothing it depends on has changed.
"""
import dataclasses
import hashlib
import json
import os
import sys

from . import report
from .batch import file_digest
from .exercise import GRADER_VERSION
from .notebook import Unreadable, read_bytes


def plan(folder, exercises, out, limits, iso):
    """For the student folders of ``folder`` (or the students of an LMS download,
    ``{student: {file name: path}}``, see :func:`~.lms.attribute`): per student
    ``({exercise: result}, notes)``, the notebooks to grade (tasks for
    :func:`~.batch.grade_file_task`), the count reused."""
    students, tasks, reused = {}, [], 0
    for student, files in folder.items() if isinstance(folder, dict) else student_folders(folder):
        previous = {e.get("exercise"): e for e in
                    (report.load_previous(out, student) or {}).get("exercises", [])}
        results = {}
        students[student] = (results, stray_notebooks(files, exercises))
        for ex in exercises:
            path, status, text = collect(files, ex, exercises)
            key = result_key(ex, text, limits, iso)
            if previous.get(ex.name, {}).get("key") == key:
                results[ex.name] = previous[ex.name]
                reused += 1
            elif status:
                results[ex.name] = report.not_graded(ex, status, text, key)
            else:
                tasks.append((student, ex, (path, text), key, limits, iso))
    return students, tasks, reused


def student_folders(folder):
    """``(student id, folder)`` for each student folder of ``folder`` (a link is skipped)."""
    for student in sorted(folder.iterdir()):
        if student.name.startswith("."):
            continue
        if not student.is_dir() or student.is_symlink():
            print(f"skipping {student}: not a student folder", file=sys.stderr)
            continue
        yield student.name, student


def collect(folder, ex, exercises):
    """``(path, status, text)`` of the student's notebook of ``ex`` (``folder``: the student's
    folder, or their files ``{name: path}``), read once with
    :func:`~.notebook.read_bytes`: status None and the digest of its bytes for a notebook to
    grade; else ``missing`` or ``unreadable`` and a message for the student."""
    path, problem = locate(folder, ex, exercises)
    if problem:
        return path, "missing", problem
    try:
        return path, None, file_digest(read_bytes(path))
    except Unreadable as exc:
        return path, "unreadable", str(exc)


def locate(folder, ex, exercises):
    """``(path, None)`` for the student's notebook of ``ex``, or ``(None, message)``."""
    if isinstance(folder, dict):
        if ex.filename in folder:
            return folder[ex.filename], None
    elif os.path.lexists(folder / ex.filename):
        return folder / ex.filename, None
    found = sorted(n for n in _names(folder) if n.lower().endswith(".ipynb"))
    if not found:
        return None, f"Your submission holds no notebook: hand in '{ex.filename}', the " \
                     f"released notebook with your answers."
    names = {e.filename for e in exercises}
    strays = [n for n in found if n not in names]
    if not strays:
        return None, f"'{ex.filename}' is missing from your submission: this exercise was not " \
                     f"handed in, so it was not graded."
    return None, f"Your submission has no notebook named '{ex.filename}' (found " \
                 f"{', '.join(repr(n) for n in strays)}): if one of them holds your answers to " \
                 f"this exercise, rename the notebook with your answers to '{ex.filename}'."


def stray_notebooks(folder, exercises):
    """Notes on notebooks in ``folder`` that are not exercises (they are not graded)."""
    names = {ex.filename for ex in exercises}
    return [f"'{n}' is not one of the exercise notebooks ({', '.join(sorted(names))}); "
            f"it was not graded" for n in sorted(_names(folder))
            if n.lower().endswith(".ipynb") and n not in names]


def _names(folder):
    """The file names of a student's folder, or of their files ``{name: path}``."""
    return list(folder) if isinstance(folder, dict) else [p.name for p in folder.iterdir()]


def result_key(ex, text, limits, iso):
    """What a result depends on: the notebook (``text``: the digest of its bytes, or the message
    saying why it is not graded), the exercise, the grader, the limits."""
    parts = [GRADER_VERSION, ex.digest, json.dumps(dataclasses.asdict(limits)), str(iso.enabled),
             text]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
