#!/usr/bin/env bash
# Golden comparison of the `latent` command line against an earlier commit
# (issue 14: the restructuring must leave every output byte-identical,
# apart from the sigma fix below).
#
#   bash ci/compare_outputs.sh [--expect-sigma-fix] [REF]
#
# REF (default bb685a8, the last commit before the redesign) is exported
# with `git archive` to target/compare/src-<sha> and built there with
# CARGO_TARGET_DIR=target/compare/target (`cargo build --profile ci --bin
# latent`; repeat runs are incremental); the working tree is built as
# usual. Each binary then runs the same fixed list of commands (below:
# train_phase, then use_phase) in its own empty temporary folder holding
# the same inputs (MNIST subsets from ../shared/data/mnist and a synthetic
# real-valued set, written by ci/compare_outputs.py), all with --threads 2.
# Every file left in the two folders is compared byte for byte: the
# standard output (`--json`, and a few text runs of eval and info), standard
# error and exit status of every command (kept in _cmd/), the `--metrics`
# lines, and every written .npy, .csv, .png, exported .npy and
# .safetensors. Wall-clock measurements are masked first: the JSON keys
# seconds, samples_per_sec, eta, elapsed (train output, --metrics, info),
# the seconds at the end of `info`'s text history lines, and, in model
# files (.latent), each history record's seconds and the checksum over
# them (the rest of the file, optimiser state and RNG streams included, is
# compared as bytes; the models are also compared through `info --json`
# and `export`). A third folder (`cross:` lines) takes REF's trained model
# files and runs use_phase with the working tree's binary: the new binary
# must read the old files to the same outputs.
#
# Every command named err-* must fail in REF and every other one succeed
# (so that a command broken in both binaries is not `same`).
#
# One line per compared output: `same`, `DIFFERENT` (with the first
# difference) or `expected difference`; then `N passed, M failed`; the
# exit status is non-zero on any unexpected difference.
#
# Expected differences (the sigma fix of issue 14): `latent eval` on the
# gaussian-rbm trained with --learn-sigma (grbm_sigma.latent) computed the
# exact and AIS log Z and log-likelihood with sigma = 1 instead of the
# learned sigma. Pass --expect-sigma-fix when REF has that bug and the
# working tree has the fix (so against bb685a8 after the fix): those
# fields and lines (log_z_exact, log_likelihood_exact, log_z_ais*,
# log_likelihood_ais; the text lines `log Z (...)`, `log-likelihood (...)`)
# of the eval-grbm_sigma* outputs must then differ, and everything else in
# them must not. Without the flag (both binaries with the bug, or both with
# the fix) they must be the same. The list is SIGMA_FIX_FILES in
# ci/compare_outputs.py.
#
# KEEP_OUTPUTS=1 keeps the temporary folders (the path is printed).
# Needs git, cargo, python3 (standard library only), bash, tar.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

EXPECT_SIGMA_FIX=""
REF=bb685a8
for arg in "$@"; do
    case "$arg" in
    --expect-sigma-fix) EXPECT_SIGMA_FIX=--expect-sigma-fix ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "compare_outputs.sh: unknown flag $arg" >&2
        exit 2
        ;;
    *) REF=$arg ;;
    esac
done

MNIST="$ROOT/../shared/data/mnist"
for f in t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    if [[ ! -f "$MNIST/$f" ]]; then
        echo "compare_outputs.sh: $MNIST/$f is missing (the MNIST test set, see ../shared/data/mnist/README.md)" >&2
        exit 2
    fi
done

# ---------------------------------------------------------------- builds

SHA=$(git rev-parse --verify "$REF^{commit}")
COMPARE="$ROOT/target/compare"
SRC="$COMPARE/src-$SHA"
mkdir -p "$COMPARE"
if [[ ! -f "$SRC/Cargo.toml" ]]; then
    rm -rf "$SRC.partial"
    mkdir -p "$SRC.partial"
    git archive "$SHA" | tar -x -C "$SRC.partial"
    mv "$SRC.partial" "$SRC"
fi
RUN=$(mktemp -d "${TMPDIR:-/tmp}/latent-compare.XXXXXX")
if [[ "${KEEP_OUTPUTS:-0}" == 1 ]]; then
    echo "outputs kept in $RUN"
else
    trap 'rm -rf "$RUN"' EXIT
fi

echo "building $REF ($SHA) in $SRC"
(cd "$SRC" && CARGO_TARGET_DIR="$COMPARE/target" cargo build --profile ci --bin latent --locked -q)
cp "$COMPARE/target/ci/latent" "$RUN/latent-ref"
echo "building the working tree"
cargo build --profile ci --bin latent -q
cp "${CARGO_TARGET_DIR:-$ROOT/target}/ci/latent" "$RUN/latent-new"

