"""ebmlib: the library of the course on energy-based models.

Architecture + inference algorithm + loss function = model: ``modules`` and
``energies`` build E(W, Y, X), ``inference`` finds the answers, ``losses`` map
energies to (loss, dL/dE), ``train`` updates the pooled parameters, ``demos``
reproduce the lecture's experiments. Submodules are imported on first use.
"""
import importlib

from .backend import asnumpy, get_backend, set_backend, to_device, xp

__version__ = "0.1.0"

_SUBMODULES = ("backend", "modules", "gradcheck", "train", "inference", "losses",
               "conditions", "energies", "location", "structured", "demos", "plot", "pose",
               "grading")

__all__ = ["xp", "asnumpy", "to_device", "set_backend", "get_backend", *_SUBMODULES]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'ebmlib' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
