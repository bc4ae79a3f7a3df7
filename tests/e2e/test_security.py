"""End to end with the cis-cloudtrail pack: the bundled CloudTrail samples written to a trail's log
group reach the function through its subscription filter, and the pack's counts are read back
from CloudWatch, bare (what the alarms of infra/security-alarms.yaml watch) and by EventName,
UserType and Region.

Expected values come from the samples' own table (tests/fixtures/cloudtrail-samples.json: which
controls each sample must match), not from a run."""

import datetime as dt
import json
import os

from conftest import client
from test_e2e import deploy, function_env, put_events, subscribe, wait_for

NAMESPACE = "LogsieveE2E/Security"
TRAIL_GROUP = "aws-cloudtrail-logs-000000000000-e2e"
CONFIG = f"""
[metrics]
namespace = "{NAMESPACE}"
sink = "cloudwatch"
lambda_platform = false
packs = [{{ name = "cis-cloudtrail", log_groups = ["aws-cloudtrail-logs-*"] }}]

[traces]
sink = "none"
"""
SAMPLES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "cloudtrail-samples.json")
# Control id -> the pack's metric name (README "Security metrics from CloudTrail").
METRICS = {
    "CloudWatch.1": "RootAccountUsage",
    "CloudWatch.2": "UnauthorizedAPICalls",
    "CloudWatch.3": "ConsoleSignInWithoutMFA",
    "CloudWatch.6": "ConsoleAuthenticationFailures",
    "CloudWatch.7": "DisableOrDeleteCMK",
    "CloudWatch.10": "SecurityGroupChanges",
}


def metric_sum_count(cw, name: str, dimensions: list):
    now = dt.datetime.now(dt.timezone.utc)
    resp = cw.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=name,
        Dimensions=dimensions,
        StartTime=now - dt.timedelta(minutes=30),
        EndTime=now + dt.timedelta(minutes=10),
        Period=60,
        Statistics=["Sum", "SampleCount"],
    )
    points = resp["Datapoints"]
    return (sum(p["Sum"] for p in points), sum(p["SampleCount"] for p in points))


def test_security_pack_counts_cloudtrail_controls(ministack, moto, function_zip):
    lam, logs, cw = client("lambda", ministack), client("logs", ministack), client("cloudwatch", ministack)
    name = "logsieve-e2e-security"
    env = function_env(name, ministack.url, moto.url)
    env["LOGSIEVE_CONFIG"] = CONFIG
    env["LOGSIEVE_SELF_NAMESPACE"] = "Logsieve/E2E-Security-Self"
    arn = deploy(lam, name, function_zip, env)
    subscribe(logs, TRAIL_GROUP, arn)
    with open(SAMPLES) as f:
        samples = json.load(f)["samples"]
    put_events(logs, TRAIL_GROUP, [json.dumps(s["event"], separators=(",", ":")) for s in samples])

    for control, metric in METRICS.items():
        want = sum(1 for s in samples if control in s["matches"])
        assert want > 0, control
        # Each by-dimension series read with its exact dimensions adds up to the control's
        # count. (The bare series is not read alone: the emulator answers a query without
        # dimensions with every series of the name, where CloudWatch answers with that one.)
        def by_dimensions():
            series = [
                m["Dimensions"]
                for m in cw.list_metrics(Namespace=NAMESPACE, MetricName=metric)["Metrics"]
                if {d["Name"] for d in m["Dimensions"]} == {"EventName", "Region", "UserType"}
            ]
            sc = [metric_sum_count(cw, metric, d) for d in series]
            total = (sum(s for s, _ in sc), sum(c for _, c in sc))
            return total if total[1] >= want else None

        got = wait_for(f"{metric} by EventName, Region, UserType", by_dimensions)
        assert got == (want, want), metric
        names = {
            tuple(sorted(d["Name"] for d in m["Dimensions"]))
            for m in cw.list_metrics(Namespace=NAMESPACE, MetricName=metric)["Metrics"]
        }
        assert () in names, f"{metric}: no series without dimensions for the alarm"

    # One slice: the disabled key, by who and where.
    dims = [
        {"Name": "EventName", "Value": "DisableKey"},
        {"Name": "Region", "Value": "us-east-1"},
        {"Name": "UserType", "Value": "AssumedRole"},
    ]
    got = wait_for(
        "DisableOrDeleteCMK by DisableKey/us-east-1/AssumedRole",
        lambda: (lambda sc: sc if sc[1] >= 1 else None)(metric_sum_count(cw, "DisableOrDeleteCMK", dims)),
    )
    assert got == (1, 1)
