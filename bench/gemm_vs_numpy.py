#!/usr/bin/env python3
"""latent's SGEMM against numpy's float32 matmul (OpenBLAS) at the same shapes,
1 and N threads, in one run; and, where PyTorch is installed, latent's f32 and
bf16 GEMM against torch.mm in float32 and in bf16.

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

torch.mm (issue 15): where `import torch` works, the numpy side of each round
also times torch.mm at every shape and thread count, with float32 operands
and with bf16 operands (already bf16, bf16 result: as a PyTorch user holds
them; latent's bf16 GEMM rounds f32 operands while packing and writes f32),
in a child process with torch.set_num_threads. A second table sets latent's
f32 GEMM against torch f32 and latent's bf16 GEMM (gemm-report's
`bf16_gflops_*` keys, and its measured bf16 peak) against torch bf16, with
the marks (for a CPU with AMX), printed as met or not met: latent bf16 >=
torch.mm bf16 at every shape, 1 and N threads, and >= 70 % of the bf16 peak
at 1000x784x4096 and 1024^3. A gemm-report that timed no bf16 GEMM (no bf16
instructions) gives "latent bf16: absent". Run it with the Python of a
virtual environment that has numpy and torch, outside the repository:

    python3 -m venv /work/venv-bench && /work/venv-bench/bin/pip install numpy torch
    cargo build --release -p latent-bench --bin gemm-report
    /work/venv-bench/bin/python bench/gemm_vs_numpy.py --latent target/release/gemm-report

The RESULT keys of before stay as they were; added: torch_{shape}_t{T},
vs_torch_{shape}_t{T} (latent f32 / torch f32), torch_bf16_{shape}_t{T},
latent_bf16_{shape}_t{T}, bf16_vs_torch_bf16_{shape}_t{T},
bf16_peak_t{T}, bf16_peak_frac_{shape}_t{T}, mark_bf16_vs_torch_bf16 and
mark_bf16_peak_frac_{shape}_t{T} (met|not_met), or latent_bf16=absent.
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


TORCH_WORKER = r"""
import sys, time, torch
quick, threads = sys.argv[1] == "1", int(sys.argv[2])
torch.set_num_threads(threads)
shapes = [tuple(map(int, s.split("x"))) for s in sys.argv[3:]]
g = torch.Generator().manual_seed(0)
for m, k, n in shapes:
    a32 = torch.rand(m, k, generator=g) * 2 - 1
    b32 = torch.rand(k, n, generator=g) * 2 - 1
    for tag, dtype in (("TF32", torch.float32), ("TBF16", torch.bfloat16)):
        a, b = a32.to(dtype), b32.to(dtype)
        c = torch.empty(m, n, dtype=dtype)
        torch.mm(a, b, out=c)
        t0 = time.perf_counter(); calls = 0
        while time.perf_counter() - t0 < 0.05:
            torch.mm(a, b, out=c); calls += 1
        per = (time.perf_counter() - t0) / calls
        reps = max(1, int((0.04 if quick else 0.25) / per))
        times = []
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(reps):
                torch.mm(a, b, out=c)
            times.append((time.perf_counter() - t) / reps)
        times.sort()
        print(f"{tag} {m}x{k}x{n} {2.0 * m * n * k / times[len(times) // 2] / 1e9:.3f}", flush=True)
