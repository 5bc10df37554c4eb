"""Predictive sparse decomposition on MNIST through the latent CLI.

The MNIST test split (10,000 images, pixels scaled to [0, 1]) split 8,000
train / 2,000 held out (first / last). Trains `latent train psd`, then on the
held-out rows reports: the energy (the objective at the exact codes), the
fraction of zero codes (exact and fast), the fast encoder's prediction error
mean ||z* - F(x)||^2 against the exact (FISTA) codes, the reconstruction
error mean ||x - zD||^2 from the fast and from the exact codes, and the
time per row of `latent encode` (the fast encoder) and `latent encode
--exact` (FISTA), each the best of --repeat runs (process start included;
the per-row figure is over the 2,000 rows). Draws the dictionary with
`latent filters`.

    python bench/psd_mnist.py --latent target/release/latent \
        --mnist /work/shared/data/mnist --out /tmp/psd-mnist \
        [--codes 256 --lam 0.5 --alpha 1 --epochs 5 --lr 0.003 --encoder tanh]

Timings are only meaningful on an idle machine.
"""

import argparse
import gzip
import json
import os
import subprocess
import time

import numpy as np


def images(mnist):
    with gzip.open(os.path.join(mnist, "t10k-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    return x.astype(np.float32) / 255.0


def latent(binary, *args):
    out = subprocess.run([binary, *args, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed(binary, repeat, *args):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([binary, *args, "-q"], check=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--latent", default="target/release/latent")
    ap.add_argument("--mnist", default="/work/shared/data/mnist")
    ap.add_argument("--out", default="/tmp/psd-mnist")
    ap.add_argument("--codes", type=int, default=256)
    ap.add_argument("--lam", type=float, default=0.5)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--encoder", default="tanh")
    ap.add_argument("--fista-iters", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    p = lambda name: os.path.join(a.out, name)
    x = images(a.mnist)
    np.save(p("train.npy"), x[:8000])
    np.save(p("test.npy"), x[8000:])
    test = x[8000:]

    t = latent(a.latent, "train", "psd", "--data", p("train.npy"), "--codes", str(a.codes),
               "--lambda", str(a.lam), "--alpha", str(a.alpha), "--encoder", a.encoder,
               "--fista-iters", str(a.fista_iters), "--epochs", str(a.epochs),
               "--lr", str(a.lr), "--out", p("psd.latent"))
    for h in t["history"]:
        print("epoch {}: energy {:.4f} recon {:.4f} l1 {:.4f} pred {:.4f} zeros {:.4f} "
              "fista_iters {:.1f}".format(h["epoch"] + 1, h["train_loss"], h["recon"], h["l1"],
                                          h["pred"], h["zeros"], h["fista_iters"]))
    model = p("psd.latent")
    fast_s = timed(a.latent, a.repeat, "encode", model, "--data", p("test.npy"),
                   "--out", p("fast.npy"))
    exact_s = timed(a.latent, a.repeat, "encode", model, "--data", p("test.npy"),
                    "--out", p("exact.npy"), "--exact")
    s = latent(a.latent, "score", model, "--data", p("test.npy"), "--out", p("energy.npy"))
    subprocess.run([a.latent, "export", model, "--out", p("tensors"), "-q"], check=True)
    d = np.load(os.path.join(p("tensors"), "D.npy"))
    f, z = np.load(p("fast.npy")), np.load(p("exact.npy"))
    row = lambda m: float(np.mean(np.sum(m * m, axis=1)))
    print(f"held-out 2,000: energy {s['mean']:.4f} per row (lambda {a.lam}, alpha {a.alpha})")
    print(f"zeros: exact codes {np.mean(z == 0):.4f}, fast codes {np.mean(f == 0):.4f}")
    print(f"prediction error mean ||z* - F(x)||^2 {row(z - f):.4f} (mean ||z*||^2 {row(z):.4f})")
    print(f"reconstruction mean ||x - zD||^2: fast {row(test - f @ d):.4f}, "
          f"exact {row(test - z @ d):.4f} (mean ||x||^2 {row(test):.4f})")
    print(f"time per row: fast encoder {1e6 * fast_s / len(test):.1f} us, "
          f"FISTA {1e6 * exact_s / len(test):.1f} us (whole command, best of {a.repeat})")
    subprocess.run([a.latent, "filters", model, "--out", p("filters.png"), "--max", "256", "-q"],
                   check=True)
    print("filters:", p("filters.png"))


if __name__ == "__main__":
    main()
