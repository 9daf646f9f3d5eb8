"""A real S3-API server on 127.0.0.1 (moto's standalone server) and a way to put an API-shaped folder in it."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from harness.databases import free_port

# Credentials the server accepts (it checks none); a client without any gets botocore's own error.
S3_ENVIRONMENT = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
# Never ask a cloud instance-metadata address for credentials: the tests talk to loopback only.
NO_INSTANCE_METADATA = {"AWS_EC2_METADATA_DISABLED": "true"}


@contextmanager
def s3_server() -> Iterator[str]:
    """Start the server on a free loopback port; yields its endpoint URL."""
    port = free_port()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@contextmanager
def s3_server_checking_credentials() -> Iterator[str]:
    """A server of its own process that, unlike the default, checks every request's credentials (moto's
    IAM authentication: no key is known to it, so every request is refused as a real S3 refuses a bad key)."""
    port = free_port()
    environment = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
        region_name="us-east-1",
    )  # fmt: skip


def upload_folder(endpoint: str, bucket: str, folder: Path, prefix: str = "", by_day: bool = False) -> int:
    """Put an API-shaped folder (assets/, telemetry/) into a new bucket under `prefix`; with `by_day`,
    each device's telemetry as telemetry/<deviceId>/<YYYY-MM-DD>.json. Returns the objects written."""
    client = s3_client(endpoint)
    client.create_bucket(Bucket=bucket)
    key_prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    written = 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.parts[len(folder.parts)] not in ("assets", "telemetry"):
            continue
        relative = path.relative_to(folder).as_posix()
        if by_day and relative.startswith("telemetry/") and path.suffix == ".json":
            for day, body in _split_by_day(path.read_bytes()).items():
                client.put_object(Bucket=bucket, Key=f"{key_prefix}telemetry/{path.stem}/{day}.json", Body=body)
                written += 1
            continue
        client.put_object(Bucket=bucket, Key=key_prefix + relative, Body=path.read_bytes())
        written += 1
    return written


def _split_by_day(body: bytes) -> dict[str, bytes]:
    days: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for series in json.loads(body)["series"]:
        for point in series["data"]:
            day = datetime.fromtimestamp(point[0] / 1000, UTC).strftime("%Y-%m-%d")
            days[day][series["name"]].append(point)
    return {
        day: json.dumps({"series": [{"name": name, "data": data} for name, data in named.items()]}).encode()
        for day, named in sorted(days.items())
    }


def s3_environment(endpoint: str) -> dict[str, str]:
    """The environment a loader needs to reach the server: its endpoint and credentials."""
    return {**os.environ, **S3_ENVIRONMENT, **NO_INSTANCE_METADATA, "AWS_ENDPOINT_URL": endpoint}
