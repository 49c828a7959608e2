"""The course's exercises: eight of them, released from the current sources, and
`verify` passes (solutions 100%, releases 0, each stubbed solution loses
exactly its question's points)."""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCE, HIDDEN, RELEASE = (ROOT / "exercises" / d for d in ("source", "hidden", "release"))
EXERCISES = ("inference", "losses", "linear", "backprop", "collapse", "latent", "structured",
             "sampling")


def grading(*args, timeout=900, env=None):
    return subprocess.run([sys.executable, "-m", "ebmlib.grading", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def questions(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    points = {}
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        qid = next((t.split(":", 1)[1] for t in tags if t.startswith("question:")), None)
        for t in tags:
            if qid and t.startswith("points:"):
                points[qid] = float(t.split(":", 1)[1])
    return points


@pytest.mark.parametrize("name", EXERCISES)
def test_each_exercise_has_graded_questions_and_both_kinds_of_tests(name):
    points = questions(SOURCE / f"{name}.ipynb")
    assert len(points) >= 3 and all(p > 0 for p in points.values()), points
    assert (SOURCE / f"{name}_tests.py").is_file() and (HIDDEN / f"{name}_tests.py").is_file()
    released = (RELEASE / f"{name}.ipynb").read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in released and "NotImplementedError" in released
    assert questions(RELEASE / f"{name}.ipynb") == points


def other_numeric_path():
    """Environment that moves numpy off the SIMD paths this CPU would take (AVX2, AVX-512)
    and BLAS to one thread: a stand-in for another machine's last bits."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    faster = [t for t in __cpu_dispatch__ if __cpu_features__.get(t)]
    return {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(faster), "OPENBLAS_NUM_THREADS": "1"}


def test_release_is_current_and_stable_on_another_numeric_path(tmp_path):
    """Regenerating the release over the committed one, with other last bits, changes no byte:
    `release` keeps committed cases that differ only by round-off."""
    out = tmp_path / "release"
    shutil.copytree(RELEASE, out)
    proc = grading("release", str(SOURCE), str(out), "-j", "2", env=other_numeric_path())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fresh = sorted(p.name for p in out.glob("*.ipynb"))
    assert fresh == sorted(p.name for p in RELEASE.glob("*.ipynb"))
    for name in fresh:
        assert (out / name).read_bytes() == (RELEASE / name).read_bytes(), (
            f"exercises/release/{name} is stale (its sources changed more than round-off): run "
            "`python -m ebmlib.grading release exercises/source exercises/release`")


def test_verify_passes():
    proc = grading("verify", str(SOURCE), "-j", "2")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for name in EXERCISES:
        assert name in proc.stdout
