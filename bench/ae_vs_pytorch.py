#!/usr/bin/env python3
"""ae_vs_pytorch.py: latent's `ae-epoch` next to the same models in PyTorch (CPU).

Times one epoch at batch 100 of
  - deep: the 784-1000-500-250-30 deep autoencoder (sigmoid hidden layers,
    linear code, mirrored untied decoder, cross-entropy from logits, Adam);
  - cae: a 784-500 sigmoid contractive autoencoder (closed-form penalty
    lambda * sum_j s_j^2 n_j with s = h(1-h), n_j = sum_k W_kj^2; cross-entropy;
    Adam),
with 1 thread and all threads, on `rows` x 784 data in [0, 1] (seeded
random: the cost does not depend on the values), the loss summed over
pixels and averaged over the batch, as latent does. Each case runs twice in
PyTorch: in float32, and with the forward pass (loss included) under
`torch.autocast("cpu", dtype=torch.bfloat16)`, the same model, seed and
loop (its mean loss is printed next to the f32 run's). Then runs latent's
`ae-epoch` with the same rows (the binary from $LATENT_AE_EPOCH, else
$CARGO_TARGET_DIR/release/ae-epoch, else target/release/ae-epoch; build it
with `cargo build --release -p latent-bench --bin ae-epoch`) and prints
latent's speed-up (PyTorch seconds / latent seconds) for each case.

Where ae-epoch reports bf16 epochs (`sec_bf16_{deep|cae}_t{T}`), it also
prints latent bf16 against PyTorch bf16 autocast and against PyTorch f32,
with the issue 15 mark for the deep autoencoder: latent bf16 >= 2x PyTorch
bf16 autocast per epoch, 1 and N threads, printed as met or not met (a mark
for a CPU with AMX). An older ae-epoch without those keys: "absent".

    python3 bench/ae_vs_pytorch.py [--rows N] [--threads N] [--only deep|cae]

PyTorch comes from a virtual environment outside the repository; run the
script with its Python, e.g.

    python3 -m venv /work/venv-bench && /work/venv-bench/bin/pip install numpy torch
    cargo build --release -p latent-bench --bin ae-epoch
    /work/venv-bench/bin/python bench/ae_vs_pytorch.py --rows 60000

Prints a SKIP line and exits 0 when torch cannot be imported. Ends with
one line `RESULT key=value ...`: rows, torch_sec_{case}_t{T},
latent_sec_..., speedup_... (latent f32 vs PyTorch f32) as before, and
torch_bf16_sec_{case}_t{T}, latent_bf16_sec_..., speedup_bf16_... (latent
bf16 vs PyTorch bf16 autocast), speedup_bf16_vs_torch_f32_...,
mark_bf16_deep_t{T}=met|not_met, or latent_bf16=absent. Benchmarks only,
never CI.
"""

import argparse
import os
import subprocess
import sys
import time

EPOCH_ROWS = 60_000
BATCH = 100


def latent_binary():
    cands = []
    if os.environ.get("LATENT_AE_EPOCH"):
        cands.append(os.environ["LATENT_AE_EPOCH"])
    if os.environ.get("CARGO_TARGET_DIR"):
        cands.append(os.path.join(os.environ["CARGO_TARGET_DIR"], "release", "ae-epoch"))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cands.append(os.path.join(root, "target", "release", "ae-epoch"))
    for c in cands:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def run_latent(rows, threads, only):
    exe = latent_binary()
    if exe is None:
        print("ae_vs_pytorch: latent's ae-epoch binary not found; build it with "
              "`cargo build --release -p latent-bench --bin ae-epoch` (speed-ups not printed)")
        return {}
    cmd = [exe, "--rows", str(rows), "--threads", str(threads)]
    if only:
        cmd += ["--only", only]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    print(out, end="")
    res = {}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            for kv in line.split()[1:]:
                k, v = kv.split("=", 1)
                res[k] = v
    return res