# ------------------------------------------------------------- commands

# c NAME ARGS...: runs the binary in $BIN with ARGS and --threads 2 in the
# current folder; keeps its stdout in _cmd/NAME.stdout, its stderr and then
# a line `exit status N` in _cmd/NAME.stderr.
c() {
    local name=$1
    shift
    local rc=0
    "$BIN" "$@" --threads 2 >"_cmd/$name.stdout" 2>"_cmd/$name.stderr" || rc=$?
    echo "exit status $rc" >>"_cmd/$name.stderr"
}

M=mnist300.idx.gz   # training images (IDX, gzip); labels300-idx1-ubyte
MT=mnist100.npy     # 100 other images (NPY u1): validation, eval, score
MC=mnist40.csv      # 40 other images (CSV): encode
G=gauss.csv         # 400 x 10 real values (CSV with a header)
GT=gauss_test.npy   # 100 x 10 more (NPY f8)

train_phase() {
    # RBMs: CD-1 with validation, labels and metrics; PCD-2 with sparsity,
    # binarised data and constant momentum; Adam on --scale'd CSV data.
    c train-rbm train rbm --data $M --labels labels300-idx1-ubyte --validate $MT --hidden 32 --epochs 3 --batch 50 --seed 1 --metrics rbm.metrics.jsonl --out rbm.latent --json
    c train-rbm-pcd train rbm --data $M --hidden 12 --epochs 2 --batch 64 --cd-k 2 --persistent --sparsity 0.1 --binarize 0.5 --momentum 0.7 --weight-decay 0.001 --seed 2 --out rbm_pcd.latent --json
    c train-rbm-adam train rbm --data $MC --scale --hidden 10 --optimizer adam --lr 0.01 --epochs 3 --batch 20 --seed 3 --out rbm_adam.latent --json
    # Gaussian RBMs: standardised, learned sigma, raw data with PCD.
    c train-grbm train gaussian-rbm --data $G --validate $GT --hidden 8 --epochs 4 --batch 40 --seed 4 --metrics grbm.metrics.jsonl --out grbm.latent --json
    c train-grbm-sigma train gaussian-rbm --data $G --hidden 8 --learn-sigma --lr 0.01 --epochs 8 --batch 20 --seed 5 --out grbm_sigma.latent --json
    c train-grbm-raw train gaussian-rbm --data $G --hidden 6 --no-standardize --persistent --momentum 0.5 --epochs 3 --batch 40 --seed 6 --out grbm_raw.latent --json
    c train-dbn train dbn --data $M --layers 784,32,16 --epochs 2 --batch 50 --seed 7 --metrics dbn.metrics.jsonl --out dbn.latent --json
    # Autoencoders: plain, denoising (2 layers), sparse (KL), contractive,
    # tied (SGD, salt-and-pepper), squared error on real data (ReLU, L1,
    # Gaussian noise).
    c train-ae train ae --data $M --validate $MT --hidden 24 --epochs 2 --batch 50 --seed 8 --metrics ae.metrics.jsonl --out ae.latent --json
    c train-ae-denoise train ae --data $M --layers 784,32,16 --noise mask:0.3 --epochs 2 --batch 64 --seed 9 --out ae_denoise.latent --json
    c train-ae-sparse train ae --data $M --hidden 24 --sparsity kl:0.05:0.5 --epochs 2 --batch 50 --seed 10 --out ae_sparse.latent --json
    c train-ae-contractive train ae --data $M --hidden 16 --contractive 0.1 --epochs 2 --batch 50 --seed 11 --out ae_contractive.latent --json
    c train-ae-tied train ae --data $M --hidden 16 --tied --optimizer sgd --noise salt-pepper:0.1 --epochs 2 --batch 50 --seed 12 --out ae_tied.latent --json
    c train-ae-mse train ae --data $G --layers 10,6,3 --activation relu,identity --loss mse --sparsity l1:0.01 --noise gaussian:0.1 --epochs 3 --batch 40 --seed 13 --out ae_mse.latent --json
    c train-vae train vae --data $M --validate $MT --hidden 32 --latent 4 --epochs 2 --batch 70 --seed 14 --metrics vae.metrics.jsonl --out vae.latent --json
    c train-vae-mse train vae --data $G --layers 10,8 --latent 2 --loss mse --epochs 3 --batch 40 --seed 15 --out vae_mse.latent --json
    c train-deep-ae train deep-ae --data $M --layers 784,32,16,4 --activation sigmoid,sigmoid,identity --pretrain ae --pretrain-epochs 1 --epochs 2 --batch 50 --seed 16 --metrics deep_ae.metrics.jsonl --out deep_ae.latent --json
    c train-deep-rbm train deep-ae --data $M --layers 784,32,8 --pretrain rbm --pretrain-epochs 1 --epochs 2 --batch 50 --seed 17 --out deep_rbm.latent --json
    # Checkpoints every epoch, then --resume to more epochs (a new --lr for
    # the autoencoder).
    c train-rbm-ck train rbm --data $M --hidden 16 --epochs 2 --batch 50 --checkpoint-every 1 --seed 18 --out rbm_ck.latent --json
    c resume-rbm train rbm --data $M --resume rbm_ck.latent --epochs 4 --out rbm_resumed.latent --json
    c train-dbn-ck train dbn --data $M --layers 784,24,8 --epochs 1 --batch 50 --checkpoint-every 1 --seed 19 --out dbn_ck.latent --json
    c resume-dbn train dbn --data $M --resume dbn_ck.latent --epochs 2 --out dbn_resumed.latent --json
    c train-ae-ck train ae --data $M --hidden 16 --noise mask:0.2 --epochs 1 --batch 50 --checkpoint-every 1 --seed 20 --out ae_ck.latent --json
    c resume-ae train ae --data $M --resume ae_ck.latent --epochs 3 --lr 0.002 --out ae_resumed.latent --json
    c train-deep-ck train deep-ae --data $M --layers 784,24,8 --pretrain-epochs 1 --epochs 1 --batch 50 --checkpoint-every 1 --seed 21 --out deep_ck.latent --json
    c resume-deep train deep-ae --data $M --resume deep_ck.latent --epochs 2 --out deep_resumed.latent --json
    c resume-vae train vae --data $M --resume vae.latent --epochs 3 --out vae_resumed.latent --json
    c resume-grbm-sigma train gaussian-rbm --data $G --resume grbm_sigma.latent --epochs 9 --out grbm_sigma_resumed.latent --json
    # Errors: one line naming the problem, non-zero exit, nothing written.
    c err-no-hidden train rbm --data $M --out err.latent
    c err-resume-kind train rbm --data $M --resume ae.latent --out err.latent
}

