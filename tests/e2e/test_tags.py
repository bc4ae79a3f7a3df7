"""Tags and redeliveries through the real function in ministack: `$tags.<key>` dimensions from
the tags of a Lambda function (Resource Groups Tagging API) and of its log group
(ListTagsForResource), with the tag APIs answering, throttling (a loopback proxy), slow, or
gone; the same through the Kinesis function; and the same subscription event delivered twice
to one execution environment.

Expected values are computed from what each test writes, not copied from a run."""

import base64
import datetime as dt
import gzip
import json
import secrets
import time

import pytest

from conftest import client, free_port
from tags_proxy import TagsProxy
from test_e2e import deploy, function_log_lines, subscription_event, wait_for


def fresh_data(group: str, messages: list) -> str:
    """A CloudWatch Logs document on a stream of its own, so no two are the same batch (a
    repeated batch is skipped as a redelivery), gzip'd and base64'd as both events carry it."""
    now = int(time.time() * 1000)
    doc = {
        "messageType": "DATA_MESSAGE", "owner": "000000000000", "logGroup": group,
        "logStream": f"s-{secrets.token_hex(4)}", "subscriptionFilters": ["logsieve"],
        "logEvents": [{"id": str(i), "timestamp": now + i, "message": m} for i, m in enumerate(messages)],
    }
    return base64.b64encode(gzip.compress(json.dumps(doc).encode())).decode()


def fresh_event(group: str, messages: list) -> bytes:
    """A subscription event (see fresh_data)."""
    return json.dumps({"awslogs": {"data": fresh_data(group, messages)}}).encode()


def fresh_kinesis_event(group: str, messages: list) -> bytes:
    """A Kinesis event of one record, as the event source mapping invokes with (see fresh_data)."""
    record = {
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "p",
                    "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                    "data": fresh_data(group, messages), "approximateArrivalTimestamp": time.time()},
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventName": "aws:kinesis:record",
        "eventID": "shardId-000000000000:49590338271490256608559692538361571095921575989136588898",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/logs",
    }
    return json.dumps({"Records": [record]}).encode()

NAMESPACE = "LogsieveTagsE2E"
CONFIG = f"""
[metrics]
namespace = "{NAMESPACE}"
sink = "cloudwatch"
lambda_platform = false

[[metrics.rule]]
metric_name = "Errors"
filter_pattern = '{{ $.level = "ERROR" }}'
metric_value = "1"
unit = "Count"
dimensions = {{ Team = "$tags.team", Tier = "$tags.tier" }}

[traces]
sink = "none"
"""
ERRORS = [json.dumps({"level": "ERROR", "message": f"failed {i}"}) for i in range(2)]


@pytest.fixture
def tags_proxy(ministack):
    p = TagsProxy(ministack.url)
    yield p
    p.stop()


def env_for(name: str, cloudwatch_url: str, tags_url: str, **extra) -> dict:
    env = {
        "AWS_ENDPOINT_URL_CLOUDWATCH": cloudwatch_url,
        "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": tags_url,
        "AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API": tags_url,
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "LOGSIEVE_CONFIG": CONFIG,
        "LOGSIEVE_SELF_METRICS": "0",
        "RUST_LOG": "info",
    }
    env.update(extra)
    return env


def tagged_app(lam, logs, zip_bytes: bytes) -> str:
    """A function tagged team/tier and its log group tagged tier (the group's tag wins)."""
    name = f"tagged-app-{secrets.token_hex(3)}"
    arn = deploy(lam, name, zip_bytes, {"LOGSIEVE_CONFIG": ""})
    lam.tag_resource(Resource=arn, Tags={"team": "payments", "tier": "silver"})
    logs.create_log_group(logGroupName=f"/aws/lambda/{name}", tags={"tier": "gold"})
    return f"/aws/lambda/{name}"


def summaries_by_request(logs, name: str) -> dict:
    """requestId -> invocation summary fields (log lines of one stream are not ordered across
    streams, so invocations are told apart by their request id)."""
    out = {}
    for line in function_log_lines(logs, name):
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        fields = doc.get("fields") or {}
        if fields.get("message") == "logsieve invocation summary":
            out[(doc.get("span") or {}).get("requestId")] = fields
    return out


