"""End to end on the scale paths, through ministack's own engines: a Kinesis stream read by an
event source mapping into the deployed kinesis-processor, and a Firehose delivery stream whose
Lambda processor is the deployed firehose-filter, delivering to S3.

ministack does not deliver CloudWatch Logs subscriptions to Kinesis or Firehose destinations, so
the tests put into the streams exactly what CloudWatch Logs would: one gzip'd CloudWatch Logs
document per record (control message included). Expected values are computed here from what the
tests write."""

import gzip
import json
import time

import pytest

from conftest import client
from test_e2e import (
    APP_GROUP,
    CONFIG,
    NAMESPACE,
    app_events,
    deploy,
    function_env,
    function_log_lines,
    metric_sum_count,
    summaries,
    wait_for,
)

CONTROL = {
    "messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
    "subscriptionFilters": [],
    "logEvents": [{"id": "", "timestamp": 1438485463442,
                   "message": "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}],
}


def document(group: str, stream: str, messages: list) -> dict:
    now = int(time.time() * 1000)
    return {
        "messageType": "DATA_MESSAGE", "owner": "000000000000", "logGroup": group,
        "logStream": stream, "subscriptionFilters": ["to-stream"],
        "logEvents": [{"id": f"{now}{i:04d}", "timestamp": now + i, "message": m}
                      for i, m in enumerate(messages)],
    }


def gz(doc: dict) -> bytes:
    return gzip.compress(json.dumps(doc).encode())


def add_metrics(total: dict, more: dict) -> dict:
    for key, (s, c) in more.items():
        s0, c0 = total.get(key, (0.0, 0.0))
        total[key] = (s0 + s, c0 + c)
    return total


def test_kinesis_stream_through_the_event_source_mapping(ministack, moto, kinesis_zip):
    lam, logs, cw = client("lambda", ministack), client("logs", ministack), client("cloudwatch", ministack)
    kin, xray = client("kinesis", ministack), client("xray", moto)
    name = "logsieve-e2e-kinesis"
    namespace = NAMESPACE + "Kinesis"
    env = function_env(name, ministack.url, moto.url)
    env["LOGSIEVE_CONFIG"] = CONFIG.replace(f'namespace = "{NAMESPACE}"', f'namespace = "{namespace}"')
    deploy(lam, name, kinesis_zip, env)

    stream = "logsieve-e2e-logs"
    kin.create_stream(StreamName=stream, ShardCount=1)
    summary = wait_for(
        "the stream to be active",
        lambda: (lambda d: d if d["StreamStatus"] == "ACTIVE" else None)(
            kin.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        ),
    )
    lam.create_event_source_mapping(
        EventSourceArn=summary["StreamARN"],
        FunctionName=name,
        StartingPosition="TRIM_HORIZON",
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=2,
    )

    # Three data messages with the same shape (fresh trace ids each), a control message first and
    # a corrupt record in the middle, in one shard, in order.
    batches = [app_events() for _ in range(3)]
    datas = [gz(CONTROL)]
    datas += [gz(document(APP_GROUP, f"2026/11/30/[$LATEST]s{i}", b[0])) for i, b in enumerate(batches[:2])]
    datas.append(b"not gzip, not a document: user carol@example.com")
    datas.append(gz(document(APP_GROUP, "2026/11/30/[$LATEST]s2", batches[2][0])))
    sequence = [
        kin.put_record(StreamName=stream, Data=d, PartitionKey="one-shard")["SequenceNumber"]
        for d in datas
    ]
    corrupt = sequence[3]
    events = sum(len(b[0]) for b in batches)
    metrics = {}
    for b in batches:
        add_metrics(metrics, b[1])
    traces = {t: a for b in batches for t, a in b[2].items()}

    def totals():
        got = summaries(function_log_lines(logs, name))
        return got if sum(s["events_in"] for s in got) >= events else None

    runs = wait_for("every good record's events", totals)
    counters = [json.loads(s["counters"]) for s in runs]
    # The corrupt record is rejected once, not retried, and holds up nothing after it.
    assert sum(c.get("kinesis.rejected_records", 0) for c in counters) == 1, counters
    assert sum(c.get("kinesis.retried_after_budget", 0) for c in counters) == 0, counters
    assert sum(c.get("decode.control_message", 0) for c in counters) == 1, counters
    kept = [line for line in function_log_lines(logs, name)
            if "can never be decoded" in line and corrupt in line]
    assert len(kept) == 1, kept
    assert "carol@example.com" not in kept[0]

    for (metric, dim, value), (want_sum, want_count) in metrics.items():
        got = wait_for(
            f"{metric}{{{dim}={value}}}",
            lambda: (lambda sc: sc if sc[1] >= want_count else None)(
                metric_sum_count(cw, namespace, metric, dim, value)
            ),
        )
        assert got == (want_sum, want_count), f"{metric}{{{dim}={value}}}"

    for trace_id, annotations in traces.items():
        found = wait_for(f"trace {trace_id}", lambda: xray.batch_get_traces(TraceIds=[trace_id])["Traces"])
        docs = [json.loads(s["Document"]) for t in found for s in t["Segments"]]
        for doc in docs:
            got = doc.get("annotations", {})
            for key, want in annotations.items():
                assert str(got.get(key)) == str(want), (trace_id, key, got)

    # Every good record counted exactly once: nothing more arrives after a pause.
    time.sleep(3)
    runs = summaries(function_log_lines(logs, name))
    assert sum(s["events_in"] for s in runs) == events, runs
    for (metric, dim, value), want in metrics.items():
        assert metric_sum_count(cw, namespace, metric, dim, value) == want, f"{metric}{{{dim}={value}}}"


FILTER_CONFIG = """
[fields]
keep = ["level", "service", "message", "user"]

[metrics]
sink = "none"

[traces]
sink = "none"
"""


def test_firehose_delivery_stream_with_the_filter_as_processor(ministack, firehose_zip):
    lam, fh, s3 = client("lambda", ministack), client("firehose", ministack), client("s3", ministack)
    logs = client("logs", ministack)
    name = "logsieve-e2e-firehose-filter"
    env = {
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "LOGSIEVE_CONFIG": FILTER_CONFIG,
        "RUST_LOG": "info",
    }
    arn = deploy(lam, name, firehose_zip, env)
    bucket = "logsieve-e2e-firehose"
    s3.create_bucket(Bucket=bucket)
    stream = "logsieve-e2e-filtered"
    fh.create_delivery_stream(
        DeliveryStreamName=stream,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::000000000000:role/logsieve-e2e-firehose",
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "logs/",
            "ErrorOutputPrefix": "errors/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
            "ProcessingConfiguration": {
                "Enabled": True,
                "Processors": [{"Type": "Lambda", "Parameters": [
                    {"ParameterName": "LambdaArn", "ParameterValue": arn}]}],
            },
        },
    )

    rows = [
        {"level": "ERROR", "service": "checkout", "user": "dave@example.com",
         "message": "payment failed", "password": "hunter2", "latency_ms": 480},
        {"level": "INFO", "service": "payments", "message": "charge ok", "card": "4111 1111 1111 1111"},
    ]
    messages = [json.dumps(r) for r in rows]
    fh.put_record_batch(
        DeliveryStreamName=stream,
        Records=[
            {"Data": gz(document(APP_GROUP, "s", messages))},
            {"Data": gz(CONTROL)},
            {"Data": b"corrupt: not gzip"},
        ],
    )

    def delivered():
        objects = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        return objects or None

    objects = wait_for("objects in S3", delivered)
    time.sleep(2)  # anything else the same batch delivers
    objects = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    records = []
    for o in objects:
        assert o["Key"].startswith("logs/"), o["Key"]
        body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode()
        records += [json.loads(line) for line in body.splitlines() if line.strip()]
    # Exactly the two application events: the control message is dropped, and the corrupt
    # record marked ProcessingFailed (AWS writes those under the error prefix; ministack omits them).
    assert len(records) == len(rows), records
    by_service = {r["service"]: r for r in records}
    checkout, payments = by_service["checkout"], by_service["payments"]
    fields = {k for r in records for k in r if not k.startswith("@")}
    assert fields <= {"level", "service", "message", "user"}, fields
    assert "password" not in checkout and "latency_ms" not in checkout and "card" not in payments
    assert checkout["user"] == "[REDACTED:email]", checkout
    assert checkout["message"] == "payment failed"
    for r in records:
        assert r["@logGroup"] == APP_GROUP
        assert isinstance(r["@timestamp"], int)
    text = json.dumps(records)
    assert "dave@example.com" not in text and "hunter2" not in text
    # The function's own account of the records (ministack may invoke it once per record): one
    # answered ProcessingFailed, the control message Dropped, both application events selected.
    runs = wait_for(
        "the filter's summaries of all three records",
        lambda: (lambda got: got if sum(s["units"] for s in got) >= 3 else None)(
            summaries(function_log_lines(logs, name))
        ),
    )
    assert sum(s["units"] for s in runs) == 3, runs
    assert sum(s["failed_units"] for s in runs) == 1, runs
    assert sum(s["selected"] for s in runs) == len(rows), runs
    counters = [json.loads(s["counters"]) for s in runs]
    assert sum(c.get("decode.error.not_gzip", 0) for c in counters) == 1, counters
    assert sum(c.get("decode.control_message", 0) for c in counters) == 1, counters
