"""Many gradings at once: the worker tasks, a process pool, a progress bar with an ETA.

Kernels are started only inside the tasks, so with ``jobs > 1`` the parent
process never holds a kernel or a ZeroMQ context when it forks its workers.
"""
import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import signal
import sys

import numpy as np
from tqdm import tqdm

from . import grader
from .exercise import source_cells
from .notebook import Unreadable, read_bytes, read_submission
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
        pool = concurrent.futures.ProcessPoolExecutor(min(jobs, len(tasks)), mp_context=context,
                                                      initializer=_die_with_parent,
                                                      initargs=(os.getpid(),))
        try:
            futures = {pool.submit(function, task): task for task in tasks}
            for future in concurrent.futures.as_completed(futures):
                try:
                    result = future.result()
                except Exception as exc:
                    result = exc
                bar.update()
                yield futures[future], result
        except BaseException:   # Ctrl-C, SIGTERM, or the caller stopped: no worker goes on
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()


def _die_with_parent(parent):
    """A worker (and with it its kernel, see --die-with-parent) ends when the grader ends,
    even by SIGKILL."""
    if sys.platform == "linux":
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:                  # it ended before the line above
            os._exit(1)


def reference_task(task):
    """``(exercise, limits)`` -> the expected outputs and the time of every case, and the
    time of the slowest cell."""
    exercise, limits = task
    grader.reference(source_cells(exercise), exercise, limits)
    return [(case.expected, case.seconds) for case in exercise.cases], exercise.cell_seconds


def grade_file_task(task):
    """``(student, exercise, (path, digest), key, limits, isolation)`` -> the result of one
    notebook, read again safely (:func:`~.notebook.read_bytes`); if its bytes are no longer
    those its key was made from, it waits for the next run."""
    _, exercise, (path, digest), key, limits, iso = task
    try:
        data = read_bytes(path)
        if file_digest(data) != digest:
            return not_graded(exercise, "pending", "the notebook changed while it was being "
                                                   "graded; the next run grades it", None)
        cells, _ = read_submission(path, data)
    except Unreadable as exc:
        return not_graded(exercise, "unreadable", str(exc), key)
    result = grader.grade(cells, exercise, limits, iso)
    result.update(notebook=exercise.filename, key=key, message="")
    return result


def grade_cells_task(task):
    """``(exercise, cells, limits, isolation, ...)`` -> the result of in-memory cells (verify)."""
    exercise, cells, limits, iso = task[:4]
    return grader.grade(cells, exercise, limits, iso)


def file_digest(data):
    """SHA-256 (hex) of a notebook's bytes, as :func:`~.notebook.read_bytes` returns them."""
    return hashlib.sha256(data).hexdigest()


def save_reference(path, exercise):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, seconds=np.array([c.seconds for c in exercise.cases], dtype=float),
             cell_seconds=np.array(json.dumps(exercise.cell_seconds)),
             **{f"c{c.index}_o{k}": a for c in exercise.cases for k, a in enumerate(c.expected)})


def load_reference(path, exercise):
    """Fill the expected outputs from a cache file; False if it is absent or incomplete."""
    try:
        with np.load(path, allow_pickle=False) as data:
            expected = [[data[n] for n in sorted((n for n in data.files if n.startswith(f"c{c.index}_o")),
                                                 key=lambda n: int(n.rsplit("o", 1)[1]))]
                        for c in exercise.cases]
            seconds = data["seconds"].tolist()
            exercise.cell_seconds = json.loads(str(data["cell_seconds"]))
    except (OSError, ValueError, KeyError):
        return False
    if not all(expected) or len(seconds) != len(exercise.cases):
        return False
    for case, arrays, time_taken in zip(exercise.cases, expected, seconds):
        case.expected, case.seconds = arrays, time_taken
    return True
