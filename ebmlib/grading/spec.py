"""Tests, comparisons and the judging of one harvested answer.

A :class:`Test` only declares what to call, on which inputs, and how to compare;
the grader turns it into a :class:`Case` (inputs drawn from a fixed seed,
expected values computed from the reference solution) and judges the plain
arrays that come back from the student's kernel with :func:`judge`.
"""
import dataclasses
import zlib
from typing import Callable, Optional, Union

import numpy as np

from ..gradcheck import compare_jacobians

NUMERIC_KINDS = "biufc"
ROUND_OFF = 1e-3         # of a test's tolerance: a smaller change of an expected value
INPUT_ROUND_OFF = 1e-12  # of an input array's largest entry: a smaller change of an input


@dataclasses.dataclass(frozen=True)
class Compare:
    """How an answer is compared with the reference: ``close``, ``equal`` or ``jacobian``."""

    kind: str
    rtol: float = 0.0
    atol: float = 0.0


def close(rtol=1e-6, atol=1e-9):
    """Entry-wise ``|got - expected| <= atol + rtol * |expected|``, same shape."""
    return Compare("close", rtol, atol)


def equal():
    """Exactly equal values and shape (indices, labels, counts)."""
    return Compare("equal")


def jacobian(tol=1e-5):
    """A derivative, checked entry by entry with :func:`ebmlib.gradcheck.compare_jacobians`;
    the feedback lists the Jacobian entries that are off."""
    return Compare("jacobian", rtol=tol)


def bprop_jacobian(bprop, which, seeds):
    """A ``call`` that rebuilds a Jacobian from a student's ``bprop(a, b, dout)``:
    ``dout`` is seeded with each unit vector of shape ``seeds`` (an expression in
    ``a`` and ``b``, the test's two inputs) and output ``which`` of each call is a
    row; compare it with ``jacobian()`` against ``jacobian_fd`` of the fprop."""
    return (f"(lambda a, b: np.stack([{bprop}(a, b, d.reshape({seeds}))[{which}].ravel() "
            f"for d in np.eye(np.prod({seeds}))]))(*args)")


@dataclasses.dataclass(frozen=True)
class Test:
    """One test of a question.

    ``call`` is a name in the notebook (``"softmax"``, ``"Linear.fprop"``), called
    with the inputs, or an expression that uses ``args`` (``"free_energy(*args, beta=2.0)"``).
    ``args`` is a tuple of arrays/numbers or a function ``rng -> tuple``.
    ``reference``, when given, replaces ``call`` when the expected value is
    computed from the instructor's notebook (e.g. ``"jacobian_fd(free_energy, *args)"``).
    """

    __test__ = False  # not a pytest test class

    question: str
    name: str
    call: str
    args: Union[tuple, Callable] = ()
    compare: Compare = close()
    reference: Optional[str] = None
    weight: float = 1.0
    seed: Optional[int] = None


@dataclasses.dataclass
class Case:
    """A test made concrete: plain input arrays and, once known, the expected outputs."""

    index: int
    question: str
    name: str
    hidden: bool
    call: str
    reference: str
    compare: Compare
    weight: float
    args: list
    scalars: list          # per argument: "int", "float", "bool" or None (an array)
    expected: Optional[list] = None
    seconds: Optional[float] = None   # the reference solution's time (grader side only)
    test: Optional[Test] = None       # what it was drawn from (grader side only)

    def __getstate__(self):  # to a worker process: the test's functions are not needed there
        return {**self.__dict__, "test": None}

    def to_json(self):
        """Plain-data form (embedded in released notebooks for ``check``)."""
        return {"index": self.index, "question": self.question, "name": self.name,
                "call": self.call, "compare": dataclasses.asdict(self.compare),
                "weight": self.weight, "scalars": self.scalars,
                "args": [encode_array(a) for a in self.args],
                "expected": [encode_array(a) for a in self.expected]}

    @classmethod
    def from_json(cls, data):
        return cls(int(data["index"]), str(data["question"]), str(data["name"]), False,
                   str(data["call"]), str(data["call"]), Compare(**data["compare"]),
                   float(data["weight"]), [decode_array(a) for a in data["args"]],
                   list(data["scalars"]), [decode_array(a) for a in data["expected"]])


def within_round_off(case, old):
    """Whether the case ``old`` is ``case`` up to round-off: the same test, inputs equal to
    ``INPUT_ROUND_OFF`` of each array's largest entry, and expected values no further apart
    than ``ROUND_OFF`` times the test's own tolerance.

    Other CPUs (BLAS kernels, numpy's SIMD paths) change the last bits of drawn inputs and
    reference values; ``release`` keeps the cases of a released notebook that agree this
    closely, so regenerating the release on another machine changes no byte.
    """
    plain = ("index", "question", "name", "call", "compare", "weight", "scalars")
    if any(getattr(old, k) != getattr(case, k) for k in plain):
        return False
    return _near(old.args, case.args, lambda new: INPUT_ROUND_OFF * np.abs(new).max(initial=0.0)) \
        and _near(old.expected, case.expected, lambda new: ROUND_OFF * _tolerance(case.compare, new))


def _tolerance(compare, expected):
    """Per entry, how far an answer may be from ``expected`` and pass (see :func:`judge`)."""
    if compare.kind == "jacobian":  # the relative error of compare_jacobians
        return compare.rtol * np.maximum(1.0, np.abs(expected))
    if compare.kind == "close":
        return compare.atol + compare.rtol * np.abs(expected)
    return 0.0


