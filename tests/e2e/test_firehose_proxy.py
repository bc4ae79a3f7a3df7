"""The Firehose fault proxy of the records tests, proven on its own against ministack with boto3:
failed entries are reported as Firehose reports them and never reach the destination, everything
else passes through unchanged."""

import boto3

from conftest import CREDS, REGION, client
from firehose_proxy import destination_objects




def make_stream(ministack, name: str, bucket: str) -> None:
    s3, fh = client("s3", ministack), client("firehose", ministack)
    s3.create_bucket(Bucket=bucket)
    fh.create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "RoleARN": "arn:aws:iam::000000000000:role/firehose",
            "Prefix": "fh/",
        },
    )


def test_fails_chosen_entries_and_forwards_the_rest(ministack, proxy):
    stream, bucket = "proxy-selftest", "proxy-selftest-dest"
    make_stream(ministack, stream, bucket)
    via_proxy = boto3.client("firehose", endpoint_url=proxy.url, region_name=REGION, **CREDS)
    # Calls other than PutRecordBatch pass through.
    desc = via_proxy.describe_delivery_stream(DeliveryStreamName=stream)
    assert desc["DeliveryStreamDescription"]["DeliveryStreamName"] == stream

    data = [f'{{"n":{i}}}\n'.encode() for i in range(5)]
    proxy.fail_next({1, 3})
    resp = via_proxy.put_record_batch(
        DeliveryStreamName=stream, Records=[{"Data": d} for d in data]
    )
    assert resp["FailedPutCount"] == 2
    codes = [r.get("ErrorCode") for r in resp["RequestResponses"]]
    assert codes == [None, "ServiceUnavailableException", None, "ServiceUnavailableException", None]
    assert all("RecordId" in r for i, r in enumerate(resp["RequestResponses"]) if i in (0, 2, 4))

    s3 = client("s3", ministack)
    assert sorted(destination_objects(s3, bucket, "fh/")) == sorted([data[0], data[2], data[4]])

    # The resend of the failed entries goes through (the plan is used up).
    resp = via_proxy.put_record_batch(
        DeliveryStreamName=stream, Records=[{"Data": data[1]}, {"Data": data[3]}]
    )
    assert resp["FailedPutCount"] == 0
    assert sorted(destination_objects(s3, bucket, "fh/")) == sorted(data)
    batches = proxy.put_batches()
    assert [(b.stream, b.records, b.failed) for b in batches] == [
        (stream, data, [1, 3]),
        (stream, [data[1], data[3]], []),
    ]


def test_fail_all_forwards_nothing(ministack, proxy):
    stream, bucket = "proxy-selftest-all", "proxy-selftest-all-dest"
    make_stream(ministack, stream, bucket)
    via_proxy = boto3.client("firehose", endpoint_url=proxy.url, region_name=REGION, **CREDS)
    proxy.fail_all()
    resp = via_proxy.put_record_batch(
        DeliveryStreamName=stream, Records=[{"Data": b"a\n"}, {"Data": b"b\n"}]
    )
    assert resp["FailedPutCount"] == 2
    assert destination_objects(client("s3", ministack), bucket) == []
