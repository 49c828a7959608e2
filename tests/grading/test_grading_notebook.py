"""Reading damaged notebooks, solution regions, and the release of a notebook."""
import contextlib
import json
import os
import pathlib
import signal
import socket
import stat
import sys

import nbformat
import pytest

from ebmlib.grading import notebook
from ebmlib.grading.notebook import (MAX_NOTEBOOK_MB, FormatError, Unreadable, read_bytes,
                                     read_source, read_submission, regions, release, stub)
from grading_course import source_notebook

FUNCTION = """def f(x):
    '''Doc.'''
    ### BEGIN SOLUTION
    y = x + 1
    return y
    ### END SOLUTION

z = 2"""


def test_stub_keeps_the_signature_and_the_indentation():
    assert stub(FUNCTION) == ("def f(x):\n    '''Doc.'''\n    # YOUR CODE HERE\n"
                              "    raise NotImplementedError\n\nz = 2")


def test_stub_of_one_region_only():
    source = "### BEGIN SOLUTION\na = 1\n### END SOLUTION\n### BEGIN SOLUTION\nb = 2\n### END SOLUTION"
    assert stub(source, {1}) == "### BEGIN SOLUTION\na = 1\n### END SOLUTION\n" \
                                "# YOUR CODE HERE\nraise NotImplementedError"


@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another region"),
])
def test_unbalanced_regions_are_format_errors(source, problem):
    with pytest.raises(FormatError, match=problem):
        regions(source)


def test_release_stubs_answers_clears_outputs_and_drops_hidden_material(tmp_path):
    nb = source_notebook()
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="secret output")]
    nb.cells[2].execution_count = 3
    student = release(nb, {"exercise": "free_energy"})
    text = nbformat.writes(student)
    assert "BEGIN SOLUTION" not in text and "z - z.max" not in text
    assert "secret output" not in text and "HIDDEN TESTS" not in text
    assert "assert abs(free_energy" not in text  # the cell tagged hidden
    assert text.count("raise NotImplementedError") == 3
    assert "def softmax(energies, beta=1.0):" in text
    assert student.metadata["ebm_grading"] == {"exercise": "free_energy"}
    assert all(c.get("execution_count") is None for c in student.cells if c.cell_type == "code")
    assert len(nb.cells) == len(student.cells) + 1 and "BEGIN SOLUTION" in nb.cells[2].source


def test_read_source_collects_questions_and_points(tmp_path):
    path = tmp_path / "ex.ipynb"
    nbformat.write(source_notebook(), str(path))
    _, points = read_source(path)
    assert points == {"softmax": 2.0, "free_energy": 2.0, "grad": 2.0}


@pytest.mark.parametrize("tags, problem", [
    ([], "no 'question:<id>' tag"),
    (["question:a"], "no 'points:<n>' tag"),
    (["question:a", "points:zero"], "not a positive number"),
    (["question:a b", "points:1"], "Python-like name"),
])
def test_read_source_rejects_badly_tagged_solutions(tmp_path, tags, problem):
    cell = nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION",
                                     metadata={"tags": tags})
    path = tmp_path / "ex.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), str(path))
    with pytest.raises(FormatError, match=problem):
        read_source(path)


def _unreadable(tmp_path, data):
    path = tmp_path / "losses.ipynb"
    path.write_bytes(data)
    with pytest.raises(Unreadable) as info:
        read_submission(path)
    return str(info.value)


def test_damaged_files_give_messages_that_say_what_to_do(tmp_path):
    good = nbformat.writes(source_notebook()).encode()
    assert "is empty (0 bytes)" in _unreadable(tmp_path, b"")
    message = _unreadable(tmp_path, good[:1234])
    assert message.startswith("Your notebook 'losses.ipynb' is not valid JSON (truncated at byte 1234)")
    assert "re-download it or restore it from a checkpoint" in message
    assert "Expecting value at line 1, column 1" in _unreadable(tmp_path, b"hello, world")
    assert "not UTF-8 text (byte 0xff at offset 1)" in _unreadable(tmp_path, b"{\xff\xfe}")
    assert "has no 'cells' list" in _unreadable(tmp_path, b'{"metadata": {}}')
    assert "has no 'cells' list" in _unreadable(tmp_path, b"[1, 2]")
    assert "Cell 1 of your notebook" in _unreadable(tmp_path, b'{"cells": [3]}')
    assert "not a plain file" in str(pytest.raises(Unreadable, read_submission, tmp_path).value)


