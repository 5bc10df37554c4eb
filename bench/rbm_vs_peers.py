#!/usr/bin/env python3
"""One epoch of CD-1 on the same data: latent's `rbm-epoch` against
scikit-learn's BernoulliRBM, an equivalent float32 numpy CD-1 loop (numpy's
BLAS, OpenBLAS from PyPI) and, where PyTorch is installed, the same loop in
PyTorch on the CPU, 1 thread and N threads, in one run.

    python3 bench/rbm_vs_peers.py [--quick] [--threads N] [--rounds R] [--latent PATH] [--mnist DIR]

Data: the MNIST test images (../shared/data/mnist or --mnist/$LATENT_MNIST_DIR)
scaled to [0,1], binarised at 0.5 and tiled 6 times to 60,000 x 784, exactly as
`rbm-epoch` makes them. 784-500 at batch 100 for every peer; 784-4096 at batch
1000 for latent, numpy and PyTorch (scikit-learn at 4096 takes minutes and is skipped
unless --sklearn-4096). scikit-learn runs in float64, its default, and each peer
runs in a child process with OMP/OPENBLAS/MKL thread counts set. --quick uses
12,000 rows and scales times to 60,000. --rounds R (default 1) repeats the
whole comparison R times, latent and its peers one after the other in every
round, and reports the median of each time and of each round's speed-up with
its range: on a shared machine a neighbour's load shifts one run by 10-20 %,
and a ratio taken within a round is less exposed to that than two medians
taken minutes apart. Ends with one `RESULT key=value ...` line. For
benchmarks only, never CI.
"""
import argparse
import gzip
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

WORKER = r"""
import gzip, os, sys, time
import numpy as np
kind, path, rows, hidden, batch, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
with gzip.open(path, "rb") as f:
    raw = f.read()
n = int.from_bytes(raw[4:8], "big")
img = np.frombuffer(raw, np.uint8, offset=16).reshape(n, 784)
x = (img.astype(np.float32) / 255.0 > 0.5).astype(np.float32)
x = np.tile(x, (-(-rows // n), 1))[:rows]
if kind == "sklearn":
    from sklearn.neural_network import BernoulliRBM
    rbm = BernoulliRBM(n_components=hidden, batch_size=batch, n_iter=1, learning_rate=0.1, random_state=0)
    xd = x.astype(np.float64)
    t = time.perf_counter(); rbm.fit(xd); secs = time.perf_counter() - t
elif kind == "numpy":
    rng = np.random.default_rng(0)
    W = (rng.standard_normal((784, hidden)) * 0.01).astype(np.float32)
    b = np.zeros(784, np.float32); c = np.zeros(hidden, np.float32)
    vW = np.zeros_like(W); vb = np.zeros_like(b); vc = np.zeros_like(c)
    lr, mom, wd = np.float32(0.1), np.float32(0.5), np.float32(1e-4)
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))
    perm = rng.permutation(rows)
    t = time.perf_counter()
    for s in range(0, rows, batch):
        v0 = x[perm[s:s + batch]]
        p0 = sig(v0 @ W + c)
        h0 = (rng.random(p0.shape, dtype=np.float32) < p0).astype(np.float32)
        v1 = sig(h0 @ W.T + b)
        p1 = sig(v1 @ W + c)
        B = np.float32(v0.shape[0])
        gW = (v0.T @ p0 - v1.T @ p1) / B
        vW *= mom; vW += lr * (gW - wd * W); W += vW
        vb *= mom; vb += lr * (v0 - v1).mean(0); b += vb
        vc *= mom; vc += lr * (p0 - p1).mean(0); c += vc
    secs = time.perf_counter() - t
elif kind == "torch":
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    X = torch.from_numpy(x)
    W = torch.randn(784, hidden) * 0.01
    b = torch.zeros(784); c = torch.zeros(hidden)
    vW = torch.zeros_like(W); vb = torch.zeros_like(b); vc = torch.zeros_like(c)
    lr, mom, wd = 0.1, 0.5, 1e-4
    perm = torch.randperm(rows)
    t = time.perf_counter()
    with torch.no_grad():
        for s in range(0, rows, batch):
            v0 = X[perm[s:s + batch]]
            p0 = torch.sigmoid(torch.addmm(c, v0, W))
            h0 = (torch.rand_like(p0) < p0).float()
            v1 = torch.sigmoid(torch.addmm(b, h0, W.t()))
            p1 = torch.sigmoid(torch.addmm(c, v1, W))
            B = v0.shape[0]
            gW = (v0.t() @ p0 - v1.t() @ p1) / B
            vW.mul_(mom).add_(lr * (gW - wd * W)); W.add_(vW)
            vb.mul_(mom).add_(lr * (v0 - v1).mean(0)); b.add_(vb)
            vc.mul_(mom).add_(lr * (p0 - p1).mean(0)); c.add_(vc)
    secs = time.perf_counter() - t
print(f"SECS {secs:.4f}")
"""


