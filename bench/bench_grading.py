"""Benchmark of the autograder (figures, not pass/fail).

Reports the grader's overhead per submission notebook (wall time beyond the
student's own compute: kernel start, cells, harvest, comparisons, kill) and the
wall time of ``grade -j 2`` over 100 synthetic one-notebook submissions.
Targets: at most 1.5 s per notebook; 100 submissions in under 3 minutes.

    python bench/bench_grading.py [--submissions 100] [--jobs 2]
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

from ebmlib.grading import grader
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


def make_submissions(root, source, count):
    answer = SOLUTION.replace("    ### BEGIN SOLUTION\n", "").replace("\n    ### END SOLUTION", "")
    nb = nbformat.read(str(source / "bench.ipynb"), as_version=4)
    nb.cells[2].source = answer
    subs = root / "submissions"
    for i in range(count):
        (subs / f"student{i:03d}").mkdir(parents=True)
        nbformat.write(nb, str(subs / f"student{i:03d}" / "bench.ipynb"))
    return subs


def overhead(source, subs, runs=10):
    """Mean seconds per notebook beyond the student's compute, graded one after another."""
    exercise = load_exercise(source / "bench.ipynb", source.parent / "hidden")
    limits = Limits()
    grader.reference(read_submission(source / "bench.ipynb")[0], exercise, limits)
    iso = isolation([source, subs])
    walls, computes = [], []
    for path in sorted(subs.glob("*/bench.ipynb"))[:runs]:
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    root = pathlib.Path(tempfile.mkdtemp(prefix="ebm-bench-"))
    os.chmod(root, 0o755)
    try:
        source = make_course(root)
        subs = make_submissions(root, source, args.submissions)
        per_notebook, iso = overhead(source, subs)
        seconds = batch(source, subs, root / "out", args.jobs)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"isolation: {'on' if iso.enabled else 'OFF (' + iso.reason + ')'}; {os.cpu_count()} CPUs")
    print(f"overhead per notebook (sequential): {per_notebook:.2f} s   (target <= 1.5 s)")
    print(f"grade -j {args.jobs}, {args.submissions} submissions: {seconds:.1f} s "
          f"({seconds / args.submissions:.2f} s each)   (target < 180 s for 100)")


if __name__ == "__main__":
    main()
