#!/usr/bin/env bash
# End-to-end test: the release function binaries run as provided.al2023 Lambdas in ministack
# (CloudWatch Logs subscription -> Lambda -> CloudWatch metrics; records to OTLP, Firehose, S3;
# Kinesis -> event source mapping -> kinesis-processor; Firehose -> firehose-filter -> S3),
# with X-Ray served by moto and an OTLP receiver of the tests' own.
# Self-contained and idempotent: creates/refreshes .venv, builds and zips the binary, runs pytest
# (whose fixtures start both servers on free loopback ports and always stop them).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# shellcheck source=tests/e2e/setup.sh
source "$root/tests/e2e/setup.sh"
target="${CARGO_TARGET_DIR:-$root/target}"
work="$(mktemp -d "${TMPDIR:-/tmp}/logsieve-e2e.XXXXXX")"

cleanup() {
    # The fixtures stop the servers; this catches anything left if pytest itself was killed.
    if [[ -f "$work/pids" ]]; then
        while read -r pid; do
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        done < "$work/pids"
    fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# 1. Python tools, reinstalled only when requirements.txt changes.
e2e_venv

# 2. The function exactly as deployed: release binary named bootstrap at the zip root; and the
# `logsieve` CLI, whose `redrive` the records tests run. The CLI's package is `logsieve-cli` when
# the workspace has one, else the library package `logsieve` that carries the binary.
# LOGSIEVE_E2E_PROFILE=dev tests a debug build instead (much faster to build while iterating).
profile="${LOGSIEVE_E2E_PROFILE:-release}"
cli_pkg="$(cargo metadata --no-deps --format-version 1 --locked | "$venv/bin/python" -c '
import json, sys
names = {p["name"] for p in json.load(sys.stdin)["packages"]}
print("logsieve-cli" if "logsieve-cli" in names else "logsieve")
')"
cargo build --profile "$profile" --locked -p log-processor -p kinesis-processor -p firehose-filter \
    -p "$cli_pkg"
outdir="$profile"; [[ "$profile" == dev ]] && outdir=debug
for fn in log-processor kinesis-processor firehose-filter; do
    bin="$target/$outdir/$fn"
    if [[ "$profile" == dev ]]; then
        # Debug info makes a dev binary larger than Lambda's 250 MB unzipped limit.
        strip --strip-debug -o "$work/bootstrap" "$bin"
        bin="$work/bootstrap"
    fi
    lambda_zip "$bin" "$work/$fn.zip"
done

# 3. The tests (bounded: every wait in them has a deadline; the whole run has one too).
export LOGSIEVE_E2E_ZIP="$work/log-processor.zip"
export LOGSIEVE_E2E_KINESIS_ZIP="$work/kinesis-processor.zip"
export LOGSIEVE_E2E_FIREHOSE_ZIP="$work/firehose-filter.zip"
export LOGSIEVE_E2E_CLI="$target/$outdir/logsieve"
export LOGSIEVE_E2E_PIDS="$work/pids"
export LOGSIEVE_E2E_LOGS="$work"
status=0
timeout --signal=TERM 600 "$venv/bin/python" -m pytest -q -p no:cacheprovider "$root/tests/e2e" "$@" || status=$?
if [[ $status -ne 0 ]]; then
    for f in "$work"/*.log; do
        [[ -f "$f" ]] || continue
        echo "---- last lines of $(basename "$f") ----"
        tail -n 40 "$f"
    done
fi
exit $status
