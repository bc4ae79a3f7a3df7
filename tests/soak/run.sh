#!/usr/bin/env bash
# Soak (issue 8): builds the release log-processor and the logsieve CLI (the event generator), then
# runs tests/soak/soak.py: 1,000 invocations of 1,000 events in one warm process through a local
# Runtime API stand-in, RSS flat within +-10% after invocation 100. Bounded in time; soak.py kills
# the function it started on every exit path, and `timeout` bounds soak.py itself.
# Extra arguments go to soak.py (e.g. --sinks aws, --invocations 10000). Cold start, after this
# has built: python3 tests/soak/coldstart.py (writes target/soak/coldstart.json).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
cargo build --release --locked -p log-processor -p logsieve-cli
exec timeout --kill-after=10 "${SOAK_TIMEOUT:-900}" python3 tests/soak/soak.py "$@"
