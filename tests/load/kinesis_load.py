"""Load run of the Kinesis path in ministack: CloudWatch Logs documents put into a stream, read by a
real event source mapping into the deployed kinesis-processor (release zip), for several batch
sizes. Reports events/s end to end, the function's share of the wall time, records per invocation
and the lag of the last record (the iterator age when the stream drains), so the templates'
defaults are chosen from measurements. Not part of `make test`: run with `make load`.

Usage: kinesis_load.py ZIP [--events N] [--events-per-record N] [--batch-sizes 100,500]
"""

import argparse
import gzip
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

from conftest import REGION, Server, clean_env, client, free_port  # noqa: E402

BIN = os.path.dirname(sys.executable)
GROUP = "/aws/lambda/shop-api"
CONFIG = """
[metrics]
namespace = "LogsieveLoad"
sink = "emf"
lambda_platform = true

[[metrics.rule]]
metric_name = "Errors"
filter_pattern = '{ $.level = "ERROR" }'
metric_value = "1"
dimensions = { Service = "$.service" }

[traces]
sink = "none"
"""


def messages(n: int, seed: int) -> list:
    out = []
    for i in range(n):
        level = "ERROR" if (seed + i) % 10 == 0 else "INFO"
        out.append(json.dumps({"level": level, "service": ["checkout", "payments"][i % 2],
                               "latency_ms": (seed * 7 + i) % 900, "path": f"/orders/{seed}-{i}",
                               "message": "order placed" if level == "INFO" else "payment failed"}))
    return out


def record(seed: int, per_record: int) -> bytes:
    now = int(time.time() * 1000)
    doc = {"messageType": "DATA_MESSAGE", "owner": "000000000000", "logGroup": GROUP,
           "logStream": f"2026/11/30/[$LATEST]{seed % 16:02x}", "subscriptionFilters": ["load"],
           "logEvents": [{"id": f"{seed:010d}{i:06d}", "timestamp": now + i, "message": m}
                         for i, m in enumerate(messages(per_record, seed))]}
    return gzip.compress(json.dumps(doc).encode())


def summaries(logs, name: str) -> list:
    """Every invocation summary in the function's log group: one FilterLogEvents walk, so the
    poll costs the emulator a few requests however many streams the invocations wrote."""
    out = []
    kw = {"logGroupName": f"/aws/lambda/{name}", "filterPattern": '"invocation summary"'}
    try:
        while True:
            page = logs.filter_log_events(**kw)
            for e in page["events"]:
                try:
                    doc = json.loads(e["message"])
                except ValueError:
                    continue
                fields = doc.get("fields") if isinstance(doc, dict) else None
                if isinstance(fields, dict) and fields.get("message") == "logsieve invocation summary":
                    out.append((e["timestamp"], fields))
            token = page.get("nextToken")
            if not token:
                break
            kw["nextToken"] = token
    except logs.exceptions.ResourceNotFoundException:
        pass
    return out


def run_once(ministack, zip_bytes: bytes, batch: int, total: int, per_record: int, shards: int) -> dict:
    lam, kin, logs = client("lambda", ministack), client("kinesis", ministack), client("logs", ministack)
    name = f"logsieve-load-b{batch}"
    lam.create_function(
        FunctionName=name, Runtime="provided.al2023", Handler="bootstrap",
        Role="arn:aws:iam::000000000000:role/logsieve-load", Code={"ZipFile": zip_bytes},
        Timeout=60, MemorySize=256,
        Environment={"Variables": {"AWS_LAMBDA_LOG_FORMAT": "JSON", "LOGSIEVE_CONFIG": CONFIG,
                                   "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}"}},
    )
    stream = f"logsieve-load-b{batch}"
    kin.create_stream(StreamName=stream, ShardCount=shards)
    while True:
        d = kin.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        if d["StreamStatus"] == "ACTIVE":
            break
        time.sleep(0.2)
    records = [record(i, per_record) for i in range(total // per_record)]
    events = len(records) * per_record
    started = time.monotonic()
    for i in range(0, len(records), 500):
        chunk = records[i:i + 500]
        kin.put_records(StreamName=stream, Records=[
            {"Data": r, "PartitionKey": f"k{i + j}"} for j, r in enumerate(chunk)])
    put_done = time.monotonic()
    lam.create_event_source_mapping(
        EventSourceArn=d["StreamARN"], FunctionName=name, StartingPosition="TRIM_HORIZON",
        BatchSize=batch, FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    mapped = time.time()
    deadline = time.monotonic() + 900
    seen = []
    while time.monotonic() < deadline:
        seen = summaries(logs, name)
        if sum(f["events_in"] for _, f in seen) >= events:
            break
        time.sleep(5)
    # The last invocation's own log time, not this loop's polling, ends the run.
    drained = max((ts / 1000 for ts, _ in seen), default=time.time())
    processed = sum(f["events_in"] for _, f in seen)
    busy_ms = sum(f["duration_ms"] for _, f in seen)
    units = sum(f["units"] for _, f in seen)
    wall = drained - mapped
    return {
        "batch_size": batch, "shards": shards, "events": processed, "expected": events,
        "invocations": len(seen), "records_per_invocation": units / max(len(seen), 1),
        "events_per_s": processed / wall if wall else 0.0,
        "function_share": busy_ms / 1000 / wall if wall else 0.0,
        "function_ms_per_invocation": busy_ms / max(len(seen), 1),
        "function_events_per_s": processed / (busy_ms / 1000) if busy_ms else 0.0,
        "put_seconds": put_done - started, "drain_seconds": wall,
        # Records wait in the stream from the put until the mapping starts, then drain: the last
        # record's iterator age when it is read is about the whole drain.
        "last_record_lag_seconds": drained - mapped,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("zip")
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--events-per-record", type=int, default=100)
    ap.add_argument("--batch-sizes", default="100,500")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--out", default="target/load/summary.json")
    args = ap.parse_args()
    with open(args.zip, "rb") as f:
        zip_bytes = f.read()
    scratch = tempfile.mkdtemp(prefix="logsieve-load.")
    os.environ["LOGSIEVE_E2E_LOGS"] = scratch
    port = free_port()
    env = clean_env()
    env.update({"GATEWAY_PORT": str(port), "BIND_HOST": "127.0.0.1", "IOT_MTLS_ENABLED": "0",
                "SFTP_ENABLED": "0", "LOG_LEVEL": "WARNING", "TMPDIR": scratch,
                "AWS_DEFAULT_REGION": REGION})
    ministack = Server("ministack", [os.path.join(BIN, "ministack")], env, "/_ministack/ready", port)
    rows = []
    try:
        for b in [int(x) for x in args.batch_sizes.split(",")]:
            row = run_once(ministack, zip_bytes, b, args.events, args.events_per_record, args.shards)
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        ministack.stop()
    print()
    print("| batch size | invocations | records/invocation | events/s end to end | function share "
          "| function ms/invocation | events/s inside the function |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['batch_size']} | {r['invocations']} | {r['records_per_invocation']:.1f} "
              f"| {r['events_per_s']:,.0f} | {r['function_share']:.0%} "
              f"| {r['function_ms_per_invocation']:.0f} | {r['function_events_per_s']:,.0f} |")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(rows, f, indent=2)
    ok = all(r["events"] == r["expected"] for r in rows)
    if not ok:
        print("not every event was processed", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
