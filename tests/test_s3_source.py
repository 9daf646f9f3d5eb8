"""The object-storage source against a real S3-API server on 127.0.0.1 (moto's standalone server) and a
real PostgreSQL: both layouts, skipping unchanged objects without downloading them, errors in one sentence."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.databases import free_port
from harness.object_storage import (
    NO_INSTANCE_METADATA,
    s3_client,
    s3_environment,
    s3_server,
    s3_server_checking_credentials,
    upload_folder,
)
from harness.points import landed_points, points_in_files
from loader.generate import FleetSpec, generate_fleet
from tests.conftest import SAMPLE_DATA, Backend
from tests.helpers import invoke, load_args

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with s3_server() as url:
        yield url


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("s3-fleet")
    generate_fleet(FleetSpec(devices=3, days=3, interval_s=300, seed=7, profile="field"), folder)
    return folder


def load_json(backend: Backend, source: str, endpoint: str, *args: str) -> dict:
    result = invoke([*load_args(backend.settings, source, "--format", "json", *args)], env=s3_environment(endpoint))
    return json.loads(result.output)


def test_the_sample_lands_from_a_bucket_as_from_the_directory_and_a_second_run_downloads_nothing(
    postgres_backend: Backend, endpoint: str
) -> None:
    upload_folder(endpoint, "sample", SAMPLE_DATA, prefix="vendor/2026")
    first = load_json(postgres_backend, "s3://sample/vendor/2026", endpoint)
    second = load_json(postgres_backend, "s3://sample/vendor/2026/", endpoint)

    assert (first["pieces_landed"], first["points_landed"], first["files_landed"]) == (25, 375, 4)
    assert landed_points(postgres_backend.settings) == points_in_files(SAMPLE_DATA)
    assert (second["files_unchanged"], second["bytes_read"], second["pieces_landed"]) == (4, 0, 0)
    from_directory = invoke(load_args(postgres_backend.settings, str(SAMPLE_DATA)))
    assert "Landed 0 pieces" in from_directory.output


def test_telemetry_split_into_day_objects_lands_every_point_once_and_only_a_changed_object_again(
    postgres_backend: Backend, endpoint: str, fleet: Path
) -> None:
    objects = upload_folder(endpoint, "by-day", fleet, by_day=True)
    first = load_json(postgres_backend, "s3://by-day", endpoint, "--concurrency", "3")
    assert first["files_landed"] == objects
    assert landed_points(postgres_backend.settings) == points_in_files(fleet)

    client = s3_client(endpoint)
    day_key = sorted(item["Key"] for item in client.list_objects_v2(Bucket="by-day", Prefix="telemetry/")["Contents"])[
        0
    ]
    day = json.loads(client.get_object(Bucket="by-day", Key=day_key)["Body"].read())
    day["series"][0]["data"].append([day["series"][0]["data"][-1][0] + 1000, 1.5])
    body = json.dumps(day).encode()
    client.put_object(Bucket="by-day", Key=day_key, Body=body)

    second = load_json(postgres_backend, "s3://by-day", endpoint)
    assert (second["files_unchanged"], second["files_landed"], second["bytes_read"]) == (objects - 1, 1, len(body))
    assert second["points_landed"] == len(day["series"][0]["data"])


def test_a_missing_bucket_an_unreachable_server_or_no_credentials_is_one_sentence(
    postgres_backend: Backend, endpoint: str
) -> None:
    missing = invoke(load_args(postgres_backend.settings, "s3://no-such-bucket"), 1, s3_environment(endpoint))
    assert missing.output == (
        f"Error: The bucket of s3://no-such-bucket does not exist (bucket 'no-such-bucket' at {endpoint}).\n"
    )
    unreachable = f"http://127.0.0.1:{free_port()}"
    result = invoke(load_args(postgres_backend.settings, "s3://sample"), 1, s3_environment(unreachable))
    assert result.output.startswith(
        f"Error: Object storage could not be reached for s3://sample (bucket 'sample' at {unreachable})"
    )
    assert len(result.output.strip().splitlines()) == 1
    no_credentials = {
        "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_PROFILE": None, "AWS_ENDPOINT_URL": endpoint,
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent", **NO_INSTANCE_METADATA,
    }  # fmt: skip
    result = invoke(load_args(postgres_backend.settings, "s3://sample"), 1, no_credentials)
    assert result.output.startswith("Error: No AWS credentials for s3://sample: set AWS_ACCESS_KEY_ID")


def test_credentials_the_server_refuses_are_one_sentence(postgres_backend: Backend) -> None:
    with s3_server_checking_credentials() as checking:
        result = invoke(load_args(postgres_backend.settings, "s3://fleet"), 1, s3_environment(checking))
    assert result.output == (
        "Error: Object storage refused access to s3://fleet (InvalidAccessKeyId); check the AWS credentials.\n"
    )
