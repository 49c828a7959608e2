"""Finite-difference Jacobian checks (Torch7 ``nn.Jacobian``, micrograd style).

Every analytic derivative in ebmlib -- a module's bprop, an energy machine's
dE/dW, a loss's dL/dE -- is compared against central differences in float64:
``J[k, l] ~ (f(x + eps e_l)[k] - f(x - eps e_l)[k]) / (2 eps)``
(the lecture's "Jacobians and Dimensions": element (k, l) says how much output
k wiggles when input l is wiggled).
"""
from dataclasses import dataclass

import numpy as np

from .backend import asnumpy, to_device

__all__ = ["JacobianCheck", "numerical_jacobian", "compare_jacobians",
           "check_function", "check_module", "check_energy"]


@dataclass
class JacobianCheck:
    """Result of one comparison: the worst relative error and where it sits."""

    name: str
    error: float            # worst |A - N| / max(1, |A|, |N|)
    index: tuple            # (output index, input index) of the worst entry
    analytic: np.ndarray
    numerical: np.ndarray
    tol: float

    @property
    def ok(self):
        return bool(self.error <= self.tol)

    def wrong_entries(self, limit=5):
        """Up to ``limit`` (output, input, analytic, numerical) entries beyond tol."""
        err = _relative_error(self.analytic, self.numerical)
        worst = np.argsort(err, axis=None)[::-1][:limit]
        rows = []
        for flat in worst:
            if err.flat[flat] <= self.tol:
                break
            k, j = np.unravel_index(flat, err.shape)
            rows.append((int(k), int(j), float(self.analytic[k, j]), float(self.numerical[k, j])))
        return rows

    def __str__(self):
        verdict = "ok" if self.ok else "WRONG"
        text = f"{self.name}: {verdict}, worst relative error {self.error:.2e} at {self.index}"
        for k, j, a, n in self.wrong_entries():
            text += f"\n  d out[{k}] / d in[{j}]: analytic {a:.6g}, finite differences {n:.6g}"
        return text


def _relative_error(a, n):
    return np.abs(a - n) / np.maximum(1.0, np.maximum(np.abs(a), np.abs(n)))


def numerical_jacobian(f, x, eps=1e-6):
    """Central-difference Jacobian of ``f`` at ``x``: shape (f(x).size, x.size).

    ``x`` is perturbed in place (and restored), so ``f`` may read it by reference.
    """
    flat = x.reshape(-1)
    rows = []
    for j in range(flat.size):
        old = flat[j].item()
        flat[j] = old + eps
        plus = np.array(asnumpy(f()), dtype=np.float64).reshape(-1)
        flat[j] = old - eps
        minus = np.array(asnumpy(f()), dtype=np.float64).reshape(-1)
        flat[j] = old
        rows.append((plus - minus) / (2 * eps))
    return np.stack(rows, axis=1) if rows else np.zeros((0, 0))


def compare_jacobians(name, analytic, numerical, tol=1e-5):
    """Compare two Jacobians entry by entry; return a :class:`JacobianCheck`."""
    analytic = np.asarray(asnumpy(analytic), dtype=np.float64)
    numerical = np.asarray(numerical, dtype=np.float64)
    if analytic.shape != numerical.shape:
        raise ValueError(f"{name}: analytic Jacobian has shape {analytic.shape}, "
                         f"finite differences give {numerical.shape}")
    if analytic.size == 0:
        return JacobianCheck(name, 0.0, (), analytic, numerical, tol)
    err = _relative_error(analytic, numerical)
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(err)), err.shape))
    return JacobianCheck(name, float(err.max()), index, analytic, numerical, tol)


def check_function(name, f, x, grad, eps=1e-6, tol=1e-5):
    """Check ``grad`` (the Jacobian of ``f`` at ``x``, any shape that reshapes to
    (f(x).size, x.size)) against finite differences of ``f()``, which reads ``x``."""
    numerical = numerical_jacobian(f, x, eps)
    analytic = np.asarray(asnumpy(grad), dtype=np.float64).reshape(numerical.shape)
    return compare_jacobians(name, analytic, numerical, tol)


def check_module(module, *inputs, eps=1e-6, tol=1e-5):
    """Check a module's bprop against finite differences of its fprop.

    ``inputs`` are the module's input arrays (float64); the output Jacobian is
    recovered from bprop by seeding ``out.dx`` with each unit vector in turn.
    Returns one :class:`JacobianCheck` per input and one for the parameters
    (if the module has any).
    """
    from .modules import State

    states = [State(to_device(np.asarray(asnumpy(a), dtype=np.float64))) for a in inputs]
    out = State()
    module.fprop(*states, out)
    n_out = out.x.size
    rows_in = [[] for _ in states]
    rows_w = []
    params = module.params if module.params is not None and len(module.params) else None
    for k in range(n_out):
        seed_dx = np.zeros(n_out)
        seed_dx[k] = 1.0
        module.fprop(*states, out)
        out.dx = to_device(seed_dx.reshape(out.x.shape))
        if params is not None:
            params.clear_grad()
        module.bprop(*states, out)
        for rows, s in zip(rows_in, states):
            rows.append(asnumpy(s.dx).reshape(-1).copy())
        if params is not None:
            rows_w.append(asnumpy(params.dx).copy())

    def f():
        module.fprop(*states, out)
        return out.x

    results = []
    for i, (rows, s) in enumerate(zip(rows_in, states)):
        numerical = numerical_jacobian(f, s.x, eps)
        results.append(compare_jacobians(f"{module!r}: d out / d input {i}",
                                         np.stack(rows), numerical, tol))
    if params is not None:
        numerical = numerical_jacobian(f, params.x, eps)
        results.append(compare_jacobians(f"{module!r}: d out / d parameters",
                                         np.stack(rows_w), numerical, tol))
    return results


def check_energy(machine, X, Ys=None, eps=1e-6, tol=1e-5):
    """Check an energy machine's dE/dW (its bprop, seeded with each unit dL/dE
    in turn) against finite differences of its energies in the parameters."""
    params = machine.params
    energies = machine.fprop(X, Ys)
    rows = []
    for k in range(energies.size):
        seed_de = np.zeros(energies.size)
        seed_de[k] = 1.0
        machine.fprop(X, Ys)
        params.clear_grad()
        machine.bprop(to_device(seed_de.reshape(energies.shape)))
        rows.append(asnumpy(params.dx).copy())
    numerical = numerical_jacobian(lambda: machine.fprop(X, Ys), params.x, eps)
    return compare_jacobians(f"{type(machine).__name__}: d energies / d parameters",
                             np.stack(rows), numerical, tol)