def torch_epoch(torch, name, x, threads, bf16=False):
    """Seconds for one pass over `x` and the mean minibatch loss; with
    `bf16`, the forward pass (loss included) runs under
    torch.autocast("cpu", dtype=torch.bfloat16), the backward pass and Adam
    outside it, as PyTorch's documentation has it."""
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    nn = torch.nn
    if name == "deep":
        sizes = [784, 1000, 500, 250, 30]
        enc, dec = [], []
        for i in range(4):
            enc.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < 3:
                enc.append(nn.Sigmoid())
        for i in reversed(range(4)):
            dec.append(nn.Linear(sizes[i + 1], sizes[i]))
            if i > 0:
                dec.append(nn.Sigmoid())
        model = nn.Sequential(*enc, *dec)
        params = list(model.parameters())

        def loss_fn(xb):
            logits = model(xb)
            return nn.functional.binary_cross_entropy_with_logits(
                logits, xb, reduction="sum") / xb.shape[0]
    else:
        enc = nn.Linear(784, 500)
        dec = nn.Linear(500, 784)
        params = list(enc.parameters()) + list(dec.parameters())
        lam = 0.1

        def loss_fn(xb):
            h = torch.sigmoid(enc(xb))
            logits = dec(h)
            rec = nn.functional.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
            s = h * (1 - h)
            n = (enc.weight ** 2).sum(dim=1)  # enc.weight is 500 x 784: n_j per hidden unit
            pen = lam * (s * s * n).sum()
            return (rec + pen) / xb.shape[0]

    opt = torch.optim.Adam(params, lr=1e-3)
    perm = torch.randperm(x.shape[0])
    start = time.perf_counter()
    total = 0.0
    for b in range(0, x.shape[0], BATCH):
        xb = x[perm[b:b + BATCH]]
        opt.zero_grad(set_to_none=False)
        if bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = loss_fn(xb)
        else:
            loss = loss_fn(xb)
        loss.backward()
        opt.step()
        total += float(loss.detach())
    secs = time.perf_counter() - start
    return secs, total / ((x.shape[0] + BATCH - 1) // BATCH)


# The mark: latent's bf16 deep autoencoder epoch >= 2x PyTorch's
# bf16 autocast epoch, 1 and N threads.
MARK_DEEP_VS_TORCH_BF16 = 2.0


def bf16_report(torch_secs, torch_bf16_secs, lat, result):
    """latent's bf16 epoch (ae-epoch's sec_bf16_ keys) against PyTorch with
    bf16 autocast and in f32, with the issue's mark for the deep autoencoder."""
    for key, per in torch_bf16_secs.items():
        result.append(f"torch_bf16_sec_{key}={per:.3f}")
    if not lat:
        return
    if not any(k.startswith("sec_bf16_") for k in lat):
        print("latent bf16: absent (this ae-epoch reports no sec_bf16_ keys); mark not measured")
        result.append("latent_bf16=absent")
        return
    for key, per16 in torch_bf16_secs.items():
        ls = lat.get(f"sec_bf16_{key}")
        if ls is None:
            print(f"{key}: latent bf16 absent")
            continue
        ls = float(ls)
        sp16, sp32 = per16 / ls, torch_secs[key] / ls
        line = (f"{key}: latent bf16 {ls:.3f} s, pytorch bf16 autocast {per16:.3f} s: latent speed-up "
                f"{sp16:.2f}x; pytorch f32 {torch_secs[key]:.3f} s: {sp32:.2f}x")
        result += [f"latent_bf16_sec_{key}={ls:.3f}", f"speedup_bf16_{key}={sp16:.2f}",
                   f"speedup_bf16_vs_torch_f32_{key}={sp32:.2f}"]
        if key.startswith("deep_"):
            met = sp16 >= MARK_DEEP_VS_TORCH_BF16
            line += f" (mark >= {MARK_DEEP_VS_TORCH_BF16:.0f}x pytorch bf16: {'met' if met else 'not met'})"
            result.append(f"mark_bf16_{key}={'met' if met else 'not_met'}")
        print(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=12_000,
                    help="rows trained (times are scaled to 60,000); default 12,000")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only", choices=["deep", "cae"])
    args = ap.parse_args()
    try:
        import torch
    except ImportError as e:
        print(f"SKIP: torch is not importable ({e}); no PyTorch comparison")
        print("RESULT torch=absent")
        return 0
    print(f"ae_vs_pytorch: torch {torch.__version__}, {args.rows} x 784 rows, batch {BATCH}, "
          f"times scaled to {EPOCH_ROWS} rows")
    g = torch.Generator().manual_seed(7)
    x = torch.rand(args.rows, 784, generator=g)
    threads = [1] + ([args.threads] if args.threads > 1 else [])
    names = [n for n in ("deep", "cae") if not args.only or n == args.only]
    torch_secs = {}
    torch_bf16_secs = {}
    for name in names:
        for t in threads:
            secs, loss = torch_epoch(torch, name, x, t)
            per = secs * EPOCH_ROWS / args.rows
            torch_secs[f"{name}_t{t}"] = per
            print(f"pytorch {name:>5} threads {t:>3}: {per:8.3f} s/epoch (loss {loss:.2f})")
            secs, loss16 = torch_epoch(torch, name, x, t, bf16=True)
            per = secs * EPOCH_ROWS / args.rows
            torch_bf16_secs[f"{name}_t{t}"] = per
            print(f"pytorch {name:>5} threads {t:>3}: {per:8.3f} s/epoch (loss {loss16:.2f}, "
                  f"{100 * (loss16 - loss) / loss:+.3f} % of f32's) with bf16 autocast")
    lat = run_latent(args.rows, args.threads, args.only)
    result = [f"rows={args.rows}"]
    for key, per in torch_secs.items():
        result.append(f"torch_sec_{key}={per:.3f}")
        ls = lat.get(f"sec_{key}")
        if ls is not None:
            sp = per / float(ls)
            print(f"{key}: latent {float(ls):.3f} s, pytorch {per:.3f} s: latent speed-up {sp:.2f}x")
            result.append(f"latent_sec_{key}={float(ls):.3f}")
            result.append(f"speedup_{key}={sp:.2f}")
    bf16_report(torch_secs, torch_bf16_secs, lat, result)
    print("RESULT " + " ".join(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
