#!/usr/bin/env bash
# logsieve side by side with a peer on the same payloads, in alternating rounds on one core:
# `logsieve process --output ndjson` (default config: parse, redact every value, metrics, trace
# segments, one record per event), the Datadog Forwarder's own log steps with the network
# stubbed (tests/load/peer_datadog.py), and `gzip -dc` of the same payloads as the floor.
#
#   bash tests/load/peers.sh FORWARDER_CHECKOUT [ROUNDS] [FILES]
#
# FORWARDER_CHECKOUT: a checkout of github.com/DataDog/datadog-serverless-functions. FILES
# subscription events of 5,000 JSON app-log events each (default 20, so 100,000 events),
# generated with `logsieve generate` (seeds 1..FILES). Writes target/peers/summary.json.
set -euo pipefail
cd "$(dirname "$0")/../.."

src="${1:?usage: peers.sh FORWARDER_CHECKOUT [ROUNDS] [FILES]}/aws/logs_monitoring"
rounds="${2:-5}"
files="${3:-20}"
[ -f "$src/steps/parsing.py" ] || { echo "no forwarder steps under $src" >&2; exit 2; }

out=target/peers
mkdir -p "$out/corpus"
cargo build --release -q -p logsieve-cli
bin=target/release/logsieve

if [ ! -x "$out/venv/bin/python" ]; then
    python3 -m venv "$out/venv"
    # What the forwarder's log steps import (its requirements.txt also pins the tracer and
    # the Lambda layer, which these steps do not use).
    "$out/venv/bin/pip" install -q boto3 requests requests-futures datadog
fi

for i in $(seq 1 "$files"); do
    f="$out/corpus/ev$i.json"
    [ -s "$f" ] || "$bin" generate --mix json-app --events 5000 --seed "$i" > "$f"
    [ -s "${f%.json}.gz" ] || python3 -c "
import base64, json, sys
d = json.load(open(sys.argv[1]))
sys.stdout.buffer.write(base64.b64decode(d['awslogs']['data']))" "$f" > "${f%.json}.gz"
done
inputs=$(seq -f "$out/corpus/ev%g.json" 1 "$files" | tr '\n' ' ')
gzips=$(seq -f "$out/corpus/ev%g.gz" 1 "$files" | tr '\n' ' ')

rows="$out/rounds.tsv"
: > "$rows"
# Bash's own `time`, in seconds: nothing to install.
TIMEFORMAT=%R
for r in $(seq 1 "$rounds"); do
    s=$( { time taskset -c 1 "$bin" process --output ndjson $inputs > /dev/null 2>&1; } 2>&1 )
    echo -e "logsieve\t$s" >> "$rows"
    s=$( { time taskset -c 1 bash -c "cat $gzips | gzip -dc > /dev/null"; } 2>&1 )
    echo -e "gzip-dc\t$s" >> "$rows"
    # The forwarder times its own steps, after its imports (a warm Lambda has paid those).
    s=$(taskset -c 1 "$out/venv/bin/python" tests/load/peer_datadog.py --forwarder "$src" --rounds 1 $inputs \
        | python3 -c "import json, sys; print(json.load(sys.stdin)['best_s'])")
    echo -e "datadog-forwarder\t$s" >> "$rows"
    s=$(taskset -c 1 "$out/venv/bin/python" tests/load/peer_datadog.py --forwarder "$src" --rounds 1 --scrub $inputs \
        | python3 -c "import json, sys; print(json.load(sys.stdin)['best_s'])")
    echo -e "datadog-forwarder-scrub\t$s" >> "$rows"
done

python3 - "$rows" "$((files * 5000))" "$out/summary.json" <<'PY'
import collections, json, statistics, sys
rows, events, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t = collections.defaultdict(list)
for line in open(rows):
    name, secs = line.split()
    t[name].append(float(secs))
n = len(t["logsieve"])
ours = t["logsieve"]
summary = {"events": events, "rounds": n}
for name, secs in t.items():
    ratio = [s / o for s, o in zip(secs, ours)]
    summary[name] = {
        "best_s": min(secs), "median_s": statistics.median(secs),
        "events_per_s_best": round(events / min(secs)),
        "time_over_logsieve_median": round(statistics.median(ratio), 2),
    }
    print(f"{name:24} best {min(secs):7.2f} s  median {statistics.median(secs):7.2f} s  "
          f"{events / min(secs):>9,.0f} ev/s  time vs logsieve (median of rounds) {statistics.median(ratio):5.2f}x")
json.dump(summary, open(path, "w"), indent=2)
print(f"wrote {path}")
PY
