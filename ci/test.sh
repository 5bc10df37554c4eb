#!/usr/bin/env bash
# The project's test command (the README's quick start runs this line).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --workspace --profile ci
