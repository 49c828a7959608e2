"""The only grading code that runs inside the notebook's kernel.

The grader sends this file's source into the kernel after the notebook's cells
have run, then calls :func:`harvest` once per question. It calls the tested
functions on the grader's inputs and writes what they return as plain arrays
(:func:`write_answers`). Nothing here decides a grade: whatever the student's
code does to this process can only change the data written, which the grader
parses with :func:`read_answers` under caps fixed before reading, and every
comparison happens in the grader's process.
"""
import ast
import builtins
import json
import math
import os
import re
import time
import traceback

import numpy as np

MAX_ENTRIES = 10_000_000
MAGIC = b"EBM-ANSWERS-1\n"
DTYPE = re.compile(r"^[<>|=]?[biufc][0-9]{1,2}$")
MAX_ARRAYS = 1000
MAX_HEADER = 1 << 20
MAX_DIMS = 8


def harvest(namespace, plan_path, question, out_path):
    """Run the tests of ``question`` listed in the plan; write ``out_path`` (:func:`write_answers`)."""
    with open(plan_path) as f:
        plan = json.load(f)
    inputs = np.load(plan["inputs"], allow_pickle=False)
    with _disabled(plan, question):
        meta, arrays = _run_tests(plan, inputs, namespace, question)
    write_answers(out_path, meta, arrays)


def _disabled(plan, question):
    """The ebmlib functions this question asks the student to write refuse while its tests
    run (:mod:`ebmlib.grading.allowed`); the exercise is the plan's, else recognised from
    its questions."""
    from ebmlib.grading import allowed

    exercise = allowed.exercise_of({t["question"] for t in plan["tests"]}, plan.get("exercise"))
    return allowed.disabled(exercise, question)


def _run_tests(plan, inputs, namespace, question):
    meta, arrays = {}, {}
    for test in plan["tests"]:
        if test["question"] != question:
            continue
        i = test["index"]
        args = [_restore(inputs[f"t{i}_a{j}"], kind) for j, kind in enumerate(test["scalars"])]
        start = time.perf_counter()
        record = _run(test["call"], namespace, args)
        record["seconds"] = time.perf_counter() - start
        for k, array in enumerate(record.pop("outputs", [])):
            arrays[f"t{i}_o{k}"] = array
        meta[str(i)] = record
    return meta, arrays


def write_answers(path, meta, arrays):
    """``MAGIC``, the header's length (8 bytes, little-endian), a JSON header (``meta`` and
    each array's name, dtype and shape), then the arrays' bytes in C order."""
    arrays = {name: np.asarray(a, order="C") for name, a in arrays.items()}
    header = json.dumps({"meta": meta, "arrays": [[n, a.dtype.str, list(a.shape)]
                                                  for n, a in arrays.items()]}).encode()
    with open(path + ".part", "wb") as f:
        f.write(MAGIC + len(header).to_bytes(8, "little") + header)
        for a in arrays.values():
            f.write(a.tobytes())
    os.replace(path + ".part", path)


def read_answers(data):
    """``(meta, {name: array})`` from the bytes of :func:`write_answers`, in one linear pass
    with every size checked before it is used; ValueError for anything else."""
    start = len(MAGIC) + 8
    if not data.startswith(MAGIC) or len(data) < start:
        raise ValueError("not an answers file")
    size = int.from_bytes(data[len(MAGIC):start], "little")
    if size > MAX_HEADER or start + size > len(data):
        raise ValueError("a header too large or cut short")
    try:
        header = json.loads(data[start:start + size])
    except (ValueError, RecursionError):
        raise ValueError("an unreadable header") from None
    if not isinstance(header, dict) or not isinstance(header.get("meta"), dict) or \
            not isinstance(header.get("arrays"), list) or len(header["arrays"]) > MAX_ARRAYS:
        raise ValueError("a header of the wrong shape")
    offset, arrays = start + size, {}
    for entry in header["arrays"]:
        name, dtype, shape = _entry(entry)
        count = math.prod(shape)
        end = offset + count * dtype.itemsize
        if end > len(data):
            raise ValueError("arrays larger than the file")
        arrays[name] = np.frombuffer(data, dtype, count, offset).reshape(shape)
        offset = end
    if offset != len(data):
        raise ValueError("bytes after the last array")
    return header["meta"], arrays


