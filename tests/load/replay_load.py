"""Load run of `logsieve replay` against ministack: N events with past timestamps in two log
groups (four streams), replayed as a preview and with --publish, at a few page sizes. Reports
events/s, FilterLogEvents pages/s and the share of the run spent inside the pipeline, from the
summary the CLI prints. Not part of `make test`.

Usage: replay_load.py CLI [--events N] [--page-sizes 1000,10000]
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

from conftest import REGION, Server, clean_env, client, free_port  # noqa: E402

BIN = os.path.dirname(sys.executable)
HOUR_MS = 3_600_000
CONFIG = """
[metrics]
namespace = "LogsieveReplayLoad"
sink = "cloudwatch"
lambda_platform = true

[[metrics.rule]]
metric_name = "Errors"
filter_pattern = '{ $.level = "ERROR" }'
metric_value = "1"
unit = "Count"
dimensions = { Service = "$.service" }

[[metrics.rule]]
metric_name = "Latency"
filter_pattern = '{ $.latency_ms >= 0 }'
metric_value = "$.latency_ms"
unit = "Milliseconds"
dimensions = { Service = "$.service" }

[traces]
sink = "none"

[records]
filter_pattern = '{ $.level = "ERROR" }'
"""
READ = re.compile(r"read:\s+(\d+) events, (\d+) bytes in (\d+) pages, (\d+) batches, ([\d.]+) s: "
                  r"(\d+) events/s, ([\d.]+) pages/s, ([\d.]+)% of the time in the pipeline")


def fill(logs, n: int, start: int, end: int) -> list:
    rng = random.Random(7)
    groups = ["/load/replay/checkout", "/load/replay/payments"]
    per_stream = n // 4
    for g in groups:
        logs.create_log_group(logGroupName=g)
        for s in ("a", "b"):
            logs.create_log_stream(logGroupName=g, logStreamName=s)
            step = (end - start) / per_stream
            events = []
            for i in range(per_stream):
                err = rng.random() < 0.05
                events.append({"timestamp": int(start + i * step), "message": json.dumps({
                    "level": "ERROR" if err else "INFO", "service": g.rsplit("/", 1)[1],
                    "latency_ms": rng.randint(1, 900), "path": f"/orders/{i}",
                    "message": "payment failed" if err else "order placed"})})
            for i in range(0, len(events), 5000):
                logs.put_log_events(logGroupName=g, logStreamName=s, logEvents=events[i:i + 5000])
    return groups


def rfc3339(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cli")
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--page-sizes", default="1000,10000")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="replay-load.")
    os.environ["LOGSIEVE_E2E_LOGS"] = work
    port = free_port()
    env = clean_env()
    env.update({"GATEWAY_PORT": str(port), "BIND_HOST": "127.0.0.1", "LOG_LEVEL": "WARNING",
                "IOT_MTLS_ENABLED": "0", "SFTP_ENABLED": "0", "TMPDIR": work})
    server = Server("ministack", [os.path.join(BIN, "ministack")], env, "/_ministack/ready", port)
    try:
        logs = client("logs", server)
        now = int(time.time() * 1000)
        end = (now // HOUR_MS - 1) * HOUR_MS
        start = end - 24 * HOUR_MS
        t0 = time.monotonic()
        groups = fill(logs, args.events, start, end)
        print(f"wrote {args.events} events in {time.monotonic() - t0:.1f} s")
        cfg = os.path.join(work, "replay.toml")
        with open(cfg, "w") as f:
            f.write(CONFIG)
        cenv = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        cenv.update({"AWS_ENDPOINT_URL": server.url, "AWS_ACCESS_KEY_ID": "test",
                     "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": REGION,
                     "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
        for size in [int(s) for s in args.page_sizes.split(",")]:
            for publish in (False, True):
                argv = [args.cli, "replay", "--config", cfg, "--page-size", str(size),
                        "--start", rfc3339(start), "--end", rfc3339(end)]
                for g in groups:
                    argv += ["--log-group", g]
                if publish:
                    argv.append("--publish")
                p = subprocess.run(argv, env=cenv, capture_output=True, text=True, timeout=1200)
                m = READ.search(p.stdout)
                if p.returncode != 0 or not m:
                    print(p.stdout[-2000:], p.stderr[-2000:])
                    raise SystemExit(f"replay failed ({p.returncode})")
                ev, _, pages, batches, secs, eps, pps, share = m.groups()
                print(f"page-size {size:>5} {'publish' if publish else 'preview':>7}: {ev} events, "
                      f"{pages} pages, {batches} batches in {secs} s = {eps} events/s, "
                      f"{pps} pages/s, {share}% in the pipeline")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
