#!/usr/bin/env python3
"""One epoch of CD-1 on the same data: latent's `rbm-epoch` against
scikit-learn's BernoulliRBM, an equivalent float32 numpy CD-1 loop (numpy's
BLAS, OpenBLAS from PyPI) and, where PyTorch is installed, the same loop in
PyTorch on the CPU in float32 and in bf16, 1 thread and N threads, in one run.

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

The PyTorch bf16 peer (`torch_bf16`, issue 15) is the float32 PyTorch loop
with W, the minibatch and the chain's states cast to bf16 for the three
products and the weight gradient (one product, [v0; v1]^T [p0; -p1], since
CPU PyTorch has no bf16 product with a float32 result), float32 master
weights, biases and momentum. Both PyTorch loops also print their
reconstruction error after the epoch (float32, outside the timing); the
script prints the two side by side and whether they agree within 0.1 %.

latent's bf16 epoch is read from rbm-epoch's `sec_bf16_h{H}_t{T}` keys where
the binary reports them (else "absent"), and set against PyTorch bf16 and
PyTorch f32 with the issue's marks, each printed as met or not met:
784-4096 batch 1000 >= 3x PyTorch bf16 and >= 5x PyTorch f32 (and <= 2.0 s
on 1 thread); 784-500 batch 100 >= 2x PyTorch bf16 and >= 2.5x PyTorch f32;
1 and N threads. The marks are for a CPU with AMX (the script says whether
this one has amx_bf16).

The peers come from a virtual environment outside the repository, and the
script runs its workers with the Python that runs it:

    python3 -m venv /work/venv-bench
    /work/venv-bench/bin/pip install numpy scikit-learn torch   # or torch's CPU index
    cargo build --release -p latent-bench --bin rbm-epoch
    /work/venv-bench/bin/python bench/rbm_vs_peers.py --rounds 3 --latent target/release/rbm-epoch

RESULT keys: per peer P (sklearn, numpy, torch, torch_bf16), P_sec_h{H}_t{T}
and speedup_vs_P_h{H}_t{T} (latent f32 against P), latent_sec_h{H}_t{T};
from the bf16 part latent_bf16_sec_h{H}_t{T}, bf16_speedup_vs_P_h{H}_t{T}
(P torch_bf16 or torch), mark_bf16_vs_P_h{H}_t{T}=met|not_met,
mark_bf16_sec_h4096_t1, torch_recon_h{H}_t{T}, torch_bf16_recon_h{H}_t{T} and
their relative difference torch_bf16_recon_rel_h{H}_t{T}; latent_bf16=absent
when rbm-epoch has no bf16 figures.
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
elif kind == "torch_bf16":
    # The loop above with W, the minibatch and the chain's states in bf16 for
    # the three products and the weight gradient; f32 master weights, biases
    # and momentum. CPU PyTorch has no bf16 x bf16 -> f32 product, so the
    # weight gradient is one product over the stacked phases,
    # [v0; v1]^T [p0; -p1], accumulated in f32 inside and rounded once, not
    # the difference of two rounded products.
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    X = torch.from_numpy(x)
    W = torch.randn(784, hidden) * 0.01
    b = torch.zeros(784); c = torch.zeros(hidden)
    vW = torch.zeros_like(W); vb = torch.zeros_like(b); vc = torch.zeros_like(c)
    lr, mom, wd = 0.1, 0.5, 1e-4
    bf, f32 = torch.bfloat16, torch.float32
    perm = torch.randperm(rows)
    t = time.perf_counter()
    with torch.no_grad():
        for s in range(0, rows, batch):
            v0 = X[perm[s:s + batch]].to(bf)
            Wb, bb, cb = W.to(bf), b.to(bf), c.to(bf)
            p0 = torch.sigmoid(torch.addmm(cb, v0, Wb))
            h0 = (torch.rand_like(p0, dtype=f32) < p0).to(bf)
            v1 = torch.sigmoid(torch.addmm(bb, h0, Wb.t()))
            p1 = torch.sigmoid(torch.addmm(cb, v1, Wb))
            B = v0.shape[0]
            gW = torch.mm(torch.cat((v0, v1)).t(), torch.cat((p0, p1.neg()))).to(f32) / B
            vW.mul_(mom).add_(lr * (gW - wd * W)); W.add_(vW)
            vb.mul_(mom).add_(lr * (v0 - v1).mean(0, dtype=f32)); b.add_(vb)
            vc.mul_(mom).add_(lr * (p0 - p1).mean(0, dtype=f32)); c.add_(vc)
    secs = time.perf_counter() - t
if kind in ("torch", "torch_bf16"):
    # Reconstruction error after the epoch, outside the timing, in f32 from
    # the f32 master parameters: the mean over the distinct images (the first
    # min(rows, 10,000) rows) of sum_i (v_i - p(v_i | p(h | v)))^2.
    with torch.no_grad():
        Xr = X[:min(rows, n)]
        err = 0.0
        for s in range(0, Xr.shape[0], 2000):
            v = Xr[s:s + 2000]
            pv = torch.sigmoid(torch.addmm(b, torch.sigmoid(torch.addmm(c, v, W)), W.t()))
            err += float(((v - pv) ** 2).sum())
    print(f"RECON {err / Xr.shape[0]:.6f}")
print(f"SECS {secs:.4f}")
"""


