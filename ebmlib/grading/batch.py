"""Many gradings at once: the worker tasks, a process pool, a progress bar with an ETA.

Kernels are started only inside the tasks, so with ``jobs > 1`` the parent
process never holds a kernel or a ZeroMQ context when it forks its workers.
"""
import concurrent.futures
import hashlib
import multiprocessing
import sys

import numpy as np
from tqdm import tqdm

from . import grader
from .exercise import source_cells
from .notebook import Unreadable, read_submission
from .report import not_graded


def run(function, tasks, jobs, desc):
    """Yield ``(task, result)`` as tasks finish; a task that fails yields its exception."""
    tqdm.monitor_interval = 0  # no monitor thread in a process that forks workers
    with tqdm(total=len(tasks), desc=desc, unit="notebook", file=sys.stderr,
              dynamic_ncols=True) as bar:
        if jobs <= 1 or len(tasks) <= 1:
            for task in tasks:
                try:
                    result = function(task)
                except Exception as exc:
                    result = exc
                bar.update()
                yield task, result
            return
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(min(jobs, len(tasks)), mp_context=context) as pool:
            futures = {pool.submit(function, task): task for task in tasks}
            for future in concurrent.futures.as_completed(futures):
                try:
                    result = future.result()
                except Exception as exc:
                    result = exc
                bar.update()
                yield futures[future], result


def reference_task(task):
    """``(exercise, limits)`` -> the expected outputs of every case."""
    exercise, limits = task
    grader.reference(source_cells(exercise), exercise, limits)
    return [case.expected for case in exercise.cases]


def grade_file_task(task):
    """``(student, exercise, path, key, limits, isolation)`` -> the result of one notebook."""
    _, exercise, path, key, limits, iso = task
    try:
        cells, _ = read_submission(path)
    except Unreadable as exc:
        return not_graded(exercise, "unreadable", str(exc), key)
    result = grader.grade(cells, exercise, limits, iso)
    result.update(notebook=exercise.filename, key=key, message="")
    return result


def grade_cells_task(task):
    """``(exercise, cells, limits, isolation, ...)`` -> the result of in-memory cells (verify)."""
    exercise, cells, limits, iso = task[:4]
    return grader.grade(cells, exercise, limits, iso)


def file_digest(path):
    """SHA-256 of a file's bytes, read in chunks ('' for what cannot be read)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return ""
    return digest.hexdigest()


def save_reference(path, exercise):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{f"c{c.index}_o{k}": a for c in exercise.cases for k, a in enumerate(c.expected)})


def load_reference(path, exercise):
    """Fill the expected outputs from a cache file; False if it is absent or incomplete."""
    try:
        with np.load(path, allow_pickle=False) as data:
            expected = [[data[n] for n in sorted((n for n in data.files if n.startswith(f"c{c.index}_o")),
                                                 key=lambda n: int(n.rsplit("o", 1)[1]))]
                        for c in exercise.cases]
    except (OSError, ValueError):
        return False
    if not all(expected):
        return False
    for case, arrays in zip(exercise.cases, expected):
        case.expected = arrays
    return True
