#!/usr/bin/env bash
# The many-core figures of issues 2 and 5 in one or two calls on a machine
# that has no Rust toolchain (the 16-core machine lent through `device`).
#
# Here (a machine with cargo), build and stage what travels:
#
#     bash bench/device_run.sh stage
#
# which builds gemm-report, rbm-epoch and ae-epoch (release; portable: the
# kernels choose their instruction set at run time) and copies them with the
# MNIST test images into target/device/ (ignored by git, about 10 MB). Then,
# on the other machine, with target/device carried:
#
#     bash bench/device_run.sh gemm     # gemm-report vs numpy, 1 and all threads (~3 min)
#     bash bench/device_run.sh rbm      # rbm-epoch vs scikit-learn, numpy, PyTorch (~6 min)
#     bash bench/device_run.sh ae       # ae-epoch vs PyTorch (~3 min)
#
# THREADS=N sets the thread count (default: all CPUs); QUICK=1 runs the
# scripts' --quick versions (a check that everything runs, not figures).
# Each part writes its whole log to $OUT/<part>.log (or ./device-out/ when
# OUT is unset) and ends with the scripts' RESULT lines. Benchmarks only,
# never CI.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=target/device
out=${OUT:-device-out}
part=${1:-}
threads=${THREADS:-$(nproc)}
quick=()
[[ -n "${QUICK:-}" ]] && quick=(--quick)

case "$part" in
stage)
    cargo build --release -q -p latent-bench --bin gemm-report --bin rbm-epoch --bin ae-epoch
    mkdir -p "$stage/mnist"
    cp target/release/gemm-report target/release/rbm-epoch target/release/ae-epoch "$stage/"
    mnist=${LATENT_MNIST_DIR:-../shared/data/mnist}
    if [[ -f "$mnist/t10k-images-idx3-ubyte.gz" ]]; then
        cp "$mnist"/t10k-*-idx1-ubyte.gz "$mnist"/t10k-*-idx3-ubyte.gz "$stage/mnist/"
    else
        echo "device_run: no MNIST at $mnist; rbm-epoch will use random binary data and say so" >&2
    fi
    du -sh "$stage"
    ;;
gemm | rbm | ae)
    for bin in gemm-report rbm-epoch ae-epoch; do
        [[ -x "$stage/$bin" ]] || {
            echo "device_run: $stage/$bin missing: run 'bash bench/device_run.sh stage' first and carry $stage" >&2
            exit 2
        }
    done
    mkdir -p "$out"
    export LATENT_MNIST_DIR=$PWD/$stage/mnist PYTHONUNBUFFERED=1
    {
        echo "== $(date -u +%FT%TZ) $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
        grep -o -m1 -w 'avx512f\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' '
        echo
        python3 -c 'import numpy; print("numpy", numpy.__version__)' || true
        python3 -c 'import sklearn; print("scikit-learn", sklearn.__version__)' || true
        python3 -c 'import torch; print("torch", torch.__version__)' || true
        case "$part" in
        gemm) python3 bench/gemm_vs_numpy.py "${quick[@]}" --threads "$threads" --latent "$stage/gemm-report" ;;
        rbm)
            "$stage/rbm-epoch" "${quick[@]}" --only 500 --threads "$threads" --breakdown
            python3 bench/rbm_vs_peers.py "${quick[@]}" --threads "$threads" --latent "$stage/rbm-epoch"
            ;;
        ae)
            rows=()
            [[ -n "${QUICK:-}" ]] && rows=(--rows 2000)
            LATENT_AE_EPOCH="$stage/ae-epoch" python3 bench/ae_vs_pytorch.py "${rows[@]}" --threads "$threads"
            ;;
        esac
    } 2>&1 | tee "$out/$part.log"
    ;;
*)
    echo "usage: bash bench/device_run.sh stage|gemm|rbm|ae" >&2
    exit 2
    ;;
esac
