#!/usr/bin/env bash
# Bounded fuzzing of every target (`make fuzz`). Each target runs FUZZ_SECONDS (default 60) with
# the committed seeds (fuzz/seeds) and its growing corpus (fuzz/corpus/<target>, not committed).
# Crashes land in fuzz/artifacts/<target>/; keep each one as a regression test in
# shared/tests/bad_input.rs. Exit status is non-zero when any target found a crash.
#
#   FUZZ_SECONDS=300 bash fuzz/run.sh              # longer
#   bash fuzz/run.sh pattern_match config_load      # some targets only
set -euo pipefail
cd "$(dirname "$0")"

SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
ALL=(decode_input decode_document parse_event pattern_compile pattern_match config_load)
if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
# libFuzzer needs nightly flags; without a nightly toolchain, let stable accept them.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    FUZZ=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    FUZZ=(cargo fuzz)
fi
# Safe Rust: AddressSanitizer adds nothing but time. Debug assertions turn arithmetic overflow
# into findings.
BUILD_FLAGS=(--sanitizer none --debug-assertions)

seeds_for() {
    case "$1" in
        decode_input) echo "../tests/fixtures ../tests/fixtures/bad" ;;
        decode_document|parse_event|pattern_match) echo "seeds/document" ;;
        pattern_compile) echo "seeds/pattern" ;;
        config_load) echo "seeds/config" ;;
    esac
}

"${FUZZ[@]}" build "${BUILD_FLAGS[@]}"

failed=()
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    seeds=$(seeds_for "$t")
    echo "== $t (${SECONDS_PER_TARGET}s)"
    # -rss_limit_mb: the pipeline must stay far below a 128 MB Lambda; -timeout: per input.
    # shellcheck disable=SC2086  # $seeds is a list of directories
    if ! "${FUZZ[@]}" run "${BUILD_FLAGS[@]}" "$t" "corpus/$t" $seeds -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=1024 \
        -max_len=65536 -dict=logsieve.dict -print_final_stats=1 2>&1 | tee "artifacts/$t/last-run.log" | grep -E '^(stat::|==|#[0-9]+ +DONE|.*(panicked|ERROR|SUMMARY))'; then
        :
    fi
    for f in "artifacts/$t"/crash-* "artifacts/$t"/oom-* "artifacts/$t"/timeout-* "artifacts/$t"/slow-unit-*; do
        if [ -e "$f" ]; then
            failed+=("$t")
            break
        fi
    done
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: findings in ${failed[*]} (see fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: no findings"