def test_submissions_keep_sources_and_tags_but_not_outputs(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "source": "# t"},
                    {"cell_type": "code", "source": ["x = 1\n", "y = 2"],
                     "metadata": {"tags": ["question:q", 7]}, "outputs": [{"text": "big"}]}],
          "metadata": {"ebm_grading": {"exercise": "e"}}}
    path = tmp_path / "e.ipynb"
    path.write_text(json.dumps(nb))
    cells, metadata = read_submission(path)
    assert [(c.number, c.source, c.tags, c.question) for c in cells] == \
        [(2, "x = 1\ny = 2", ("question:q",), "q")]
    assert metadata == {"ebm_grading": {"exercise": "e"}}


@contextlib.contextmanager
def within(seconds):
    """Fail, rather than hang, if the block takes longer than ``seconds``."""
    def fail(*_):
        pytest.fail(f"still running after {seconds} s")  # not an OSError: nothing swallows it
    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _refused(path):
    with within(5), pytest.raises(Unreadable) as info:
        read_bytes(path)
    return str(info.value)


def test_only_a_regular_file_is_read(tmp_path):
    other = tmp_path / "other.ipynb"
    other.write_text('{"cells": []}')
    path = tmp_path / "losses.ipynb"
    for target in ("/dev/zero", other, tmp_path / "nowhere"):
        path.symlink_to(target)
        assert _refused(path) == ("'losses.ipynb' is a symbolic link, not a plain file: "
                                  "submit the notebook file itself.")
        path.unlink()
    os.mkfifo(path)
    assert "'losses.ipynb' is a FIFO (named pipe), not a plain file" in _refused(path)
    path.unlink()
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        assert "is a socket, not a plain file" in _refused(path)
    path.unlink()
    path.mkdir()
    assert "is a folder, not a plain file" in _refused(path)
    assert "could not be read (No such file or directory)" in _refused(tmp_path / "gone.ipynb")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can make a device node")
def test_a_device_node_is_refused(tmp_path):
    path = tmp_path / "losses.ipynb"
    os.mknod(path, stat.S_IFCHR | 0o644, os.makedev(1, 5))  # /dev/zero
    assert "'losses.ipynb' is a device, not a plain file" in _refused(path)


def test_an_oversize_notebook_is_refused_unread(tmp_path):
    path = tmp_path / "losses.ipynb"
    with open(path, "wb") as f:
        f.truncate((MAX_NOTEBOOK_MB << 20) + 1)  # sparse: nothing to read
    message = _refused(path)
    assert message.startswith(f"Your notebook 'losses.ipynb' is larger than {MAX_NOTEBOOK_MB} MB")
    assert "clear its outputs" in message
    with open(path, "r+b") as f:
        f.truncate(MAX_NOTEBOOK_MB << 20)
    assert len(read_bytes(path)) == MAX_NOTEBOOK_MB << 20


def test_a_file_longer_than_its_size_says_is_read_up_to_the_cap(monkeypatch):
    procfile = pathlib.Path("/proc/self/status")  # a regular file of size 0 that holds text
    assert os.stat(procfile).st_size == 0 and read_bytes(procfile)
    monkeypatch.setattr(notebook, "MAX_NOTEBOOK_MB", 0)
    assert "is larger than 0 MB" in _refused(procfile)


def test_deep_nesting_and_huge_integers_are_unreadable(tmp_path):
    message = _unreadable(tmp_path, b"[" * 100_000)
    assert message.startswith("Your notebook 'losses.ipynb' nests brackets too deeply")
    assert "re-download it" in message
    message = _unreadable(tmp_path, b'{"cells": [], "metadata": {"n": ' + b"9" * 5000 + b"}}")
    assert f"holds a number of more than {sys.get_int_max_str_digits()} digits" in message


def test_submitted_bytes_are_parsed_without_reading_the_path(tmp_path):
    data = json.dumps({"cells": [{"cell_type": "code", "source": "x = 1"}]}).encode()
    cells, _ = read_submission(tmp_path / "missing.ipynb", data)
    assert [c.source for c in cells] == ["x = 1"]
