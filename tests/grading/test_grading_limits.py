"""Bounded time, bounded grader memory, per-student hidden inputs, and a grader that leaves
nothing running when it is stopped or killed."""
import json
import os
import pathlib
import signal
import subprocess
import time

import pytest

from ebmlib.grading import cgroup
from ebmlib.grading.exercise import load_exercises, source_cells
from ebmlib.grading.grader import grade, reference
from ebmlib.grading.notebook import Cell
from ebmlib.grading.sandbox import Limits
from grading_course import (ANSWERS, LIMIT_ARGS, PYTHON, correct, grading, load_json, save,
                            student)

HANG = {q: code.split("\n")[0] + "\n    while True:\n        pass" for q, code in ANSWERS.items()}


def exercise(course, limits):
    ex, = load_exercises(course["source"], course["hidden"])
    reference(source_cells(ex), ex, limits)
    return ex


def test_a_notebook_past_its_total_limit_is_a_timeout_not_a_crash(course):
    limits = Limits(cell_timeout=4, total_timeout=3)
    ex = exercise(course, limits)
    nb = student(course, correct(), before=["import time\ntime.sleep(1.5)"] * 3)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    result = grade([Cell(i, c.source, ()) for i, c in enumerate(cells, 1)], ex, limits)
    assert {q["status"] for q in result["questions"]} == {"timeout"}, result
    assert "ran past the 3 s limit" in json.dumps(result)


def test_each_test_gets_a_multiple_of_the_reference_time(course, public_dir):
    """A notebook whose every function hangs costs about test_min per test, not a cell
    timeout per question; slow but correct code within the budget still passes."""
    root = public_dir("budget")
    subs, out = root / "submissions", root / "out"
    save(student(course, HANG), subs / "hangs" / "free_energy.ipynb")
    slow = correct(softmax=ANSWERS["softmax"].replace('"""\n', '"""\n    import time\n    '
                                                      'time.sleep(0.3)\n', 1))
    save(student(course, slow), subs / "slow" / "free_energy.ipynb")
    start = time.monotonic()
    run = grading("grade", subs, "--out", out, "--source", course["source"], "-j", "2",
                  "--cell-timeout", "30", "--test-min", "1", "--timeout", "120")
    assert run.returncode == 0, run.stderr[-2000:]
    hangs, slow = load_json(out / "results" / "hangs.json"), load_json(out / "results" / "slow.json")
    assert [q["status"] for q in hangs["exercises"][0]["questions"]] == ["timeout"] * 3
    assert "each given 20 times the reference solution's time and at least 1 s" in json.dumps(hangs)
    assert slow["points"] == 6
    assert hangs["exercises"][0]["duration"] < 20  # 3 questions x 2 tests x 1 s, plus restarts
    assert time.monotonic() - start < 60


def test_hidden_inputs_are_drawn_per_student_from_the_secret(course, public_dir):
    root = public_dir("secret")
    subs, out = root / "submissions", root / "out"
    for name in ("ada", "bob"):
        save(student(course, correct(grad=ANSWERS["grad"].replace("return p / p.sum()",
                                                                  "return p / p.sum() + 1"))),
             subs / name / "free_energy.ipynb")
    run = grading("grade", subs, "--out", out, "--source", course["source"], "-j", "2", *LIMIT_ARGS)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (out / "grading.key").stat().st_mode & 0o077 == 0
    feedback = {n: (out / "feedback" / f"{n}.md").read_text() for n in ("ada", "bob")}
    for text in feedback.values():
        assert "hidden test 'dF/dE with beta 2': **wrong**" in text
        assert "expected" not in text.split("hidden test")[1].split("\n")[0]
    # another secret: other hidden inputs, so every notebook is graded again
    run = grading("grade", subs, "--out", out, "--source", course["source"], "--secret",
                  "another secret of the instructor", "-j", "2", *LIMIT_ARGS)
    assert "graded 2 notebooks (0 unchanged, reused)" in run.stderr, run.stderr[-2000:]


def test_two_students_get_different_hidden_inputs(course):
    ex, = load_exercises(course["source"], course["hidden"])
    ada, bob = (ex.for_student(n, b"a secret of sixteen+") for n in ("ada", "bob"))
    hidden = [i for i, c in enumerate(ex.cases) if c.hidden]
    assert all(not (ada.cases[i].args[0] == bob.cases[i].args[0]).all() for i in hidden)
    again = ex.for_student("ada", b"a secret of sixteen+")
    assert all((again.cases[i].args[0] == ada.cases[i].args[0]).all() for i in hidden)
    assert all(ada.cases[i] is ex.cases[i] for i, c in enumerate(ex.cases) if not c.hidden)


