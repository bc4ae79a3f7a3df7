# Sourced by tests/e2e/run.sh and tests/load/run.sh: the Python tools, and zipping a binary the
# way Lambda deploys it. Expects $root; sets $venv.

venv="$root/.venv"

# The Python tools, reinstalled only when requirements.txt changes.
e2e_venv() {
    local req="$root/tests/e2e/requirements.txt"
    local stamp="$venv/.logsieve-e2e-requirements"
    if [[ ! -x "$venv/bin/python" ]]; then
        python3 -m venv "$venv"
    fi
    if ! cmp -s "$req" "$stamp" 2>/dev/null; then
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
        cp "$req" "$stamp"
    fi
}

# lambda_zip BINARY ZIP: the binary named bootstrap at the zip root, executable.
lambda_zip() {
    "$venv/bin/python" - "$1" "$2" <<'PY'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
    info = zipfile.ZipInfo("bootstrap")
    info.external_attr = 0o755 << 16
    with open(src, "rb") as f:
        z.writestr(info, f.read())
PY
}
