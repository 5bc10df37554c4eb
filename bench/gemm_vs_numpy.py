#!/usr/bin/env python3
"""latent's SGEMM against numpy's float32 matmul (OpenBLAS) at the same shapes,
1 and N threads, in one run.

    python3 bench/gemm_vs_numpy.py [--quick] [--threads N] [--latent PATH]

It runs latent's `gemm-report` (built with `cargo build --release -p latent-bench`
unless --latent names the binary, e.g. one carried to another machine), then times
numpy in child processes with OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS
set, so each thread count is a fresh BLAS. Prints GFLOP/s and latent/numpy ratios
and ends with one `RESULT key=value ...` line. numpy installs from PyPI
(`pip install numpy`); this script is for benchmarks, never for CI.
"""
import argparse
import os
import re
import subprocess
import sys

SHAPES = [(100, 784, 500), (100, 500, 784), (784, 100, 500), (1000, 784, 4096),
          (512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048)]

WORKER = r"""
import sys, time, numpy as np
quick = sys.argv[1] == "1"
shapes = [tuple(map(int, s.split("x"))) for s in sys.argv[2:]]
rng = np.random.default_rng(0)
for m, k, n in shapes:
    a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    c = np.empty((m, n), np.float32)
    np.matmul(a, b, out=c)
    t0 = time.perf_counter(); calls = 0
    while time.perf_counter() - t0 < 0.05:
        np.matmul(a, b, out=c); calls += 1
    per = (time.perf_counter() - t0) / calls
    reps = max(1, int((0.04 if quick else 0.25) / per))
    times = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps):
            np.matmul(a, b, out=c)
        times.append((time.perf_counter() - t) / reps)
    times.sort()
    print(f"NP {m}x{k}x{n} {2.0 * m * n * k / times[len(times) // 2] / 1e9:.3f}", flush=True)
"""


def numpy_figures(threads, quick, shapes):
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    args = [sys.executable, "-c", WORKER, "1" if quick else "0"] + [f"{m}x{k}x{n}" for m, k, n in shapes]
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    return {line.split()[1]: float(line.split()[2]) for line in out.splitlines() if line.startswith("NP ")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--latent", help="path of a built gemm-report binary")
    opts = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    exe = opts.latent
    if exe is None:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "latent-bench", "--bin", "gemm-report"],
                       cwd=root, check=True)
        exe = os.path.join(root, "target", "release", "gemm-report")
    cmd = [exe, "--threads", str(opts.threads)] + (["--quick"] if opts.quick else [])
    report = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    print(report, end="")
    result = dict(kv.split("=", 1) for kv in report.strip().splitlines()[-1].split()[1:])
    thread_counts = [1] + ([opts.threads] if opts.threads > 1 else [])
    out = {}
    print("\nlatent vs numpy float32 matmul (" + ("OpenBLAS" if "openblas" in str(numpy_config()).lower() else "numpy's BLAS") + ")")
    print(f"{'m x k x n':>18} {'threads':>7} {'latent':>8} {'numpy':>8} {'ratio':>6}")
    for t in thread_counts:
        npf = numpy_figures(t, opts.quick, SHAPES)
        for m, k, n in SHAPES:
            shape = f"{m}x{k}x{n}"
            lat = float(result.get(f"gflops_{shape}_t{t}", "nan"))
            ratio = lat / npf[shape]
            print(f"{shape:>18} {t:>7} {lat:>8.1f} {npf[shape]:>8.1f} {ratio:>6.2f}")
            out[f"numpy_{shape}_t{t}"] = f"{npf[shape]:.1f}"
            out[f"vs_numpy_{shape}_t{t}"] = f"{ratio:.2f}"
    print("RESULT " + " ".join(f"{k}={v}" for k, v in out.items()))


def numpy_config():
    try:
        import numpy
        return numpy.show_config(mode="dicts")
    except Exception:  # numpy missing here is fine: the workers report it
        return ""


if __name__ == "__main__":
    main()
