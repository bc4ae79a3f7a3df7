"""The OTLP receiver of the records tests, proven on its own with requests built from the same
official protobuf package (so a failure of test_records is the function's, not the receiver's)."""

import gzip
import http.client
import socket
import threading
import time

import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2

from otlp_receiver import CLOSE, HANG, OtlpReceiver, ok, status

TRACE = bytes.fromhex("58406520a006649127e371903a2de979")
SPAN = bytes.fromhex("00f067aa0ba902b7")


def kv(key, value):
    v = common_pb2.AnyValue()
    if isinstance(value, str):
        v.string_value = value
    elif isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, int):
        v.int_value = value
    elif isinstance(value, list):
        v.array_value.values.extend(common_pb2.AnyValue(string_value=s) for s in value)
    elif isinstance(value, dict):
        v.kvlist_value.values.extend(kv(k, x) for k, x in value.items())
    return common_pb2.KeyValue(key=key, value=v)


def sample_request() -> logs_service_pb2.ExportLogsServiceRequest:
    req = logs_service_pb2.ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(
        [kv("service.name", "checkout"), kv("aws.log.group.names", ["/aws/lambda/shop"])]
    )
    sl = rl.scope_logs.add()
    sl.scope.name = "logsieve"
    for i, (sev, text) in enumerate([(9, "INFO"), (17, "ERROR")]):
        lr = sl.log_records.add()
        lr.time_unix_nano = 1_700_000_000_000_000_000 + i
        lr.severity_number = logs_pb2.SeverityNumber.Value(f"SEVERITY_NUMBER_{text}")
        assert lr.severity_number == sev
        lr.severity_text = text
        lr.body.string_value = f"message {i}"
        lr.attributes.extend([kv("log.record.uid", f"e{i}"), kv("http", {"status": 200 + i})])
        lr.trace_id = TRACE
        lr.span_id = SPAN
    return req


def post(url_port: int, body: bytes, headers: dict, timeout: float = 5):
    conn = http.client.HTTPConnection("127.0.0.1", url_port, timeout=timeout)
    try:
        conn.request("POST", "/v1/logs", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


PB = {"Content-Type": "application/x-protobuf"}
GZ = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}




def test_decodes_gzip_and_plain_and_flattens(receiver):
    body = sample_request().SerializeToString()
    code, _, resp_body = post(receiver.port, gzip.compress(body), {**GZ, "x-honeycomb-team": "k1"})
    assert code == 200
    resp = logs_service_pb2.ExportLogsServiceResponse()
    resp.ParseFromString(resp_body)
    assert not resp.HasField("partial_success")
    assert post(receiver.port, body, PB)[0] == 200

    reqs = receiver.requests()
    assert [r.headers.get("x-honeycomb-team") for r in reqs] == ["k1", None]
    assert [r.decode_error for r in reqs] == [None, None]
    records = receiver.accepted_records()
    assert len(records) == 4
    first = records[0]
    assert first["resource"] == {"service.name": "checkout", "aws.log.group.names": ["/aws/lambda/shop"]}
    assert first["scope"] == "logsieve"
    assert (first["severity_number"], first["severity_text"]) == (9, "INFO")
    assert records[1]["severity_number"] == 17
    assert first["body"] == "message 0"
    assert first["attributes"] == {"log.record.uid": "e0", "http": {"status": 200}}
    assert first["trace_id"] == TRACE.hex() and first["span_id"] == SPAN.hex()
    assert first["time_unix_nano"] == 1_700_000_000_000_000_000


def test_partial_success_and_scripted_statuses(receiver):
    body = sample_request().SerializeToString()
    receiver.script(ok(rejected=1, message="one bad"), status(503), status(429, "1"), status(413))
    code, _, resp_body = post(receiver.port, body, PB)
    resp = logs_service_pb2.ExportLogsServiceResponse()
    resp.ParseFromString(resp_body)
    assert code == 200 and resp.partial_success.rejected_log_records == 1
    assert resp.partial_success.error_message == "one bad"
    assert post(receiver.port, body, PB)[0] == 503
    code, headers, _ = post(receiver.port, body, PB)
    assert code == 429 and headers.get("Retry-After") == "1"
    assert post(receiver.port, body, PB)[0] == 413
    assert post(receiver.port, body, PB)[0] == 200  # script used up: the default
    assert receiver.answers() == ["200", "503", "429", "413", "200"]
    # Only the two requests answered 200 count as delivered.
    assert len(receiver.accepted_records()) == 4


def test_undecodable_body_is_recorded_and_refused(receiver):
    code, _, _ = post(receiver.port, b"\xff\xff\xff not protobuf", PB)
    assert code == 400
    (rec,) = receiver.requests()
    assert rec.decode_error and rec.request is None


def test_close_drops_the_connection(receiver):
    receiver.script(CLOSE)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        post(receiver.port, sample_request().SerializeToString(), PB)
    assert receiver.answers() == ["close"]
    assert receiver.accepted_records() == []


def test_hang_holds_until_released(receiver):
    receiver.set_default(HANG)
    body = sample_request().SerializeToString()
    with pytest.raises((socket.timeout, TimeoutError)):
        post(receiver.port, body, PB, timeout=1)
    outcome = {}

    def client():
        try:
            outcome["status"] = post(receiver.port, body, PB, timeout=10)[0]
        except Exception as e:
            outcome["error"] = type(e).__name__

    t = threading.Thread(target=client)
    t.start()
    deadline = time.monotonic() + 5
    while len(receiver.requests()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(receiver.requests()) == 2
    receiver.set_default(ok())
    receiver.release()
    t.join(10)
    # Released: the connection closes with no response; nothing counts as delivered.
    assert "error" in outcome, outcome
    assert receiver.answers() == ["hang", "hang"]
    assert receiver.accepted_records() == []
    assert post(receiver.port, body, PB)[0] == 200


def test_other_paths_are_refused_and_a_custom_path_served():
    with OtlpReceiver(path="/ingest/logs") as r:
        body = sample_request().SerializeToString()
        conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=5)
        conn.request("POST", "/ingest/logs", body=body, headers=PB)
        assert conn.getresponse().status == 200
        conn.close()
        assert post(r.port, body, PB)[0] == 400  # /v1/logs is not this receiver's path
        assert [(x.path, x.decode_error is None) for x in r.requests()] == [
            ("/ingest/logs", True), ("/v1/logs", False)]
        assert len(r.accepted_records()) == 2


def test_chunked_request_body(receiver):
    body = gzip.compress(sample_request().SerializeToString())
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
    conn.request("POST", "/v1/logs", body=iter([body[:10], body[10:]]),
                 headers={**GZ, "Transfer-Encoding": "chunked"}, encode_chunked=True)
    assert conn.getresponse().status == 200
    conn.close()
    assert len(receiver.accepted_records()) == 2
