#!/usr/bin/env bash
# Runs one fuzz target (idx, npy, csv or model_file) for a number of
# seconds (default 600), starting from the committed seeds in
# fuzz/seeds/<target>; what libFuzzer finds goes to fuzz/corpus/<target>
# (ignored by git), a failing input to fuzz/artifacts/<target>/. Needs
# cargo-fuzz (`cargo install cargo-fuzz --locked`); on a stable toolchain
# RUSTC_BOOTSTRAP=1 lets it pass the sanitizer flags.
# Usage: bash fuzz/run.sh <target> [seconds] [more libFuzzer flags]
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: bash fuzz/run.sh <idx|npy|csv|model_file> [seconds] [libFuzzer flags]}
secs=${2:-600}
shift $(($# < 2 ? $# : 2))
mkdir -p "fuzz/corpus/$target"
# -timeout: an input taking over 10 s is a hang; -rss_limit_mb: the
# readers must stay far below 2 GiB on inputs of a few KiB.
RUSTC_BOOTSTRAP=1 exec cargo fuzz run "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$@"