def invoke(lam, logs, name: str, payload: bytes, n: int) -> dict:
    """Invokes (the n-th time) and returns this invocation's summary (counters decoded)."""
    before = set(summaries_by_request(logs, name)) if n > 1 else set()
    resp = lam.invoke(FunctionName=name, Payload=payload)
    assert "FunctionError" not in resp, resp["Payload"].read()
    new = wait_for(
        f"summary #{n} of {name}",
        lambda: {k: v for k, v in summaries_by_request(logs, name).items() if k not in before},
    )
    assert len(new) == 1, new
    summary = dict(next(iter(new.values())))
    summary["counters"] = json.loads(summary["counters"])
    return summary


def tag_counters(summary: dict) -> dict:
    return {k: v for k, v in summary["counters"].items() if k.startswith("tags.")}


def errors_metric(cw, dims: dict):
    now = dt.datetime.now(dt.timezone.utc)
    resp = cw.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName="Errors",
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=now - dt.timedelta(minutes=30),
        EndTime=now + dt.timedelta(minutes=10),
        Period=60,
        Statistics=["SampleCount"],
    )
    return sum(p["SampleCount"] for p in resp["Datapoints"])


def test_tags_become_dimensions_and_survive_throttling(ministack, function_zip, tags_proxy):
    lam, logs, cw = (client(s, ministack) for s in ("lambda", "logs", "cloudwatch"))
    group = tagged_app(lam, logs, function_zip)
    name = "logsieve-tags"
    # A generous budget here: a debug build's first call (credentials, endpoint, connection)
    # can take longer than the default 300 ms; the budget itself is tested below.
    deploy(lam, name, function_zip,
           env_for(name, ministack.url, tags_proxy.url, LOGSIEVE_TAGS_TTL_SECONDS="3",
                   LOGSIEVE_TAGS_BUDGET_MS="3000"))

    first = invoke(lam, logs, name, fresh_event(group, ERRORS), 1)
    print("TAGS FIRST", json.dumps(tag_counters(first)))
    assert tag_counters(first) == {"tags.miss": 1}
    second = invoke(lam, logs, name, fresh_event(group, ERRORS), 2)
    assert tag_counters(second) == {"tags.hit": 1}
    looked_up = tags_proxy.seen()
    assert sum(looked_up.values()) == 2, looked_up  # one call per API for the two invocations

    # Past the time to live, the APIs throttle: the tags of the last lookup are kept.
    time.sleep(3.2)
    tags_proxy.set("throttle")
    third = invoke(lam, logs, name, fresh_event(group, ERRORS), 3)
    print("TAGS THROTTLED", json.dumps(tag_counters(third)), "duration_ms", third["duration_ms"])
    assert tag_counters(third) == {"tags.throttled": 1, "tags.stale_kept": 1}
    # Within the back-off after a failure the kept tags are used without asking again.
    fourth = invoke(lam, logs, name, fresh_event(group, ERRORS), 4)
    assert tag_counters(fourth) == {"tags.hit": 1}
    assert [x["events_in"] for x in (first, second, third, fourth)] == [len(ERRORS)] * 4
    throttled_calls = sum(tags_proxy.seen().values()) - sum(looked_up.values())
    assert throttled_calls == 2, tags_proxy.seen()  # no SDK retries, one lookup per resource

    # Every error event kept its dimensions: Team from the function, Tier from the log group.
    want = 4 * len(ERRORS)
    got = wait_for("Errors{Team=payments,Tier=gold}",
                   lambda: (lambda n: n if n >= want else None)(
                       errors_metric(cw, {"Team": "payments", "Tier": "gold"})))
    assert got == want
    assert errors_metric(cw, {"Team": "payments", "Tier": "silver"}) == 0