MNIST_MODELS="rbm rbm_pcd rbm_adam dbn ae ae_denoise ae_sparse ae_contractive ae_tied vae deep_ae deep_rbm rbm_ck rbm_resumed dbn_ck dbn_resumed ae_ck ae_resumed deep_ck deep_resumed vae_resumed"
GAUSS_MODELS="grbm grbm_sigma grbm_raw ae_mse vae_mse grbm_sigma_resumed"

use_phase() {
    local m
    for m in $MNIST_MODELS $GAUSS_MODELS; do
        c "info-$m" info $m.latent --json
        c "info-$m-text" info $m.latent
        c "export-$m" export $m.latent --out export_$m --json
        c "export-st-$m" export $m.latent --out export_st_$m --format safetensors --json
    done
    for m in $MNIST_MODELS; do
        c "eval-$m" eval $m.latent --data $MT --json
        c "encode-$m" encode $m.latent --data $MC --out enc_$m.npy --json
        c "reconstruct-$m" reconstruct $m.latent --data $MT --out rec_$m.npy --png rec_$m.png --count 8 --json
        c "score-$m" score $m.latent --data $MT --out score_$m.csv --json
    done
    for m in $GAUSS_MODELS; do
        c "eval-$m" eval $m.latent --data $GT --json
        c "encode-$m" encode $m.latent --data $G --out enc_$m.csv --json
        c "reconstruct-$m" reconstruct $m.latent --data $GT --out rec_$m.csv --png rec_$m.png --tile 2x5 --count 6 --json
        c "score-$m" score $m.latent --data $GT --out score_$m.npy --json
    done
    # Human-readable eval lines (no timing in them).
    for m in rbm rbm_pcd grbm grbm_sigma grbm_raw dbn ae ae_mse vae deep_ae; do
        local data=$MT
        [[ " $GAUSS_MODELS " == *" $m "* ]] && data=$GT
        c "eval-$m-text" eval $m.latent --data $data
    done
    # AIS (few runs and temperatures): 32 hidden (AIS only), 12 hidden
    # (exact and AIS), learned sigma; a VAE's importance samples and seed.
    c eval-rbm-ais eval rbm.latent --data $MT --ais --ais-runs 8 --ais-steps 300 --seed 2 --json
    c eval-rbm-pcd-ais eval rbm_pcd.latent --data $MT --ais --ais-runs 6 --ais-steps 200 --seed 3 --json
    c eval-rbm-pcd-ais-text eval rbm_pcd.latent --data $MT --ais --ais-runs 6 --ais-steps 200 --seed 3
    c eval-grbm_sigma-ais eval grbm_sigma.latent --data $GT --ais --ais-runs 8 --ais-steps 300 --seed 4 --json
    c eval-vae-iw eval vae.latent --data $MT --iw-samples 5 --seed 1 --json
    # Features: a DBN's first layer, CSV output, the other input formats.
    c encode-dbn-layer1 encode dbn.latent --data $MT --layer 1 --out enc_dbn_layer1.csv --json
    c encode-dbn-layer2 encode dbn.latent --data $M --layer 2 --out enc_dbn_layer2.npy --json
    c encode-rbm-csv encode rbm.latent --data $MT --out enc_rbm.csv --json
    c encode-grbm-npy encode grbm.latent --data $GT --out enc_grbm_test.npy --json
    # Every score metric that applies.
    c score-rbm-recon score rbm.latent --data $MT --metric recon --out score_rbm_recon.npy --json
    c score-rbm-fe score rbm.latent --data $MT --metric free-energy --out score_rbm_fe.npy --json
    c score-grbm-sigma-fe score grbm_sigma.latent --data $GT --metric free-energy --out score_grbm_sigma_fe.csv --json
    c score-grbm-sigma-recon score grbm_sigma.latent --data $GT --metric recon --out score_grbm_sigma_recon.csv --json
    c score-dbn-recon score dbn.latent --data $MT --metric recon --out score_dbn_recon.csv --json
    c score-ae-recon score ae.latent --data $MT --metric recon --out score_ae_recon.npy --json
    c score-vae-elbo score vae.latent --data $MT --metric neg-elbo --seed 5 --out score_vae_elbo.npy --json
    c score-vae-recon score vae.latent --data $MT --metric recon --out score_vae_recon.csv --json
    # Samples (Gibbs chains; a VAE's decoder).
    for m in rbm rbm_pcd dbn vae vae_resumed; do
        c "sample-$m" sample $m.latent -n 9 --steps 20 --seed 1 --out smp_$m.npy --png smp_$m.png --json
    done
    for m in grbm grbm_sigma grbm_raw vae_mse; do
        c "sample-$m" sample $m.latent -n 6 --steps 20 --seed 2 --out smp_$m.csv --png smp_$m.png --tile 2x5 --json
    done
    c sample-rbm-default sample rbm.latent --steps 5 --png smp_rbm_default.png --json
    # Filters.
    for m in rbm dbn ae ae_tied deep_ae deep_rbm vae; do
        c "filters-$m" filters $m.latent --out filters_$m.png --json
    done
    c filters-rbm-max filters rbm.latent --out filters_rbm_max.png --max 10 --cols 5 --json
    c filters-grbm filters grbm.latent --out filters_grbm.png --tile 2x5 --json
    # Errors.
    c err-sample-ae sample ae.latent --png err.png
    c err-sample-deep_ae sample deep_ae.latent -n 4 --out err.npy
    c err-ais-vae eval vae.latent --data $MT --ais
    c err-shape encode rbm.latent --data $GT --out err.npy
    c err-out-ext encode rbm.latent --data $MT --out err.txt
    c err-tile filters rbm.latent --out err.png --tile 3x3
}