"""


def torch_figures(threads, quick, shapes):
    """torch.mm GFLOP/s per shape: {"torch": {shape: gf}, "torch_bf16": {...}}
    (operands already in the dtype, as a PyTorch user holds them)."""
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    args = [sys.executable, "-c", TORCH_WORKER, "1" if quick else "0", str(threads)] + [f"{m}x{k}x{n}" for m, k, n in shapes]
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    figures = {"torch": {}, "torch_bf16": {}}
    for line in out.splitlines():
        tag, shape, gf = line.split()
        figures["torch" if tag == "TF32" else "torch_bf16"][shape] = float(gf)
    return figures


def have_torch():
    return subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0


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
    bf16_isa = [None]  # gemm-report's bf16_isa, None when it timed no bf16 GEMM
    torch_here = have_torch()
    if not torch_here:
        print("SKIP: torch is not importable here; no torch.mm figures")

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
            keep("bf16_peak", "", t, float(result.get(f"bf16_peak_t{t}", "nan")))
        bf16_isa[0] = result.get("bf16_isa")
        for m, k, n in SHAPES:
            shape = f"{m}x{k}x{n}"
            for t in thread_counts:
                lat = float(result.get(f"gflops_{shape}_t{t}", "nan"))
                keep("latent", shape, t, lat)
                keep("mm", shape, t, lat / float(result.get(f"vs_mm_{shape}_t{t}", "nan")))
                keep("latent_bf16", shape, t, float(result.get(f"bf16_gflops_{shape}_t{t}", "nan")))

    def run_numpy():
        for t in thread_counts:
            for shape, gf in numpy_figures(t, opts.quick, SHAPES).items():
                keep("numpy", shape, t, gf)
            if torch_here:
                for who, figures in torch_figures(t, opts.quick, SHAPES).items():
                    for shape, gf in figures.items():
                        keep(who, shape, t, gf)

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
    if torch_here:
        torch_report(best, thread_counts, bf16_isa[0], rounds, out)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in out.items()))


# The issue 15 marks (on a CPU with AMX): latent bf16 >= torch.mm bf16 at every
# shape, 1 and N threads; >= 70 % of the measured bf16 peak at these shapes.
MARK_PEAK_FRAC = 0.70
MARK_PEAK_SHAPES = ("1000x784x4096", "1024x1024x1024")


def torch_report(best, thread_counts, bf16_isa, rounds, out):
    """latent's f32 and bf16 GEMM against torch.mm in f32 and bf16, with the
    issue's bf16 marks."""
    nan = float("nan")
    print(f"\nlatent vs torch.mm (f32 and bf16 operands), GFLOP/s, best of {rounds} alternating round(s)")
    if bf16_isa is None:
        print("latent bf16: absent (gemm-report timed no bf16 GEMM on this CPU / --isa); marks not measured")
        out["latent_bf16"] = "absent"
    else:
        print(f"latent bf16 GEMM: isa={bf16_isa}; 'of peak' is of the bf16 peak gemm-report measured")
    print(f"{'m x k x n':>18} {'threads':>7} {'latent':>8} {'torch':>8} {'ratio':>6} "
          f"{'bf16':>8} {'of peak':>8} {'torch bf16':>10} {'ratio':>6}  mark >= 1")
    all_met = True
    for t in thread_counts:
        peak16 = best.get(("bf16_peak", "", t), nan)
        if bf16_isa is not None:
            out[f"bf16_peak_t{t}"] = f"{peak16:.1f}"
        for m, k, n in SHAPES:
            shape = f"{m}x{k}x{n}"
            lat, tf = best.get(("latent", shape, t), nan), best.get(("torch", shape, t), nan)
            l16, t16 = best.get(("latent_bf16", shape, t), nan), best.get(("torch_bf16", shape, t), nan)
            met = l16 >= t16  # False when either is NaN
            all_met = all_met and met
            mark = ("met" if met else "not met") if bf16_isa is not None else "absent"
            print(f"{shape:>18} {t:>7} {lat:>8.1f} {tf:>8.1f} {lat / tf:>6.2f} "
                  f"{l16:>8.1f} {100 * l16 / peak16:>7.1f}% {t16:>10.1f} {l16 / t16:>6.2f}  {mark}")
            out[f"torch_{shape}_t{t}"] = f"{tf:.1f}"
            out[f"vs_torch_{shape}_t{t}"] = f"{lat / tf:.2f}"
            out[f"torch_bf16_{shape}_t{t}"] = f"{t16:.1f}"
            if bf16_isa is not None:
                out[f"latent_bf16_{shape}_t{t}"] = f"{l16:.1f}"
                out[f"bf16_vs_torch_bf16_{shape}_t{t}"] = f"{l16 / t16:.2f}"
                out[f"bf16_peak_frac_{shape}_t{t}"] = f"{l16 / peak16:.3f}"
    if bf16_isa is None:
        return
    print(f"mark: latent bf16 >= torch.mm bf16 at every shape and thread count: {'met' if all_met else 'not met'}")
    out["mark_bf16_vs_torch_bf16"] = "met" if all_met else "not_met"
    for t in thread_counts:
        peak16 = best.get(("bf16_peak", "", t), nan)
        for shape in MARK_PEAK_SHAPES:
            frac = best.get(("latent_bf16", shape, t), nan) / peak16
            met = frac >= MARK_PEAK_FRAC
            print(f"mark: latent bf16 at {shape}, {t} thread(s), >= {100 * MARK_PEAK_FRAC:.0f} % of the bf16 peak: "
                  f"{100 * frac:.1f} %, {'met' if met else 'not met'}")
            out[f"mark_bf16_peak_frac_{shape}_t{t}"] = "met" if met else "not_met"


def numpy_config():
    try:
        import numpy
        return numpy.show_config(mode="dicts")
    except Exception:  # numpy missing here is fine: the workers report it
        return ""


if __name__ == "__main__":
    main()
