"""Benchmark of the autograder (figures, not pass/fail).

Reports, with the sandbox this machine allows (bubblewrap as root here):

- the grader's overhead per submission notebook (wall time beyond the student's
  own compute: kernel start, cells, harvest, comparisons, kill); target <= 1 s;
- the wall time of ``grade -j 2`` over 100 synthetic one-notebook submissions of
  which 10 hang in every function, under the default limits; target < 5 min;
- the time to grade one notebook of the course (``exercises/source``) whose every
  solution hangs, under the default limits (each test gets 20 times the reference
  solution's time, at least 2 s).

With ``--cluster`` (needs ``pip install 'ebmlib[cluster]'``), in the same run:

- the time per notebook of grading the same class through a Dask scheduler
  (``--scheduler local:J``, J worker processes) against local ``-j J``: the grading loop
  alone, both pools started beforehand; target: within 10 %;
- the scheduler's own cost per task, with trivial tasks sent through the same loop (and
  with Dask's ``Client.map`` alone, for comparison);
- the time to grade each solution notebook of the course, one at a time, for the estimate
  of a larger class.

    python bench/bench_grading.py [--submissions 100] [--hanging 10] [--jobs 2] [--cluster]
"""
import argparse
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ebmlib.grading import grader, submissions
from ebmlib.grading.batch import collect_task, finish, load
from ebmlib.grading.batch import run as run_tasks
from ebmlib.grading.exercise import load_exercise
from ebmlib.grading.notebook import read_submission
from ebmlib.grading.sandbox import Limits, isolation

SOLUTION = '''def free_energy(energies, beta=1.0):
    """F = -1/beta log sum exp(-beta E) over the last axis."""
    ### BEGIN SOLUTION
    z = -beta * np.asarray(energies, dtype=float)
    m = z.max(axis=-1)
    return -(m + np.log(np.exp(z - m[..., None]).sum(axis=-1))) / beta
    ### END SOLUTION'''

TESTS = '''from ebmlib.grading import Test
TESTS = [Test("free_energy", "batch", "free_energy", lambda rng: (rng.normal(size=(8, 5)),)),
         Test("free_energy", "beta 2", "free_energy(*args, beta=2.0)", lambda rng: (rng.normal(size=3),))]
'''


def make_course(root):
    source = root / "exercises" / "source"
    source.mkdir(parents=True)
    (root / "exercises" / "hidden").mkdir()
    nb = new_notebook(cells=[new_markdown_cell("# Free energy"), new_code_cell("import numpy as np"),
                             new_code_cell(SOLUTION, metadata={"tags": ["question:free_energy", "points:1"]})])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(source / "bench.ipynb"))
    (source / "bench_tests.py").write_text(TESTS)
    return source


def make_submissions(root, source, count, hanging):
    answer = SOLUTION.replace("    ### BEGIN SOLUTION\n", "").replace("\n    ### END SOLUTION", "")
    hang = answer.split("\n")[0] + "\n    while True:\n        pass"
    subs = root / "submissions"
    for i in range(count):
        nb = nbformat.read(str(source / "bench.ipynb"), as_version=4)
        nb.cells[2].source = hang if i < hanging else answer
        (subs / f"student{i:03d}").mkdir(parents=True)
        nbformat.write(nb, str(subs / f"student{i:03d}" / "bench.ipynb"))
    return subs


def all_hang(root, jobs):
    """Seconds to grade each course notebook whose every solution region hangs."""
    from ebmlib.grading.notebook import SOLUTION as MARKERS
    course = pathlib.Path(__file__).resolve().parents[1] / "exercises"
    subs = root / "hanging"
    for path in sorted((course / "source").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            lines, out, inside = cell.source.split("\n"), [], False
            for line in lines:
                if line.strip().startswith(MARKERS[0]):
                    inside = True
                    out.append(line[:len(line) - len(line.lstrip())] + "while True: pass")
                elif line.strip().startswith(MARKERS[1]):
                    inside = False
                elif not inside:
                    out.append(line)
            cell.source = "\n".join(out)
        (subs / "hangs").mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(subs / "hangs" / path.name))
    out = root / "hanging-out"
    batch(course / "source", subs, out, jobs)
    import json
    result = json.loads((out / "results" / "hangs.json").read_text())
    return {e["exercise"]: e["duration"] for e in result["exercises"]}


def overhead(source, subs, runs=10):
    """Mean seconds per notebook beyond the student's compute, graded one after another."""
    exercise = load_exercise(source / "bench.ipynb", source.parent / "hidden")
    limits = Limits()
    grader.reference(read_submission(source / "bench.ipynb")[0], exercise, limits)
    subs_ok = [p for p in sorted(subs.glob("*/bench.ipynb"))
               if "while True" not in p.read_text()]
    iso = isolation([source, subs])
    walls, computes = [], []
    for path in subs_ok[:runs]:
        start = time.monotonic()
        cells, _ = read_submission(path)
        result = grader.grade(cells, exercise, limits, iso)
        walls.append(time.monotonic() - start)
        computes.append(sum(q["duration"] for q in result["questions"]))
        assert result["points"] == 1, result
    return statistics.mean(walls) - statistics.mean(computes), iso


def batch(source, subs, out, jobs):
    start = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "ebmlib.grading", "grade", str(subs), "--out", str(out),
                          "--source", str(source), "-j", str(jobs)], capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(run.stderr)
    return time.monotonic() - start


