"""The answers format: what the kernel hands back is parsed in one pass under caps fixed
before reading, whatever bytes a hostile kernel writes."""
import json

import numpy as np
import pytest

from ebmlib.grading.harvest import MAGIC, MAX_ARRAYS, read_answers, write_answers


def raw(header, body=b""):
    header = header if isinstance(header, bytes) else json.dumps(header).encode()
    return MAGIC + len(header).to_bytes(8, "little") + header + body


def test_answers_round_trip(tmp_path):
    arrays = {"t0_o0": np.arange(6.0).reshape(2, 3), "t1_o0": np.array(True),
              "t1_o1": np.array([1 + 2j]), "t2_o0": np.zeros((0, 4), np.int32)}
    write_answers(str(tmp_path / "a"), {"0": {"status": "value"}}, arrays)
    meta, back = read_answers((tmp_path / "a").read_bytes())
    assert meta == {"0": {"status": "value"}} and back.keys() == arrays.keys()
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype and np.array_equal(back[name], array)


@pytest.mark.parametrize("data", [
    b"PK\x03\x04 a zip archive",                                           # not the format
    raw({"meta": {}, "arrays": []})[:-3],                                  # cut short
    MAGIC + (10 ** 12).to_bytes(8, "little") + b"{}",                      # a header too large
    raw({"meta": {}, "arrays": [["a", "<f8", [10 ** 7]]] * 5}),            # 400 MB claimed, none sent
    raw({"meta": {}, "arrays": [["a", "<f8", [2]]]}, b"\0" * 17),          # bytes after the arrays
    raw({"meta": {}, "arrays": [["a", "|O", [1]]]}, b"\0" * 8),            # objects
    raw({"meta": {}, "arrays": [["a", "<U3", [1]]]}, b"\0" * 12),          # text
    raw({"meta": {}, "arrays": [["a", "<i3", [1]]]}, b"\0" * 3),           # no such dtype
    raw({"meta": {}, "arrays": [["a", "<f8", [1] * 9]]}, b"\0" * 8),       # too many dimensions
    raw({"meta": {}, "arrays": [["a", "<f8", [-1]]]}),                     # a negative size
    raw({"meta": {}, "arrays": [["a", "<f8", [True]]]}, b"\0" * 8),        # a bool as a size
    raw({"meta": [], "arrays": []}),                                       # the wrong shape
    raw({"meta": {}, "arrays": [["a", "<f8", [0]]] * (MAX_ARRAYS + 1)}),   # too many arrays
    raw(b"[" * 200_000),                                                   # nested too deep
    raw(b'{"meta": {"x": 1' + b"9" * 100_000 + b'}, "arrays": []}'),       # a huge integer
])
def test_anything_else_is_refused_with_a_value_error(data):
    with pytest.raises(ValueError):
        read_answers(data)
