#!/usr/bin/env bash
# Supply-chain checks (`make deny`, CI): licenses, bans and sources against deny.toml. These
# three need no advisory database, so they work offline once the crates.io index and the
# crates are in the local cache (after any `cargo build` / `cargo fetch`).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-deny >/dev/null 2>&1; then
    cargo install --locked cargo-deny
fi
cargo deny --version
# Duplicate-version warnings (with their dependency trees) would bury the verdict; errors only.
cargo deny --log-level error check licenses bans sources "$@"
