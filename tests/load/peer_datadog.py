"""The Datadog Forwarder's own log steps, timed on subscription events (network stubbed).

Runs the steps `lambda_function.datadog_forwarder` runs for a CloudWatch Logs event, from a
checkout of DataDog/datadog-serverless-functions (`aws/logs_monitoring`): parse (base64, gunzip,
JSON, per-event metadata), enrich, transform, split (each message tried as a metric), then what
`Forwarder._forward_logs` does before the network: the include/exclude matcher, one JSON dump
per log, batching (400 logs, 4 MB), the scrubber over each batch's JSON and gzip at
`DD_COMPRESSION_LEVEL` (6). Tag lookups are answered from empty caches and nothing is sent.

Prints one JSON line: events, seconds (best and median of the rounds), events/s.

    python3 peer_datadog.py --forwarder DIR [--rounds N] [--scrub] FILE...

`--scrub` turns on the forwarder's two built-in scrubbing rules (REDACT_IP, REDACT_EMAIL); they
are off by default. FILEs are subscription events (`{"awslogs": {"data": …}}`), as
`logsieve generate` writes them.
"""

import argparse
import json
import os
import statistics
import sys
import time


class _Context:
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:datadog-forwarder"
    function_name = "datadog-forwarder"
    function_version = "$LATEST"
    memory_limit_in_mb = "1024"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/datadog-forwarder"
    log_stream_name = "stream"


class _NoTags:
    """A tag cache with nothing in it, so no AWS call is made."""

    def get(self, *args, **kwargs):
        return []


class _CacheLayer:
    def get_cloudwatch_log_group_tags_cache(self):
        return _NoTags()

    def get_s3_tags_cache(self):
        return _NoTags()

    def get_lambda_tags_cache(self):
        return _NoTags()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--forwarder", required=True, help="aws/logs_monitoring of the checkout")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scrub", action="store_true")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()

    os.environ.setdefault("DD_API_KEY", "0" * 32)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("DD_FETCH_LAMBDA_TAGS", "false")
    os.environ.setdefault("DD_FETCH_LOG_GROUP_TAGS", "false")
    os.environ.setdefault("DD_FETCH_STEP_FUNCTIONS_TAGS", "false")
    os.environ.setdefault("DD_LOG_LEVEL", "WARNING")
    if args.scrub:
        os.environ["REDACT_IP"] = "true"
        os.environ["REDACT_EMAIL"] = "true"
    sys.path.insert(0, args.forwarder)

    import settings  # noqa: E402  (the forwarder's, after its environment is set)
    from forwarder import dump_event  # noqa: E402
    from logs.datadog_batcher import DatadogBatcher  # noqa: E402
    from logs.datadog_matcher import DatadogMatcher  # noqa: E402
    from logs.datadog_scrubber import DatadogScrubber  # noqa: E402
    from logs.helpers import compress_logs  # noqa: E402
    from steps.enrichment import enrich  # noqa: E402
    from steps.parsing import parse  # noqa: E402
    from steps.splitting import split  # noqa: E402
    from steps.transformation import transform  # noqa: E402

    events = [json.load(open(f)) for f in args.files]
    context, cache = _Context(), _CacheLayer()
    scrubber = DatadogScrubber(settings.SCRUBBING_RULE_CONFIGS)
    matcher = DatadogMatcher(
        include_pattern=settings.INCLUDE_AT_MATCH, exclude_pattern=settings.EXCLUDE_AT_MATCH
    )
    batcher = DatadogBatcher(
        max_item_size_bytes=512 * 1000, max_batch_size_bytes=4 * 1000 * 1000, max_items_count=400
    )

    def run():
        logs_out = bytes_out = 0
        for event in events:
            parsed = parse(event, context, cache)
            metrics, logs, traces = split(transform(enrich(parsed, cache)))
            # Forwarder._forward_logs, up to the HTTP call.
            to_forward = []
            for log in logs:
                evaluated = log.get("message") or dump_event(log)
                if matcher.match(evaluated):
                    to_forward.append(dump_event(log))
            for batch in batcher.batch(to_forward):
                data = scrubber.scrub("[{}]".format(",".join(batch)))
                bytes_out += len(compress_logs(data, settings.DD_COMPRESSION_LEVEL))
            logs_out += len(logs) + len(metrics) + len(traces)
        return logs_out, bytes_out

    times = []
    for _ in range(args.rounds):
        t = time.perf_counter()
        n, out = run()
        times.append(time.perf_counter() - t)
    best, median = min(times), statistics.median(times)
    print(
        json.dumps(
            {
                "peer": "datadog-forwarder",
                "scrub": args.scrub,
                "events": n,
                "gzip_bytes": out,
                "best_s": round(best, 3),
                "median_s": round(median, 3),
                "events_per_s": round(n / best),
            }
        )
    )


if __name__ == "__main__":
    main()
