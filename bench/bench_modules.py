"""Benchmark: one full SGD step (fprop, bprop, update) of a 2-layer tanh net
with the Euclidean (squared-error) energy, as in the lecture's training cycle.

Reports steps/s, achieved GFLOP/s as a fraction of raw GEMM GFLOP/s measured
in the same run (the same matrix products, called directly), the speed as a
fraction of the same step written by hand in array code ("by hand", the floor
of the module layer's overhead) and, where torch is importable, the ratio to
PyTorch CPU (autograd + torch.optim.SGD, same shapes, same run) of both. A
figure, not a test:

    .venv/bin/python bench/bench_modules.py [--quick]

Runs on the backend chosen by EBMLIB_BACKEND (numpy or cupy).
"""
import argparse
import time

import numpy as np

import ebmlib
from ebmlib.backend import get_backend, to_device, xp
from ebmlib.modules import Euclidean, Parameters, State, nn_2layer
from ebmlib.train import sgd_step

SHAPES = [(1, 20, 1, 1), (784, 256, 10, 128), (4096, 4096, 4096, 512)]


def sync():
    if get_backend() == "cupy":
        xp.cuda.Device().synchronize()


def timeit(fn, min_time, min_reps=3):
    """Median seconds per call of ``fn`` over batches of calls lasting ~min_time."""
    fn()
    sync()
    reps, t0 = 0, time.perf_counter()
    while True:  # calibrate a batch size
        fn()
        reps += 1
        if time.perf_counter() - t0 > min_time / 5 or reps >= 1000:
            break
    sync()
    per_batch = max(1, reps)
    times = []
    for _ in range(max(min_reps, 5)):
        sync()
        t0 = time.perf_counter()
        for _ in range(per_batch):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / per_batch)
    return float(np.median(times))


def gemm_flops(n_in, n_h, n_out, batch):
    """Matrix-product FLOPs of one step: 2 forward, 2 weight-gradient and one
    input-gradient product (the data needs no gradient)."""
    return 2 * batch * (2 * (n_in * n_h + n_h * n_out) + n_h * n_out)


def ebmlib_step(n_in, n_h, n_out, batch, dtype):
    rng = np.random.default_rng(0)
    params = Parameters(dtype=dtype, seed=0)
    net = nn_2layer(n_in, n_h, n_out, params)
    cost = Euclidean()
    x = State(to_device(rng.standard_normal((batch, n_in)), dtype), requires_dx=False)
    y = State(to_device(rng.uniform(-0.5, 0.5, (batch, n_out)), dtype), requires_dx=False)
    out, energy = State(), State()
    seed_dx = xp.full(batch, 1.0 / batch, dtype=dtype)

    def step():
        params.clear_grad()
        net.fprop(x, out)
        cost.fprop(out, y, energy)
        energy.dx = seed_dx
        cost.bprop(out, y, energy)
        net.bprop(x, out)
        sgd_step(params, 0.01)
    return step


def handwritten_step(n_in, n_h, n_out, batch, dtype):
    """The same step written out by hand in array code, with preallocated buffers:
    the floor the module layer is measured against."""
    rng = np.random.default_rng(0)
    a = lambda *s: to_device(rng.standard_normal(s) * 0.1, dtype)  # noqa: E731
    x, w1, b1, w2, b2 = a(batch, n_in), a(n_h, n_in), a(n_h), a(n_out, n_h), a(n_out)
    y = to_device(rng.uniform(-0.5, 0.5, (batch, n_out)), dtype)
    h, o, d1, g1, g2 = a(batch, n_h), a(batch, n_out), a(batch, n_h), a(n_h, n_in), a(n_out, n_h)
    scale = 1.0 / batch

    def step():
        xp.matmul(x, w1.T, out=h)
        xp.add(h, b1, out=h)
        xp.tanh(h, out=h)
        xp.matmul(h, w2.T, out=o)
        xp.add(o, b2, out=o)
        xp.tanh(o, out=o)
        d2 = (o - y) * (1 - o * o) * scale            # dE/d(pre-activation 2)
        xp.matmul(d2.T, h, out=g2)
        xp.matmul(d2, w2, out=d1)
        xp.multiply(d1, 1 - h * h, out=d1)             # dE/d(pre-activation 1)
        xp.matmul(d1.T, x, out=g1)
        xp.subtract(w2, 0.01 * g2, out=w2)
        xp.subtract(b2, 0.01 * d2.sum(axis=0), out=b2)
        xp.subtract(w1, 0.01 * g1, out=w1)
        xp.subtract(b1, 0.01 * d1.sum(axis=0), out=b1)
    return step


