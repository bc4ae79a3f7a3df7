"""Soak: one warm log-processor handles many consecutive invocations through the Runtime API.

Issue 8 item 5: 1,000 invocations of ~1,000 events (1M events) in one process; every invocation
must succeed and RSS at the last invocation must stay within +-10% of RSS after the first 100
(the warm-up that fills the per-environment caches: cardinality admissions, compiled patterns,
allocator pools). Content varies across invocations (a new generator seed each time, so new
trace ids, request ids and values; rotating log groups; 30 service names, under the
Latency rule's max_cardinality of 50) so a cache that grew per invocation would show.

Sinks: metrics as EMF on stdout, traces discarded (default; the pipeline then builds no
segments) or, with --sinks aws, the built SDK clients sending PutMetricData and
PutTraceSegments to the stand-in, which accepts them. Nothing leaves the machine. The function's stdout is read and counted (EMF
lines, summary lines and their counters), not printed.

The /nginx/access group also receives the mix's Lambda lines, and the ClientErrors rule's
space-delimited pattern matches some of them with a size-like "status code": that dimension
meets its max_cardinality (100) and folds the rest into "other", so the cap itself is soaked.

mimalloc keeps freed pages for a while before purging them, so RSS drifts up slowly in a saw-tooth
(about +15 KiB per 100 invocations here; +9.7% after 10,000). With --env MIMALLOC_PURGE_DELAY=0
it stays flat, which separates allocator retention from a leak in our own state.

Usage: python3 tests/soak/soak.py [--invocations N] [--events N]   (build first: tests/soak/run.sh)
"""

import argparse
import json
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import standin  # noqa: E402

# log_groups of examples/logsieve.toml's rules: /ecs/* and /nginx/* rules only fire there.
GROUPS = ["/aws/lambda/checkout", "/ecs/orders-api", "/nginx/access", "/ecs/payments"]
SERVICES = 30
TOLERANCE = 0.10
BASELINE = 100


def invocation_event(logsieve, i, events):
    doc = standin.generated_document(logsieve, seed=i + 1, events=events)
    doc["logGroup"] = GROUPS[i % len(GROUPS)]
    doc["logStream"] = f"2026/11/27/[$LATEST]{i:08x}"
    service = f'"service":"svc-{i % SERVICES:02d}"'
    # The generator's clock is fixed in 2023; X-Ray drops segments older than 30 days, and
    # CloudWatch datapoints older than two weeks, so move the batch to now.
    events_list = doc["logEvents"]
    shift = int(time.time() * 1000) - 60_000 - (events_list[0]["timestamp"] if events_list else 0)
    for e in events_list:
        e["timestamp"] += shift
        e["message"] = e["message"].replace('"service":"orders-api"', service)
    return standin.subscription_event(doc), len(doc["logEvents"])


def read_stdout(pipe, counts):
    for line in pipe:
        counts["lines"] += 1
        if line.startswith(b"{") and b'"_aws"' in line:
            counts["emf_lines"] += 1
        elif b"logsieve invocation summary" in line:
            counts["summaries"] += 1
            _, _, ms = line.partition(b"duration_ms=")
            if ms:
                counts["handler_ms_total"] = counts.get("handler_ms_total", 0) + int(ms.split()[0])
            _, _, rest = line.partition(b"counters=")
            try:
                reasons = json.loads(rest)
            except ValueError:
                continue
            for key in ("metrics.cardinality_overflow", "trace.segments", "metrics.datums"):
                counts[key] = counts.get(key, 0) + reasons.get(key, 0)


