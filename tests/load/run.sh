#!/usr/bin/env bash
# `make load`: the release kinesis-processor, zipped as deployed, under tests/load/kinesis_load.py
# (ministack's Kinesis and event source mapping). Arguments go to the script.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# shellcheck source=tests/e2e/setup.sh
source "$root/tests/e2e/setup.sh"
e2e_venv
target="${CARGO_TARGET_DIR:-$root/target}"
cargo build --release --locked -p kinesis-processor
mkdir -p "$target/load"
lambda_zip "$target/release/kinesis-processor" "$target/load/kinesis-processor.zip"
exec "$venv/bin/python" tests/load/kinesis_load.py "$target/load/kinesis-processor.zip" \
    --out "$target/load/summary.json" "$@"