def grading_loop(pool, tasks, limits):
    """Seconds to grade ``tasks`` through ``pool`` with the grader's own loop; every result
    must be full marks."""
    start = time.monotonic()
    for task, result in run_tasks(collect_task, tasks, pool, "grading", prepare=load, finish=finish):
        assert not isinstance(result, Exception) and result["points"] == 1, result
    return time.monotonic() - start


def cluster_figures(source, subs, jobs, trivial=2000):
    """Per-notebook seconds through ``local:jobs`` and through ``-j jobs`` on the notebooks of
    ``subs`` that do not hang, and the per-task seconds of trivial tasks."""
    from ebmlib.grading.cluster import Cluster
    from ebmlib.grading.exercise import load_exercises
    limits = Limits()
    exercises = load_exercises(source, source.parent / "hidden")
    good = root_without_hanging(subs)
    iso = isolation([source, good])
    _, tasks, _ = submissions.plan(good, exercises, good.parent / "plan", limits, iso)
    for exercise in exercises:
        grader.reference(read_submission(source / exercise.filename)[0], exercise, limits)
    cluster = Cluster(f"local:{jobs}", [source, good])
    try:
        grading_loop(cluster, tasks[:2 * jobs], limits)   # warm both pools: imports, caches
        grading_loop(jobs, tasks[:2 * jobs], limits)
        local = grading_loop(jobs, tasks, limits) / len(tasks)
        dask = grading_loop(cluster, tasks, limits) / len(tasks)
        start = time.monotonic()
        for _, result in run_tasks(first, [(k, iso) for k in range(trivial)], cluster, "trivial"):
            assert not isinstance(result, Exception), result
        loop_task = (time.monotonic() - start) / trivial
        start = time.monotonic()
        cluster.client.gather(cluster.client.map(abs, range(trivial), pure=False))
        map_task = (time.monotonic() - start) / trivial
    finally:
        cluster.close()
    return len(tasks), local, dask, loop_task, map_task


def first(task):
    """A trivial task: its first item."""
    return task[0]


def root_without_hanging(subs):
    """A copy of the class ``subs`` without its hanging notebooks."""
    good = subs.parent / "good"
    for path in sorted(subs.glob("*/bench.ipynb")):
        if "while True" not in path.read_text():
            (good / path.parent.name).mkdir(parents=True)
            shutil.copy(path, good / path.parent.name / path.name)
    return good


def course_notebooks():
    """Seconds to grade each solution notebook of the course, one at a time, sandboxed."""
    from ebmlib.grading.exercise import load_exercises, source_cells
    course = pathlib.Path(__file__).resolve().parents[1] / "exercises"
    limits = Limits()
    iso = isolation([course])
    seconds = {}
    for exercise in load_exercises(course / "source", course / "hidden"):
        grader.reference(source_cells(exercise), exercise, limits)
        start = time.monotonic()
        result = grader.grade(source_cells(exercise), exercise, limits, iso)
        seconds[exercise.name] = time.monotonic() - start
        assert result["points"] == exercise.maximum - sum(exercise.manual.values()), result
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("--hanging", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cluster", action="store_true", help="also the Dask figures")
    args = parser.parse_args()
    root = pathlib.Path(tempfile.mkdtemp(prefix="ebm-bench-"))
    os.chmod(root, 0o755)
    try:
        source = make_course(root)
        subs = make_submissions(root, source, args.submissions, args.hanging)
        per_notebook, iso = overhead(source, subs)
        seconds = batch(source, subs, root / "out", args.jobs)
        hanging = all_hang(root, args.jobs)
        if args.cluster:
            figures = cluster_figures(source, subs, args.jobs)
            course = course_notebooks()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"isolation: {iso.reason if iso.enabled else 'OFF (' + iso.reason + ')'}; "
          f"memory: {iso.memory}; {os.cpu_count()} CPUs")
    print(f"overhead per notebook (sequential): {per_notebook:.2f} s   (target <= 1 s)")
    print(f"grade -j {args.jobs}, {args.submissions} submissions, {args.hanging} hanging in every "
          f"function: {seconds:.1f} s ({seconds / args.submissions:.2f} s each)   (target < 300 s)")
    print("one course notebook whose every solution hangs, default limits: " + ", ".join(
        f"{name} {t:.0f} s" for name, t in hanging.items()) + f"; {sum(hanging.values()):.0f} s in all")
    if args.cluster:
        count, local, dask, loop_task, map_task = figures
        print(f"cluster: {count} notebooks, grading loop only: -j {args.jobs} {local:.3f} s per "
              f"notebook, --scheduler local:{args.jobs} {dask:.3f} s per notebook: "
              f"{100 * (dask / local - 1):+.1f} %   (target: within 10 %)")
        print(f"scheduler's cost per task (trivial tasks, local:{args.jobs}): "
              f"{1e3 * loop_task:.2f} ms through the grader's loop, {1e3 * map_task:.2f} ms with "
              f"Client.map alone")
        print("grading each course notebook's solution, one at a time: " + ", ".join(
            f"{name} {t:.1f} s" for name, t in course.items()) +
            f"; mean {statistics.mean(course.values()):.1f} s")


if __name__ == "__main__":
    main()
