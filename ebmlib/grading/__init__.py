"""The course autograder: ``python -m ebmlib.grading release|check|grade|verify``.

Test modules import :class:`Test` and the comparisons from here; the format of
an exercise is described in ``exercises/README.md``.
"""
from .spec import Compare, Test, bprop_jacobian, close, equal, jacobian

__all__ = ["Compare", "Test", "bprop_jacobian", "close", "equal", "jacobian"]
