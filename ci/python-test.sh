#!/usr/bin/env bash
# The Python package's tests (python/tests), run by ci/test.sh after the Rust
# tests: a virtual environment under target/ (nothing installed globally),
# maturin, pytest, numpy, scipy and scikit-learn from the package index, the
# extension built in the ci profile (`maturin develop`), then pytest.
# Without python3, or without the package index, it says SKIP and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/python-venv
python=${PYTHON:-python3}

skip() {
    echo "SKIP python tests: $*"
    exit 0
}

command -v "$python" >/dev/null || skip "no $python on PATH"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' || skip "$python is older than 3.9"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv" || skip "$python -m venv failed (is the venv module installed?)"
fi
log=target/python-venv-pip.log
if ! "$venv/bin/python" -m pip install --disable-pip-version-check --quiet --timeout 20 --retries 1 \
    maturin pytest numpy scipy scikit-learn >"$log" 2>&1; then
    tail -n 3 "$log"
    skip "could not install maturin, pytest, numpy, scipy, scikit-learn (no access to the package index?)"
fi
echo "== python: maturin develop (profile ci)"
VIRTUAL_ENV="$PWD/$venv" PATH="$PWD/$venv/bin:$PATH" \
    maturin develop --quiet --profile ci --manifest-path python/Cargo.toml
echo "== python: pytest python/tests"
LATENT_CLI="${LATENT_CLI:-$PWD/target/ci/latent}" "$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests
echo "== python: done in ${SECONDS} s (environment, build and tests)"
