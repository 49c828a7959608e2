"""Benchmark: wall-clock time of each demo experiment of ebmlib.demos, at the
settings the book and the tests use (a figure, not a test):

    .venv/bin/python bench/bench_demos.py
"""
import time

from ebmlib import demos


def main():
    total = 0.0
    print(f"{'experiment':<34} {'epochs':>6} {'seconds':>8}")
    for (data, arch, loss), setting in demos.SETTINGS.items():
        t0 = time.perf_counter()
        demos.experiment(arch, loss, data)
        dt = time.perf_counter() - t0
        total += dt
        print(f"{data + ', ' + arch + ', ' + loss:<34} {setting['epochs']:>6} {dt:8.2f}", flush=True)
    t0 = time.perf_counter()
    result = demos.experiment("B", "square-square", search="descent")
    dt = time.perf_counter() - t0
    total += dt
    print(f"{'parabola, B, square-square, descent':<34} {len(result.history['loss']):>6} "
          f"{dt:8.2f}", flush=True)
    for loss in demos.RBF_RATES:
        t0 = time.perf_counter()
        _, history = demos.rbf_experiment(loss)
        dt = time.perf_counter() - t0
        total += dt
        print(f"{'rbf, ' + loss:<34} {len(history['loss']):>6} {dt:8.2f}", flush=True)
    print(f"{'all demos':<34} {'':>6} {total:8.2f}")


if __name__ == "__main__":
    main()
