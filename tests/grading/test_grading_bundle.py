"""The student bundle: the released notebooks and a README, byte-stable, and nothing of the
instructor's (no solution, no hidden test)."""
import ast
import os
import pathlib
import zipfile

from ebmlib.grading.bundle import BUNDLE, FOLDER, write_bundle

ROOT = pathlib.Path(__file__).resolve().parents[2]
RELEASE, HIDDEN = ROOT / "exercises" / "release", ROOT / "exercises" / "hidden"


def test_the_bundle_holds_the_notebooks_and_a_readme_and_is_byte_stable(tmp_path):
    (tmp_path / "b.ipynb").write_text("{}")
    (tmp_path / "a.ipynb").write_text("[]")
    (tmp_path / "notes.txt").write_text("not a notebook")
    first = write_bundle(tmp_path).read_bytes()
    os.utime(tmp_path / "a.ipynb", (0, 0))  # another date changes nothing
    assert write_bundle(tmp_path).read_bytes() == first
    with zipfile.ZipFile(tmp_path / BUNDLE) as z:
        assert z.namelist() == [f"{FOLDER}/README.md", f"{FOLDER}/a.ipynb", f"{FOLDER}/b.ipynb"]
        assert z.read(f"{FOLDER}/a.ipynb") == b"[]"
    (tmp_path / "a.ipynb").write_text("[1]")
    assert write_bundle(tmp_path).read_bytes() != first


def hidden_test_names():
    """The names of the hidden tests (second argument of each ``Test(...)``)."""
    names = set()
    for path in HIDDEN.glob("*_tests.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Test" \
                    and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                names.add(node.args[1].value)
    return names


def test_the_committed_bundle_is_the_release_and_holds_nothing_of_the_instructor():
    with zipfile.ZipFile(RELEASE / BUNDLE) as z:
        files = {n.split("/", 1)[1]: z.read(n) for n in z.namelist()}
    notebooks = {p.name: p.read_bytes() for p in RELEASE.glob("*.ipynb")}
    assert {n: d for n, d in files.items() if n != "README.md"} == notebooks, (
        "exercises/release/exercises.zip is stale: run `python -m ebmlib.grading release "
        "exercises/source exercises/release`")
    text = b"".join(files.values()).decode()
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN" not in text
    secret = hidden_test_names()
    assert len(secret) > 20  # the parse finds them
    assert not [name for name in secret if name in text]
