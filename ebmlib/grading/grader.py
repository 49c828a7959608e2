"""Grading one notebook: run it, harvest the answers, judge them outside.

:func:`collect` runs the code cells in a :class:`~.sandbox.Kernel`, then the
harvest step once per question. A cell or a question that runs past its time
or kills the kernel is recorded, and the notebook is run again in a fresh
kernel without that cell, so it costs only what it was running.
:func:`score` turns what came back into points, statuses and messages.
"""
import asyncio
import json
import os
import pathlib
import secrets
import shutil
import stat
import tempfile
import time

import numpy as np

from . import harvest
from .sandbox import NO_ISOLATION, Kernel
from .spec import NUMERIC_KINDS, judge

STATUSES = ("unreadable", "missing", "crashed", "timeout", "memory", "error", "wrong", "ok")
MAX_STARTS = 6
HARVEST_SOURCE = pathlib.Path(harvest.__file__).read_text()


class ReferenceFailure(Exception):
    """The instructor's solution does not pass its own tests."""


def grade(cells, exercise, limits, iso=NO_ISOLATION):
    """Grade the code ``cells`` of a submission: the per-question result of ``exercise``."""
    start = time.monotonic()
    run = asyncio.run(collect(cells, exercise, limits, iso))
    result = score(exercise, run, limits)
    result["duration"] = round(time.monotonic() - start, 3)
    return result


def reference(cells, exercise, limits):
    """Fill in the expected outputs of every case from the instructor's notebook."""
    run = asyncio.run(collect(cells, exercise, limits, NO_ISOLATION, reference=True))
    for case in exercise.cases:
        status, message, arrays = run.answers[case.index]
        if status != "value":
            raise ReferenceFailure(f"{exercise.name}: the reference solution fails test "
                                   f"{case.name!r} of question {case.question!r} "
                                   f"({status}: {message}); notes: {'; '.join(run.notes) or 'none'}")
        case.expected = arrays


class Run:
    """What came back from a notebook: answers per case, stopped cells, notes, durations."""

    def __init__(self):
        self.answers = {}       # case index -> (status, message, arrays or None)
        self.stopped = {}       # cell number -> (status, message, question or None)
        self.notes = []
        self.durations = {}     # question -> seconds
        self.ran = set()        # cells already run once (their errors are noted once)


async def collect(cells, exercise, limits, iso, reference=False):
    """Run ``cells`` and harvest every question of ``exercise``, restarting as needed."""
    run = Run()
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="ebm-grading-"))
    deadline = time.monotonic() + limits.total_timeout
    pending = [q for q in exercise.points if any(c.question == q for c in exercise.cases)]
    try:
        for _ in range(MAX_STARTS):
            if not pending or time.monotonic() >= deadline:
                break
            kernel = Kernel(workdir, limits, iso)
            try:
                await kernel.start()
            except Exception as exc:
                await kernel.stop()
                run.notes.append(f"the grader could not start a Python kernel ({exc})")
                break
            try:
                restart = await _run_cells(kernel, cells, run, deadline, limits)
                if not restart:
                    restart = await _harvest(kernel, workdir, exercise, pending, run, deadline,
                                             limits, reference)
            finally:
                await kernel.stop()
            if not restart:
                break
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    late = time.monotonic() >= deadline
    for case in exercise.cases:
        if case.question in pending:
            run.answers[case.index] = (
                ("timeout", f"not run: the notebook as a whole ran past the "
                            f"{limits.total_timeout:g} s limit") if late else
                ("crashed", "not run: the kernel kept dying before this question was reached"))
    return run


def _limit(limits, deadline):
    remaining = deadline - time.monotonic()
    return min(limits.cell_timeout, remaining), remaining < limits.cell_timeout


async def _run_cells(kernel, cells, run, deadline, limits):
    """Run the code cells in order; True if one was stopped (the kernel must restart)."""
    for cell in cells:
        if cell.number in run.stopped or not cell.source.strip():
            continue
        timeout, overall = _limit(limits, deadline)
        if timeout <= 0:
            return False
        outcome = await kernel.run(cell.source, timeout)
        if outcome.kind == "timeout":
            what = (f"the notebook as a whole ran past the {limits.total_timeout:g} s limit "
                    f"in cell {cell.number}" if overall else
                    f"cell {cell.number} ran past the {limits.cell_timeout:g} s limit")
            run.stopped[cell.number] = ("timeout", what, cell.question)
            run.notes.append(f"{what} and was stopped (an infinite loop, or a long "
                             f"computation at the top level?); the other cells were run without it")
            return True
        if outcome.kind == "dead":
            what = f"the Python kernel died while running cell {cell.number}"
            run.stopped[cell.number] = ("crashed", what, cell.question)
            run.notes.append(f"{what} (sys/os exit, a kill signal, or memory exhausted); "
                             f"the other cells were run without it")
            return True
        if outcome.kind == "error" and cell.number not in run.ran:
            hint = " (memory limit)" if outcome.ename == "MemoryError" else ""
            detail = f": {outcome.evalue}" if outcome.evalue else ""
            run.notes.append(f"cell {cell.number} raised {outcome.ename}{hint}{detail}")
        run.ran.add(cell.number)
    return False


