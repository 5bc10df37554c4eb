#!/usr/bin/env python3
"""Issue 18's reported experiment: a 784-500-1000 DBM on the MNIST images
available here, against a DBN of the same size and an RBM, trained for the
same time, each scored on held-out images.

    python3 bench/dbm_mnist.py [--latent PATH] [--mnist DIR] [--dbm-epochs E]
                               [--pretrain-epochs P] [--ais-runs R] [--ais-steps K]
                               [--threads T] [--workdir DIR]

Data: the MNIST test images (../shared/data/mnist or --mnist/$LATENT_MNIST_DIR)
scaled to [0,1] and binarised at 0.5; the first 8,000 train, the last 2,000
test (as the autoencoder tests split them).

1. The DBM: `latent train dbm --layers 784,500,1000` with greedy pretraining
   (--pretrain-epochs) then --dbm-epochs of joint PCD training; its wall time
   T is the budget of the others.
2. A DBN 784-500-1000 and an RBM 784-500 (the CLI defaults: CD-1, lr 0.1;
   PCD-1 at lr 0.1 diverged here, -301.7 nats),
   each first timed for one epoch, then trained for the number of epochs
   that fits in T (at least one).
3. `latent eval --ais` of each on the 2,000 test images: the AIS ln Z with
   its ±3σ interval, and the test log-likelihood per image: the RBM's AIS
   estimate, the DBN's and the DBM's variational lower bounds.

Prints a table and ends with one `RESULT key=value ...` line (dbm_*, dbn_*,
rbm_*: seconds, epochs, log_z, log_z_lo, log_z_hi, test; mark_dbm_beats_rbm).
Takes 15-30 minutes on 2 cores. For reports only, never CI.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def images(directory):
    import numpy as np

    with gzip.open(os.path.join(directory, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[4:8], "big")
    return np.frombuffer(raw, np.uint8, offset=16).reshape(n, 784)


def latent(cli, args, threads):
    """Runs `latent ARGS --json --threads T`; returns (JSON, seconds)."""
    cmd = [cli] + args + ["--json", "--threads", str(threads)]
    t = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True)
    secs = time.perf_counter() - t
    if run.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{run.stderr.strip()}")
    return json.loads(run.stdout), secs


def find(obj, *names):
    """The first value of one of `names` anywhere in the JSON object."""
    if isinstance(obj, dict):
        for n in names:
            if n in obj:
                return obj[n]
        for v in obj.values():
            r = find(v, *names)
            if r is not None:
                return r
    return None


def main():
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latent", default=os.path.join(ROOT, "target", "release", "latent"))
    ap.add_argument("--mnist", default=os.environ.get("LATENT_MNIST_DIR", os.path.join(ROOT, "..", "shared", "data", "mnist")))
    ap.add_argument("--dbm-epochs", type=int, default=100)
    ap.add_argument("--pretrain-epochs", type=int, default=50)
    ap.add_argument("--ais-runs", type=int, default=100)
    ap.add_argument("--ais-steps", type=int, default=14500)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--workdir", default="/tmp/latent-dbm-mnist")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    x = (images(a.mnist).astype(np.float32) / 255.0 > 0.5).astype(np.float32)
    train, test = os.path.join(a.workdir, "train.npy"), os.path.join(a.workdir, "test.npy")
    np.save(train, x[:8000])
    np.save(test, x[8000:])
    cli, t = a.latent, a.threads
    common = ["--data", train, "--batch", "100", "--seed", "1"]
    out = {m: os.path.join(a.workdir, f"{m}.latent") for m in ("dbm", "dbn", "rbm", "probe")}

    print(f"DBM 784-500-1000: pretraining {a.pretrain_epochs} epochs a layer, {a.dbm_epochs} joint epochs", flush=True)
    _, dbm_secs = latent(cli, ["train", "dbm", "--layers", "784,500,1000", "--pretrain-epochs", str(a.pretrain_epochs),
                               "--epochs", str(a.dbm_epochs), "--out", out["dbm"]] + common, t)
    print(f"  {dbm_secs:.1f} s", flush=True)
    peers = {
        "dbn": ["train", "dbn", "--layers", "784,500,1000"],
        "rbm": ["train", "rbm", "--hidden", "500"],
    }
    epochs = {"dbm": a.dbm_epochs}
    secs = {"dbm": dbm_secs}
    for m, args in peers.items():
        _, one = latent(cli, args + ["--epochs", "1", "--out", out["probe"]] + common, t)
        epochs[m] = max(1, int(dbm_secs / one))
        print(f"{m}: one epoch {one:.2f} s -> {epochs[m]} epochs in the DBM's {dbm_secs:.0f} s", flush=True)
        _, secs[m] = latent(cli, args + ["--epochs", str(epochs[m]), "--out", out[m]] + common, t)
        print(f"  {secs[m]:.1f} s", flush=True)

    ais = ["--ais", "--ais-runs", str(a.ais_runs), "--ais-steps", str(a.ais_steps), "--seed", "0"]
    result, rows = [], []
    for m in ("dbm", "dbn", "rbm"):
        ev, esecs = latent(cli, ["eval", "--data", test, out[m]] + ais, t)
        log_z = find(ev, "log_z_ais", "log_z_top_ais")
        lo = find(ev, "log_z_ais_minus_3sd", "log_z_top_ais_minus_3sd")
        hi = find(ev, "log_z_ais_plus_3sd", "log_z_top_ais_plus_3sd")
        test_ll = find(ev, "bound_ais", "log_likelihood_bound", "log_likelihood_ais")
        rows.append((m, secs[m], epochs[m], log_z, lo, hi, test_ll, esecs))
        result += [f"{m}_seconds={secs[m]:.1f}", f"{m}_epochs={epochs[m]}", f"{m}_log_z={log_z}",
                   f"{m}_log_z_lo={lo}", f"{m}_log_z_hi={hi}", f"{m}_test={test_ll}"]
        with open(os.path.join(a.workdir, f"{m}-eval.json"), "w") as f:
            json.dump(ev, f)
    print(f"\n{'model':6s} {'train s':>8s} {'epochs':>6s} {'ln Z':>10s} {'±3σ interval':>22s} {'test per image':>15s} {'eval s':>7s}")
    num = lambda v, w: f"{v:{w}.2f}" if v is not None else f"{'-inf':>{w}s}"
    for m, s, e, lz, lo, hi, ll, es in rows:
        print(f"{m:6s} {s:8.1f} {e:6d} {num(lz, 10)} [{num(lo, 9)}, {num(hi, 9)}] {num(ll, 15)} {es:7.1f}")
    print("(a lower end of -inf: the AIS weights' spread is wider than their mean, 3 standard errors, so the interval is open below)")
    beats = rows[0][6] is not None and rows[2][6] is not None and rows[0][6] > rows[2][6]
    print(f"mark: the DBM's test bound beats the RBM's estimate: {'met' if beats else 'not met'}")
    result.append(f"mark_dbm_beats_rbm={'met' if beats else 'not_met'}")
    print("RESULT " + " ".join(result))


if __name__ == "__main__":
    main()
