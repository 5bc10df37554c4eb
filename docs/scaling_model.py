#!/usr/bin/env python3
"""The scaling model of synchronous data-parallel CD-1 training (issue 20).

Writes the tables of docs/scaling.md from a few measured inputs (see there):
per-step compute from the measured single-core epoch time, scaled to a node of
16 cores; latent's ring sums per step (the weight matrix; the biases packed
with the loss and metrics; the vote to stop: 3 for an RBM) moving every
parameter (f32) once, costing 2(N-1)/N * bytes / bandwidth + 3 * 2(N-1) *
latency; no overlap of the two (as latent does today). Pure Python; run `python3 docs/scaling_model.py`.
"""

CORES = 16
LATENCY_S = 20e-6  # one message over TCP/Ethernet, a round figure
# Ring sums per CD-1 step of an RBM (W; b and c packed with the loss and
# metrics; the vote to stop), each 2(N-1) messages in turn.
SUMS_PER_STEP = 3
NETS = {"25 Gbit/s": 25e9 / 8, "100 Gbit/s": 100e9 / 8}
ROWS = 1_000_000  # an epoch of a million rows
NODES = [1, 2, 4, 8, 16, 32, 64]

# name: (visible, hidden, global batch, measured s per single-core step)
# Steps measured with `latent train rbm --threads 1` on MNIST t10k (10,000
# rows), 2-core Xeon model 207 VM: 784-4096 batch 1000 2.36-2.51 s/epoch of
# 10 steps; 784-500 batch 100 0.330-0.344 s/epoch of 100 steps.
SIZES = {
    "784-4096, batch 1000": (784, 4096, 1000, 0.240),
    "784-500, batch 100": (784, 500, 100, 0.00337),
}


def allreduce_s(nodes, nbytes, bandwidth):
    if nodes == 1:
        return 0.0
    latency = SUMS_PER_STEP * 2 * (nodes - 1) * LATENCY_S
    return 2 * (nodes - 1) / nodes * nbytes / bandwidth + latency


def step(nodes, rows_per_node, v, h, batch, core_step_s, bandwidth):
    compute = core_step_s * rows_per_node / batch / CORES
    comm = allreduce_s(nodes, 4 * (v * h + v + h), bandwidth)
    return compute, comm


def table(name, weak):
    v, h, batch, core_step_s = SIZES[name]
    lines = []
    head = "| nodes | " + " | ".join(
        f"{n}: epoch s | {n}: efficiency" for n in NETS) + " |"
    lines.append(head)
    lines.append("|" + " --- |" * (1 + 2 * len(NETS)))
    for nodes in NODES:
        cells = []
        for bw in NETS.values():
            per_node = batch if weak else batch / nodes
            compute, comm = step(nodes, per_node, v, h, batch, core_step_s, bw)
            steps = ROWS / (per_node * nodes)
            ideal = core_step_s * ROWS / batch / CORES / nodes
            epoch = steps * (compute + comm)
            cells += [f"{epoch:.2f}", f"{ideal / epoch:.0%}"]
        lines.append(f"| {nodes} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def smallest_batch(name, nodes, bandwidth, target=0.8):
    """The fewest rows per node per step with compute >= target of the step."""
    v, h, batch, core_step_s = SIZES[name]
    b = 1
    while True:
        compute, comm = step(nodes, b, v, h, batch, core_step_s, bandwidth)
        if compute / (compute + comm) >= target:
            return b
        b += 1


if __name__ == "__main__":
    for name in SIZES:
        print(f"### {name}\n")
        print("Global batch fixed (each of N nodes takes batch/N rows):\n")
        print(table(name, weak=False) + "\n")
        print("Batch per node fixed (the global batch grows with N):\n")
        print(table(name, weak=True) + "\n")
        print("Fewest rows per node per step for 80 % efficiency:\n")
        print("| nodes | " + " | ".join(NETS) + " |")
        print("|" + " --- |" * (1 + len(NETS)))
        for nodes in NODES[1:]:
            cells = [str(smallest_batch(name, nodes, bw)) for bw in NETS.values()]
            print(f"| {nodes} | " + " | ".join(cells) + " |")
        print()
