#!/usr/bin/env python3
"""latent.BernoulliRBM against sklearn.neural_network.BernoulliRBM, the same
parameters, the same data, 1 and N threads, in one run (issue 17).

    python bench/sklearn_dropin.py [--quick] [--threads N] [--rounds R] [--mnist DIR]

Data: the MNIST test images (../shared/data/mnist or --mnist/$LATENT_MNIST_DIR)
scaled to [0,1] and binarised at 0.5, as rbm_vs_peers.py makes them; the first
8,000 images tiled to 60,000 rows are the training set, the last 2,000 the
held-out rows (tiling all 10,000, as rbm_vs_peers.py does, would put the
held-out rows in the training set). --quick trains on 12,000 rows.

Configurations: scikit-learn's defaults (n_components=256, batch_size=10,
learning_rate=0.1) and batch_size=100, n_components=500; one epoch each
(n_iter=1; every epoch costs the same, so the ratio holds for n_iter=10),
random_state = the round number (0, 1, …), the same for both. Both are given the same array, float64 by default (numpy's
default dtype and what most users pass; scikit-learn then computes in float64,
latent converts once to float32 and returns float64) or float32 with
--dtype float32 (scikit-learn keeps float32 since 1.2 and computes in it).
Each fit runs in a child process with OMP/OPENBLAS/MKL thread counts set to
T, and latent gets threads=T.

Quality: the pseudo-likelihood of the 2,000 held-out rows under each fitted
model, computed here in float64 numpy from the fitted components_ and
intercepts with the same 16 random flipped features per row for both models
(scikit-learn's score_samples flips one feature per row, which makes the
comparison noisy), reported as the mean over rows, averaged over
the rounds (after one epoch the value still moves by several percent from
one random_state to the next, for either implementation), and the relative
difference. Mark: within 1 % of scikit-learn's.

--rounds R (default 1) repeats everything R times, latent and scikit-learn
one after the other in every round; the report gives the median time of
each and the median of each round's speed-up. Marks (issue 17): >= 8x faster
than scikit-learn at its defaults and >= 5x at batch 100, on 1 and N threads.

The peers come from a virtual environment outside the repository with the
package built in release:

    python3 -m venv /work/venv-bench
    /work/venv-bench/bin/pip install numpy scipy scikit-learn maturin
    VIRTUAL_ENV=/work/venv-bench PATH=/work/venv-bench/bin:$PATH \\
        maturin develop --release --manifest-path python/Cargo.toml
    /work/venv-bench/bin/python bench/sklearn_dropin.py --rounds 3

Ends with one `RESULT key=value ...` line: for configuration C (defaults,
b100) and threads T, latent_sec_C_tT, sklearn_sec_C_tT, speedup_C_tT,
mark_speed_C_tT=met|not_met, pl_latent_C, pl_sklearn_C, pl_rel_C,
mark_pl_C=met|not_met (quality from every round's 1-thread fits).
For benchmarks only, never CI.
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CONFIGS = {
    "defaults": dict(n_components=256, batch_size=10, learning_rate=0.1),
    "b100": dict(n_components=500, batch_size=100, learning_rate=0.1),
}
MARKS = {"defaults": 8.0, "b100": 5.0}
HELD_OUT = 2000
TRAIN_IMAGES = 8000

WORKER = r"""
import json, sys, time
import numpy as np
impl, data, params, threads, seed, out = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
x = np.load(data)
if impl == "sklearn":
    from sklearn.neural_network import BernoulliRBM
    rbm = BernoulliRBM(n_iter=1, random_state=seed, **params)
else:
    from latent import BernoulliRBM
    rbm = BernoulliRBM(n_iter=1, random_state=seed, threads=threads, **params)