def _entry(entry):
    """A checked ``(name, numeric dtype, shape)`` of an answers header."""
    if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
            and isinstance(entry[1], str) and DTYPE.match(entry[1]) and isinstance(entry[2], list)
            and len(entry[2]) <= MAX_DIMS
            and all(type(n) is int and 0 <= n <= MAX_ENTRIES for n in entry[2])):
        raise ValueError("an array entry of the wrong form")
    try:
        dtype = np.dtype(entry[1])
    except TypeError:
        raise ValueError(f"an unknown dtype {entry[1]!r}") from None
    if dtype.kind not in "biufc" or math.prod(entry[2]) > MAX_ENTRIES:
        raise ValueError("an array that is not numeric or too large")
    return entry[0], dtype, tuple(entry[2])


def _run(call, namespace, args):
    try:
        target = _target(call, namespace)
    except LookupError as exc:
        return {"status": "missing", "message": str(exc)}
    try:
        value = target(args)
    except MemoryError:
        return {"status": "memory", "message": "MemoryError"}
    except BaseException as exc:  # the student's code may raise anything, SystemExit included
        return {"status": "error", "message": _describe(exc)}
    try:
        outputs = [_array(v) for v in (value if isinstance(value, tuple) else (value,))]
    except ValueError as exc:
        return {"status": "invalid", "message": str(exc)}
    return {"status": "value", "outputs": outputs}


def _target(call, namespace):
    """A function of ``args`` evaluating ``call``; LookupError names what is missing."""
    if all(part.isidentifier() for part in call.split(".")):
        head, *rest = call.split(".")
        if head not in namespace:
            raise LookupError(f"'{head}' is not defined")
        obj = namespace[head]
        for part in rest:
            if not hasattr(obj, part):
                raise LookupError(f"'{head}' has no attribute '{part}'")
            obj = getattr(obj, part)
        return lambda args: obj(*args)
    tree = ast.parse(call, mode="eval")
    bound = {"args", "jacobian_fd"} | {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)} \
        | {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in bound \
                and node.id not in namespace and not hasattr(builtins, node.id):
            raise LookupError(f"'{node.id}' is not defined")
    code = compile(tree, "<test>", "eval")
    # one scope, so that comprehensions and lambdas in ``call`` see ``args`` too
    return lambda args: eval(code, dict(namespace, args=args, jacobian_fd=jacobian_fd))


def jacobian_fd(f, *args, wrt=0, eps=1e-6):
    """Finite-difference Jacobian of ``f(*args)`` with respect to ``args[wrt]``."""
    from ebmlib.gradcheck import numerical_jacobian

    args = list(args)
    x = np.array(args[wrt], dtype=np.float64)
    args[wrt] = x
    return numerical_jacobian(lambda: f(*args), x, eps)


def _restore(array, kind):
    return {"int": int, "float": float, "bool": bool}[kind](array.item()) if kind else array


def _array(value):
    if type(value).__module__.split(".")[0] == "cupy":
        value = value.get()
    try:
        array = np.array(value, subok=False)
    except Exception as exc:
        raise ValueError(f"returned a {type(value).__name__} that is not an array of "
                         f"numbers ({type(exc).__name__})") from None
    if array.dtype.kind not in "biufc":
        raise ValueError(f"returned a {type(value).__name__}, expected numbers or an array of numbers")
    if array.size > MAX_ENTRIES:
        raise ValueError(f"returned an array of {array.size} entries, far more than expected")
    return array


def _describe(exc):
    try:
        text = str(exc)[:500]
    except Exception:
        text = "(its message could not be printed)"
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename not in (__file__, "<test>", "<ebmlib disabled>")]
    where = f" (line {frames[-1].lineno}: {frames[-1].line})" if frames and frames[-1].line else ""
    return f"{type(exc).__name__}: {text}{where}"
