"""Fixtures of the grading tests: the sample course, released once per session.

Course and batch folders are world-readable (like a real checkout), so that only the
sandbox, not a private pytest folder, keeps student code away from them."""
import os
import pathlib
import shutil
import tempfile

import pytest

from grading_course import LIMIT_ARGS, grading, write_course


@pytest.fixture(scope="session")
def public_dir():
    """A factory of world-readable temporary folders, removed at the end of the session."""
    made = []

    def make(prefix):
        path = pathlib.Path(tempfile.mkdtemp(prefix=f"ebm-test-{prefix}-"))
        os.chmod(path, 0o755)
        made.append(path)
        return path
    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def course(public_dir):
    """The sample exercise and its release: a dict of paths."""
    root = public_dir("course")
    source, hidden = write_course(root)
    release = root / "exercises" / "release"
    run = grading("release", source, release, *LIMIT_ARGS)
    assert run.returncode == 0, run.stderr
    return {"root": root, "source": source, "hidden": hidden, "release": release,
            "released": release / "free_energy.ipynb"}