def test_the_kinesis_function_reads_tags_too(ministack, kinesis_zip, tags_proxy):
    """The same wiring on the Kinesis path, invoked directly (the event source mapping itself is
    test_scale_paths' subject): one lookup, then the cache; dimensions from both resources."""
    lam, logs, cw = (client(s, ministack) for s in ("lambda", "logs", "cloudwatch"))
    group = tagged_app(lam, logs, kinesis_zip)
    name = "logsieve-tags-kinesis"
    namespace = NAMESPACE + "Kinesis"
    config = CONFIG.replace(f'namespace = "{NAMESPACE}"', f'namespace = "{namespace}"')
    deploy(lam, name, kinesis_zip,
           env_for(name, ministack.url, tags_proxy.url, LOGSIEVE_CONFIG=config,
                   LOGSIEVE_TAGS_BUDGET_MS="3000"))
    first = invoke(lam, logs, name, fresh_kinesis_event(group, ERRORS), 1)
    assert tag_counters(first) == {"tags.miss": 1}, first
    second = invoke(lam, logs, name, fresh_kinesis_event(group, ERRORS), 2)
    assert tag_counters(second) == {"tags.hit": 1}, second
    for summary in (first, second):
        assert summary["events_in"] == len(ERRORS)
        assert "metrics.dimension_missing" not in summary["counters"], summary
    assert sum(tags_proxy.seen().values()) == 2, tags_proxy.seen()  # one call per API
    want = 2 * len(ERRORS)
    dims = [{"Name": "Team", "Value": "payments"}, {"Name": "Tier", "Value": "gold"}]

    def errors():
        now = dt.datetime.now(dt.timezone.utc)
        points = cw.get_metric_statistics(
            Namespace=namespace, MetricName="Errors", Dimensions=dims, Period=60,
            StartTime=now - dt.timedelta(minutes=30), EndTime=now + dt.timedelta(minutes=10),
            Statistics=["SampleCount"])["Datapoints"]
        n = sum(p["SampleCount"] for p in points)
        return n if n >= want else None

    assert wait_for(f"{namespace} Errors{{Team=payments,Tier=gold}}", errors) == want


@pytest.mark.parametrize("case", ["throttled", "stopped", "slow"])
def test_tag_lookups_that_fail_leave_the_batch_untagged_within_the_budget(
        ministack, function_zip, tags_proxy, case):
    lam, logs = client("lambda", ministack), client("logs", ministack)
    group = tagged_app(lam, logs, function_zip)
    name = f"logsieve-tags-{case}"
    url = tags_proxy.url
    if case == "throttled":
        tags_proxy.set("throttle")
    elif case == "stopped":
        url = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    else:
        tags_proxy.set("slow", delay=1.5)
    deploy(lam, name, function_zip,
           env_for(name, ministack.url, url, LOGSIEVE_TAGS_BUDGET_MS="300"))
    summary = invoke(lam, logs, name, fresh_event(group, ERRORS), 1)
    counters = tag_counters(summary)
    print(f"TAGS {case.upper()}", json.dumps(counters), "duration_ms", summary["duration_ms"])
    want = {"throttled": "tags.throttled", "stopped": "tags.error", "slow": "tags.timed_out"}
    assert counters == {want[case]: 1}
    # The batch ran without tags: both samples lack their dimensions, nothing failed.
    assert summary["events_in"] == len(ERRORS)
    assert summary["counters"]["metrics.dimension_missing"] == len(ERRORS)
    # A stall check, not a timing test: the slow proxy answers after 1.5 s, the SDK gives up
    # after 2 s; the invocation did not wait for either.
    assert summary["duration_ms"] < 1400, summary


def test_the_same_event_twice_is_counted_once(ministack, function_zip):
    lam, logs, cw = (client(s, ministack) for s in ("lambda", "logs", "cloudwatch"))
    name = "logsieve-dedup"
    config = CONFIG.replace('{ Team = "$tags.team", Tier = "$tags.tier" }', '{ Test = "dedup" }')
    env = env_for(name, ministack.url, ministack.url)
    env["LOGSIEVE_CONFIG"] = config
    deploy(lam, name, function_zip, env)
    payload = subscription_event("/ecs/dedup-app", ERRORS + ERRORS)
    first = invoke(lam, logs, name, payload, 1)
    again = invoke(lam, logs, name, payload, 2)
    print("DEDUP", json.dumps({k: v for k, v in again["counters"].items() if k.startswith("dedup")}))
    assert first["events_in"] == 2 * len(ERRORS)
    assert again["events_in"] == 0
    assert again["counters"]["dedup.batches_skipped"] == 1
    assert again["counters"]["dedup.events_skipped"] == 2 * len(ERRORS)
    want = 2 * len(ERRORS)
    got = wait_for("Errors{Test=dedup}",
                   lambda: (lambda n: n if n >= want else None)(errors_metric(cw, {"Test": "dedup"})))
    # The second invocation had finished (its summary is written after its sends): a second
    # count would be there.
    assert errors_metric(cw, {"Test": "dedup"}) == got == want
