"""The course autograder: ``python -m ebmlib.grading release|check|grade|verify``.

Test modules import :class:`Test` and the comparisons from here; the format of
an exercise is described in ``exercises/README.md``. Notebooks import
:class:`Checker` (``check = Checker.for_notebook()``, then ``check("question")``).
"""
from .checker import Checker
from .spec import Compare, Test, bprop_jacobian, close, equal, jacobian

__all__ = ["Checker", "Compare", "Test", "bprop_jacobian", "close", "equal", "jacobian"]
