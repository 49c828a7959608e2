"""Grading one notebook: run it, harvest the answers, judge them outside.

:func:`collect` runs the code cells in a :class:`~.sandbox.Kernel`, then the
harvest step once per question. A cell or a question that runs past its time
or kills the kernel is recorded, and the notebook is run again in a fresh
kernel without that cell, so it costs only what it was running.
:func:`score` turns what came back into points, statuses and messages.
"""
import asyncio
import hashlib
import io
import json
import pathlib
import time

import numpy as np

from . import harvest
from .checker import GRADED
from .sandbox import NO_ISOLATION, Kernel
from .spec import judge

STATUSES = ("unreadable", "missing", "crashed", "timeout", "memory", "error", "wrong", "ok")
HARVEST_SOURCE = pathlib.Path(harvest.__file__).read_text()
# run before the notebook's cells: its check(...) cells then do nothing (see checker.py)
MARK_GRADED = f"{GRADED} = True"


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
        case.expected, case.seconds = arrays, run.seconds.get(case.index, 0.0)
    exercise.cell_seconds = run.cell_seconds


class Run:
    """What came back from a notebook: answers per case, stopped cells, notes, durations."""

    def __init__(self):
        self.answers = {}       # case index -> (status, message, arrays or None)
        self.stopped = {}       # cell number -> (status, message, question or None)
        self.notes = []
        self.durations = {}     # question -> seconds
        self.seconds = {}       # case index -> seconds its call took in the kernel
        self.cell_seconds = {}  # cell source digest -> seconds it took
        self.ran = set()        # cells already run once (their errors are noted once)


async def collect(cells, exercise, limits, iso, reference=False):
    """Run ``cells`` and harvest every question of ``exercise``, restarting as needed
    (each start in a fresh kernel folder)."""
    run = Run()
    deadline = time.monotonic() + limits.total_timeout
    pending = [q for q in exercise.points if any(c.question == q for c in exercise.cases)]
    # each start but the last stops one cell or one question for good
    for _ in range(len(pending) + len(cells) + 1):
        if not pending or time.monotonic() >= deadline:
            break
        kernel = Kernel(limits, iso)
        try:
            try:
                await kernel.start()
            except Exception as exc:
                run.notes.append(f"the grader could not start a Python kernel ({exc})")
                break
            await kernel.run(MARK_GRADED, max(1.0, _limit(limits, deadline)[0]))
            restart = await _run_cells(kernel, cells, run, deadline, limits, exercise.cell_seconds)
            if not restart:
                restart = await _harvest(kernel, exercise, pending, run, deadline, limits,
                                         reference)
        finally:
            await kernel.stop()
        if not restart:
            break
    late = time.monotonic() >= deadline
    for case in exercise.cases:
        if case.question in pending:
            run.answers[case.index] = (
                ("timeout", f"not run: the notebook as a whole ran past the "
                            f"{limits.total_timeout:g} s limit", None) if late else
                ("crashed", "not run: the kernel kept dying before this question was reached",
                 None))
    return run


def _limit(limits, deadline, budget=None):
    """``(seconds allowed, whether the total limit is what binds)`` for the next execution."""
    budget = limits.cell_timeout if budget is None else budget
    remaining = deadline - time.monotonic()
    return min(budget, remaining), remaining < budget


def _budget(cases, limits):
    """Seconds for one question: per test ``test_factor`` times the reference solution's
    time, at least ``test_min_s`` (``cell_timeout`` at most, and where no time is known)."""
    if any(c.seconds is None for c in cases):
        return limits.cell_timeout
    return min(limits.cell_timeout,
               sum(max(limits.test_min_s, limits.test_factor * c.seconds) for c in cases))


def cell_key(source):
    """What identifies a cell across the instructor's and a student's notebook: its code."""
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def _cell_budget(source, reference_seconds, limits):
    """Seconds for one cell: ``test_factor`` times the reference solution's time for the same
    code (for code the student wrote, its slowest cell), at least ``test_min_s``;
    ``cell_timeout`` at most, and where no time is known."""
    if not reference_seconds:
        return limits.cell_timeout
    seconds = reference_seconds.get(cell_key(source), max(reference_seconds.values()))
    return min(limits.cell_timeout, max(limits.test_min_s, limits.test_factor * seconds))


def _budget_rule(cases, limits):
    if any(c.seconds is None for c in cases) or _budget(cases, limits) >= limits.cell_timeout:
        return ""
    return (f" ({len(cases)} test{'s' * (len(cases) > 1)}, each given {limits.test_factor:g} times "
            f"the reference solution's time and at least {limits.test_min_s:g} s)")