# ------------------------------------------------------------------ runs

python3 ci/compare_outputs.py inputs "$RUN/inputs" "$MNIST/t10k-images-idx3-ubyte.gz" "$MNIST/t10k-labels-idx1-ubyte.gz"

# run SIDE PHASES...: the phases with latent-SIDE in $RUN/SIDE.
run() {
    local side=$1 bin=$2
    shift 2
    local start=$SECONDS phase
    BIN="$RUN/latent-$bin"
    for phase in "$@"; do
        (cd "$RUN/$side" && $phase)
    done
    echo "ran $* with the $bin binary in $((SECONDS - start)) s"
}
for side in ref new; do
    mkdir -p "$RUN/$side/_cmd"
    cp "$RUN"/inputs/* "$RUN/$side/"
done
run ref ref train_phase
cp -a "$RUN/ref" "$RUN/cross"
(cd "$RUN/cross" && find . -type f | sed 's|^\./||' | sort) >"$RUN/trained.txt"
run ref ref use_phase
run new new train_phase use_phase
run cross new use_phase

status=0
python3 ci/compare_outputs.py compare "$RUN/ref" "$RUN/new" $EXPECT_SIGMA_FIX || status=1
python3 ci/compare_outputs.py compare "$RUN/ref" "$RUN/cross" $EXPECT_SIGMA_FIX \
    --skip "$RUN/trained.txt" --label "cross: " || status=1
if [[ $status != 0 ]]; then
    echo "compare_outputs.sh: outputs differ from $REF (KEEP_OUTPUTS=1 keeps them for a look)" >&2
fi
exit $status