def _processes(marker):
    found = []
    for proc in pathlib.Path("/proc").iterdir():
        try:
            if marker in (proc / "cmdline").read_bytes():
                found.append(proc.name)
        except OSError:
            pass
    return found


def _start_grading(course, root, names, extra=()):
    subs, out = root / "submissions", root / "out"
    for name, nb in names.items():
        save(nb, subs / name / "free_energy.ipynb")
    cmd = [PYTHON, "-m", "ebmlib.grading", "grade", str(subs), "--out", str(out), "--source",
           str(course["source"]), "--cell-timeout", "60", "--timeout", "120", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONWARNINGS="ignore")), out


def _wait_for(condition, seconds=60):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.2)
    return False


SLEEPER = "import subprocess, time\nsubprocess.Popen(['sleep', '4322'])\ntime.sleep(600)"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_killing_the_grader_leaves_nothing_running(course, public_dir, jobs):
    proc, _ = _start_grading(course, public_dir("kill"),
                             {"sleeper": student(course, correct(), before=[SLEEPER])}, ["-j", jobs])
    try:
        assert _wait_for(lambda: _processes(b"4322")), "the student's sleeper never started"
        proc.kill()
        proc.wait()
        assert _wait_for(lambda: not _processes(b"4322") and not _processes(b"ebm-grading-"), 10), \
            "a process outlived the grader"
    finally:
        proc.kill()


def test_sigterm_keeps_finished_results_for_the_next_run(course, public_dir):
    root = public_dir("term")
    proc, out = _start_grading(course, root, {
        "a_done": student(course, correct()),
        "b_stuck": student(course, correct(), before=[SLEEPER])}, ["-j", "1"])
    assert _wait_for(lambda: (out / "results" / "a_done.json").exists() and _processes(b"4322"))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    assert "stopped: 1 of 2 notebooks graded" in proc.stderr.read().decode()
    assert _wait_for(lambda: not _processes(b"4322"), 10)
    assert load_json(out / "results" / "a_done.json")["points"] == 6
    stuck = load_json(out / "results" / "b_stuck.json")["exercises"][0]
    assert stuck["status"] == "pending" and "the next run grades it" in stuck["message"]


def test_the_graders_memory_stays_flat_whatever_the_kernel_sends(course, public_dir):
    """1.5 GB of comm messages and a 100 MB print: the grader keeps none of it."""
    flood = ("import time\nfrom ipykernel.comm import Comm\ncomm = Comm(target_name='flood')\n"
             "for _ in range(1500):\n    comm.send(data={'x': 'z' * (1 << 20)})\n"
             "print('x' * (100 << 20))")
    proc, out = _start_grading(course, public_dir("flood"),
                               {"flood": student(course, correct(), before=[flood])}, ["-j", "1"])
    peak = 0
    while proc.poll() is None:
        try:
            status = pathlib.Path(f"/proc/{proc.pid}/status").read_text()
            peak = max(peak, int(status.split("VmHWM:")[1].split()[0]) // 1024)
        except (OSError, IndexError):
            pass
        time.sleep(0.05)
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
    assert load_json(out / "results" / "flood.json")["points"] == 6
    assert peak < 400, f"the grader's memory peaked at {peak} MB"


@pytest.mark.skipif(cgroup.parent() is None, reason="needs root and a memory cgroup")
def test_a_grader_empties_the_memory_groups_of_graders_that_died():
    """A kernel left by a killed grader (in the moment before bubblewrap's --die-with-parent
    holds) is killed, with its group, by the next grader; a live grader's is left alone."""
    dead = subprocess.Popen(["true"])
    dead.wait()                                   # a pid that no longer runs
    groups = [cgroup.parent() / f"ebm-{dead.pid}-left", cgroup.parent() / f"ebm-{os.getpid()}-live"]
    sleepers = []
    for group in groups:
        group.mkdir()
        sleepers.append(subprocess.Popen(["sleep", "4324"]))
        (group / "cgroup.procs").write_text(str(sleepers[-1].pid))
    try:
        cgroup._sweep(cgroup.parent())
        assert sleepers[0].wait(timeout=10) == -signal.SIGKILL and not groups[0].exists()
        assert sleepers[1].poll() is None and groups[1].exists()
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()
        cgroup._empty(groups[1])