async def _run_cells(kernel, cells, run, deadline, limits, reference_seconds):
    """Run the code cells in order; True if one was stopped (the kernel must restart)."""
    for cell in cells:
        if cell.number in run.stopped or not cell.source.strip():
            continue
        budget = _cell_budget(cell.source, reference_seconds, limits)
        timeout, overall = _limit(limits, deadline, budget)
        if timeout <= 0:
            return False
        outcome = await kernel.run(cell.source, timeout)
        run.cell_seconds[cell_key(cell.source)] = outcome.seconds
        if outcome.kind == "timeout":
            what = (f"the notebook as a whole ran past the {limits.total_timeout:g} s limit "
                    f"in cell {cell.number}" if overall else
                    f"cell {cell.number} ran past the {budget:.3g} s limit")
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


async def _harvest(kernel, exercise, pending, run, deadline, limits, reference):
    """Harvest the pending questions one by one; True if the kernel must restart."""
    inputs = io.BytesIO()
    np.savez(inputs, **{f"t{c.index}_a{j}": a for c in exercise.cases for j, a in enumerate(c.args)})
    kernel.write_input("inputs.npz", inputs.getvalue())
    kernel.write_input("plan.json", json.dumps({
        "exercise": exercise.name, "inputs": kernel.path("in", "inputs.npz"), "tests": [
        {"index": c.index, "question": c.question, "scalars": c.scalars,
         "call": c.reference if reference else c.call} for c in exercise.cases]}).encode())
    define = (f"__ebm_harvest__ = {{'__name__': 'ebm_harvest', '__file__': '<ebm-harvest>'}}\n"
              f"exec(compile({HARVEST_SOURCE!r}, '<ebm-harvest>', 'exec'), __ebm_harvest__)")
    setup = await kernel.run(define, max(1.0, _limit(limits, deadline)[0]))
    for question in list(pending):
        cases = [c for c in exercise.cases if c.question == question]
        budget = _budget(cases, limits)
        timeout, overall = _limit(limits, deadline, budget)
        if timeout <= 0:
            return False
        out = f"answers-{list(exercise.points).index(question)}"
        call = (f"__ebm_harvest__['harvest'](globals(), {kernel.path('in', 'plan.json')!r}, "
                f"{question!r}, {kernel.path('out', out)!r})")
        outcome = await kernel.run(call, timeout) if setup.kind == "ok" else setup
        pending.remove(question)
        run.durations[question] = round(outcome.seconds, 3)
        if outcome.kind == "ok":
            _load(kernel, out, cases, run, limits)
            continue
        if outcome.kind == "timeout":
            answer = ("timeout", f"the notebook as a whole ran past the {limits.total_timeout:g} s "
                                 f"limit here" if overall else
                      f"did not finish within {budget:.3g} s{_budget_rule(cases, limits)} (an "
                      f"infinite loop, or a much slower method than needed?)")
        elif outcome.kind == "dead":
            answer = ("crashed", "the Python kernel died while running this question (sys/os "
                                 "exit, a kill signal, or a crash); the other questions were "
                                 "graded in a fresh kernel")
        else:
            answer = ("error", f"the grader could not collect your answers "
                               f"({outcome.ename}: {outcome.evalue}); did your code replace "
                               f"numpy, builtins or the grader's functions?")
        if outcome.kind == "dead" and kernel.out_of_memory():
            answer = ("memory", "")
        for case in cases:
            run.answers[case.index] = answer + (None,)
        if outcome.kind in ("timeout", "dead"):
            return True
    return False


def _load(kernel, name, cases, run, limits):
    """Read one answers file as plain data (bounded, no pickle), checking every array."""
    try:
        meta, arrays = harvest.read_answers(kernel.read_output(name, limits.answers_mb << 20))
        _read(meta, arrays, cases, run)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        for case in cases:
            run.answers[case.index] = ("error", f"the grader could not read back your answers "
                                                f"({type(exc).__name__}: {exc}); did your code "
                                                f"replace numpy or write files named like the "
                                                f"grader's?", None)


def _read(meta, arrays, cases, run):
    """Record the answers of ``cases``; raises on anything unexpected."""
    for case in cases:
        record = meta[str(case.index)]
        status = record["status"]
        run.seconds[case.index] = float(record.get("seconds", 0.0))
        if status == "value":
            outputs = [arrays[f"t{case.index}_o{k}"] for k in range(len(arrays))
                       if f"t{case.index}_o{k}" in arrays]
            run.answers[case.index] = ("value", "", outputs)
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
