"""The strict CuPy stand-in (tests/strict_device.py) behaves like CuPy where bugs
hide, and the library's test suite passes on it (``pytest --strict-device``)."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import strict_device
from ebmlib.backend import get_backend

ROOT = pathlib.Path(__file__).resolve().parents[1]
xp = strict_device.namespace
#: the tests of ebmlib's array code; the others test the book, the exercises and the
#: grader, whose kernels run ebmlib on NumPy in processes of their own
LIBRARY_SUITE = ["tests", "--ignore=tests/grading", "--ignore=tests/test_exercises.py",
                 "--ignore=tests/test_book_browser.py", "--ignore=tests/test_strict_device.py"]


def test_no_implicit_conversion_to_numpy():
    a = xp.asarray([1.0, 2.0])
    for convert in (np.asarray, np.array, lambda a: np.testing.assert_allclose(a, [1, 2])):
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
            convert(a)


def test_no_mixing_with_host_arrays():
    a, host = xp.asarray([1.0, 2.0]), np.ones(2)
    for op in (lambda: a + host, lambda: host * a, lambda: np.add(host, a),
               lambda: xp.matmul(a, host), lambda: xp.where(a > 0, host, a), lambda: a @ host):
        with pytest.raises(TypeError, match="mix a device array with a host NumPy array"):
            op()
    assert isinstance(a + 1.0, xp.ndarray) and isinstance(a * np.float64(2.0), xp.ndarray)


def test_results_stay_on_the_device_and_read_backs_are_counted():
    a = xp.asarray([[1.0, 2.0], [3.0, 4.0]])
    total = a.sum()
    assert isinstance(total, xp.ndarray) and total.ndim == 0       # not a host scalar
    assert isinstance(np.exp(a), xp.ndarray) and isinstance(a[0], xp.ndarray)
    start = strict_device.transfers.count
    values = [float(total), int(a[1, 1]), bool(total > 0), a.get(), a.tolist(), f"{total:.1f}"]
    assert strict_device.transfers.count - start == len(values)
    np.testing.assert_array_equal(values[3], [[1.0, 2.0], [3.0, 4.0]])
    a[0] = np.zeros(2)                                               # host to device: allowed
    assert float(a.sum()) == 7.0


@pytest.mark.skipif(get_backend() == "strict_device", reason="this is that run")
def test_library_suite_passes_on_the_strict_device():
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--strict-device", *LIBRARY_SUITE], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
