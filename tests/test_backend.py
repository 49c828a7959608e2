"""The array backend: NumPy by default, a clear error where CuPy is not usable."""
import os
import subprocess
import sys

import numpy as np
import pytest

import ebmlib
from ebmlib import backend

# these test the selection of NumPy or CuPy itself, which --strict-device replaces
pytestmark = pytest.mark.skipif(backend.get_backend() not in backend.BACKENDS,
                                reason="the strict device stand-in replaces the backend")


def test_default_backend_is_numpy_or_the_requested_one():
    expected = os.environ.get("EBMLIB_BACKEND", "numpy") or "numpy"
    assert backend.get_backend() == expected
    a = backend.to_device([1.0, 2.0])
    assert isinstance(backend.asnumpy(a), np.ndarray)
    assert isinstance(a, backend.xp.ndarray)


def test_unknown_backend_is_rejected():
    with pytest.raises(backend.BackendError, match=r"unknown backend 'torch'.*numpy.*cupy"):
        ebmlib.set_backend("torch")


@pytest.mark.skipif(backend.cupy_status()[0], reason="CuPy is usable here")
def test_cupy_unusable_says_why():
    usable, reason = backend.cupy_status()
    assert not usable and ("not installed" in reason or "GPU" in reason)
    with pytest.raises(backend.BackendError, match="backend 'cupy' was requested but is not usable"):
        ebmlib.set_backend("cupy")
    assert backend.get_backend() == (os.environ.get("EBMLIB_BACKEND") or "numpy")


@pytest.mark.skipif(backend.cupy_status()[0], reason="CuPy is usable here")
def test_environment_variable_asking_for_unusable_cupy_fails_clearly():
    env = dict(os.environ, EBMLIB_BACKEND="cupy")
    proc = subprocess.run([sys.executable, "-c", "import ebmlib"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "BackendError: backend 'cupy' was requested but is not usable" in proc.stderr


def test_detection_is_cached():
    assert backend.cupy_status() is backend.cupy_status()


@pytest.mark.skipif(not backend.cupy_status()[0], reason="needs a usable CuPy (GPU)")
def test_switching_to_cupy_and_back():
    ebmlib.set_backend("cupy")
    try:
        import cupy
        assert isinstance(backend.to_device([1.0]), cupy.ndarray)
    finally:
        ebmlib.set_backend(os.environ.get("EBMLIB_BACKEND") or "numpy")


def test_the_namespace_forwards_to_the_current_backend_after_a_switch():
    xp = backend.xp
    assert xp.matmul is xp.module.matmul and "matmul" in vars(xp)
    ebmlib.set_backend(backend.get_backend())  # a switch clears what the namespace cached
    assert "matmul" not in vars(xp) and xp.matmul is xp.module.matmul
    with pytest.raises(AttributeError):
        xp.no_such_function
