"""End to end: `logsieve replay` and `logsieve tail` against log groups in ministack.

A day of application logs with past timestamps goes into two log groups (two streams each). The
replay reads them back through FilterLogEvents; with --publish its metrics land in CloudWatch at
the events' own times, which GetMetricStatistics reads back hour by hour. An interrupted replay
(SIGINT) resumed from the time it prints counts every event exactly once. Every expectation is
computed here from the events this test writes."""

import datetime as dt
import json
import os
import random
import re
import secrets
import signal
import subprocess
import time

import pytest

from conftest import REGION, client, free_port

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HOUR_MS = 3_600_000
SERVICES = {"checkout": "/replay-e2e/{run}/checkout", "payments": "/replay-e2e/{run}/payments"}
STREAMS = ("2026/11/30/[$LATEST]a1", "2026/11/30/[$LATEST]b2")
# One event per stream every STEP_MS over 24 h: 4 streams x 720 = 2,880 events.
STEP_MS = 120_000


def config(namespace: str) -> str:
    return f"""
[metrics]
namespace = "{namespace}"
sink = "cloudwatch"

[[metrics.rule]]
metric_name = "Errors"
filter_pattern = '{{ $.level = "ERROR" }}'
metric_value = "1"
unit = "Count"
dimensions = {{ Service = "$.service" }}

[[metrics.rule]]
metric_name = "Latency"
filter_pattern = '{{ $.latency_ms >= 0 }}'
metric_value = "$.latency_ms"
unit = "Milliseconds"
dimensions = {{ Service = "$.service" }}

[traces]
sink = "none"

[records]
filter_pattern = '{{ $.level = "ERROR" }}'
"""


@pytest.fixture(scope="module")
def cli() -> str:
    path = os.environ.get("LOGSIEVE_E2E_CLI")
    candidates = [path] if path else [
        os.path.join(ROOT, "target", p, "logsieve") for p in ("release", "debug")
    ]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    pytest.fail(f"no logsieve CLI at {candidates}: run tests/e2e/run.sh")


