"""An HTTP proxy in front of ministack for the tag lookups (CloudWatch Logs ListTagsForResource
and the Resource Groups Tagging API's GetResources), switchable at run time between forwarding,
refusing every call the way each service throttles (HTTP 400 with `__type`
`ThrottlingException` for CloudWatch Logs, `ThrottledException` for the tagging API), and
answering only after a delay. It counts the calls it saw, by X-Amz-Target.

https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/CommonErrors.html
https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html"""

import collections
import json
import time

from firehose_proxy import _SKIP, FirehoseProxy, _reply
from otlp_receiver import read_body

THROTTLE_TYPE = {
    "Logs_20140328": "ThrottlingException",
    "ResourceGroupsTaggingAPI_20170126": "ThrottledException",
}


class TagsProxy(FirehoseProxy):
    """TagsProxy(upstream_url); point AWS_ENDPOINT_URL_CLOUDWATCH_LOGS and
    AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API at `url`. Modes: "forward", "throttle",
    "slow" (forward after `delay` seconds). Always stop()."""

    def __init__(self, upstream: str, host: str = "127.0.0.1"):
        self.mode = "forward"
        self.delay = 0.0
        self.calls = collections.Counter()
        super().__init__(upstream, host)

    def set(self, mode: str, delay: float = 0.0) -> None:
        with self._lock:
            self.mode, self.delay = mode, delay

    def seen(self) -> dict:
        with self._lock:
            return dict(self.calls)

    def _handle(self, h) -> None:
        body = read_body(h)
        target = h.headers.get("X-Amz-Target", "")
        with self._lock:
            mode, delay = self.mode, self.delay
            self.calls[target] += 1
        if mode == "throttle":
            kind = THROTTLE_TYPE.get(target.split(".")[0], "ThrottlingException")
            out = json.dumps({"__type": kind, "message": "Rate exceeded (the test's proxy)"}).encode()
            headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", kind)]
            _reply(h, 400, headers, out)
            return
        if mode == "slow":
            time.sleep(delay)
        headers = [(k, v) for k, v in h.headers.items() if k.lower() not in _SKIP]
        try:
            code, resp_headers, resp_body = self._forward(h.command, h.path, headers, body)
            _reply(h, code, resp_headers, resp_body)
        except OSError:
            pass  # the client gave up on a slow answer
