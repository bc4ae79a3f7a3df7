#!/usr/bin/env bash
# Builds the deployable Lambda zips of the three functions for x86_64 and arm64 with cargo-lambda.
# cargo-lambda and zig (its cross linker) come from PyPI into their own venv; the arm64 standard
# library comes from rustup. Output: target/lambda/{x86_64,arm64}/<function>/bootstrap.zip
# Usage: bash tests/infra/package.sh [x86_64|arm64]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=${VENV:-.venv-infra}
CARGO_LAMBDA_VERSION=1.9.2
ZIGLANG_VERSION=0.17.1
FUNCTIONS=(log-processor kinesis-processor firehose-filter)
ARCHES=("$@")
[ ${#ARCHES[@]} -gt 0 ] || ARCHES=(x86_64 arm64)

if [ ! -x "$VENV/bin/cargo-lambda" ] || [ ! -x "$VENV/bin/python-zig" ]; then
  [ -d "$VENV" ] || { python3 -m venv "$VENV"; echo '*' > "$VENV/.gitignore"; }
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION"
fi
# `cargo lambda` is found on PATH; it finds zig through the ziglang package of the same venv.
export PATH="$PWD/$VENV/bin:$PATH"

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
packages=()
for f in "${FUNCTIONS[@]}"; do packages+=(-p "$f"); done

for arch in "${ARCHES[@]}"; do
  case "$arch" in
    x86_64) flag=(--x86-64) ;;
    arm64)
      flag=(--arm64)
      if command -v rustup >/dev/null; then rustup target add aarch64-unknown-linux-gnu; fi ;;
    *) echo "unknown architecture $arch (x86_64 | arm64)" >&2; exit 2 ;;
  esac
  out="$target_dir/lambda/$arch"
  cargo lambda build --release "${flag[@]}" "${packages[@]}" --output-format zip --lambda-dir "$out"
  for f in "${FUNCTIONS[@]}"; do
    zip="$out/$f/bootstrap.zip"
    bin_bytes=$(python3 -c 'import sys,zipfile; print(zipfile.ZipFile(sys.argv[1]).getinfo("bootstrap").file_size)' "$zip")
    echo "package: $arch $f bootstrap=${bin_bytes}B zip=$(stat -c %s "$zip")B $zip"
  done
done

# The zips of this machine's architecture can run here: drive them through a stand-in Lambda
# Runtime API, so the real runtime loop is checked, not just the pure handlers.
host=$(uname -m); [ "$host" = aarch64 ] && host=arm64
for arch in "${ARCHES[@]}"; do
  if [ "$arch" = "$host" ]; then
    python3 tests/infra/runtime_smoke.py "$target_dir/lambda/$arch"
  fi
done