def _near(olds, news, tolerance):
    if len(olds) != len(news):
        return False
    for old, new in zip(olds, news):
        if old.shape != new.shape or old.dtype != new.dtype:
            return False
        if np.array_equal(old, new, equal_nan=old.dtype.kind in "fc"):
            continue
        finite = np.isfinite(new)
        if old.dtype.kind not in "fc" or not np.array_equal(finite, np.isfinite(old)) or \
                not np.array_equal(old[~finite], new[~finite], equal_nan=True):
            return False
        limit = np.broadcast_to(tolerance(new), new.shape)[finite]
        if not np.all(np.abs(old[finite] - new[finite]) <= limit):
            return False
    return True


def make_case(test, index, exercise, hidden, seed=None):
    """Draw the inputs of ``test`` in the grader's process, from ``seed`` (else the test's
    own seed, else one derived from its name)."""
    if seed is None:
        seed = test.seed if test.seed is not None else \
            zlib.crc32(f"{exercise}/{test.question}/{test.name}".encode())
    values = test.args(np.random.default_rng(seed)) if callable(test.args) else test.args
    if not isinstance(values, tuple):
        values = (values,)
    args, scalars = [], []
    for value in values:
        kind = {bool: "bool", int: "int", float: "float"}.get(type(value))
        array = np.array(value)
        if array.dtype.kind not in NUMERIC_KINDS:
            raise ValueError(f"test {test.name!r} of {exercise}: arguments must be "
                             f"numbers or numeric arrays, not {type(value).__name__}")
        args.append(array)
        scalars.append(kind)
    return Case(index, test.question, test.name, hidden, test.call,
                test.reference or test.call, test.compare, float(test.weight), args, scalars,
                test=test)


def encode_array(array):
    """JSON form of a numeric array (non-finite values as strings)."""
    array = np.asarray(array)
    data = [x if np.isfinite(x) else repr(float(x)) for x in array.reshape(-1).tolist()] \
        if array.dtype.kind == "f" else array.reshape(-1).tolist()
    return {"dtype": array.dtype.str, "shape": list(array.shape), "data": data}


def decode_array(data):
    values = [float(x) if isinstance(x, str) else x for x in data["data"]]
    return np.array(values, dtype=np.dtype(data["dtype"])).reshape(data["shape"])


def judge(case, got):
    """``(status, message)`` for the arrays ``got`` returned by the student's code."""
    expected = case.expected
    if len(got) != len(expected):
        return "wrong", f"returned {_count(len(got))}, expected {_count(len(expected))}"
    for k, (g, e) in enumerate(zip(got, expected)):
        problem = _problem(case, g, e)
        if problem:
            where = f"output {k + 1} of {len(expected)}: " if len(expected) > 1 else ""
            return "wrong", where + problem
    return "ok", "passed"


def _count(n):
    return "1 value" if n == 1 else f"{n} values (a tuple)"


def _problem(case, got, expected):
    if got.dtype.kind not in NUMERIC_KINDS:
        return f"returned values of type {got.dtype}, expected numbers"
    kind = case.compare.kind
    if kind == "jacobian":
        return _jacobian_problem(case, got, expected)
    if got.shape != expected.shape:
        return f"has shape {got.shape}, expected {expected.shape}"
    if kind == "equal":
        bad = got != expected
    else:
        if np.isnan(got).any() and not np.isnan(expected).any():
            return f"contains NaN at index {_index(np.isnan(got))}"
        with np.errstate(invalid="ignore", over="ignore"):
            bad = ~(np.abs(got - expected) <= case.compare.atol + case.compare.rtol * np.abs(expected))
        bad &= ~(np.isnan(got) & np.isnan(expected))
        bad &= ~(np.isinf(expected) & (got == expected))
    if not bad.any():
        return None
    at = _index(bad)
    text = f"{int(bad.sum())} of {bad.size} entries differ"
    if kind == "close":
        text += f" (tolerance rtol={case.compare.rtol:g}, atol={case.compare.atol:g})"
    where = "" if not bad.ndim else f"; first at index {at}"
    if case.hidden:  # how it is off, never the expected value
        return text + where + f": {_how(got[at], expected[at])}"
    if not bad.ndim:
        return text + f": got {_fmt(got.item())}, expected {_fmt(expected.item())}"
    return text + where + f": got {_fmt(got[at])}, expected {_fmt(expected[at])}"


def _how(got, expected):
    """How one entry is off, without its value: sign, too large or too small."""
    if np.iscomplexobj(got) or np.iscomplexobj(expected) or np.isnan(got) or np.isnan(expected):
        return "a different value"
    if np.sign(got) != np.sign(expected) and np.sign(expected) != 0:
        return "the opposite sign" if np.sign(got) != 0 else "zero, expected a non-zero value"
    return "too large" if got > expected else "too small"


def _jacobian_problem(case, got, expected):
    expected = expected.reshape(expected.shape[0] if expected.ndim > 1 else 1, -1)
    if got.size != expected.size:
        return f"has {got.size} entries (shape {got.shape}); the Jacobian has " \
               f"{expected.shape[0]} x {expected.shape[1]} = {expected.size}"
    check = compare_jacobians("your Jacobian", got.reshape(expected.shape).astype(np.float64),
                              expected, tol=case.compare.rtol)
    if check.ok:
        return None
    if not case.hidden:
        return str(check)
    entries = check.wrong_entries(limit=len(got.ravel()))
    return (f"your Jacobian is off in {len(entries)} of {expected.size} entries, first "
            + ", ".join(f"d out[{k}] / d in[{j}] ({_how(a, n)})" for k, j, a, n in entries[:5]))


def _fmt(x):
    return f"{x:.6g}" if isinstance(x, (float, np.floating)) else repr(x.item() if hasattr(x, "item") else x)


def _index(mask):
    first = np.argwhere(mask)[0]
    return tuple(int(i) for i in first)