def cli_env(endpoint: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
        # No shared config or profile of the machine running the tests.
        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    })
    env.pop("LOGSIEVE_CONFIG", None)
    return env


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@pytest.fixture(scope="module")
def day(ministack):
    """Writes the day of events; returns the groups, the window and the expected figures."""
    logs = client("logs", ministack)
    run = secrets.token_hex(3)
    now = int(time.time() * 1000)
    # A whole-hour window ending two hours ago: every event is inside PutMetricData's two weeks.
    end = (now // HOUR_MS - 2) * HOUR_MS
    start = end - 24 * HOUR_MS
    rng = random.Random(18)
    groups = {svc: g.format(run=run) for svc, g in SERVICES.items()}
    # expected[(metric, service)][hour start ms] = (sum, samples)
    expected = {}
    total = 0
    for svc, group in groups.items():
        logs.create_log_group(logGroupName=group)
        for s, stream in enumerate(STREAMS):
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
            events = []
            for i, ts in enumerate(range(start + s * 7_000, end, STEP_MS)):
                error = rng.random() < 0.08
                latency = rng.randint(3, 900)
                msg = {
                    "level": "ERROR" if error else "INFO",
                    "service": svc,
                    "route": rng.choice(["/cart", "/pay", "/items/42"]),
                    "status": 502 if error else 200,
                    "latency_ms": latency,
                    "message": "upstream failed" if error else "request done",
                    "request_id": f"{svc}-{s}-{i}",
                }
                events.append({"timestamp": ts, "message": json.dumps(msg)})
                hour = ts // HOUR_MS * HOUR_MS
                for metric, value, on in (("Errors", 1, error), ("Latency", latency, True)):
                    if on:
                        cell = expected.setdefault((metric, svc), {}).setdefault(hour, [0, 0])
                        cell[0] += value
                        cell[1] += 1
            for i in range(0, len(events), 1000):
                logs.put_log_events(logGroupName=group, logStreamName=stream,
                                    logEvents=events[i:i + 1000])
            total += len(events)
    return {"groups": groups, "start": start, "end": end, "expected": expected, "total": total}


def replay(cli, ministack, cfg_path, day, *extra, start=None, timeout=120):
    argv = [cli, "replay", "--config", str(cfg_path),
            "--start", start or iso(day["start"]), "--end", iso(day["end"])]
    for g in day["groups"].values():
        argv += ["--log-group", g]
    return subprocess.run(argv + list(extra), env=cli_env(ministack.url),
                          capture_output=True, text=True, timeout=timeout)


def hourly(cw, namespace, metric, service, day):
    resp = cw.get_metric_statistics(
        Namespace=namespace, MetricName=metric,
        Dimensions=[{"Name": "Service", "Value": service}],
        StartTime=dt.datetime.fromtimestamp(day["start"] / 1000, dt.timezone.utc),
        EndTime=dt.datetime.fromtimestamp(day["end"] / 1000, dt.timezone.utc),
        Period=3600, Statistics=["Sum", "SampleCount"],
    )
    out = {}
    for p in resp["Datapoints"]:
        hour = int(p["Timestamp"].timestamp() * 1000)
        out[hour] = [p["Sum"], p["SampleCount"]]
    return out


def check_published(cw, namespace, day):
    for (metric, svc), want in day["expected"].items():
        got = hourly(cw, namespace, metric, svc, day)
        assert got == {h: [float(s), float(n)] for h, (s, n) in want.items()}, (metric, svc)


def test_replay_previews_then_publishes_at_the_original_times(cli, ministack, day, tmp_path):
    namespace = f"ReplayE2E/{secrets.token_hex(3)}"
    cfg = tmp_path / "replay.toml"
    cfg.write_text(config(namespace))
    cw = client("cloudwatch", ministack)

    # Preview: what would be sent, nothing sent.
    p = replay(cli, ministack, cfg, day, "--output", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    r = doc["replay"]
    assert r["events"] == day["total"] and not r["interrupted"] and r["published"] is False
    assert r["covered_to"] == iso(day["end"])
    sums = {}
    for m in doc["metrics"]:
        key = (m["metric_name"], m["dimensions"]["Service"])
        counts = m.get("counts") or [1] * len(m["values"])
        s = sums.setdefault(key, [0, 0])
        s[0] += sum(v * c for v, c in zip(m["values"], counts))
        s[1] += sum(counts)
    for key, want in day["expected"].items():
        assert sums[key] == [sum(c[0] for c in want.values()), sum(c[1] for c in want.values())], key
    errors = sum(n for (m, _), h in day["expected"].items() if m == "Errors" for _, n in h.values())
    assert len(doc["records"]) == errors
    assert r["subscription_cost"]["total_usd"] > 0
    assert hourly(cw, namespace, "Errors", "checkout", day) == {}

    # Publish: the same figures in CloudWatch, in the hours the events happened.
    p = replay(cli, ministack, cfg, day, "--publish")
    assert p.returncode == 0, p.stderr
    print(p.stdout[p.stdout.index("== REPLAY =="):])
    m = re.search(r"published:\s+(\d+) metric datums in (\d+) PutMetricData requests \(0 failed\)", p.stdout)
    assert m and int(m[1]) > 0, p.stdout
    check_published(cw, namespace, day)


def test_interrupted_replay_resumes_without_counting_twice(cli, ministack, day, tmp_path):
    namespace = f"ReplayE2E/{secrets.token_hex(3)}"
    cfg = tmp_path / "replay.toml"
    cfg.write_text(config(namespace))
    argv = [cli, "replay", "--config", str(cfg), "--publish",
            "--start", iso(day["start"]), "--end", iso(day["end"]),
            # Small, slow pages, so the run lasts a few seconds and the signal lands inside it.
            "--page-size", "100", "--max-pages-per-second", "12"]
    for g in day["groups"].values():
        argv += ["--log-group", g]
    proc = subprocess.Popen(argv, env=cli_env(ministack.url), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # The first progress line (once a second when stderr is not a terminal) means pages were read.
    first = proc.stderr.readline()
    assert first.startswith("replay: "), first
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    err = first + err
    assert proc.returncode == 130, (proc.returncode, err)
    m = re.search(r"run again with --start (\S+) --end (\S+)", err)
    assert m, err
    resume = m[1]
    assert m[2] == iso(day["end"])
    first_events = int(re.search(r"read:\s+(\d+) events", out)[1])
    assert 0 < first_events < day["total"], out
    print(f"interrupted at {resume} after {first_events} events")

    p = replay(cli, ministack, cfg, day, "--publish", start=resume)
    assert p.returncode == 0, p.stderr
    second_events = int(re.search(r"read:\s+(\d+) events", p.stdout)[1])
    print(f"resumed: {second_events} events; total {first_events + second_events} of {day['total']}")
    assert first_events + second_events == day["total"]
    # And CloudWatch holds exactly what one uninterrupted run sends.
    check_published(client("cloudwatch", ministack), namespace, day)


def test_publishing_a_window_older_than_two_weeks_is_refused_before_any_read(cli, tmp_path):
    cfg = tmp_path / "replay.toml"
    cfg.write_text(config("ReplayE2E/old"))
    # Nothing listens here: a read would fail with a FilterLogEvents error instead.
    dead = f"http://127.0.0.1:{free_port()}"
    p = subprocess.run([cli, "replay", "--log-group", "/any", "--start", "15d", "--end", "13d",
                        "--publish", "--config", str(cfg)],
                       env=cli_env(dead), capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p.stderr
    assert "14 days" in p.stderr and "nothing was read" in p.stderr, p.stderr
    assert "FilterLogEvents" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_errors_are_one_line_naming_the_call_and_the_log_group(cli, ministack, tmp_path):
    p = subprocess.run([cli, "replay", "--log-group", "/no/such/group", "--start", "2h"],
                       env=cli_env(ministack.url), capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    lines = [line for line in p.stderr.splitlines() if line.startswith("logsieve:")]
    assert len(lines) == 1, p.stderr
    assert "FilterLogEvents on log group /no/such/group: ResourceNotFoundException" in lines[0]


def test_tail_shows_events_written_while_it_runs(cli, ministack, tmp_path):
    logs = client("logs", ministack)
    group = f"/replay-e2e/tail-{secrets.token_hex(3)}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="live")
    cfg = tmp_path / "tail.toml"
    cfg.write_text(config("ReplayE2E/tail"))
    proc = subprocess.Popen([cli, "tail", "--log-group", group, "--config", str(cfg)],
                            env=cli_env(ministack.url), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert line.startswith("tail: watching"), line + (proc.stderr.read() if proc.poll() is not None else "")
        now = int(time.time() * 1000)
        ids = [f"live-{i}" for i in range(3)]
        logs.put_log_events(logGroupName=group, logStreamName="live", logEvents=[
            {"timestamp": now + i, "message": json.dumps(
                {"level": "ERROR", "service": "tailed", "latency_ms": 10 * (i + 1), "request_id": rid})}
            for i, rid in enumerate(ids)
        ])
        seen = []
        deadline = time.monotonic() + 15
        while len(seen) < len(ids) and time.monotonic() < deadline:
            out = proc.stdout.readline()
            if not out:
                break
            if out.startswith("{"):
                seen.append(json.loads(out).get("request_id"))
        assert seen == ids, seen
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rest, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, err = proc.communicate()
    assert proc.returncode == 0, err
    table = rest[rest.index("== TAIL =="):]
    assert "3 events, 3 records selected" in table, table
    row = next(line for line in table.splitlines() if line.split()[1:2] == ["Latency"])
    assert row.split()[3:5] == ["3", "60"], row
