#!/usr/bin/env python3
"""Issue 19's classifier experiment: a DBN-pretrained classifier against
softmax regression on the pixels, on the MNIST images available here.

    python3 bench/classifier_mnist.py [--latent PATH] [--mnist DIR]
                                      [--layers 784,500,500] [--pretrain-epochs P]
                                      [--epochs E] [--threads T] [--workdir DIR]

Data: the MNIST test images (../shared/data/mnist, or --mnist or
$LATENT_MNIST_DIR) and their labels; the first 8,000 train, the last 2,000
test. The images go to latent as uint8 (it divides by 255).

1. `latent train classifier --layers 784,500,500 --pretrain rbm`: a DBN
   (CD-1, SGD with Hinton's momentum at 0.1, --pretrain-epochs per layer)
   topped with a softmax, fine-tuned for --epochs with the labels (Adam
   0.001, batches of 100), then `latent eval --labels` on the 2,000 test
   images.
2. The same with `--layers 784` (no hidden layer: softmax regression on the
   pixels), the same fine-tuning epochs.
3. scikit-learn's LogisticRegression (lbfgs, multinomial, C=1, max_iter
   1000) on the pixels scaled to [0, 1]; skipped with a line when
   scikit-learn cannot be imported.

Prints a table and ends with one `RESULT key=value ...` line (dbn_acc,
softmax_acc, sklearn_acc, dbn_seconds, softmax_seconds, sklearn_seconds).
A few minutes on 2 cores. For reports only, never CI; the seconds are only
meaningful on an idle machine.
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
TRAIN = 8000


def idx(directory, name, offset):
    import numpy as np

    with gzip.open(os.path.join(directory, name), "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def latent(cli, args, threads):
    """Runs `latent ARGS --json --threads T`; returns (JSON, seconds)."""
    cmd = [cli] + args + ["--json", "--threads", str(threads)]
    t = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True)
    secs = time.perf_counter() - t
    if run.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{run.stderr.strip()}")
    return json.loads(run.stdout), secs


def train_and_test(cli, work, name, layers, args, threads):
    """Trains a classifier of `layers`; returns (test accuracy, seconds)."""
    out = os.path.join(work, f"{name}.latent")
    x, y = (os.path.join(work, f) for f in ("train_x.npy", "train_y.npy"))
    _, secs = latent(
        cli,
        ["train", "classifier", "--data", x, "--labels", y, "--layers", layers, "--out", out]
        + args,
        threads,
    )
    tx, ty = (os.path.join(work, f) for f in ("test_x.npy", "test_y.npy"))
    report, _ = latent(cli, ["eval", out, "--data", tx, "--labels", ty], threads)
    return report["accuracy"], secs


def sklearn_logistic(x, y, tx, ty):
    """LogisticRegression on the pixels; (accuracy, seconds) or None."""
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        print("SKIP: scikit-learn cannot be imported")
        return None
    t = time.perf_counter()
    clf = LogisticRegression(max_iter=1000, C=1.0)
    clf.fit(x / 255.0, y)
    secs = time.perf_counter() - t
    return float((clf.predict(tx / 255.0) == ty).mean()), secs


def main():
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--latent", default=os.path.join(ROOT, "target", "release", "latent"))
    default_mnist = os.path.join(ROOT, "..", "shared", "data", "mnist")
    ap.add_argument("--mnist", default=os.environ.get("LATENT_MNIST_DIR", default_mnist))
    ap.add_argument("--layers", default="784,500,500")
    ap.add_argument("--pretrain-epochs", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--workdir", default="/tmp/latent-classifier-mnist")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    images = idx(a.mnist, "t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784)
    labels = idx(a.mnist, "t10k-labels-idx1-ubyte.gz", 8).astype(np.int64)
    x, y, tx, ty = images[:TRAIN], labels[:TRAIN], images[TRAIN:], labels[TRAIN:]
    for name, v in [("train_x", x), ("train_y", y), ("test_x", tx), ("test_y", ty)]:
        np.save(os.path.join(a.workdir, f"{name}.npy"), v)
    pre = ["--pretrain", "rbm", "--pretrain-epochs", str(a.pretrain_epochs)]
    epochs = ["--epochs", str(a.epochs)]
    dbn = train_and_test(a.latent, a.workdir, "dbn", a.layers, pre + epochs, a.threads)
    soft = train_and_test(a.latent, a.workdir, "softmax", "784", epochs, a.threads)
    sk = sklearn_logistic(x, y, tx, ty)
    print(f"MNIST, {TRAIN} train / {len(ty)} test images, {a.threads} thread(s)")
    print(f"{'model':<62} {'test accuracy':>13} {'seconds':>8}")
    rows = [
        (f"DBN {a.layers} ({a.pretrain_epochs} CD-1 epochs/layer) + softmax, "
         f"{a.epochs} epochs", dbn),
        (f"softmax on pixels (latent), {a.epochs} epochs", soft),
        ("LogisticRegression on pixels (scikit-learn)", sk),
    ]
    for label, r in rows:
        if r is not None:
            print(f"{label:<62} {r[0]:>13.4f} {r[1]:>8.1f}")
    result = {
        "dbn_acc": f"{dbn[0]:.4f}",
        "softmax_acc": f"{soft[0]:.4f}",
        "sklearn_acc": f"{sk[0]:.4f}" if sk else "absent",
        "dbn_seconds": f"{dbn[1]:.1f}",
        "softmax_seconds": f"{soft[1]:.1f}",
        "sklearn_seconds": f"{sk[1]:.1f}" if sk else "absent",
    }
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
