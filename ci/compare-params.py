#!/usr/bin/env python3
"""Compares the parameters of two safetensors files (`latent export
--format safetensors`): prints the worst |a - b| / max(1, |b|) over every
f32 tensor and exits 1 when it is above TOL (argument 3), or when the
files hold different tensors or shapes. ci/mpi-test.sh's check that a
distributed run trains the model of one process. No numpy needed."""
import json
import struct
import sys


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    tensors = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            sys.exit(f"{path}: tensor {name} is {t['dtype']}, expected F32")
        lo, hi = t["data_offsets"]
        values = struct.unpack(f"<{(hi - lo) // 4}f", data[lo:hi])
        tensors[name] = (t["shape"], values)
    return tensors


def main():
    got, want, tol = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
    if sorted(got) != sorted(want):
        sys.exit(f"different tensors: {sorted(got)} vs {sorted(want)}")
    worst = 0.0
    for name, (shape, values) in want.items():
        if got[name][0] != shape:
            sys.exit(f"{name}: shape {got[name][0]} vs {shape}")
        for a, b in zip(got[name][1], values):
            worst = max(worst, abs(a - b) / max(1.0, abs(b)))
    print(f"worst relative difference {worst:.3e} (tolerance {tol:.1e})")
    sys.exit(0 if worst <= tol else 1)


if __name__ == "__main__":
    main()
