"""The record checks of test_records, proven on their own: an OTLP request built here by the
contract's mapping (with the official protobuf messages) passes them, and each single deviation
from the contract fails them, so a green test_records cannot be vacuous."""

import copy
import json

import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

import test_records as T
from otlp_receiver import flatten


def any_value(v) -> common_pb2.AnyValue:
    a = common_pb2.AnyValue()
    if isinstance(v, bool):
        a.bool_value = v
    elif isinstance(v, int):
        a.int_value = v
    elif isinstance(v, float):
        a.double_value = v
    elif isinstance(v, str):
        a.string_value = v
    elif isinstance(v, list):
        a.array_value.values.extend(any_value(x) for x in v)
    elif isinstance(v, dict):
        a.kvlist_value.values.extend(common_pb2.KeyValue(key=k, value=any_value(x)) for k, x in v.items())
    return a


def conforming(batch: T.Batch) -> list:
    """The batch as the contract maps it (service.name from the `service` field, else the log
    group's function), flattened by the receiver's own helper."""
    req = logs_service_pb2.ExportLogsServiceRequest()
    for eid, want in batch.rows.items():
        row = want["row"]
        rl = req.resource_logs.add()
        resource = {
            "cloud.provider": "aws", "cloud.region": T.REGION, "cloud.account.id": T.OWNER,
            "aws.log.group.names": [batch.group], "aws.log.stream.names": [batch.stream],
            "faas.name": T.APP_FUNCTION, "service.name": (row or {}).get("service", T.APP_FUNCTION),
        }
        rl.resource.attributes.extend(common_pb2.KeyValue(key=k, value=any_value(v)) for k, v in resource.items())
        sl = rl.scope_logs.add()
        sl.scope.name = "logsieve"
        lr = sl.log_records.add()
        lr.time_unix_nano = want["timestamp"] * 1_000_000
        lr.observed_time_unix_nano = want["timestamp"] * 1_000_000 + 5
        if row:
            lr.severity_number = T.SEVERITY[row["level"].upper()]
            lr.severity_text = row["level"].upper()
            lr.body.string_value = row["message"]
            lr.attributes.extend(common_pb2.KeyValue(key=k, value=any_value(v))
                                 for k, v in row.items() if k != "message")
        else:
            lr.body.string_value = want["text"]
        lr.attributes.add(key="log.record.uid", value=any_value(eid))
        lr.trace_id = bytes.fromhex(want["trace_id"])
        lr.span_id = bytes.fromhex(want["span_id"])
    return flatten(req)


def service_for(rec, batch):
    text_id = next(i for i, w in batch.rows.items() if w["row"] is None)
    return T.APP_FUNCTION if rec["attributes"]["log.record.uid"] == text_id else None


def test_a_conforming_request_passes():
    batch = T.Batch()
    records = conforming(batch)
    T.ids_once([r["attributes"]["log.record.uid"] for r in records], batch.ids, "OTLP")
    for rec in records:
        T.check_otlp_record(rec, batch, service_for(rec, batch))


def x_ray_record(records):
    return next(r for r in records if r["attributes"].get("trace_id"))


DEVIATIONS = {
    "trace id kept with its X-Ray dashes": lambda r: r.update(trace_id=r["trace_id"][:8] + "-" + r["trace_id"][8:]),
    "severity from the wrong range": lambda r: r.update(severity_number=r["severity_number"] + 1),
    "severity text not upper-cased": lambda r: r.update(severity_text=r["severity_text"].lower()),
    "field missing from the attributes": lambda r: r["attributes"].pop("status"),
    "field with another type": lambda r: r["attributes"].update(status=str(r["attributes"]["status"])),
    "an attribute that is no input field": lambda r: r["attributes"].update(extra="x"),
    "account of the function, not the batch owner": lambda r: r["resource"].update({"cloud.account.id": "000000000000"}),
    "group as a string, not string[]": lambda r: r["resource"].update({"aws.log.group.names": T.APP_GROUP}),
    "no faas.name for a Lambda log group": lambda r: r["resource"].pop("faas.name"),
    "timestamp in ms": lambda r: r.update(time_unix_nano=r["time_unix_nano"] // 1_000_000),
    "body holds the whole JSON": lambda r: r.update(body="{}"),
    "scope not logsieve": lambda r: r.update(scope=""),
}


@pytest.mark.parametrize("deviation", sorted(DEVIATIONS))
def test_each_deviation_fails(deviation):
    batch = T.Batch()
    rec = copy.deepcopy(x_ray_record(conforming(batch)))
    DEVIATIONS[deviation](rec)
    with pytest.raises(AssertionError):
        T.check_otlp_record(rec, batch, service_for(rec, batch))


def test_a_duplicate_or_a_missing_record_fails():
    batch = T.Batch()
    ids = [r["attributes"]["log.record.uid"] for r in conforming(batch)]
    with pytest.raises(AssertionError):
        T.ids_once(ids + ids[:1], batch.ids, "OTLP")
    with pytest.raises(AssertionError):
        T.ids_once(ids[1:], batch.ids, "OTLP")


def test_output_records_need_their_metadata_and_fields():
    batch = T.Batch()
    eid = next(i for i, w in batch.rows.items() if w["trace_id"] and w["row"])
    want = batch.rows[eid]
    tid = want["trace_id"]
    rec = {"@id": eid, "@timestamp": want["timestamp"], "@logGroup": batch.group,
           "@logStream": batch.stream, "@format": "json", "@traceId": f"1-{tid[:8]}-{tid[8:]}",
           **want["row"]}
    T.check_output_record(rec, batch, "S3")
    for key in ("@traceId", "@logStream", "message"):
        broken = {k: v for k, v in rec.items() if k != key}
        with pytest.raises(AssertionError):
            T.check_output_record(broken, batch, "S3")


def test_self_metric_sums_the_functions_own_emf_only():
    def emf(namespace, function, **values):
        return json.dumps({
            "_aws": {"Timestamp": 1, "CloudWatchMetrics": [{
                "Namespace": namespace, "Dimensions": [["FunctionName"]],
                "Metrics": [{"Name": k, "Unit": "Count"} for k in values]}]},
            "FunctionName": function, **values})
    lines = [
        emf(T.SELF_NAMESPACE, "f", RecordsSent=8, RecordsSpilled=0),
        emf(T.SELF_NAMESPACE, "f", RecordsSent=[2, 3]),
        emf(T.SELF_NAMESPACE, "other", RecordsSent=100),
        emf("Elsewhere", "f", RecordsSent=100),
        "not json", '{"message": "a log line"}',
    ]
    assert T.self_metric(lines, "RecordsSent", "f") == 13
    assert T.self_metric(lines, "RecordsSpilled", "f") == 0
    assert T.self_metric(lines, "RecordsLost", "f") == 0
