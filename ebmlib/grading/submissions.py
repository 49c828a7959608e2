"""The submissions folder: one folder per student, holding notebooks under their released names.

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
    """For the student folders of ``folder``: per student ``({exercise: result}, notes)``,
    the notebooks to grade (tasks for :func:`~.batch.grade_file_task`), the count reused."""
    students, tasks, reused = {}, [], 0
    for student in sorted(folder.iterdir()):
        if student.name.startswith("."):
            continue
        if not student.is_dir() or student.is_symlink():
            print(f"skipping {student}: not a student folder", file=sys.stderr)
            continue
        previous = {e.get("exercise"): e for e in
                    (report.load_previous(out, student.name) or {}).get("exercises", [])}
        results = {}
        students[student.name] = (results, stray_notebooks(student, exercises))
        for ex in exercises:
            path, status, text = collect(student, ex, exercises)
            key = result_key(ex, text, limits, iso)
            if previous.get(ex.name, {}).get("key") == key:
                results[ex.name] = previous[ex.name]
                reused += 1
            elif status:
                results[ex.name] = report.not_graded(ex, status, text, key)
            else:
                tasks.append((student.name, ex, (path, text), key, limits, iso))
    return students, tasks, reused


def collect(folder, ex, exercises):
    """``(path, status, text)`` of the student's notebook of ``ex``, read once with
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
    path = folder / ex.filename
    if os.path.lexists(path):
        return path, None
    found = sorted(p.name for p in folder.iterdir() if p.name.lower().endswith(".ipynb"))
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
    return [f"'{p.name}' is not one of the exercise notebooks ({', '.join(sorted(names))}); "
            f"it was not graded" for p in sorted(folder.iterdir())
            if p.name.lower().endswith(".ipynb") and p.name not in names]


def result_key(ex, text, limits, iso):
    """What a result depends on: the notebook (``text``: the digest of its bytes, or the message
    saying why it is not graded), the exercise, the grader, the limits."""
    parts = [GRADER_VERSION, ex.digest, json.dumps(dataclasses.asdict(limits)), str(iso.enabled),
             text]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
