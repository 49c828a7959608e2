"""The student bundle: the released notebooks in one zip, and nothing else of the course.

``release`` writes :data:`BUNDLE` beside the released notebooks. It holds them and a short
README: no solutions and no hidden tests (a released notebook carries only its public
tests, in its metadata). It is byte-stable: entries in order, stored uncompressed, with a
fixed date and mode, so that regenerating an unchanged release changes no byte.
"""
import pathlib
import zipfile

BUNDLE = "exercises.zip"
FOLDER = "ebm-exercises"
README = """\
# Energy-based models: the graded exercises

One notebook per exercise. You need Python >= 3.10 and the course's library, ebmlib
(install it as your instructor says; from a copy of the course repository:
`python3 -m venv .venv && .venv/bin/pip install -r requirements.txt`).

1. Open a notebook in Jupyter (`jupyter lab`) and run its first code cell.
2. Replace each `raise NotImplementedError` with your code, then run the `check("...")`
   cell after the question: it runs the public tests on your code and says what to fix.
3. Before handing in, save the notebook and check it once from a terminal:
   `python -m ebmlib.grading check NOTEBOOK.ipynb` runs it from top to bottom in a fresh
   kernel, as the grader does.

Hand in the notebooks under their names (e.g. `losses.ipynb`). Your instructor grades
them with more tests than the public ones.
"""


def write_bundle(release_dir):
    """Write ``release_dir``/:data:`BUNDLE` from the notebooks there; returns its path."""
    release_dir = pathlib.Path(release_dir)
    entries = [("README.md", README.encode())]
    entries += [(p.name, p.read_bytes()) for p in sorted(release_dir.glob("*.ipynb"))]
    path = release_dir / BUNDLE
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(f"{FOLDER}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return path
