#!/usr/bin/env python3
"""Helper of ci/compare_outputs.sh (standard library only).

  compare_outputs.py inputs DIR IMAGES_GZ LABELS_GZ
      Writes the fixed input files of the comparison into DIR: MNIST
      subsets (IDX gzip, plain IDX labels, NPY u1, CSV) and a synthetic
      real-valued data set (CSV with a header, NPY f8) drawn from a fixed
      seed.

  compare_outputs.py compare REF_DIR NEW_DIR [--expect-sigma-fix]
                     [--skip MANIFEST] [--label PREFIX]
      Compares every file under the two run folders byte for byte, with
      the wall-clock measurements masked (see TIMING_KEYS and
      mask_latent); prints one line per file and the totals; exits 1 on
      an unexpected difference.
"""

import gzip
import json
import os
import random
import re
import struct
import sys

# JSON keys whose values are wall-clock measurements: masked in command
# output and in `--metrics` lines before comparing.
TIMING_KEYS = ("seconds", "samples_per_sec", "eta", "elapsed")
TIMING_RE = re.compile(
    r'("(?:%s)"\s*:\s*)(-?[0-9][0-9.eE+-]*|null)' % "|".join(TIMING_KEYS)
)
# `latent info`'s text history lines end with the epoch's seconds.
INFO_SECONDS_RE = re.compile(rb"^(\s+(?:layer \S+ )?epoch .*  )[0-9]+\.[0-9]+ s$", re.M)

# The σ fix of issue 14: `latent eval` on a gaussian-rbm trained with
# --learn-sigma computed the exact and AIS log-likelihood (and log Z) with
# σ = 1 instead of the learned σ. After the fix exactly these fields/lines
# differ from a binary that has the bug; everything else in those outputs
# must stay the same.
SIGMA_FIX_FILES = {
    "_cmd/eval-grbm_sigma.stdout",
    "_cmd/eval-grbm_sigma-ais.stdout",
    "_cmd/eval-grbm_sigma-text.stdout",
    "_cmd/eval-grbm_sigma_resumed.stdout",
}
SIGMA_JSON_KEYS = (
    "log_z_exact",
    "log_likelihood_exact",
    "log_z_ais",
    "log_z_ais_minus_3sd",
    "log_z_ais_plus_3sd",
    "log_likelihood_ais",
)
SIGMA_JSON_RE = re.compile(
    r'("(?:%s)"\s*:\s*)(-?[0-9][0-9.eE+-]*|null)' % "|".join(SIGMA_JSON_KEYS)
)
SIGMA_TEXT_PREFIXES = (
    b"log Z (exact)",
    b"log-likelihood (exact)",
    b"log Z (AIS)",
    b"log-likelihood (AIS)",
)


# ------------------------------------------------------------------ inputs


def idx_images(path, first, count):
    with gzip.open(path, "rb") as f:
        head = f.read(16)
        magic, n, rows, cols = struct.unpack(">IIII", head)
        assert magic == 0x803 and first + count <= n, (path, magic, n)
        f.read(first * rows * cols)
        return rows, cols, f.read(count * rows * cols)


def idx_labels(path, first, count):
    with gzip.open(path, "rb") as f:
        magic, n = struct.unpack(">II", f.read(8))
        assert magic == 0x801 and first + count <= n, (path, magic, n)
        f.read(first)
        return f.read(count)


def npy_bytes(descr, shape, payload):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr,
        ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else ""),
    )
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def gaussian_rows(n, d, seed):
    """n rows of d correlated real features (3 latent factors, per-feature
    offsets and scales, noise), from a fixed seed, rounded to 6 decimals."""
    rng = random.Random(seed)
    mix = [[rng.uniform(-2.0, 2.0) for _ in range(3)] for _ in range(d)]
    offset = [rng.uniform(-5.0, 5.0) for _ in range(d)]
    scale = [rng.uniform(0.5, 3.0) for _ in range(d)]
    rows = []
    for _ in range(n):
        z = [rng.gauss(0.0, 1.0) for _ in range(3)]
        rows.append(
            [
                round(offset[j] + scale[j] * (sum(m * zi for m, zi in zip(mix[j], z)) + 0.3 * rng.gauss(0.0, 1.0)), 6)
                for j in range(d)
            ]
        )
    return rows


