"""Cold start of the release log-processor through a local Runtime API stand-in (issue 7: <= 20 ms).

Each run spawns a fresh process with one queued invocation and measures, from just before the
spawn:
  init  - until the first GET /runtime/invocation/next: exec, config load (parse, validate,
          compile patterns) and, with AWS sinks, the SDK's config chain and client set-up;
  first - until the stand-in receives that invocation's /response: init plus decoding and
          processing the first batch and emitting it.
Three set-ups, all with the built-in config:
  aws-dead    - its sinks (cloudwatch, xray) with AWS_ENDPOINT_URL on a dead loopback port and
                dummy credentials, so the SDK clients are really built. The first invocation's
                PutMetricData/PutTraceSegments then fail (connection refused, after the SDK's
                standard retries and back-off) and metrics fall back to EMF, so `first` there
                is dominated by back-off and is not a processing figure;
  aws-standin - the same sinks with AWS_ENDPOINT_URL on the stand-in, which accepts both calls:
                `first` is init + processing + real SDK requests (signing, HTTP, CBOR/JSON);
  emf-none    - LOGSIEVE_METRICS_SINK=emf LOGSIEVE_TRACES_SINK=none: no SDK client at all.
Prints median and p90 (nearest rank) per set-up and writes target/soak/coldstart.json.

Usage: python3 tests/soak/coldstart.py [--runs 20] [--events 1000]   (build first: run.sh)
"""

import argparse
import json
import math
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import standin  # noqa: E402


def dead_port():
    """A loopback port nobody listens on (bound, then released), so connects are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def p90(values):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def one_run(binary, payload, extra_env, timeout):
    api = standin.StandIn()
    api.push("cold-0", payload, standin.trace_header(0))
    if extra_env.get("AWS_ENDPOINT_URL") == "standin":
        extra_env = {**extra_env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{api.port}"}
    env = standin.lambda_env(api.port, extra_env)
    t0 = time.monotonic_ns()
    proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        rid, kind, body, _ = api.results.get(timeout=timeout)
    finally:
        standin.stop(proc)
        api.close()
    out = proc.stdout.read().decode(errors="replace")
    duration = None
    for line in out.splitlines():
        if "logsieve invocation summary" in line and "duration_ms=" in line:
            duration = int(line.split("duration_ms=")[1].split()[0])
    if kind != "response":
        raise RuntimeError(f"invocation failed: {kind} {body[:200]}")
    return {
        "init_ms": (api.first_next_ns - t0) / 1e6,
        "first_response_ms": (api.first_result_ns - t0) / 1e6,
        "handler_ms": duration,
    }


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--binary", help="log-processor to run (default: the release build)")
    ap.add_argument("--only", help="comma-separated set-ups to run (default: all)")
    ap.add_argument("--summary", default=str(standin.ROOT / "target/soak/coldstart.json"))
    args = ap.parse_args()

    release = standin.target_dir() / "release"
    binary, logsieve = Path(args.binary or release / "log-processor"), release / "logsieve"
    for b in (binary, logsieve):
        if not b.exists():
            sys.exit(f"{b} missing: cargo build --release -p log-processor -p logsieve-cli")
    doc = standin.generated_document(logsieve, seed=1, events=args.events)
    shift = int(time.time() * 1000) - 60_000 - doc["logEvents"][0]["timestamp"]
    for e in doc["logEvents"]:
        e["timestamp"] += shift
    payload = standin.subscription_event(doc)

    setups = {
        "aws-dead": standin.aws_env(f"http://127.0.0.1:{dead_port()}"),
        # Filled in per run with the stand-in's own port.
        "aws-standin": standin.aws_env("standin"),
        "emf-none": {"LOGSIEVE_METRICS_SINK": "emf", "LOGSIEVE_TRACES_SINK": "none"},
    }
    if args.only:
        wanted = args.only.split(",")
        setups = {k: v for k, v in setups.items() if k in wanted}
    report = {"runs": args.runs, "events": args.events, "binary": str(binary),
              "binary_bytes": binary.stat().st_size, "setups": {}}
    print(f"{'setup':<11} {'measure':<18} {'median ms':>10} {'p90 ms':>8} {'min ms':>8} {'max ms':>8}")
    for name, extra in setups.items():
        runs = [one_run(binary, payload, extra, args.timeout) for _ in range(args.runs)]
        rows = {}
        for key in ("init_ms", "first_response_ms", "handler_ms"):
            values = [r[key] for r in runs if r[key] is not None]
            if not values:
                continue
            rows[key] = {"median": round(statistics.median(values), 2), "p90": round(p90(values), 2),
                         "min": round(min(values), 2), "max": round(max(values), 2)}
            r = rows[key]
            print(f"{name:<11} {key:<18} {r['median']:>10.2f} {r['p90']:>8.2f} "
                  f"{r['min']:>8.2f} {r['max']:>8.2f}")
        report["setups"][name] = {"env": extra, "stats": rows, "runs": runs}
    out = Path(args.summary)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"binary {binary.stat().st_size} bytes; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