def peer_seconds(kind, images, rows, hidden, batch, threads):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    args = [sys.executable, "-c", WORKER, kind, images, str(rows), str(hidden), str(batch), str(threads)]
    out = subprocess.run(args, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed", None
    line = [l for l in out.stdout.splitlines() if l.startswith("SECS ")]
    recon = [float(l.split()[1]) for l in out.stdout.splitlines() if l.startswith("RECON ")]
    return float(line[-1].split()[1]), None, (recon[-1] if recon else None)


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
    if "torch" in peers:
        peers.append("torch_bf16")
    # (hidden, threads, who) -> seconds per round; (hidden, threads, peer) -> speed-ups per round
    # (latent f32 in ups, latent bf16 in ups16); (hidden, threads, peer) -> reconstruction errors.
    secs = {}
    ups = {}
    ups16 = {}
    recon = {}
    for r in range(opts.rounds):
        report = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        if r == 0:
            print(report, end="")
        latent = dict(kv.split("=", 1) for kv in report.strip().splitlines()[-1].split()[1:])
        print(f"\nround {r + 1} of {opts.rounds}")
        print(f"{'784-H':>9} {'threads':>7} {'peer':>10} {'peer s':>9} {'latent s':>9} {'speed-up':>9} {'bf16 s':>9} {'bf16 up':>9}")
        for hidden, batch in ((500, 100), (4096, 1000)):
            for t in threads:
                lat = float(latent.get(f"sec_h{hidden}_t{t}", "nan"))
                secs.setdefault((hidden, t, "latent"), []).append(lat)
                lat16 = latent.get(f"sec_bf16_h{hidden}_t{t}")
                if lat16 is not None:
                    lat16 = float(lat16)
                    secs.setdefault((hidden, t, "latent_bf16"), []).append(lat16)
                for peer in peers:
                    if peer == "sklearn" and hidden == 4096 and not opts.sklearn_4096:
                        continue
                    s, err, rec = peer_seconds(peer, images, rows, hidden, batch, t)
                    if s is None:
                        print(f"{'784-' + str(hidden):>9} {t:>7} {peer:>10} failed: {err}")
                        continue
                    s *= scale
                    bf16_cols = f" {lat16:>9.3f} {s / lat16:>8.2f}x" if lat16 is not None else f" {'absent':>9}"
                    print(f"{'784-' + str(hidden):>9} {t:>7} {peer:>10} {s:>9.3f} {lat:>9.3f} {s / lat:>8.2f}x{bf16_cols}")
                    secs.setdefault((hidden, t, peer), []).append(s)
                    ups.setdefault((hidden, t, peer), []).append(s / lat)
                    if lat16 is not None:
                        ups16.setdefault((hidden, t, peer), []).append(s / lat16)
                    if rec is not None:
                        recon.setdefault((hidden, t, peer), []).append(rec)
    result = {}
    print(f"\nmedian of {opts.rounds} round(s); speed-up range over the rounds")
    print(f"{'784-H':>9} {'threads':>7} {'peer':>10} {'peer s':>9} {'latent s':>9} {'speed-up':>9} {'range':>13}")
    for (hidden, t, peer), u in ups.items():
        ps, ls = median(secs[(hidden, t, peer)]), median(secs[(hidden, t, "latent")])
        print(f"{'784-' + str(hidden):>9} {t:>7} {peer:>10} {ps:>9.3f} {ls:>9.3f} {median(u):>8.2f}x {min(u):>6.2f}-{max(u):.2f}x")
        result[f"{peer}_sec_h{hidden}_t{t}"] = f"{ps:.3f}"
        result[f"speedup_vs_{peer}_h{hidden}_t{t}"] = f"{median(u):.2f}"
        if opts.rounds > 1:
            result[f"speedup_min_vs_{peer}_h{hidden}_t{t}"] = f"{min(u):.2f}"
    for (hidden, t, who), v in secs.items():
        if who == "latent":
            result[f"latent_sec_h{hidden}_t{t}"] = f"{median(v):.3f}"
    bf16_report(opts, threads, secs, ups16, recon, result)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


# The marks for latent's bf16 epoch: hidden -> (x PyTorch bf16, x PyTorch f32).
MARKS = {4096: (3.0, 5.0), 500: (2.0, 2.5)}
# And the absolute one: 784-4096 batch 1000 on 1 thread, seconds per epoch.
MARK_SEC_H4096_T1 = 2.0


def bf16_report(opts, threads, secs, ups16, recon, result):
    """latent's bf16 epoch against PyTorch bf16 and f32, the issue's marks,
    and the PyTorch bf16 loop's reconstruction error against the f32 loop's."""
    if recon:
        print("\nPyTorch bf16 loop check: reconstruction error after the epoch (f32 master parameters,")
        print("mean over the distinct images of the squared error of the mean-field reconstruction)")
        print(f"{'784-H':>9} {'threads':>7} {'torch f32':>10} {'torch bf16':>11} {'rel diff':>9}")
        for hidden in (500, 4096):
            for t in threads:
                f, g = recon.get((hidden, t, "torch")), recon.get((hidden, t, "torch_bf16"))
                if not f or not g:
                    continue
                f, g = median(f), median(g)
                rel = (g - f) / f
                ok = "within 0.1 %" if abs(rel) <= 1e-3 else "NOT within 0.1 %"
                print(f"{'784-' + str(hidden):>9} {t:>7} {f:>10.3f} {g:>11.3f} {100 * rel:>+8.3f}% {ok}")
                result[f"torch_recon_h{hidden}_t{t}"] = f"{f:.4f}"
                result[f"torch_bf16_recon_h{hidden}_t{t}"] = f"{g:.4f}"
                result[f"torch_bf16_recon_rel_h{hidden}_t{t}"] = f"{rel:.5f}"
    if not any(who == "latent_bf16" for (_, _, who) in secs):
        print("\nlatent bf16: absent (this rbm-epoch reports no sec_bf16_ keys); marks not measured")
        result["latent_bf16"] = "absent"
        return
    amx = "amx_bf16" in cpu_flags()
    print(f"\nlatent bf16 epoch against PyTorch, median of {opts.rounds} round(s) (speed-up range over the rounds)")
    print(f"the issue's marks hold on a machine with AMX; this CPU {'has' if amx else 'has no'} amx_bf16")
    print(f"{'784-H':>9} {'threads':>7} {'latent bf16':>12} {'peer':>10} {'peer s':>9} {'speed-up':>9} {'range':>13} {'mark':>6}  met?")
    for hidden in (500, 4096):
        for t in threads:
            lat16 = secs.get((hidden, t, "latent_bf16"))
            if not lat16:
                print(f"{'784-' + str(hidden):>9} {t:>7} {'absent':>12}")
                continue
            l16 = median(lat16)
            result[f"latent_bf16_sec_h{hidden}_t{t}"] = f"{l16:.3f}"
            for peer, mark in zip(("torch_bf16", "torch"), MARKS[hidden]):
                u = ups16.get((hidden, t, peer))
                if not u:
                    continue
                ps = median(secs[(hidden, t, peer)])
                met = "met" if median(u) >= mark else "not met"
                print(f"{'784-' + str(hidden):>9} {t:>7} {l16:>12.3f} {peer:>10} {ps:>9.3f} {median(u):>8.2f}x "
                      f"{min(u):>6.2f}-{max(u):.2f}x {mark:>5.1f}x  {met}")
                result[f"bf16_speedup_vs_{peer}_h{hidden}_t{t}"] = f"{median(u):.2f}"
                if opts.rounds > 1:
                    result[f"bf16_speedup_min_vs_{peer}_h{hidden}_t{t}"] = f"{min(u):.2f}"
                result[f"mark_bf16_vs_{peer}_h{hidden}_t{t}"] = "met" if met == "met" else "not_met"
            if hidden == 4096 and t == 1:
                met = "met" if l16 <= MARK_SEC_H4096_T1 else "not met"
                print(f"{'784-4096':>9} {1:>7} {l16:>12.3f} s per epoch; mark <= {MARK_SEC_H4096_T1:.1f} s: {met}")
                result["mark_bf16_sec_h4096_t1"] = "met" if met == "met" else "not_met"


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


if __name__ == "__main__":
    main()