t = time.perf_counter()
rbm.fit(x)
secs = time.perf_counter() - t
np.savez(out, components=rbm.components_, hidden=rbm.intercept_hidden_, visible=rbm.intercept_visible_)
print(json.dumps({"seconds": secs}))
"""


def mnist_images(directory):
    """The MNIST test images as an (n, 784) uint8 array."""
    import numpy as np

    path = os.path.join(directory, "t10k-images-idx3-ubyte.gz")
    with gzip.open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[4:8], "big")
    return np.frombuffer(raw, np.uint8, offset=16).reshape(n, 784)


def child_env(threads):
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        env[k] = str(threads)
    return env


def fit(impl, data, config, threads, seed, tmp):
    """Fits one model in a child process; returns (seconds, parameters)."""
    import numpy as np

    out = os.path.join(tmp, f"{impl}-{config}-{threads}.npz")
    args = [sys.executable, "-c", WORKER, impl, data, json.dumps(CONFIGS[config]), str(threads), str(seed), out]
    run = subprocess.run(args, env=child_env(threads), capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{impl} {config} t{threads} failed:\n{run.stderr.strip()}")
    seconds = json.loads(run.stdout.strip().splitlines()[-1])["seconds"]
    with np.load(out) as p:
        params = (p["components"].astype(np.float64), p["hidden"].astype(np.float64), p["visible"].astype(np.float64))
    return seconds, params


def pseudo_likelihood(params, v, flips):
    """Mean over rows of V·mean_k log σ(F(ṽ_k) − F(v)), ṽ_k = v with feature
    flips[:, k] flipped (scikit-learn's estimator, averaged over k)."""
    import numpy as np

    comp, hidden, visible = params
    n, nv = v.shape

    def free_energy(x):
        return -x @ visible - np.logaddexp(0, x @ comp.T + hidden).sum(axis=1)

    f = free_energy(v)
    total = np.zeros(n)
    rows = np.arange(n)
    for k in range(flips.shape[1]):
        vt = v.copy()
        vt[rows, flips[:, k]] = 1 - vt[rows, flips[:, k]]
        total += -nv * np.logaddexp(0, -(free_energy(vt) - f))
    return float((total / flips.shape[1]).mean())


def main():
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="train on 12,000 rows instead of 60,000")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    ap.add_argument("--mnist", default=os.environ.get("LATENT_MNIST_DIR", os.path.join(ROOT, "..", "shared", "data", "mnist")))
    a = ap.parse_args()
    try:
        import latent  # noqa: F401
        import sklearn
    except ImportError as e:
        sys.exit(f"sklearn_dropin.py: {e}; see the docstring for the environment")

    img = mnist_images(a.mnist)
    x = (img.astype(np.float64) / 255.0 > 0.5).astype(np.float64)
    rows = 12000 if a.quick else 60000
    train = np.tile(x[:TRAIN_IMAGES], (-(-rows // TRAIN_IMAGES), 1))[:rows].astype(a.dtype)
    held = x[-HELD_OUT:]
    flips = np.random.default_rng(1).integers(0, 784, size=(HELD_OUT, 16))
    threads = sorted({1, a.threads})
    print(f"latent {latent.__version__} vs scikit-learn {sklearn.__version__}; train {rows} x 784, held-out {HELD_OUT}; "
          f"{a.dtype}; threads {threads}; rounds {a.rounds}")

    times = {}
    quality = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "train.npy")
        np.save(data, train)
        for r in range(a.rounds):
            for config in CONFIGS:
                for t in threads:
                    for impl in ("latent", "sklearn"):
                        secs, params = fit(impl, data, config, t, r, tmp)
                        times.setdefault((impl, config, t), []).append(secs)
                        if t == 1:
                            quality.setdefault((impl, config), []).append(pseudo_likelihood(params, held, flips))
                    ratio = times[("sklearn", config, t)][-1] / times[("latent", config, t)][-1]
                    times.setdefault(("ratio", config, t), []).append(ratio)
                    print(f"round {r + 1} {config:8s} t{t}: latent {times[('latent', config, t)][-1]:7.2f} s, "
                          f"sklearn {times[('sklearn', config, t)][-1]:7.2f} s, {ratio:5.2f}x", flush=True)

    result = []
    print("\nmedians (speed-up = median of the rounds' ratios, range in brackets)")
    for config in CONFIGS:
        for t in threads:
            lat = statistics.median(times[("latent", config, t)])
            skl = statistics.median(times[("sklearn", config, t)])
            ratios = times[("ratio", config, t)]
            sp = statistics.median(ratios)
            met = "met" if sp >= MARKS[config] else "not_met"
            print(f"{config:8s} t{t}: latent {lat:7.2f} s, sklearn {skl:7.2f} s, {sp:5.2f}x "
                  f"[{min(ratios):.2f}-{max(ratios):.2f}]; mark >= {MARKS[config]:g}x: {met.replace('_', ' ')}")
            result += [f"latent_sec_{config}_t{t}={lat:.3f}", f"sklearn_sec_{config}_t{t}={skl:.3f}",
                       f"speedup_{config}_t{t}={sp:.2f}", f"mark_speed_{config}_t{t}={met}"]
    print(f"\nheld-out pseudo-likelihood (mean per row; mean of the {a.rounds} rounds' 1-thread fits, random_state = round)")
    for config in CONFIGS:
        pl_l, pl_s = statistics.mean(quality[("latent", config)]), statistics.mean(quality[("sklearn", config)])
        rel = abs(pl_l - pl_s) / abs(pl_s)
        met = "met" if rel <= 0.01 else "not_met"
        print(f"{config:8s}: latent {pl_l:.3f}, sklearn {pl_s:.3f}, relative difference {100 * rel:.2f} %; "
              f"mark <= 1 %: {met.replace('_', ' ')}")
        result += [f"pl_latent_{config}={pl_l:.4f}", f"pl_sklearn_{config}={pl_s:.4f}",
                   f"pl_rel_{config}={rel:.4f}", f"mark_pl_{config}={met}"]
    print("RESULT " + " ".join(result))


if __name__ == "__main__":
    main()
