"""The only grading code that runs inside the notebook's kernel.

The grader sends this file's source into the kernel after the notebook's cells
have run, then calls :func:`harvest` once per question. It calls the tested
functions on the grader's inputs and writes what they return as plain arrays
(an ``.npz`` whose ``__meta__`` entry is JSON). Nothing here decides a grade:
whatever the student's code does to this process can only change the data
written, and every comparison happens in the grader's process.
"""
import ast
import builtins
import json
import os
import time
import traceback

import numpy as np

MAX_ENTRIES = 10_000_000


def harvest(namespace, plan_path, question, out_path):
    """Run the tests of ``question`` listed in the plan; write ``out_path``."""
    with open(plan_path) as f:
        plan = json.load(f)
    inputs = np.load(plan["inputs"], allow_pickle=False)
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
    blob = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(out_path + ".part", "wb") as f:
        np.savez(f, __meta__=blob, **arrays)
    os.replace(out_path + ".part", out_path)


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
              if f.filename not in (__file__, "<test>")]
    where = f" (line {frames[-1].lineno}: {frames[-1].line})" if frames and frames[-1].line else ""
    return f"{type(exc).__name__}: {text}{where}"
