#!/usr/bin/env bash
# Distributed training under MPI (the `mpi` feature; issue 20): builds latent
# with --features mpi (installing OpenMPI and libclang with apt-get when
# mpirun is missing and this runs as root), then on a small seeded CSV:
# - ae (deterministic): 2 and 3 ranks against one process, parameters within
#   TOL relative (ci/compare-params.py; measured 6e-8);
# - rbm (CD-1), vae: two 2-rank runs bit-identical; 2 ranks with 1 and 2
#   threads per rank bit-identical; one rank bit-identical to a run alone;
# - rank 0 alone writes the model file, checkpoints included, and reports
#   its seconds in the sums (--json); a run resumed
#   on as many ranks ends bit-identical to one straight through, on
#   another rank count it is refused;
# - an error on the ranks: every rank exits non-zero, no hang;
# - rows read on demand (the default): each rank's peak RSS under half a
#   128 MB file, the model that of --load-data bit for bit (and of one
#   process within TOL).
# - 3 ranks: the ring sums of MPI ranks bit-identical to ranks as threads
#   (LocalReducer), 3-rank runs bit-identical;
# - a rank killed (kill -9) after the first checkpoint: the job exits
#   non-zero, rank 0 says why, the checkpoint reads back, --resume is exact;
#   a rank stopped (SIGSTOP): rank 0 gives up at --collective-timeout;
# - --average-every 5 (parameter averaging): two 2-rank runs bit-identical
#   (and not the gradient sums' model), --resume exact, refused without
#   --distributed.
# Also lints the feature's code (the workspace's clippy runs without it).
set -euo pipefail
cd "$(dirname "$0")/.."
TOL=1e-6
if ! command -v mpirun > /dev/null; then
    sudo=()
    if [ "$(id -u)" != 0 ] && command -v sudo > /dev/null && sudo -n true 2> /dev/null; then
        sudo=(sudo -n)
    fi
    if { [ "$(id -u)" = 0 ] || [ ${#sudo[@]} -gt 0 ]; } && command -v apt-get > /dev/null; then
        echo "== apt-get install libopenmpi-dev openmpi-bin libclang-dev"
        packages=(libopenmpi-dev openmpi-bin libclang-dev)
        export DEBIAN_FRONTEND=noninteractive
        "${sudo[@]}" apt-get install -y -q "${packages[@]}" > /dev/null ||
            { "${sudo[@]}" apt-get update -q > /dev/null && "${sudo[@]}" apt-get install -y -q "${packages[@]}" > /dev/null; }
    else
        echo "ci/mpi-test.sh: needs mpirun (apt-get install libopenmpi-dev openmpi-bin libclang-dev)" >&2
        exit 1
    fi
fi
# OpenMPI as root, in a container, with more ranks than cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
echo "== cargo clippy --features mpi"
cargo clippy -q -p latent --all-targets --features mpi -- -D warnings
echo "== cargo build --features mpi"
cargo build -q --profile ci --features mpi --bin latent
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "${CARGO_TARGET_DIR:-target}/ci/latent" "$work/latent"
cd "$work"
python3 - << 'PY'
import random
random.seed(20)
with open("data.csv", "w") as f:
    for _ in range(707):  # the last batch of 50 has 7 rows
        f.write(",".join("%.3f" % random.random() for _ in range(64)) + "\n")
PY
L="$work/latent"
mpi() { # mpi N ARGS...: latent under mpirun with N ranks, killed after 120 s
    local n=$1
    shift
    timeout 120 mpirun -np "$n" --oversubscribe "$L" -q "$@"
}
params() { # params MODEL: its parameters as safetensors, at MODEL.st/
    rm -rf "$1.st"
    "$L" -q export --format safetensors --out "$1.st" "$1"
}
same() { # same A B: bit-identical parameters
    params "$1"
    params "$2"
    cmp "$1.st/model.safetensors" "$2.st/model.safetensors"
    echo "ok: $1 and $2 bit-identical"
}
base=(--data data.csv --batch 50 --seed 7)
common=("${base[@]}" --epochs 3)

echo "== ae: N ranks against one process"
"$L" -q --threads 1 train ae "${common[@]}" --hidden 16 --out ae1
params ae1
for n in 2 3; do
    mpi "$n" --threads 1 train ae "${common[@]}" --hidden 16 --out "ae$n" --distributed
    params "ae$n"
    printf "ae, %s ranks: " "$n"
    python3 "$OLDPWD/ci/compare-params.py" "ae$n.st/model.safetensors" ae1.st/model.safetensors "$TOL"
done

echo "== rbm, vae: repeats, threads per rank, one rank"
for kind in rbm vae; do
    args=(train "$kind" "${common[@]}" --hidden 16 --distributed)
    mpi 2 --threads 1 "${args[@]}" --out "$kind-a"
    mpi 2 --threads 1 "${args[@]}" --out "$kind-b"
    same "$kind-a" "$kind-b"
    mpi 2 --threads 2 "${args[@]}" --out "$kind-t2"
    same "$kind-a" "$kind-t2"
    mpi 1 --threads 1 "${args[@]}" --out "$kind-one"
    "$L" -q --threads 1 train "$kind" "${common[@]}" --hidden 16 --out "$kind-alone"
    same "$kind-one" "$kind-alone"
done

echo "== checkpoints from rank 0"
mpi 2 --threads 1 train rbm "${common[@]}" --hidden 16 --checkpoint-every 1 --out ck --distributed
same ck rbm-a

echo "== rank 0 reports its time in the sums"
timeout 120 mpirun -np 2 --oversubscribe "$L" --json --threads 1 train rbm "${common[@]}" --hidden 16 --out js --distributed > js.json
python3 -c 'import json, sys; s = json.load(open("js.json"))["seconds_in_sums"]; assert 0 <= s < 120, s; print(f"ok: seconds_in_sums {s:.4f}")'

echo "== resume on as many ranks: exact; on another count: refused"
for kind in rbm vae; do
    args=(train "$kind" "${base[@]}" --hidden 16 --distributed)
    mpi 2 --threads 1 "${args[@]}" --epochs 2 --out "$kind-r"
    mpi 2 --threads 1 "${args[@]}" --epochs 3 --resume "$kind-r" --out "$kind-r"
    same "$kind-r" "$kind-a"
done
set +e
mpi 3 train rbm "${base[@]}" --hidden 16 --epochs 4 --resume rbm-r --out r3 --distributed > err.txt 2>&1
rc=$?
set -e
if [ "$rc" = 0 ] || [ "$rc" = 124 ] || ! grep -q "run on 2 rank(s)" err.txt; then
    echo "expected a resume on 3 ranks of a 2-rank run to fail, got exit $rc:" >&2
    cat err.txt >&2
    exit 1
fi
echo "ok: a 2-rank run resumed on 3 ranks: exit $rc, $(grep -m1 'latent: error:' err.txt)"

echo "== an error stops every rank"
set +e
mpi 2 train rbm --data missing.csv --hidden 16 --out bad --distributed > err.txt 2>&1
rc=$?
set -e
if [ "$rc" = 0 ] || [ "$rc" = 124 ] || ! grep -q "latent: error:.*missing.csv" err.txt; then
    echo "expected every rank to fail with a message, got exit $rc:" >&2
    cat err.txt >&2
    exit 1
fi
echo "ok: exit $rc, $(grep -c 'latent: error:' err.txt) rank(s) said: $(grep -m1 'latent: error:' err.txt)"
echo "== rows read on demand: each rank holds its share, not the file"
# 40960 rows x 784 f4 (128 MB; 2048 distinct rows in [0, 1], repeated). By
# default a distributed rank reads the rows of its share of each batch
# from the file: its peak RSS stays under half the file's size, where
# --load-data holds it all; the model is the --load-data run's bit for
# bit, and one process's within TOL.
python3 - << 'PY'
import random, struct
random.seed(21)
rows, cols, distinct = 40960, 784, 2048
lut = [struct.pack("<f", i / 255) for i in range(256)]
block = b"".join(lut[b] for b in random.randbytes(distinct * cols))
h = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, cols)
h += " " * (63 - (10 + len(h)) % 64) + "\n"
with open("big.npy", "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode())
    for _ in range(rows // distinct):
        f.write(block)
PY
size=$(stat -c %s big.npy)
big=(train ae --data big.npy --hidden 16 --batch 128 --epochs 1 --seed 3)
for mode in rows load; do
    flag=()
    [ "$mode" = load ] && flag=(--load-data)
    timeout 120 mpirun -np 2 --oversubscribe "$L" --json --threads 1 "${big[@]}" \
        --out "big-$mode" --distributed "${flag[@]}" > "big-$mode.json"
done
"$L" -q --threads 1 "${big[@]}" --out big-one
python3 - "$size" << 'PY'
import json, sys
size = int(sys.argv[1])
rows = json.load(open("big-rows.json"))["peak_rss_bytes_per_rank"]
load = json.load(open("big-load.json"))["peak_rss_bytes_per_rank"]
mb = lambda v: ", ".join("%.1f MB" % (b / 1e6) for b in v)
assert len(rows) == 2 and all(0 < r < size / 2 for r in rows), (rows, size)
assert all(r > size for r in load), (load, size)
print("ok: peak RSS per rank %s reading rows, %s with --load-data (the file: %.1f MB)"
      % (mb(rows), mb(load), size / 1e6))
PY
same big-rows big-load
params big-one
printf "ae on rows read on demand, 2 ranks vs one process: "
python3 "$OLDPWD/ci/compare-params.py" big-rows.st/model.safetensors big-one.st/model.safetensors "$TOL"
# Rows preprocessed as they are read (standardised, scaled) and the visible
# biases from the streamed column means: the --load-data run's bits.
for run in "gaussian-rbm" "rbm --scale"; do
    args=(train $run "${common[@]}" --hidden 16 --distributed)
    name=${run%% *}
    mpi 2 --threads 1 "${args[@]}" --out "$name-rows"
    mpi 2 --threads 1 "${args[@]}" --out "$name-load" --load-data
    same "$name-rows" "$name-load"
done

# Every kind on ranks (PCD chains on the rank that owns them, the staged
# kinds stage by stage): the sampling kinds bit-identical on repeats (and
# threads per rank, one rank = alone, resume for the chains); the
# deterministic ones within their tolerance of one process.
echo "== rbm --persistent, dbm: chains per rank"
for kind in rbm dbm; do
    case $kind in
        rbm) shape=(--hidden 16 --persistent) ;;
        dbm) shape=(--layers 64,16,8) ;;
    esac
    args=(train "$kind" "${base[@]}" "${shape[@]}" --distributed)
    mpi 2 --threads 1 "${args[@]}" --epochs 3 --out "$kind-p-a"
    mpi 2 --threads 2 "${args[@]}" --epochs 3 --out "$kind-p-t2"
    same "$kind-p-a" "$kind-p-t2"
    mpi 1 --threads 1 "${args[@]}" --epochs 3 --out "$kind-p-one"
    "$L" -q --threads 1 train "$kind" "${base[@]}" "${shape[@]}" --epochs 3 --out "$kind-p-alone"
    same "$kind-p-one" "$kind-p-alone"
    mpi 2 --threads 1 "${args[@]}" --epochs 2 --out "$kind-p-r"
    mpi 2 --threads 1 "${args[@]}" --epochs 3 --resume "$kind-p-r" --out "$kind-p-r"
    same "$kind-p-r" "$kind-p-a"
done

echo "== dbn, dbm, deep-ae, classifier with sampling stages: repeats"
python3 -c '
rows = [list(map(float, l.split(","))) for l in open("data.csv")]
open("labels.csv", "w").writelines("%d\n" % (int(sum(r[:8]) * 3) % 3) for r in rows)'
clf=(classifier --labels labels.csv --layers 64,16)
for spec in "dbn --layers 64,16,8 --persistent" "dbm --layers 64,16,8 --pretrain-epochs 1" \
    "deep-ae --layers 64,16,8 --pretrain rbm --pretrain-epochs 1" \
    "${clf[*]} --pretrain rbm --pretrain-epochs 1 --persistent"; do
    read -r -a args <<< "$spec"
    name=${args[0]}-s
    mpi 2 --threads 1 train "${args[@]}" "${common[@]}" --out "$name-a" --distributed
    mpi 2 --threads 1 train "${args[@]}" "${common[@]}" --out "$name-b" --distributed
    same "$name-a" "$name-b"
done

echo "== deep-ae (ae), classifier (ae, none), psd: 2 ranks against one process"
for spec in "deep-ae --layers 64,16,8 --pretrain ae --pretrain-epochs 1" \
    "${clf[*]} --pretrain ae --pretrain-epochs 1 --validation-fraction 0.2 --patience 1" \
    "${clf[*]} --pretrain none" "psd --codes 16"; do
    read -r -a args <<< "$spec"
    name=${args[0]}-${args[-1]}
    tol=$TOL
    # FISTA's stopping test turns rounding into iteration counts (measured
    # 9.1e-7; models/tests/data_parallel/stages.rs: PSD_TOL).
    [ "${args[0]}" = psd ] && tol=1e-5
    "$L" -q --threads 1 train "${args[@]}" "${common[@]}" --out "$name-1"
    mpi 2 --threads 1 train "${args[@]}" "${common[@]}" --out "$name-2" --distributed
    params "$name-1"
    params "$name-2"
    printf "%s, 2 ranks: " "${args[0]}"
    python3 "$OLDPWD/ci/compare-params.py" "$name-2.st/model.safetensors" "$name-1.st/model.safetensors" "$tol"
done

echo "== 3 ranks: the ring's fixed order of additions"
ring_check=$(cd "$OLDPWD" && cargo build -q --profile ci --features mpi --example ring_sum_check &&
    realpath "${CARGO_TARGET_DIR:-target}/ci/examples/ring_sum_check")
timeout 120 mpirun -np 3 --oversubscribe "$ring_check" # MPI ranks = ranks as threads, bit for bit
for kind in rbm ae; do
    mpi 3 --threads 1 train "$kind" "${common[@]}" --hidden 16 --out "$kind-3a" --distributed
    mpi 3 --threads 1 train "$kind" "${common[@]}" --hidden 16 --out "$kind-3b" --distributed
    same "$kind-3a" "$kind-3b"
done

echo "== a rank killed: every rank stops with a message, the checkpoint is intact, --resume is exact"
python3 - << 'PY'
import random
random.seed(21)
with open("big.csv", "w") as f:
    for _ in range(3000):
        f.write(",".join("%.3f" % random.random() for _ in range(64)) + "\n")
PY
kill_args=(--threads 1 train rbm --data big.csv --batch 50 --seed 7 --hidden 128 --distributed)
# OpenMPI 4.1's mpirun sends SIGTERM to the ranks left when one dies
# odls_base_sigkill_timeout seconds later (measured: 1 s by default), and
# SIGKILL as long again after that: 3 s here, so that the survivor, whose
# wait in a sum ends on the SIGTERM, has time to say so on a loaded machine.
OMPI_MCA_odls_base_sigkill_timeout=3 timeout 60 mpirun -np 2 --oversubscribe "$L" \
    "${kill_args[@]}" --epochs 1000 --checkpoint-every 1 --out kt > kt.out 2> kt.err &
job=$!
for _ in $(seq 600); do # the first checkpoint, within 30 s
    [ -e kt ] && break
    sleep 0.05
done
victim=
for p in $(pgrep -P "$(pgrep -P "$job")"); do # timeout > mpirun > the ranks
    if tr '\0' '\n' < "/proc/$p/environ" | grep -qx OMPI_COMM_WORLD_RANK=1; then victim=$p; fi
done
if [ ! -e kt ] || [ -z "$victim" ]; then
    echo "no checkpoint or no rank 1 to kill:" >&2
    cat kt.err >&2
    exit 1
fi
kill -9 "$victim"
killed=$SECONDS
set +e
wait "$job"
rc=$?
set -e
line=$(grep -m1 'latent: error: .*(rank 0 of 2; stopping every rank)' kt.err || true)
if [ "$rc" = 0 ] || [ "$rc" = 124 ] || [ $((SECONDS - killed)) -gt 30 ] || [ -z "$line" ]; then
    echo "expected every rank to stop non-zero within 30 s, rank 0 with a message; got exit $rc after $((SECONDS - killed)) s:" >&2
    cat kt.err >&2
    exit 1
fi
echo "ok: rank 1 killed: exit $rc after $((SECONDS - killed)) s; $line"
"$L" -q info kt # reads the whole file and verifies its checksum
done_epochs=$("$L" --json info kt | python3 -c 'import json, sys; print(json.load(sys.stdin)["epochs"])')
target=$((done_epochs + 2))
mpi 2 "${kill_args[@]}" --epochs "$target" --resume kt --out kt
mpi 2 "${kill_args[@]}" --epochs "$target" --out kt-straight
same kt kt-straight
echo "ok: the checkpoint of epoch $done_epochs resumed to epoch $target on 2 ranks"

echo "== a rank that hangs: the others stop at --collective-timeout with a message"
rank_pid() { # rank_pid JOB R: the pid of rank R of the mpirun under timeout's JOB
    local p
    for p in $(pgrep -P "$(pgrep -P "$1")"); do
        if tr '\0' '\n' < "/proc/$p/environ" | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then echo "$p"; fi
    done
}
timeout 60 mpirun -np 2 --oversubscribe "$L" "${kill_args[@]}" --epochs 1000 \
    --checkpoint-every 1 --out kh --collective-timeout 2 > kh.out 2> kh.err &
job=$!
for _ in $(seq 600); do
    [ -e kh ] && break
    sleep 0.05
done
victim=$(rank_pid "$job" 1)
[ -n "$victim" ] && kill -STOP "$victim"
stopped=$SECONDS
set +e
wait "$job"
rc=$?
set -e
line=$(grep -m1 'latent: error: .*2 s of --collective-timeout.*(rank 0 of 2; stopping every rank)' kh.err || true)
alive() { # alive PID: running (not gone, not a zombie)
    kill -0 "$1" 2> /dev/null && ! ps -o stat= -p "$1" | grep -q Z
}
for _ in $(seq 100); do # the stopped rank ends too, within 10 s
    [ -n "$victim" ] && alive "$victim" || break
    sleep 0.1
done
if [ -z "$victim" ] || [ "$rc" = 0 ] || [ "$rc" = 124 ] || [ -z "$line" ] || alive "$victim"; then
    echo "expected rank 0 to give up on a stopped rank 1 after 2 s and the job to end; got exit $rc:" >&2
    cat kh.err >&2
    exit 1
fi
echo "ok: rank 1 stopped: exit $rc after $((SECONDS - stopped)) s; $line"
echo "== --average-every: parameter averaging every 5 steps, bit-identical and resumable"
avg=(--threads 1 train rbm "${base[@]}" --hidden 16 --distributed --average-every 5)
mpi 2 "${avg[@]}" --epochs 3 --out av1
mpi 2 "${avg[@]}" --epochs 3 --out av2
same av1 av2
mpi 2 --threads 1 train rbm "${common[@]}" --hidden 16 --distributed --out avs
params avs
if cmp -s av1.st/model.safetensors avs.st/model.safetensors; then
    echo "expected --average-every 5 to train another model than the gradient sums" >&2
    exit 1
fi
mpi 2 "${avg[@]}" --epochs 1 --out avr
mpi 2 "${avg[@]}" --epochs 3 --resume avr --out avr
same avr av1
if "$L" -q train rbm "${common[@]}" --hidden 16 --average-every 5 --out avn 2> avn.err ||
    ! grep -q -- '--average-every' avn.err; then
    echo "expected --average-every without --distributed to be refused, naming the flag:" >&2
    cat avn.err >&2
    exit 1
fi
echo "ok: refused without --distributed: $(head -1 avn.err)"
echo "== mpi tests passed"