def raw_gemm(n_in, n_h, n_out, batch, dtype):
    rng = np.random.default_rng(0)
    a = lambda *s: to_device(rng.standard_normal(s), dtype)  # noqa: E731
    x, w1, w2 = a(batch, n_in), a(n_h, n_in), a(n_out, n_h)
    h, o, d1, g1, g2 = a(batch, n_h), a(batch, n_out), a(batch, n_h), a(n_h, n_in), a(n_out, n_h)

    def step():
        xp.matmul(x, w1.T, out=h)
        xp.matmul(h, w2.T, out=o)
        xp.matmul(o.T, h, out=g2)
        xp.matmul(o, w2, out=d1)
        xp.matmul(d1.T, x, out=g1)
    return step


def torch_step(n_in, n_h, n_out, batch, dtype):
    import torch
    torch.manual_seed(0)
    tdtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    net = torch.nn.Sequential(torch.nn.Linear(n_in, n_h), torch.nn.Tanh(),
                              torch.nn.Linear(n_h, n_out), torch.nn.Tanh()).to(tdtype)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.randn(batch, n_in, dtype=tdtype)
    y = torch.rand(batch, n_out, dtype=tdtype) - 0.5

    def step():
        opt.zero_grad()
        loss = 0.5 * ((net(x) - y) ** 2).sum(dim=1).mean()
        loss.backward()
        opt.step()
    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timings")
    parser.add_argument("--shape", action="append", metavar="IN-HIDDEN-OUT-BATCH",
                        help="a shape to time instead of the default three (repeatable), "
                             "e.g. 4096-4096-4096-512")
    args = parser.parse_args()
    try:
        shapes = [tuple(int(n) for n in s.split("-", 3)) for s in args.shape or []] or SHAPES
        assert all(len(s) == 4 and min(s) > 0 for s in shapes)
    except (ValueError, AssertionError):
        parser.error(f"--shape takes four positive integers IN-HIDDEN-OUT-BATCH, got {args.shape}")
    min_time = 0.3 if args.quick else 1.0
    try:
        import torch
        torch.set_num_threads(max(1, torch.get_num_threads()))
    except ImportError:
        torch = None
    print(f"ebmlib {ebmlib.__version__}, backend {get_backend()}, numpy {np.__version__}"
          + (f", torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else
             ", torch not installed"))
    print(f"{'shape':>22} {'dtype':>8} {'steps/s':>10} {'GFLOP/s':>8} {'GEMM GFLOP/s':>12} "
          f"{'of GEMM':>8} {'by hand':>8} {'torch steps/s':>13} {'x torch':>8} "
          f"{'hand x torch':>12}")
    for n_in, n_h, n_out, batch in shapes:
        for dtype in ("float32", "float64"):
            flops = gemm_flops(n_in, n_h, n_out, batch)
            t = timeit(ebmlib_step(n_in, n_h, n_out, batch, dtype), min_time)
            t_gemm = timeit(raw_gemm(n_in, n_h, n_out, batch, dtype), min_time)
            t_hand = timeit(handwritten_step(n_in, n_h, n_out, batch, dtype), min_time)
            row = (f"{n_in}-{n_h}-{n_out} b{batch}".rjust(22) + f" {dtype:>8} {1 / t:10.1f} "
                   f"{flops / t / 1e9:8.2f} {flops / t_gemm / 1e9:12.2f} {t_gemm / t:8.1%} "
                   f"{t_hand / t:8.1%}")
            if torch is not None and get_backend() == "numpy":
                t_torch = timeit(torch_step(n_in, n_h, n_out, batch, dtype), min_time)
                row += f" {1 / t_torch:13.1f} {t_torch / t:8.2f} {t_torch / t_hand:12.2f}"
            print(row, flush=True)


if __name__ == "__main__":
    main()
