#!/usr/bin/env bash
# Builds the deployable Lambda zips of the three functions with cargo-lambda, then runs every zip
# through tests/infra/runtime_smoke.py: natively for this machine's architecture, under qemu-user
# for the other one. cargo-lambda and zig (its cross linker) come from PyPI into their own venv;
# the arm64 standard library from rustup; qemu-user and the arm64 loader (libc6-arm64-cross) from
# apt-get when missing and running as root.
# Output: target/lambda/{x86_64,arm64}/<function>/bootstrap.zip, and per zip its architecture,
# bootstrap and zip sizes and smoke result. Exits non-zero when a build or any smoke check fails.
# Usage: bash tests/infra/package.sh [x86_64|arm64]...   (default: both)
#   PACKAGE_SMOKE_REPEAT=N runs the smoke test N times in a row on the same zips (default 1).
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=${VENV:-.venv-infra}
CARGO_LAMBDA_VERSION=1.9.2
ZIGLANG_VERSION=0.17.1
FUNCTIONS=(log-processor kinesis-processor firehose-filter)
REPEAT=${PACKAGE_SMOKE_REPEAT:-1}
ARCHES=("$@")
[ ${#ARCHES[@]} -gt 0 ] || ARCHES=(x86_64 arm64)

if [ ! -x "$VENV/bin/cargo-lambda" ] || [ ! -x "$VENV/bin/python-zig" ]; then
  [ -d "$VENV" ] || { python3 -m venv "$VENV"; echo '*' > "$VENV/.gitignore"; }
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION"
fi
# `cargo lambda` is found on PATH; it finds zig through the ziglang package of the same venv.
export PATH="$PWD/$VENV/bin:$PATH"

host=$(uname -m); [ "$host" = aarch64 ] && host=arm64

# The other architecture's bootstrap runs under user-mode emulation, with the cross libc as the
# loader's root (qemu-aarch64 -L /usr/aarch64-linux-gnu ./bootstrap).
need_emulator() {
  local arch=$1 qemu loader pkgs
  case "$arch" in
    arm64) qemu=qemu-aarch64 loader=/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 pkgs="qemu-user libc6-arm64-cross" ;;
    x86_64) qemu=qemu-x86_64 loader=/usr/x86_64-linux-gnu/lib/ld-linux-x86-64.so.2 pkgs="qemu-user libc6-amd64-cross" ;;
  esac
  command -v "$qemu" >/dev/null && [ -e "$loader" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "package: installing $pkgs to run the $arch zips under emulation"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
  else
    echo "package: $qemu and $loader are needed to smoke-test the $arch zips: apt-get install $pkgs" >&2
    return 1
  fi
}

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
  [ "$arch" = "$host" ] || need_emulator "$arch"
  start=$SECONDS
  cargo lambda build --release "${flag[@]}" "${packages[@]}" --output-format zip --lambda-dir "$target_dir/lambda/$arch"
  echo "package: $arch build took $((SECONDS - start)) s"
done

# Each architecture's smoke test runs even when another one failed, so the summary covers every zip.
status=0
summaries=()
for arch in "${ARCHES[@]}"; do
  log=$(mktemp)
  python3 tests/infra/runtime_smoke.py "$target_dir/lambda/$arch" --repeat "$REPEAT" | tee "$log" || status=1
  summaries+=("$(sed -n '/^package summary/,$p' "$log")")
  rm -f "$log"
done
echo
echo "== package: per zip (architecture, sizes, smoke result)"
passed=0 failed=0
for s in "${summaries[@]}"; do
  printf '%s\n' "$s" | sed '$d'
  read -r p _ f _ < <(printf '%s\n' "$s" | tail -n 1)
  passed=$((passed + ${p:-0})) failed=$((failed + ${f:-1}))
done
if [ "$status" = 0 ]; then echo "package: every zip built and passed its smoke test"; else echo "package: FAILED (see the FAIL lines above)"; fi
echo "$passed passed, $failed failed"
exit "$status"