async def _harvest(kernel, workdir, exercise, pending, run, deadline, limits, reference):
    """Harvest the pending questions one by one; True if the kernel must restart."""
    nonce = secrets.token_hex(16)
    inputs = workdir / f"inputs-{nonce}.npz"
    np.savez(inputs, **{f"t{c.index}_a{j}": a for c in exercise.cases for j, a in enumerate(c.args)})
    plan = workdir / f"plan-{nonce}.json"
    plan.write_text(json.dumps({"inputs": str(inputs), "tests": [
        {"index": c.index, "question": c.question, "scalars": c.scalars,
         "call": c.reference if reference else c.call} for c in exercise.cases]}))
    define = (f"__ebm_harvest__ = {{'__name__': 'ebm_harvest', '__file__': '<ebm-harvest>'}}\n"
              f"exec(compile({HARVEST_SOURCE!r}, '<ebm-harvest>', 'exec'), __ebm_harvest__)")
    setup = await kernel.run(define, max(1.0, _limit(limits, deadline)[0]))
    for question in list(pending):
        cases = [c for c in exercise.cases if c.question == question]
        timeout, overall = _limit(limits, deadline)
        if timeout <= 0:
            return False
        out = workdir / f"out-{nonce}-{list(exercise.points).index(question)}.npz"
        call = f"__ebm_harvest__['harvest'](globals(), {str(plan)!r}, {question!r}, {str(out)!r})"
        outcome = await kernel.run(call, timeout) if setup.kind == "ok" else setup
        pending.remove(question)
        run.durations[question] = round(outcome.seconds, 3)
        if outcome.kind == "ok":
            _load(out, cases, run, limits)
            continue
        if outcome.kind == "timeout":
            answer = ("timeout", f"the notebook as a whole ran past the {limits.total_timeout:g} s "
                                 f"limit here" if overall else
                      f"did not finish within {limits.cell_timeout:g} s (an infinite loop, "
                      f"or a much slower method than needed?)")
        elif outcome.kind == "dead":
            answer = ("crashed", "the Python kernel died while running this question (sys/os "
                                 "exit, a kill signal, or a crash); the other questions were "
                                 "graded in a fresh kernel")
        else:
            answer = ("error", f"the grader could not collect your answers "
                               f"({outcome.ename}: {outcome.evalue}); did your code replace "
                               f"numpy, builtins or the grader's functions?")
        for case in cases:
            run.answers[case.index] = answer + (None,)
        if outcome.kind in ("timeout", "dead"):
            return True
    return False


def _load(path, cases, run, limits):
    """Read one harvest file as plain data (no pickle), checking every array."""
    try:
        # the folder belongs to the student's uid: refuse links, FIFOs and oversized files
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > limits.file_mb << 20:
                raise ValueError("not a plain file of a reasonable size")
            _read(np.load(f, allow_pickle=False), cases, run)
    except Exception as exc:
        for case in cases:
            run.answers[case.index] = ("error", f"the grader could not read back your answers "
                                                f"({type(exc).__name__}); did your code replace "
                                                f"numpy or write files named like the grader's?",
                                       None)


def _read(data, cases, run):
    """Record the answers of ``cases`` from an open ``.npz``; raises on anything unexpected."""
    with data:
        meta = json.loads(bytes(data["__meta__"]))
        for case in cases:
            record = meta[str(case.index)]
            status = record["status"]
            if status == "value":
                names = [f"t{case.index}_o{k}" for k in range(len(data.files))]
                arrays = [data[n] for n in names if n in data.files]
                if not all(a.dtype.kind in NUMERIC_KINDS for a in arrays):
                    raise ValueError("non-numeric arrays")
                run.answers[case.index] = ("value", "", arrays)
            elif status in ("missing", "memory", "error", "invalid"):
                run.answers[case.index] = (status, str(record.get("message", ""))[:1000], None)
            else:
                raise ValueError(f"unknown status {status!r}")


def score(exercise, run, limits):
    """Points, status and message per question, from a :class:`Run`."""
    questions = []
    for qid, points in exercise.points.items():
        cases = [c for c in exercise.cases if c.question == qid]
        tests = [_verdict(c, run.answers.get(c.index), limits) for c in cases]
        total = sum(c.weight for c in cases)
        passed = sum(c.weight for c, t in zip(cases, tests) if t["status"] == "ok")
        status = min((t["status"] for t in tests), key=STATUSES.index, default="missing")
        failing = [t for t in tests if t["status"] != "ok"]
        message = f"all {len(tests)} tests passed" if not failing else "; ".join(
            f"{t['visibility']} test '{t['name']}': {t['message']}" for t in failing)
        stops = [s for s in run.stopped.values() if s[2] == qid]
        if failing and stops:
            status, message = stops[0][0], f"{stops[0][1]}, so this question's code did not run; " \
                                           f"{message}"
        questions.append({"id": qid, "points": round(points * passed / total, 3) if total else 0.0,
                          "maximum": points, "status": status, "message": message,
                          "duration": run.durations.get(qid, 0.0), "tests": tests})
    return {"exercise": exercise.name, "status": "graded",
            "points": round(sum(q["points"] for q in questions), 3),
            "maximum": exercise.maximum, "notes": run.notes, "questions": questions}


def _verdict(case, answer, limits):
    status, message, arrays = answer or ("crashed", "not run", None)
    if status == "value":
        status, message = judge(case, arrays)
    elif status == "invalid":
        status = "wrong"
    elif status == "missing":
        message = (f"{message}: keep the names and signatures of the released notebook, "
                   f"and make sure the cell that defines it runs without error")
    elif status == "memory":
        message = (f"ran out of memory (limit {limits.memory_mb} MB): avoid building arrays "
                   f"much larger than the inputs")
    elif status == "error" and message.startswith("NotImplementedError"):
        message = "not answered yet: replace `raise NotImplementedError` with your code"
    elif status == "error" and not message.startswith("the grader"):
        message = f"raised {message}"
    return {"name": case.name, "visibility": "hidden" if case.hidden else "public",
            "status": status, "message": message}
