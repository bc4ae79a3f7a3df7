"""Checks the infra templates for what cfn-lint and checkov cannot see.

- every checkov skip carries a written reason;
- the dashboard body is valid JSON once CloudFormation has substituted it, and every widget
  queries something;
- no IAM statement grants "*" resources except to actions that have no resource-level
  permissions, and PutMetricData is always conditioned on the namespace;
- the Kinesis event source mapping reports partial failures and bisects;
- the Firehose stream transforms with the firehose-filter function;
- every records-sink environment variable and IAM statement of the processors exists only when
  its parameter is set, and each statement grants one action on exactly that secret, stream or
  key prefix (the spill bucket gets no read or delete: redrive runs with an operator's credentials).

Run with the venv that has cfn-lint (its decoder understands the short-form intrinsics).
"""

import json
import re
import sys
from pathlib import Path

from cfnlint.decode import decode

INFRA = Path(__file__).resolve().parents[2] / "infra"
# Actions that AWS defines without resource-level permissions, so "*" is the only possible scope.
STAR_OK = {
    "cloudwatch:PutMetricData",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    # Read only; the Resource Groups Tagging API defines no resource types for it.
    "tag:GetResources",
}
MIN_REASON = 40

failures = []


def fail(template, message):
    failures.append(f"{template}: {message}")


def load(name):
    template, matches = decode(str(INFRA / name))
    if matches:
        fail(name, f"cannot be parsed: {matches}")
        return {}
    return template


def plain_resources(template):
    """Resources, with the bodies of Fn::ForEach loops included under their loop name."""
    out = {}
    for key, value in template.get("Resources", {}).items():
        if key.startswith("Fn::ForEach::"):
            for inner_key, inner in value[2].items():
                out[f"{key}/{inner_key}"] = inner
        else:
            out[key] = value
    return out


def check_skips(name, resources):
    for logical, res in resources.items():
        skips = (res.get("Metadata") or {}).get("checkov", {}).get("skip", [])
        for skip in skips:
            reason = " ".join(str(skip.get("comment", "")).split())
            if not skip.get("id") or len(reason) < MIN_REASON:
                fail(name, f"{logical}: checkov skip {skip.get('id')} needs a written reason")


def as_list(value):
    return value if isinstance(value, list) else [value]


NO_VALUE = {"Ref": "AWS::NoValue"}


