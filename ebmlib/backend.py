"""Array namespace selection: NumPy by default, CuPy when asked for and usable.

All array code in ebmlib goes through :data:`xp`, a thin proxy that forwards to
the current namespace, so ``from ebmlib.backend import xp`` stays valid after
:func:`set_backend`. Host-only work (plots, file I/O) converts with
:func:`asnumpy` at the edge.

The backend is chosen at import from the ``EBMLIB_BACKEND`` environment
variable (``numpy``, the default, or ``cupy``); asking for CuPy where it is not
usable raises :class:`BackendError` saying why.
"""
import functools
import os

import numpy

__all__ = ["BackendError", "xp", "set_backend", "get_backend", "cupy_status",
           "asnumpy", "to_device"]

BACKENDS = ("numpy", "cupy")


class BackendError(RuntimeError):
    """The requested array backend is unknown or not usable on this machine."""


@functools.lru_cache(maxsize=1)
def cupy_status():
    """Return ``(usable, reason)`` for CuPy; detected once, never raises."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA install
        return False, f"CuPy is not installed ({exc.__class__.__name__}: {exc}); " \
                      "install it with `pip install -r requirements-gpu.txt`"
    try:
        if not cupy.cuda.is_available():
            return False, "CuPy is installed but no usable CUDA GPU was found"
        float((cupy.arange(3.0) * 2).sum())  # a tiny smoke computation
    except Exception as exc:
        return False, f"CuPy is installed but cannot compute on a GPU " \
                      f"({exc.__class__.__name__}: {exc})"
    return True, "CuPy is usable"


class _Namespace:
    """Forwards attribute access to the current array module; each name is
    looked up once and cached until the backend changes (a plain attribute
    read afterwards, which matters for small arrays)."""

    def __init__(self, module):
        self.__dict__["module"] = module

    def __getattr__(self, name):  # only called on a cache miss
        value = getattr(self.module, name)
        self.__dict__[name] = value
        return value

    def _switch(self, module):
        self.__dict__.clear()
        self.__dict__["module"] = module

    def __repr__(self):
        return f"<ebmlib array namespace: {self.module.__name__}>"


xp = _Namespace(numpy)


def set_backend(name):
    """Select the array backend, ``"numpy"`` or ``"cupy"``, for all of ebmlib."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}: expected one of {BACKENDS} "
                           "(set_backend or the EBMLIB_BACKEND variable)")
    if name == "cupy":
        usable, reason = cupy_status()
        if not usable:
            raise BackendError(f"backend 'cupy' was requested but is not usable: {reason}")
        import cupy
        xp._switch(cupy)
    else:
        xp._switch(numpy)


def get_backend():
    """Name of the current backend: ``"numpy"`` or ``"cupy"``."""
    return xp.module.__name__


def asnumpy(a):
    """Return ``a`` as a host NumPy array (a no-op for NumPy input)."""
    if isinstance(a, numpy.ndarray) or numpy.isscalar(a):
        return numpy.asarray(a)
    if hasattr(a, "get"):
        return a.get()
    return numpy.asarray(a)


def to_device(a, dtype=None):
    """Return ``a`` as an array of the current backend (copying to the GPU if needed)."""
    return xp.asarray(a, dtype=dtype)


set_backend(os.environ.get("EBMLIB_BACKEND", "numpy").strip().lower() or "numpy")
