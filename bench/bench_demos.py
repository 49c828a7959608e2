"""Benchmark: wall-clock time of each demo experiment of ebmlib.demos, at the
settings the book and the tests use, and the frames, size and drawing time of
the chapter's animations (figures, not a test):

    .venv/bin/python bench/bench_demos.py
"""
import time

import matplotlib

matplotlib.use("Agg")
from ebmlib import demos, plot  # noqa: E402

#: The chapter's animations: (data, architecture, loss), every how many epochs
#: a frame, one colour scale for all frames.
ANIMATIONS = ((("parabola", "A", "energy"), 2, True), (("parabola", "B", "energy"), 1, True),
              (("parabola", "B", "perceptron"), 1, True),
              (("parabola", "B", "square-square"), 1, True),
              (("parabola", "B", "nll"), 2, False), (("eye", "B", "nll"), 2, False))


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
    t0 = time.perf_counter()
    result = demos.experiment("B", "energy", eta=0.1, variance=demos.VARIANCE)
    dt = time.perf_counter() - t0
    total += dt
    print(f"{'parabola, B, energy + variance':<34} {len(result.history['loss']):>6} "
          f"{dt:8.2f}", flush=True)
    print(f"{'all demos':<34} {'':>6} {total:8.2f}")
    print(f"\n{'animation':<34} {'frames':>6} {'seconds':>8} {'HTML KB':>8}")
    total, size = 0.0, 0
    for (data, arch, loss), every, shared in ANIMATIONS:
        epochs = demos.SETTINGS[data, arch, loss]["epochs"]
        result = demos.experiment(arch, loss, data, snapshots=range(epochs + 1))
        t0 = time.perf_counter()
        html = plot.surface_animation(result, range(0, epochs + 1, every), shared)._repr_html_()
        dt = time.perf_counter() - t0
        total, size = total + dt, size + len(html)
        frames = len(range(0, epochs + 1, every))
        print(f"{data + ', ' + arch + ', ' + loss:<34} {frames:>6} {dt:8.2f} "
              f"{len(html) / 1024:8.0f}", flush=True)
    print(f"{'all animations':<34} {'':>6} {total:8.2f} {size / 1024:8.0f}")


if __name__ == "__main__":
    main()
