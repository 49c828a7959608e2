"""The sample exercise of the grading tests (softmax, free energy, its gradient) and
helpers to write courses and submissions; every notebook is generated into tmp dirs,
never committed under tests/ (nbval would collect it)."""
import json
import os
import pathlib
import subprocess
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

PYTHON = sys.executable
LIMIT_ARGS = ["--cell-timeout", "4", "--timeout", "40", "--memory-mb", "1024"]

SOFTMAX = '''def softmax(energies, beta=1.0):
    """Gibbs distribution exp(-beta E) / Z over the last axis."""
    z = -beta * np.asarray(energies, dtype=float)
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)'''

FREE_ENERGY = '''def free_energy(energies, beta=1.0):
    """F = -1/beta log sum exp(-beta E) over the last axis (stable)."""
    z = -beta * np.asarray(energies, dtype=float)
    m = z.max(axis=-1)
    return -(m + np.log(np.exp(z - m[..., None]).sum(axis=-1))) / beta'''

GRAD = '''def free_energy_grad(energies, beta=1.0):
    """dF/dE for a vector of energies: the Gibbs distribution."""
    z = -beta * np.asarray(energies, dtype=float)
    p = np.exp(z - z.max())
    return p / p.sum()'''

ANSWERS = {"softmax": SOFTMAX, "free_energy": FREE_ENERGY, "grad": GRAD}

PUBLIC_TESTS = '''"""Public tests of the free-energy exercise."""
from ebmlib.grading import Test, jacobian


def batch(rng):
    return (rng.normal(size=(4, 6)),)


TESTS = [
    Test("softmax", "a batch of 4 rows of 6 energies", "softmax", batch),
    Test("free_energy", "a batch of 4 rows of 6 energies", "free_energy", batch),
    Test("grad", "dF/dE against finite differences", "free_energy_grad",
         lambda rng: (rng.normal(size=5),), reference="jacobian_fd(free_energy, *args)",
         compare=jacobian()),
]
'''

HIDDEN_TESTS = '''"""Hidden tests (HIDDEN-SOURCE-MARKER)."""
from ebmlib.grading import Test, jacobian

TESTS = [
    Test("softmax", "large energies with beta 3", "softmax(*args, beta=3.0)",
         lambda rng: (1e3 + rng.normal(size=(2, 7)),)),
    Test("free_energy", "beta 0.5", "free_energy(*args, beta=0.5)",
         lambda rng: (rng.normal(size=(3, 4)),)),
    Test("grad", "dF/dE with beta 2", "free_energy_grad(*args, beta=2.0)",
         lambda rng: (rng.normal(size=4),),
         reference="jacobian_fd(lambda e: free_energy(e, beta=2.0), *args)", compare=jacobian()),
]
'''


def solution(code):
    """Put a function's body (after its signature and one-line docstring) in solution markers."""
    lines = code.split("\n")
    return "\n".join(lines[:2] + ["    ### BEGIN SOLUTION", *lines[2:], "    ### END SOLUTION"])


def source_notebook():
    cells = [new_markdown_cell("# Softmax and free energy"),
             new_code_cell("import numpy as np")]
    for qid, code in ANSWERS.items():
        cells.append(new_code_cell(solution(code), metadata={"tags": [f"question:{qid}", "points:2"]}))
    cells.append(new_code_cell("# a check students can run\nprint(softmax(np.zeros(3)))"))
    cells.append(new_code_cell("assert abs(free_energy(np.zeros(2)) + np.log(2)) < 1e-12",
                               metadata={"tags": ["hidden"]}))
    cells.append(new_code_cell("x = 1\n### BEGIN HIDDEN TESTS\nassert x == 1\n### END HIDDEN TESTS"))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def write_course(root):
    """exercises/source + exercises/hidden under ``root``; returns (source, hidden)."""
    source, hidden = root / "exercises" / "source", root / "exercises" / "hidden"
    source.mkdir(parents=True)
    hidden.mkdir()
    nbformat.write(source_notebook(), str(source / "free_energy.ipynb"))
    (source / "free_energy_tests.py").write_text(PUBLIC_TESTS)
    (hidden / "free_energy_tests.py").write_text(HIDDEN_TESTS)
    return source, hidden


def grading(*args, cwd=None, timeout=300):
    """Run ``python -m ebmlib.grading ARGS`` and return the completed process."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([PYTHON, "-m", "ebmlib.grading", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, env=env)


def student(course, answers=None, before=(), after=()):
    """A released notebook with ``answers`` {question: code} filled in and extra cells."""
    nb = nbformat.read(str(course["released"]), as_version=4)
    for cell in nb.cells:
        qid = next((t.split(":", 1)[1] for t in cell.metadata.get("tags", [])
                    if t.startswith("question:")), None)
        if qid in (answers or {}):
            cell.source = answers[qid]
    first = 2  # after the title and the imports
    nb.cells[first:first] = [new_code_cell(c) for c in before]
    nb.cells += [new_code_cell(c) for c in after]
    return nb


def correct(**override):
    return {**ANSWERS, **override}


def save(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def load_json(path):
    return json.loads(pathlib.Path(path).read_text())