def peer_seconds(kind, images, rows, hidden, batch, threads):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    args = [sys.executable, "-c", WORKER, kind, images, str(rows), str(hidden), str(batch), str(threads)]
    out = subprocess.run(args, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"
    line = [l for l in out.stdout.splitlines() if l.startswith("SECS ")]
    return float(line[-1].split()[1]), None


def have(module):
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--latent", help="path of a built rbm-epoch binary")
    ap.add_argument("--mnist", default=os.environ.get("LATENT_MNIST_DIR", os.path.join(ROOT, "..", "shared", "data", "mnist")))
    ap.add_argument("--sklearn-4096", action="store_true")
    ap.add_argument("--rounds", type=int, default=1, help="repeat the comparison R times (median and range)")
    opts = ap.parse_args()
    if opts.rounds < 1:
        sys.exit("rbm_vs_peers: --rounds must be at least 1")
    images = os.path.join(opts.mnist, "t10k-images-idx3-ubyte.gz")
    if not os.path.isfile(images):
        sys.exit(f"rbm_vs_peers: MNIST images not found at {images} (use --mnist DIR)")
    rows = 12_000 if opts.quick else 60_000
    scale = 60_000 / rows
    exe = opts.latent
    if exe is None:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "latent-bench", "--bin", "rbm-epoch"], cwd=ROOT, check=True)
        exe = os.path.join(ROOT, "target", "release", "rbm-epoch")
    cmd = [exe, "--threads", str(opts.threads)] + (["--quick"] if opts.quick else [])
    env = dict(os.environ, LATENT_MNIST_DIR=opts.mnist)
    threads = [1] + ([opts.threads] if opts.threads > 1 else [])
    peers = [p for p in ("sklearn", "numpy", "torch") if have(p)]
    for p in ("sklearn", "numpy", "torch"):
        if p not in peers:
            print(f"SKIP: {p} is not importable here; no {p} figures")
    # (hidden, threads, who) -> seconds per round; (hidden, threads, peer) -> speed-ups per round.
    secs = {}
    ups = {}
    for r in range(opts.rounds):
        report = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        if r == 0:
            print(report, end="")
        latent = dict(kv.split("=", 1) for kv in report.strip().splitlines()[-1].split()[1:])
        print(f"\nround {r + 1} of {opts.rounds}")
        print(f"{'784-H':>9} {'threads':>7} {'peer':>8} {'peer s':>9} {'latent s':>9} {'speed-up':>9}")
        for hidden, batch in ((500, 100), (4096, 1000)):
            for t in threads:
                lat = float(latent.get(f"sec_h{hidden}_t{t}", "nan"))
                secs.setdefault((hidden, t, "latent"), []).append(lat)
                for peer in peers:
                    if peer == "sklearn" and hidden == 4096 and not opts.sklearn_4096:
                        continue
                    s, err = peer_seconds(peer, images, rows, hidden, batch, t)
                    if s is None:
                        print(f"{'784-' + str(hidden):>9} {t:>7} {peer:>8} failed: {err}")
                        continue
                    s *= scale
                    print(f"{'784-' + str(hidden):>9} {t:>7} {peer:>8} {s:>9.3f} {lat:>9.3f} {s / lat:>8.2f}x")
                    secs.setdefault((hidden, t, peer), []).append(s)
                    ups.setdefault((hidden, t, peer), []).append(s / lat)
    result = {}
    print(f"\nmedian of {opts.rounds} round(s); speed-up range over the rounds")
    print(f"{'784-H':>9} {'threads':>7} {'peer':>8} {'peer s':>9} {'latent s':>9} {'speed-up':>9} {'range':>13}")
    for (hidden, t, peer), u in ups.items():
        ps, ls = median(secs[(hidden, t, peer)]), median(secs[(hidden, t, "latent")])
        print(f"{'784-' + str(hidden):>9} {t:>7} {peer:>8} {ps:>9.3f} {ls:>9.3f} {median(u):>8.2f}x {min(u):>6.2f}-{max(u):.2f}x")
        result[f"{peer}_sec_h{hidden}_t{t}"] = f"{ps:.3f}"
        result[f"speedup_vs_{peer}_h{hidden}_t{t}"] = f"{median(u):.2f}"
        if opts.rounds > 1:
            result[f"speedup_min_vs_{peer}_h{hidden}_t{t}"] = f"{min(u):.2f}"
    for (hidden, t, who), v in secs.items():
        if who == "latent":
            result[f"latent_sec_h{hidden}_t{t}"] = f"{median(v):.3f}"
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


if __name__ == "__main__":
    main()
