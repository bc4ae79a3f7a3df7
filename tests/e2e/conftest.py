"""Fixtures of the end-to-end test: ministack (CloudWatch, CloudWatch Logs, Lambda, S3, Firehose,
Secrets Manager) and moto (X-Ray) on free loopback ports, started once per session, and per test an
OTLP receiver and a Firehose fault proxy; all always stopped."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest

from firehose_proxy import FirehoseProxy
from otlp_receiver import OtlpReceiver

REGION = "us-east-1"
# Dummy credentials: both emulators accept any; they must never be real ones.
CREDS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
BIN = os.path.dirname(sys.executable)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, seconds: float, proc: subprocess.Popen, log_path: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except Exception:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {seconds}s; see {log_path}")


class Server:
    def __init__(self, name: str, argv: list, env: dict, ready_path: str, port: int):
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        logs = os.environ.get("LOGSIEVE_E2E_LOGS") or os.getcwd()
        self.log_path = os.path.join(logs, f"{name}.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            argv, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        pids = os.environ.get("LOGSIEVE_E2E_PIDS")
        if pids:
            with open(pids, "a") as f:
                f.write(f"{self.proc.pid}\n")
        try:
            wait_http(self.url + ready_path, 60, self.proc, self.log_path)
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            # The whole group: ministack runs the function's bootstrap as its child.
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


def clean_env() -> dict:
    """The servers' environment: nothing that points AWS clients elsewhere. ministack passes its
    own environment to function processes and would override their AWS_ENDPOINT_URL with its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION})
    return env


@pytest.fixture(scope="session")
def ministack():
    port = free_port()
    env = clean_env()
    env.update(
        {
            "GATEWAY_PORT": str(port),
            "BIND_HOST": "127.0.0.1",
            "IOT_MTLS_ENABLED": "0",
            "SFTP_ENABLED": "0",
            "LOG_LEVEL": "INFO",
        }
    )
    # ministack unpacks each function's code under TMPDIR and never removes it; keep that inside
    # the run's scratch directory, which run.sh deletes.
    scratch = os.environ.get("LOGSIEVE_E2E_LOGS")
    if scratch:
        env["TMPDIR"] = scratch
    server = Server("ministack", [os.path.join(BIN, "ministack")], env, "/_ministack/ready", port)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto():
    port = free_port()
    server = Server(
        "moto",
        [os.path.join(BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        clean_env(),
        "/moto-api/",
        port,
    )
    yield server
    server.stop()


def client(service: str, server: Server):
    return boto3.client(service, endpoint_url=server.url, region_name=REGION, **CREDS)


def zip_from(variable: str) -> bytes:
    path = os.environ.get(variable)
    if not path:
        pytest.fail(f"{variable} is not set: run tests/e2e/run.sh")
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture(scope="session")
def function_zip() -> bytes:
    """log-processor, as deployed."""
    return zip_from("LOGSIEVE_E2E_ZIP")


@pytest.fixture(scope="session")
def kinesis_zip() -> bytes:
    return zip_from("LOGSIEVE_E2E_KINESIS_ZIP")


@pytest.fixture(scope="session")
def firehose_zip() -> bytes:
    return zip_from("LOGSIEVE_E2E_FIREHOSE_ZIP")


@pytest.fixture
def receiver():
    """An OTLP/HTTP logs receiver on a free loopback port (otlp_receiver.py)."""
    r = OtlpReceiver()
    yield r
    r.stop()


@pytest.fixture
def proxy(ministack):
    """A proxy in front of ministack that can fail chosen Firehose PutRecordBatch entries."""
    p = FirehoseProxy(ministack.url)
    yield p
    p.stop()