def main():
    # run.sh's `timeout` sends TERM: exit through the finally below, which kills the function.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--invocations", type=int, default=1000)
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--config", default=str(standin.ROOT / "examples/logsieve.toml"))
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per invocation")
    ap.add_argument("--sinks", choices=["emf-none", "aws"], default="emf-none",
                    help="aws: cloudwatch and xray sinks through the SDK to the stand-in")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for the function (e.g. MIMALLOC_PURGE_DELAY=0)")
    ap.add_argument("--binary", help="log-processor to run (default: the release build)")
    ap.add_argument("--summary", default=str(standin.ROOT / "target/soak/summary.json"))
    args = ap.parse_args()
    if args.invocations < BASELINE:
        ap.error(f"--invocations must be at least {BASELINE} (the RSS baseline)")

    release = standin.target_dir() / "release"
    binary, logsieve = Path(args.binary or release / "log-processor"), release / "logsieve"
    for b in (binary, logsieve):
        if not b.exists():
            sys.exit(f"{b} missing: cargo build --release -p log-processor -p logsieve-cli")

    rss = {}  # invocation number (1-based) -> (VmRSS, VmHWM) in KiB
    proc_holder = {}

    def sample(request_id, kind):
        if request_id.startswith("soak-"):
            n = int(request_id[5:]) + 1
            rss[n] = standin.rss_kb(proc_holder["proc"].pid)

    api = standin.StandIn(on_result=sample)
    sinks = ("emf", "none") if args.sinks == "emf-none" else ("cloudwatch", "xray")
    extra = {
        "LOGSIEVE_CONFIG": args.config,
        "LOGSIEVE_METRICS_SINK": sinks[0],
        "LOGSIEVE_TRACES_SINK": sinks[1],
        "RUST_LOG": "info",
    }
    extra.update(kv.split("=", 1) for kv in args.env)
    if args.sinks == "aws":
        extra.update(standin.aws_env(f"http://127.0.0.1:{api.port}"))
    env = standin.lambda_env(api.port, extra)
    counts = {"lines": 0, "emf_lines": 0, "summaries": 0}
    produced = {"events": 0, "bytes": 0}
    stop_producing = threading.Event()

    def produce():
        for i in range(args.invocations):
            # A few events ahead is enough; more would only hold payloads in memory.
            while api.events.qsize() >= 8 and not stop_producing.is_set():
                time.sleep(0.002)
            if stop_producing.is_set():
                return
            body, n = invocation_event(logsieve, i, args.events)
            produced["events"] += n
            produced["bytes"] += len(body)
            api.push(f"soak-{i}", body, standin.trace_header(i))

    proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    proc_holder["proc"] = proc
    reader = threading.Thread(target=read_stdout, args=(proc.stdout, counts), daemon=True)
    reader.start()
    producer = threading.Thread(target=produce, daemon=True)
    started = time.monotonic()
    producer.start()

    failures = []
    ok = 0
    try:
        for i in range(args.invocations):
            try:
                rid, kind, body, _ = api.results.get(timeout=args.timeout)
            except Exception:
                failures.append(f"invocation {i + 1}: no result within {args.timeout}s "
                                f"(process exit code {proc.poll()})")
                break
            if rid != f"soak-{i}" or kind != "response":
                failures.append(f"invocation {i + 1}: {rid} {kind} {body[:200]}")
            else:
                ok += 1
            if (i + 1) % 100 == 0:
                print(f"  {i + 1} invocations, RSS {rss.get(i + 1, (0, 0))[0]} KiB", flush=True)
    finally:
        elapsed = time.monotonic() - started
        stop_producing.set()
        standin.stop(proc)
        api.close()
        reader.join(timeout=5)

    points = [1] + list(range(100, args.invocations + 1, 100))
    last = args.invocations
    print(f"\n{'invocation':>10} {'VmRSS KiB':>10} {'VmHWM KiB':>10} {'vs @100':>8}")
    base = rss.get(BASELINE, (0, 0))[0]
    for n in points:
        r, h = rss.get(n, (0, 0))
        rel = f"{(r - base) / base * 100:+.1f}%" if base and r else "-"
        print(f"{n:>10} {r:>10} {h:>10} {rel:>8}")
    after = [rss[n][0] for n in rss if n >= BASELINE]
    drift = (rss[last][0] - base) / base if base and last in rss else None
    print(f"\ninvocations ok: {ok}/{args.invocations}; events sent: {produced['events']}; "
          f"payload bytes: {produced['bytes']}; wall: {elapsed:.1f}s")
    print(f"stdout: {counts['lines']} lines, {counts['emf_lines']} EMF, {counts['summaries']} summaries; "
          f"summed counters: {counts.get('metrics.datums', 0)} datums, "
          f"{counts.get('trace.segments', 0)} segments, "
          f"{counts.get('metrics.cardinality_overflow', 0)} cardinality overflows; "
          f"handler time {counts.get('handler_ms_total', 0)} ms in all")
    if args.sinks == "aws":
        print(f"stand-in received {api.cloudwatch_requests} PutMetricData, "
              f"{api.xray_requests} PutTraceSegments ({api.xray_segments} segments)")
    slope = None
    if len(after) >= 2:
        # Least-squares trend from the baseline on: a slow leak shows here before it breaks 10%.
        xs = [n for n in sorted(rss) if n >= BASELINE]
        slope = statistics.linear_regression(xs, [rss[n][0] for n in xs]).slope * 100
        print(f"VmRSS from invocation {BASELINE} on: min {min(after)} max {max(after)} "
              f"median {statistics.median(after):.0f} KiB; trend {slope:+.1f} KiB per 100 invocations")

    if drift is None:
        failures.append("no RSS sample at the baseline or the last invocation")
    elif abs(drift) > TOLERANCE:
        failures.append(f"RSS drift {drift * 100:+.1f}% between invocation {BASELINE} and {last} "
                        f"exceeds +-{TOLERANCE * 100:.0f}%")
    if ok != args.invocations:
        failures.append(f"only {ok}/{args.invocations} invocations succeeded")
    if counts["summaries"] != args.invocations:
        failures.append(f"{counts['summaries']} summary lines for {args.invocations} invocations")

    summary = {
        "invocations": args.invocations,
        "events_per_invocation": args.events,
        "events_total": produced["events"],
        "payload_bytes_total": produced["bytes"],
        "succeeded": ok,
        "wall_seconds": round(elapsed, 2),
        "rss_kib": {str(n): rss[n][0] for n in points if n in rss},
        "hwm_kib": {str(n): rss[n][1] for n in points if n in rss},
        "rss_after_baseline_kib": {"min": min(after), "max": max(after)} if after else None,
        "drift_vs_invocation_100": round(drift, 4) if drift is not None else None,
        "trend_kib_per_100_invocations": round(slope, 1) if slope is not None else None,
        "tolerance": TOLERANCE,
        "stdout": counts,
        "config": args.config,
        "sinks": {"metrics": sinks[0], "traces": sinks[1]},
        "binary": str(binary),
        "standin_received": {"put_metric_data": api.cloudwatch_requests,
                             "put_trace_segments": api.xray_requests,
                             "segments": api.xray_segments},
        "failures": failures,
        "passed": not failures,
    }
    out = Path(args.summary)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {out}")
    for f in failures:
        print(f"FAIL {f}")
    print("PASS" if not failures else "FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
