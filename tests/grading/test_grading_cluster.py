"""Grading on a Dask cluster (``grade --scheduler``): the same grades as local grading.

The cluster is real: a ``dask scheduler`` process and a ``dask worker`` process with two
single-threaded worker processes (each under a nanny that restarts it), talking over TCP
on 127.0.0.1, on ports the system picks. Notebooks run in the same sandbox as locally,
which has its own network namespace: a submission cannot reach the scheduler.
"""
import os
import pathlib
import pickle
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from ebmlib.grading import batch, submissions
from ebmlib.grading.exercise import load_exercise
from ebmlib.grading.sandbox import Limits, isolation

from grading_course import LIMIT_ARGS, PYTHON, correct, grading, load_json, save, student

distributed = pytest.importorskip("distributed", reason="needs pip install 'ebmlib[cluster]'")

SECRET = "a secret of the instructor, for the hidden tests"
KILL_ME = "ebm-kill-me"     # a notebook that sets this process name gets its worker killed
SLOW = "import time; time.sleep(1.5)"


def _dask(*args, env=None):
    return subprocess.Popen([PYTHON, "-m", "dask", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def cluster(public_dir):
    """A scheduler and two worker processes; the scheduler fails a notebook whose worker
    died twice (allowed-failures 1) and gives each worker one notebook at a time."""
    folder = public_dir("cluster")
    info = folder / "scheduler.json"
    env = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
           "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"}
    scheduler = _dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                      "--scheduler-file", str(info), env=env)
    workers = _dask("worker", "--scheduler-file", str(info), "--nworkers", "2", "--nthreads", "1",
                    "--no-dashboard", "--local-directory", str(folder / "workers"))
    try:
        deadline = time.monotonic() + 120
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        with distributed.Client(scheduler_file=str(info), timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            yield {"address": client.scheduler.address, "client": client}
    finally:
        for process in (workers, scheduler):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


def _class(course, folder, count, extra=()):
    """``count`` students with right, wrong, failing and slow answers, plus ``extra``
    ``(student, notebook)``."""
    answers = [correct(),
               correct(free_energy="def free_energy(energies, beta=1.0):\n    return 0.0"),
               correct(grad="def free_energy_grad(energies, beta=1.0):\n    raise ValueError('no')"),
               correct(softmax="def softmax(energies, beta=1.0):\n    while True:\n        pass")]
    for i in range(count):
        nb = student(course, answers[i % len(answers)], before=[SLOW] if i % 5 == 0 else [])
        save(nb, folder / f"student{i:02d}" / "free_energy.ipynb")
    for name, nb in extra:
        save(nb, folder / name / "free_energy.ipynb")
    (folder / "nothing").mkdir()                                   # handed in nothing
    (folder / "garbled").mkdir()
    (folder / "garbled" / "free_energy.ipynb").write_text("{not json")
    return folder


def _grade(course, subs, out, *how, wait=True):
    args = ["grade", subs, "--out", out, "--source", course["source"], "--secret", SECRET,
            *how, *LIMIT_ARGS]
    if wait:
        return grading(*args, timeout=600)
    with open(out.parent / "stderr.txt", "w") as log:   # a pipe left unread would block it
        return subprocess.Popen([PYTHON, "-m", "ebmlib.grading", *map(str, args)],
                                stdout=subprocess.DEVNULL, stderr=log)


def _no_scheduler(course, port):
    """Reaches the scheduler from inside the student's kernel: right answers only if it cannot."""
    return student(course, correct(free_energy=f'''def free_energy(energies, beta=1.0):
    import socket
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
        return 0.0
    except OSError:
        z = -beta * np.asarray(energies, dtype=float)
        m = z.max(axis=-1)
        return -(m + np.log(np.exp(z - m[..., None]).sum(axis=-1))) / beta'''))


@pytest.fixture(scope="module")
def graded(course, cluster, public_dir):
    """A class of 22 students (and 2 with nothing gradable) graded locally with -j 2: the
    grades every cluster run must reproduce."""
    port = int(cluster["address"].rsplit(":", 1)[1])
    subs = _class(course, public_dir("class") / "subs", 22,
                  extra=[("snoop", _no_scheduler(course, port))])
    out = public_dir("local") / "out"
    run = _grade(course, subs, out, "-j", "2")
    assert run.returncode == 0, run.stderr
    return {"subs": subs, "out": out, "csv": (out / "grades.csv").read_bytes()}


def _assert_same_grades(out, graded):
    """grades.csv byte for byte as local grading's; else say which students differ and why."""
    if (out / "grades.csv").read_bytes() == graded["csv"]:
        return
    lines = dict(zip(graded["csv"].decode().splitlines(),
                     (out / "grades.csv").read_text().splitlines()))
    differ = [new.split(",")[0] for old, new in lines.items() if old != new]
    why = {name: [(q["status"], q["message"][:200]) for e in
                  load_json(out / "results" / f"{name}.json")["exercises"] for q in e["questions"]]
           for name in differ}
    pytest.fail(f"grades.csv differs from local grading's for {differ}: {why}")


def _statuses(out):
    return {p.stem: [e["status"] for e in load_json(p)["exercises"]]
            for p in sorted((out / "results").glob("*.json"))}


def test_a_cluster_grades_a_class_as_local_grading_does(course, cluster, graded, public_dir):
    out = public_dir("cluster-out") / "out"
    run = _grade(course, graded["subs"], out, "--scheduler", cluster["address"])
    assert run.returncode == 0, run.stderr
    _assert_same_grades(out, graded)
    statuses = _statuses(out)
    assert len(statuses) == 25 and statuses == _statuses(graded["out"])
    assert {s for (s,) in statuses.values()} == {"graded", "missing", "unreadable"}
    questions = {q["status"] for p in (out / "results").glob("*.json")
                 for e in load_json(p)["exercises"] for q in e["questions"]}
    assert {"ok", "wrong", "error", "timeout"} <= questions
    assert "graded 24 notebooks (0 unchanged, reused) of 25 students" in run.stderr
    assert "grading: 100%|" in run.stderr and "24/24 [" in run.stderr   # progress and ETA
    if isolation().enabled:   # the kernel has its own network: the scheduler is out of reach
        snoop = load_json(out / "results" / "snoop.json")
        assert snoop["points"] == snoop["maximum"], snoop


def test_a_worker_killed_mid_notebook_has_its_notebook_graded_elsewhere(course, cluster, graded,
                                                                        public_dir):
    out = public_dir("killed-out") / "out"
    grader = _grade(course, graded["subs"], out, "--scheduler", cluster["address"], wait=False)
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and grader.poll() is None and time.monotonic() < deadline:
        if len(list((out / "results").glob("*.json"))) >= 6:
            for worker in _workers(cluster):
                if any(_cmdline(p).split()[1:3] == ["-m", "ipykernel_launcher"] and
                       _ancestor(p, worker) for p in _pids()):
                    os.kill(worker, signal.SIGKILL)        # while it runs a kernel
                    killed = worker
                    break
        time.sleep(0.05)
    grader.wait(timeout=600)
    assert killed is not None, "no worker was running a notebook"
    assert grader.returncode == 0, (out.parent / "stderr.txt").read_text()
    _assert_same_grades(out, graded)
    assert "crashed" not in (out / "grades.csv").read_text()


def test_a_notebook_that_kills_every_worker_it_touches_ends_crashed(course, cluster, public_dir):
    subs = public_dir("killer") / "subs"
    killer = student(course, correct(), before=[
        f"open('/proc/self/comm', 'w').write({KILL_ME!r})\nimport time\ntime.sleep(3)"])
    _class(course, subs, 3, extra=[("killer", killer)])
    out = public_dir("killer-out") / "out"
    stop, kills = threading.Event(), []

    def kill_its_workers():
        while not stop.is_set():
            for pid in _pids():
                if _comm(pid) == KILL_ME:
                    worker = next((w for w in _workers(cluster)
                                   if _ancestor(pid, w)), None)
                    if worker is not None and worker not in kills:
                        kills.append(worker)
                        os.kill(worker, signal.SIGKILL)
            time.sleep(0.05)
    watcher = threading.Thread(target=kill_its_workers, daemon=True)
    watcher.start()
    try:
        run = _grade(course, subs, out, "--scheduler", cluster["address"])
    finally:
        stop.set()
        watcher.join()
    assert run.returncode == 0, run.stderr
    assert len(kills) == 2           # the first run and its one retry (allowed-failures 1)
    result = load_json(out / "results" / "killer.json")["exercises"][0]
    assert result["status"] == "crashed"
    assert result["message"].startswith("every worker that ran this notebook died while "
                                        "running it")
    assert "graded again on the next run" in result["message"]
    others = _statuses(out)
    assert all(s == ["graded"] for name, s in others.items() if name.startswith("student"))


def test_a_grader_killed_mid_run_resumes_and_regrades_only_what_is_missing(course, graded,
                                                                          public_dir):
    out = public_dir("resume-out") / "out"
    before = set(_pids())
    grader = _grade(course, graded["subs"], out, "--scheduler", "local:2", wait=False)
    deadline = time.monotonic() + 120
    while len(list((out / "results").glob("*.json"))) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    grader.kill()                    # SIGKILL: its LocalCluster's workers and kernels die too
    grader.wait()
    done = {p.stem for p in (out / "results").glob("*.json")
            if load_json(p)["exercises"][0]["status"] != "pending"}
    assert 5 <= len(done) < 25
    deadline = time.monotonic() + 30    # the workers notice that their grader died
    while _left(before) and time.monotonic() < deadline:
        time.sleep(0.1)
    run = _grade(course, graded["subs"], out, "--scheduler", "local:2")
    assert run.returncode == 0, run.stderr
    _assert_same_grades(out, graded)
    reused = int(run.stderr.split(" unchanged, reused")[0].rsplit("(", 1)[1])
    assert reused >= len(done) - 2   # the missing and garbled are decided again
    if isolation().memory == "cgroup":   # a kernel left by the killed grader is gone now
        assert not _left(before), {p: _status(p) for p in _left(before)}


def _left(before):
    """The grading processes started since ``before`` that still run."""
    return {p: _cmdline(p) for p in set(_pids()) - before
            if any(s in _cmdline(p) for s in ("bwrap", "ipykernel", "dask", "multiprocessing"))}


def test_an_unreachable_scheduler_is_a_clear_error_at_start(course, graded, public_dir):
    import socket
    with socket.socket() as s:       # a port on which nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = public_dir("nowhere") / "out"
    run = _grade(course, graded["subs"], out, "--scheduler", f"tcp://127.0.0.1:{port}")
    assert run.returncode == 2
    assert f"error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:{port}'" in run.stderr
    assert "Traceback" not in run.stderr and not (out / "grades.csv").exists()
    run = _grade(course, graded["subs"], out, "--scheduler", "scheduler.example")
    assert run.returncode == 2 and "is not a scheduler's address" in run.stderr


def test_local_grading_does_not_need_dask(course, graded, public_dir):
    """Without Dask installed, local grading is as before, and --scheduler says what to install."""
    out = public_dir("no-dask") / "out"
    block = ("import sys; sys.modules['distributed'] = None; sys.modules['dask'] = None; "
             "from ebmlib.grading.cli import main; sys.exit(main(sys.argv[1:]))")
    args = ["grade", graded["subs"], "--out", out, "--source", course["source"], "--secret",
            SECRET, *LIMIT_ARGS]
    run = subprocess.run([PYTHON, "-c", block, *map(str, args), "-j", "2"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    _assert_same_grades(out, graded)
    run = subprocess.run([PYTHON, "-c", block, *map(str, args), "--scheduler", "local:2"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "error: --scheduler needs Dask distributed, which is not installed: pip install " \
           "'ebmlib[cluster]'" in run.stderr


def test_a_task_carries_one_notebook_and_no_answer(course, graded, public_dir):
    """What is sent to a worker: that student's notebook and inputs; no expected value, no
    hidden test's source, no solution, no secret, nothing of another student."""
    exercise = load_exercise(course["source"] / "free_energy.ipynb", course["hidden"])
    for case in exercise.cases:
        case.expected = [case.args[0] * 0 + 123456.789]
    limits = Limits()
    _, tasks, _ = submissions.plan(graded["subs"], [exercise], public_dir("plan"), limits,
                                   isolation())
    task = next(t for t in tasks if t[0] == "student01")
    task = task[:1] + (task[1].for_student("student01", SECRET.encode()),) + task[2:]
    sent = pickle.dumps(batch.load(task))
    mine = (graded["subs"] / "student01" / "free_energy.ipynb").read_bytes()
    others = {p.read_bytes() for p in graded["subs"].glob("*/free_energy.ipynb")} - {mine}
    assert mine in sent and others and not any(other in sent for other in others)
    assert np.float64(123456.789).tobytes() not in sent
    for forbidden in ("HIDDEN-SOURCE-MARKER", "BEGIN SOLUTION", "BEGIN HIDDEN TESTS", SECRET):
        assert forbidden.encode() not in sent, forbidden
    hidden = [c for c in task[1].for_worker().cases if c.hidden]
    assert hidden and all(c.expected is None and c.test is None for c in hidden)


def _pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _comm(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _status(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/status").read_text().split("\n")[:9]
    except OSError:
        return ""


def _cmdline(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return ""


def _parent(pid):
    try:
        return int(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _ancestor(pid, ancestor):
    """Whether ``ancestor`` is a (grand)parent of ``pid``."""
    while pid > 1:
        pid = _parent(pid)
        if pid == ancestor:
            return True
    return False


def _workers(cluster):
    """The pids of the cluster's worker processes now (a killed one is restarted anew)."""
    return list(cluster["client"].run(os.getpid).values())