def policies(role):
    """(condition or None, policy) for each inline policy of a role; a policy under
    !If [cond, policy, !Ref AWS::NoValue] exists only when cond holds."""
    for policy in role["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Fn::If" in policy:
            cond, then, other = policy["Fn::If"]
            yield cond, then
            if other != NO_VALUE:
                yield cond, other
        else:
            yield None, policy


def check_iam(name, resources):
    for logical, res in resources.items():
        if res.get("Type") != "AWS::IAM::Role":
            continue
        for _, policy in policies(res):
            for st in policy["PolicyDocument"]["Statement"]:
                actions = as_list(st.get("Action", []))
                if any("*" in a for a in actions):
                    fail(name, f"{logical}: wildcard action in {actions}")
                if "*" in as_list(st.get("Resource", [])):
                    extra = [a for a in actions if a not in STAR_OK]
                    if extra:
                        fail(name, f"{logical}: Resource '*' for {extra}")
                if "cloudwatch:PutMetricData" in actions:
                    cond = json.dumps(st.get("Condition", {}))
                    if "cloudwatch:namespace" not in cond:
                        fail(name, f"{logical}: PutMetricData without a cloudwatch:namespace condition")


def substitute(text, variables):
    def repl(match):
        key = match.group(1)
        if key.startswith("!"):
            return "${" + key[1:] + "}"
        if key not in variables:
            fail("template.yaml", f"dashboard: unknown substitution ${{{key}}}")
        return variables.get(key, "")

    return re.sub(r"\$\{([^}]+)\}", repl, text)


def check_dashboard(template):
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    text, mapping = body[0], body[1]
    variables = {
        "AWS::Region": "us-east-1",
        "Namespace": "Logsieve/Team A",
        "ProcessorNamespace": "Logsieve/Processor",
        "Fn": "stack-LogProcessor-abc",
        "Queue": "stack-FailedEventsQueue-abc",
        # What CloudFormation makes of the NsQ mapping entry: the namespace in escaped quotes.
        "NsQ": '\\"Logsieve/Team A\\"',
    }
    missing = set(mapping) - set(variables)
    if missing:
        fail("template.yaml", f"dashboard: test lacks values for {sorted(missing)}")
    try:
        dash = json.loads(substitute(text, variables))
    except json.JSONDecodeError as e:
        fail("template.yaml", f"dashboard body is not JSON after substitution: {e}")
        return
    titles = []
    for w in dash["widgets"]:
        if w["type"] != "metric":
            continue
        titles.append(w["properties"]["title"])
        metrics = w["properties"].get("metrics", [])
        if not metrics:
            fail("template.yaml", f"dashboard widget {w['properties']['title']!r} has no metrics")
        for m in metrics:
            expr = m[0].get("expression") if isinstance(m[0], dict) else None
            if expr is not None and '"Logsieve/Team A"' not in expr:
                fail("template.yaml", f"dashboard expression misses the quoted namespace: {expr}")
    wanted_titles = ["Duration p50", "Cold starts", "Max memory used", "Errors, timeouts", "Estimated cost", "Rule metrics"]
    wanted_titles += ["log-processor: records sent", "log-processor: records spilled"]
    for wanted in wanted_titles:
        if not any(t.startswith(wanted) for t in titles):
            fail("template.yaml", f"dashboard lacks a {wanted!r} widget")


def check_kinesis(template):
    fn = template["Resources"]["KinesisProcessor"]["Properties"]
    ev = fn["Events"]["Stream"]["Properties"]
    if ev.get("FunctionResponseTypes") != ["ReportBatchItemFailures"]:
        fail("kinesis.yaml", "event source mapping must report batch item failures")
    if ev.get("BisectBatchOnFunctionError") is not True:
        fail("kinesis.yaml", "event source mapping must bisect on error")
    if "OnFailure" not in ev.get("DestinationConfig", {}):
        fail("kinesis.yaml", "event source mapping needs an on-failure destination")


def check_firehose(template):
    dest = template["Resources"]["DeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"]
    procs = dest["ProcessingConfiguration"]["Processors"]
    arns = [p["ParameterValue"] for pr in procs for p in pr["Parameters"] if p["ParameterName"] == "LambdaArn"]
    if arns != [{"Fn::GetAtt": ["FirehoseFilter", "Arn"]}]:
        fail("firehose.yaml", f"the transformation must be firehose-filter, got {arns}")


# Parameter -> (its condition, the environment variables it sets, the IAM statement it adds,
# that statement's one action, the resource it must name exactly).
RECORDS_SINKS = {
    "OtlpEndpoint": ("HasOtlpEndpoint", {"OTEL_EXPORTER_OTLP_ENDPOINT": "OtlpEndpoint"}, None, None, None),
    "OtelServiceName": ("HasOtelServiceName", {"OTEL_SERVICE_NAME": "OtelServiceName"}, None, None, None),
    "OtlpHeadersSecretArn": (
        "HasOtlpHeadersSecret",
        {"LOGSIEVE_OTLP_HEADERS_SECRET_ARN": "OtlpHeadersSecretArn"},
        "OtlpHeadersSecret",
        "secretsmanager:GetSecretValue",
        {"Ref": "OtlpHeadersSecretArn"},
    ),
    "RecordsDeliveryStreamName": (
        "HasRecordsDeliveryStream",
        {"LOGSIEVE_RECORDS_FIREHOSE_STREAM": "RecordsDeliveryStreamName"},
        "RecordsFirehose",
        "firehose:PutRecordBatch",
        {"Fn::Sub": "arn:${AWS::Partition}:firehose:${AWS::Region}:${AWS::AccountId}:deliverystream/${RecordsDeliveryStreamName}"},
    ),
    "RecordsBucketName": (
        "HasRecordsBucket",
        {
            "LOGSIEVE_RECORDS_BUCKET": "RecordsBucketName",
            "LOGSIEVE_RECORDS_PREFIX": "RecordsPrefix",
            "LOGSIEVE_RECORDS_GZIP_LEVEL": "RecordsGzipLevel",
        },
        "RecordsBucket",
        "s3:PutObject",
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::${RecordsBucketName}/${RecordsPrefix}/*"},
    ),
    "SpillBucketName": (
        "HasSpillBucket",
        {"LOGSIEVE_SPILL_BUCKET": "SpillBucketName", "LOGSIEVE_SPILL_PREFIX": "SpillPrefix"},
        "SpillBucket",
        "s3:PutObject",
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::${SpillBucketName}/${SpillPrefix}/*"},
    ),
}


def check_records_sinks(name, template, function):
    params = template.get("Parameters", {})
    conditions = template.get("Conditions", {})
    resources = template["Resources"]
    env = resources[function]["Properties"]["Environment"]["Variables"]
    by_sid = {}
    for policy in resources["FunctionRole"]["Properties"]["Policies"]:
        if isinstance(policy, dict) and "Fn::If" in policy:
            cond, then, other = policy["Fn::If"]
            if len(then["PolicyDocument"]["Statement"]) != 1:
                fail(name, f"conditional policy {then.get('PolicyName')} must hold one statement")
            for st in then["PolicyDocument"]["Statement"]:
                by_sid[st.get("Sid")] = (cond, st, other)
        else:
            for st in policy["PolicyDocument"]["Statement"]:
                by_sid[st.get("Sid")] = (None, st, None)
    for param, (cond, variables, sid, action, resource) in RECORDS_SINKS.items():
        if params.get(param, {}).get("Default") != "":
            fail(name, f"parameter {param} must exist and default to empty (the sink off)")
        if conditions.get(cond) != {"Fn::Not": [{"Fn::Equals": [{"Ref": param}, ""]}]}:
            fail(name, f"condition {cond} must be true exactly when {param} is set")
        for var, source in variables.items():
            if env.get(var) != {"Fn::If": [cond, {"Ref": source}, NO_VALUE]}:
                fail(name, f"{var} must be !If [{cond}, !Ref {source}, !Ref AWS::NoValue], got {env.get(var)}")
        if sid is None:
            continue
        if sid not in by_sid:
            fail(name, f"the role lacks the {sid} statement")
            continue
        st_cond, st, other = by_sid[sid]
        if st_cond != cond or other != NO_VALUE:
            fail(name, f"statement {sid} must exist only under {cond}")
        if as_list(st.get("Action")) != [action]:
            fail(name, f"statement {sid} must grant {action} alone, got {st.get('Action')}")
        if st.get("Resource") != resource:
            fail(name, f"statement {sid} must name exactly {resource}, got {st.get('Resource')}")
    # A prefix ends up in an IAM resource (bucket/prefix/*): it must be non-empty, so the grant
    # never becomes bucket//*, and free of IAM wildcards and leading/trailing slashes.
    for prefix in ["RecordsPrefix", "SpillPrefix"]:
        pattern = params.get(prefix, {}).get("AllowedPattern", "")
        if not params.get(prefix, {}).get("Default"):
            fail(name, f"{prefix} needs a non-empty default")
        for bad in ["", "*", "logs/*", "a?", "/logs", "logs/", "logs//x"]:
            if re.fullmatch(pattern, bad):
                fail(name, f"{prefix}'s AllowedPattern accepts {bad!r}")
        for good in ["logs", "spill", "team-a/records", "a_b.c"]:
            if not re.fullmatch(pattern, good):
                fail(name, f"{prefix}'s AllowedPattern refuses {good!r}")
    for alarm, metric in [("RecordsSpilledAlarm", "RecordsSpilled"), ("RecordsLostAlarm", "RecordsLost")]:
        props = resources.get(alarm, {}).get("Properties", {})
        if props.get("MetricName") != metric or props.get("Namespace") != {"Ref": "ProcessorNamespace"}:
            fail(name, f"{alarm} must alarm on {metric} in ProcessorNamespace")


def main():
    names = sorted(p.name for p in INFRA.glob("*.yaml"))
    for name in names:
        template = load(name)
        resources = plain_resources(template)
        check_skips(name, resources)
        check_iam(name, resources)
        if name == "template.yaml":
            check_dashboard(template)
            check_records_sinks(name, template, "LogProcessor")
        if name == "kinesis.yaml":
            check_kinesis(template)
            check_records_sinks(name, template, "KinesisProcessor")
        if name == "firehose.yaml":
            check_firehose(template)
    for f in failures:
        print(f"FAIL {f}")
    print(f"check_templates: {len(names)} templates, {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
