"""Many gradings at once: the worker tasks, a process pool, a progress bar with an ETA.

Kernels are started only inside the tasks, so with ``jobs > 1`` the parent
process never holds a kernel or a ZeroMQ context when it forks its workers. A
notebook is graded in two steps: a worker runs it (:func:`collect_task`, on a local
process or a cluster's worker, see :mod:`~.cluster`), and the grader's process judges
what came back (:func:`finish`).
"""
import asyncio
import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import pathlib
import signal
import sys
import threading
import time

import numpy as np
from tqdm import tqdm

from . import grader
from .exercise import source_cells
from .notebook import Unreadable, read_bytes, read_submission
from .report import not_graded


class Ready(Exception):
    """Raised by a task's ``prepare`` when its result is known without running it."""

    def __init__(self, result):
        super().__init__()
        self.result = result


def run(function, tasks, pool, desc, prepare=None, finish=None):
    """Yield ``(task, result)`` as tasks finish; a task that fails yields its exception.

    ``pool`` is a number of local processes (:class:`Processes`) or a
    :class:`~.cluster.Cluster`; at most ``pool.slots`` tasks are in flight, each sent as
    ``prepare(task)`` (default: the task itself) just before it is sent, so memory does
    not grow with the class; ``finish(task, output)`` (default: the output) makes the
    result of what came back."""
    pool = Processes(pool) if isinstance(pool, int) else pool
    tqdm.monitor_interval = 0  # no monitor thread in a process that forks workers
    todo = iter(tasks)
    with tqdm(total=len(tasks), desc=desc, unit="notebook", file=sys.stderr,
              dynamic_ncols=True) as bar, pool:
        running = {}
        while True:
            while len(running) < pool.slots and (task := next(todo, None)) is not None:
                try:
                    running[pool.submit(function, prepare(task) if prepare else task)] = task
                except Ready as ready:
                    bar.update()
                    yield task, ready.result
            if not running:
                return
            done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                task, output = running.pop(future), pool.result(future)
                if finish is not None and not isinstance(output, Exception):
                    try:
                        output = finish(task, output)
                    except Exception as exc:
                        output = exc
                bar.update()
                yield task, output


def _die_with_parent(parent):
    """A worker (and with it its kernel, see --die-with-parent) ends when the grader ends,
    even by SIGKILL."""
    if sys.platform == "linux":
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:                  # it ended before the line above
            os._exit(1)


class Processes:
    """The local pool: ``jobs`` processes (none for one job), which die with the grader.
    They are forked, unless this process runs other threads (a cluster's client): then
    they start afresh, as a fork would copy those threads' locks but not the threads."""

    def __init__(self, jobs):
        self.jobs, self.slots, self.executor = jobs, 2 * jobs if jobs > 1 else 1, None

    def __enter__(self):
        if self.jobs > 1:
            start = "fork" if threading.active_count() == 1 else "spawn"
            self.executor = concurrent.futures.ProcessPoolExecutor(
                self.jobs, mp_context=multiprocessing.get_context(start),
                initializer=_die_with_parent, initargs=(os.getpid(),))
        return self

    def submit(self, function, task):
        if self.executor is not None:
            return self.executor.submit(function, task)
        future = concurrent.futures.Future()
        try:
            future.set_result(function(task))
        except Exception as exc:
            future.set_exception(exc)
        return future

    @staticmethod
    def result(future):
        try:
            return future.result()
        except Exception as exc:
            return exc

    def __exit__(self, kind, value, traceback):
        if self.executor is None:
            return
        if kind is not None:   # Ctrl-C, SIGTERM, or the caller stopped: no worker goes on
            for process in list(getattr(self.executor, "_processes", {}).values()):
                process.kill()
            self.executor.shutdown(wait=False, cancel_futures=True)
        else:
            self.executor.shutdown()


def reference_task(task):
    """``(exercise, limits)`` -> the expected outputs and the time of every case, and the
    time of the slowest cell."""
    exercise, limits = task
    grader.reference(source_cells(exercise), exercise, limits)
    return [(case.expected, case.seconds) for case in exercise.cases], exercise.cell_seconds


def load(task):
    """The argument of :func:`collect_task` for a planned notebook ``(student, exercise,
    (path, digest), key, limits, isolation)``: its bytes read again safely
    (:func:`~.notebook.read_bytes`), sent with the exercise as a worker needs it
    (:meth:`~.exercise.Exercise.for_worker`). Raises :class:`Ready` with the result if the
    file is now unreadable, or if its bytes are no longer those its key was made from (it
    waits for the next run)."""
    _, exercise, (path, digest), key, limits, iso = task
    try:
        data = read_bytes(path)
    except Unreadable as exc:
        raise Ready(not_graded(exercise, "unreadable", str(exc), key)) from None
    if file_digest(data) != digest:
        raise Ready(not_graded(exercise, "pending", "the notebook changed while it was being "
                                                    "graded; the next run grades it", None))
    return exercise.for_worker(), path.name, data, limits, iso


def collect_task(task):
    """``(exercise, file name, bytes, limits, isolation)`` -> what the notebook's kernel
    handed back, for :func:`finish` to judge: ``("unreadable", message)`` or
    ``("run", run, seconds)`` (a :class:`~.grader.Run`: plain data)."""
    exercise, name, data, limits, iso = task
    start = time.monotonic()
    try:
        cells, _ = read_submission(pathlib.PurePath(name), data)
    except Unreadable as exc:
        return "unreadable", str(exc)
    run = asyncio.run(grader.collect(cells, exercise, limits, iso))
    return "run", run, time.monotonic() - start


def finish(task, outcome):
    """The result of the planned notebook ``task`` from what :func:`collect_task` brought
    back: every verdict is made here, in the grader's process."""
    _, exercise, _, key, limits, _ = task
    if outcome[0] == "unreadable":
        return not_graded(exercise, "unreadable", outcome[1], key)
    result = grader.score(exercise, outcome[1], limits)
    result.update(duration=round(outcome[2], 3), notebook=exercise.filename, key=key, message="")
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
