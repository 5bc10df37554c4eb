#!/usr/bin/env python3
"""latent's SGEMM against numpy's float32 matmul (OpenBLAS) at the same shapes,
1 and N threads, in one run.

    python3 bench/gemm_vs_numpy.py [--quick] [--threads N] [--rounds R] [--latent PATH]

It runs latent's `gemm-report` (built with `cargo build --release -p latent-bench`
unless --latent names the binary, e.g. one carried to another machine), then times
numpy in child processes with OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS
set, so each thread count is a fresh BLAS. --rounds R (default 3, 2 with --quick)
repeats both, alternating which goes first, and keeps each side's best round, so
that a neighbour's burst of load on a shared machine does not land on one side of
a ratio only. Prints GFLOP/s and latent/numpy (and latent/matrixmultiply) ratios
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
    ap.add_argument("--rounds", type=int, help="alternating rounds, best kept (default 3, 2 with --quick)")
    opts = ap.parse_args()
    if opts.rounds is not None and opts.rounds < 1:
        sys.exit("gemm_vs_numpy: --rounds must be at least 1")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    exe = opts.latent
    if exe is None:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "latent-bench", "--bin", "gemm-report"],
                       cwd=root, check=True)
        exe = os.path.join(root, "target", "release", "gemm-report")
    cmd = [exe, "--threads", str(opts.threads), "--rounds", "1"] + (["--quick"] if opts.quick else [])
    thread_counts = [1] + ([opts.threads] if opts.threads > 1 else [])
    rounds = opts.rounds or (2 if opts.quick else 3)
    best = {}  # (who, shape, threads) -> best GFLOP/s over the rounds

    def keep(who, shape, t, gf):
        if gf == gf:  # not NaN
            best[(who, shape, t)] = max(best.get((who, shape, t), 0.0), gf)

    def run_latent(first):
        report = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        if first:
            print(report, end="")
        result = dict(kv.split("=", 1) for kv in report.strip().splitlines()[-1].split()[1:])
        for t in thread_counts:
            keep("peak", "", t, float(result.get(f"peak_t{t}", "nan")))
        for m, k, n in SHAPES:
            shape = f"{m}x{k}x{n}"
            for t in thread_counts:
                lat = float(result.get(f"gflops_{shape}_t{t}", "nan"))
                keep("latent", shape, t, lat)
                keep("mm", shape, t, lat / float(result.get(f"vs_mm_{shape}_t{t}", "nan")))

    def run_numpy():
        for t in thread_counts:
            for shape, gf in numpy_figures(t, opts.quick, SHAPES).items():
                keep("numpy", shape, t, gf)

    for r in range(rounds):
        if r % 2 == 0:
            run_latent(r == 0)
            run_numpy()
        else:
            run_numpy()
            run_latent(False)
    out = {}
    blas = "OpenBLAS" if "openblas" in str(numpy_config()).lower() else "numpy's BLAS"
    print(f"\nlatent vs numpy float32 matmul ({blas}) and matrixmultiply, GFLOP/s, best of {rounds} alternating round(s)")
    print("(fraction of the highest FMA peak gemm-report measured in the rounds)")
    print(f"{'m x k x n':>18} {'threads':>7} {'latent':>8} {'of peak':>8} {'numpy':>8} {'ratio':>6} {'mm':>8} {'ratio':>6}")
    for t in thread_counts:
        peak = best.get(("peak", "", t), float("nan"))
        out[f"peak_t{t}"] = f"{peak:.1f}"
        for m, k, n in SHAPES:
            shape = f"{m}x{k}x{n}"
            lat = best.get(("latent", shape, t), float("nan"))
            npf = best.get(("numpy", shape, t), float("nan"))
            mm = best.get(("mm", shape, t), float("nan"))
            print(f"{shape:>18} {t:>7} {lat:>8.1f} {100 * lat / peak:>7.1f}% {npf:>8.1f} {lat / npf:>6.2f} {mm:>8.1f} {lat / mm:>6.2f}")
            out[f"latent_{shape}_t{t}"] = f"{lat:.1f}"
            out[f"peak_frac_{shape}_t{t}"] = f"{lat / peak:.3f}"
            out[f"numpy_{shape}_t{t}"] = f"{npf:.1f}"
            out[f"vs_numpy_{shape}_t{t}"] = f"{lat / npf:.2f}"
            out[f"vs_mm_{shape}_t{t}"] = f"{lat / mm:.2f}"
    print("RESULT " + " ".join(f"{k}={v}" for k, v in out.items()))


def numpy_config():
    try:
        import numpy
        return numpy.show_config(mode="dicts")
    except Exception:  # numpy missing here is fine: the workers report it
        return ""


if __name__ == "__main__":
    main()
