#!/usr/bin/env bash
# `make load`: the release kinesis-processor, zipped as deployed, under tests/load/kinesis_load.py
# (ministack's Kinesis and event source mapping). Arguments go to the script.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
venv="$root/.venv"
req="$root/tests/e2e/requirements.txt"
stamp="$venv/.logsieve-e2e-requirements"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
if ! cmp -s "$req" "$stamp" 2>/dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    cp "$req" "$stamp"
fi
target="${CARGO_TARGET_DIR:-$root/target}"
cargo build --release --locked -p kinesis-processor
mkdir -p "$target/load"
"$venv/bin/python" - "$target/release/kinesis-processor" "$target/load/kinesis-processor.zip" <<'PY'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
    info = zipfile.ZipInfo("bootstrap")
    info.external_attr = 0o755 << 16
    with open(src, "rb") as f:
        z.writestr(info, f.read())
PY
exec "$venv/bin/python" tests/load/kinesis_load.py "$target/load/kinesis-processor.zip" \
    --out "$target/load/summary.json" "$@"