def write_inputs(out, images_gz, labels_gz):
    os.makedirs(out, exist_ok=True)
    rows, cols, train = idx_images(images_gz, 0, 300)
    with open(os.path.join(out, "mnist300.idx.gz"), "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write(struct.pack(">IIII", 0x803, 300, rows, cols) + train)
    labels = idx_labels(labels_gz, 0, 300)
    with open(os.path.join(out, "labels300-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, 300) + labels)
    _, _, held = idx_images(images_gz, 300, 100)
    with open(os.path.join(out, "mnist100.npy"), "wb") as f:
        f.write(npy_bytes("|u1", (100, rows * cols), held))
    _, _, csv_rows = idx_images(images_gz, 400, 40)
    with open(os.path.join(out, "mnist40.csv"), "w") as f:
        w = rows * cols
        for i in range(40):
            f.write(",".join(str(b) for b in csv_rows[i * w : (i + 1) * w]) + "\n")
    d = 10
    g = gaussian_rows(500, d, 20261206)
    with open(os.path.join(out, "gauss.csv"), "w") as f:
        f.write(",".join("x%d" % j for j in range(d)) + "\n")
        for r in g[:400]:
            f.write(",".join("%.6f" % v for v in r) + "\n")
    with open(os.path.join(out, "gauss_test.npy"), "wb") as f:
        f.write(npy_bytes("<f8", (100, d), b"".join(struct.pack("<%dd" % d, *r) for r in g[400:])))


# ------------------------------------------------------------- .latent files


class Latent:
    """Walks a checkpoint in the format of engine/src/checkpoint.rs and
    records where the wall-clock fields are."""

    def __init__(self, data):
        self.b, self.pos, self.timing = data, 24, []

    def take(self, n):
        if self.pos + n > len(self.b):
            raise ValueError("truncated at offset %d" % self.pos)
        self.pos += n
        return self.b[self.pos - n : self.pos]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def string(self):
        return self.take(self.u32())

    def tensors(self):
        for _ in range(self.u32()):
            self.string()
            self.take(1)
            rows, cols = self.u64(), self.u64()
            self.take(4 * rows * cols)

    def walk(self):
        if self.b[:8] != b"LATENTCK":
            raise ValueError("not a latent checkpoint")
        for _ in range(3):
            self.string()  # kind, hyper-parameters, trainer
        self.take(16)  # epoch, step
        self.tensors()  # parameters
        self.string()  # optimiser kind
        self.take(8)  # optimiser step
        self.tensors()  # optimiser state
        self.tensors()  # persistent state
        for _ in range(self.u32()):
            self.string()
            self.take(32)  # RNG streams
        for _ in range(self.u32()):
            self.take(8 + 8 + 1 + 8 + 8)  # epoch, loss, flag, valid, samples
            self.timing.append(self.pos)
            self.take(8)  # seconds
            for _ in range(self.u32()):
                self.string()
                self.take(8)
        if self.pos + 8 != len(self.b):
            raise ValueError("%d bytes after the history" % (len(self.b) - self.pos - 8))
        return self


def mask_latent(data):
    """The checkpoint with each history record's `seconds` and the checksum
    (which covers them) zeroed; everything else as written."""
    at = Latent(data).walk().timing
    out = bytearray(data)
    for p in at:
        out[p : p + 8] = bytes(8)
    out[-8:] = bytes(8)
    return bytes(out)


# --------------------------------------------------------------- comparison


TEXT_SUFFIXES = (".stdout", ".stderr", ".csv", ".jsonl")


def first_difference(rel, a, b):
    if rel.endswith(TEXT_SUFFIXES):
        la, lb = a.split(b"\n"), b.split(b"\n")
        for i, (x, y) in enumerate(zip(la, lb)):
            if x != y:
                return "line %d: %r vs %r" % (i + 1, x[:160], y[:160])
        return "%d vs %d lines" % (len(la), len(lb))
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return "byte %d of %d/%d" % (i, len(a), len(b))
    return "sizes %d vs %d" % (len(a), len(b))


def normalise(rel, data):
    """(bytes to compare, what was masked) for one output file."""
    if rel.endswith(".latent"):
        try:
            return mask_latent(data), "history seconds masked"
        except ValueError as e:
            return b"unreadable checkpoint: " + str(e).encode(), ""
    if rel.startswith("_cmd/info-") and rel.endswith("-text.stdout"):
        text, n = INFO_SECONDS_RE.subn(rb"\1<timing> s", data)
        return text, ("history seconds masked" if n else "")
    if rel.endswith(".jsonl") or (rel.startswith("_cmd/") and rel.endswith(".stdout")):
        text, n = TIMING_RE.subn(r'\1"<timing>"', data.decode("utf-8", "replace"))
        return text.encode(), ("timing fields masked" if n else "")
    return data, ""


def sigma_split(rel, data):
    """(the output without the σ-affected fields/lines, those alone)."""
    if rel.endswith("-text.stdout"):
        keep, sigma = [], []
        for line in data.split(b"\n"):
            (sigma if line.startswith(SIGMA_TEXT_PREFIXES) else keep).append(line)
        return b"\n".join(keep), b"\n".join(sigma)
    text = data.decode("utf-8", "replace")
    return (
        SIGMA_JSON_RE.sub(r'\1"<sigma>"', text).encode(),
        "\n".join(m.group(0) for m in SIGMA_JSON_RE.finditer(text)).encode(),
    )


def wrong_exit_status(rel, stderr):
    """A command's status in REF that contradicts its name (err-* must
    fail, every other command must succeed), so that a command broken in
    both binaries is not reported as `same`."""
    if not (rel.startswith("_cmd/") and rel.endswith(".stderr")):
        return ""
    last = stderr.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    ok = last == b"exit status 0"
    if rel.startswith("_cmd/err-") == ok:
        return "REF: %s, expected %s" % (last.decode(), "an error" if ok else "exit status 0")
    return ""


def files_under(root):
    out = set()
    for d, _, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


def compare(ref, new, expect_sigma_fix, skip, label):
    passed = failed = 0
    ref_files, new_files = files_under(ref), files_under(new)

    def report(ok, verdict, what, detail=""):
        nonlocal passed, failed
        passed += ok
        failed += not ok
        print("%-20s %s%s%s" % (verdict, label, what, "  [" + detail + "]" if detail else ""))

    for rel in sorted((ref_files | new_files) - skip):
        if rel not in new_files or rel not in ref_files:
            report(False, "DIFFERENT", rel, "missing in " + ("new" if rel in ref_files else "ref"))
            continue
        with open(os.path.join(ref, rel), "rb") as f:
            a = f.read()
        with open(os.path.join(new, rel), "rb") as f:
            b = f.read()
        a, masked = normalise(rel, a)
        b, _ = normalise(rel, b)
        if rel in SIGMA_FIX_FILES:
            (a_rest, a_sig), (b_rest, b_sig) = sigma_split(rel, a), sigma_split(rel, b)
            if a_rest == b_rest:
                report(True, "same", rel + " (apart from the sigma-fix fields)")
            else:
                report(False, "DIFFERENT", rel + " (apart from the sigma-fix fields)", first_difference(rel, a_rest, b_rest))
            if not a_sig:
                report(False, "DIFFERENT", rel + " (sigma-fix fields)", "no log Z / log-likelihood fields found")
            elif expect_sigma_fix and a_sig != b_sig:
                report(True, "expected difference", rel + " (sigma-fix fields: eval now uses the learned sigma)")
            elif expect_sigma_fix:
                report(False, "UNEXPECTEDLY SAME", rel + " (sigma-fix fields)", "--expect-sigma-fix: the REF has the sigma=1 bug, so these must differ")
            elif a_sig == b_sig:
                report(True, "same", rel + " (sigma-fix fields)")
            else:
                report(False, "DIFFERENT", rel + " (sigma-fix fields)", "pass --expect-sigma-fix against a REF before the fix; " + first_difference(rel, a_sig, b_sig))
            continue
        what = rel + (" (" + masked + ")" if masked else "")
        bad_status = wrong_exit_status(rel, a)
        if bad_status:
            report(False, "DIFFERENT", what, bad_status)
        elif a == b:
            report(True, "same", what)
        else:
            report(False, "DIFFERENT", what, first_difference(rel, a, b))
    print("%s%d passed, %d failed" % (label, passed, failed))
    return failed == 0


def main(argv):
    if len(argv) == 4 and argv[0] == "inputs":
        write_inputs(*argv[1:])
        return 0
    if len(argv) >= 3 and argv[0] == "compare":
        ref, new, rest = argv[1], argv[2], argv[3:]
        expect, skip, label = False, set(), ""
        while rest:
            if rest[0] == "--expect-sigma-fix":
                expect, rest = True, rest[1:]
            elif rest[0] == "--skip" and len(rest) > 1:
                with open(rest[1]) as f:
                    skip = {l.strip() for l in f if l.strip()}
                rest = rest[2:]
            elif rest[0] == "--label" and len(rest) > 1:
                label, rest = rest[1], rest[2:]
            else:
                sys.exit("compare_outputs.py: unknown argument %r" % rest[0])
        return 0 if compare(ref, new, expect, skip, label) else 1
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
