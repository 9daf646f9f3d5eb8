"""The HTTP source against a real HTTP server on 127.0.0.1: paging, retries, and giving up clearly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.databases import free_port
from harness.http_api import FakeApi, serve, telemetry_requests
from loader.errors import LoaderError
from loader.landing import run_load
from loader.sources import HttpSettings, HttpSource
from tests.conftest import SAMPLE_DATA, UTRECHT, Backend
from tests.helpers import invoke, load_args

pytestmark = pytest.mark.integration

FAST_RETRIES = HttpSettings(connect_timeout_s=1, read_timeout_s=1, max_attempts=3, backoff_s=0.01)


def test_http_source_lands_the_same_pieces_as_the_directory(postgres_backend: Backend) -> None:
    api = FakeApi(SAMPLE_DATA)
    with serve(api) as url:
        result = invoke(load_args(postgres_backend.settings, url))
    assert "Landed 25 pieces (375 points) from 4 files" in result.output
    again = invoke(load_args(postgres_backend.settings, str(SAMPLE_DATA)))
    assert "Landed 0 pieces" in again.output
    assert postgres_backend.scalar("select count(*) from raw.telemetry_pieces") == 25


def test_assets_are_paged_until_total_count_is_reached(postgres_backend: Backend) -> None:
    api = FakeApi(SAMPLE_DATA, max_page_size=2)
    with serve(api) as url:
        summary = run_load(postgres_backend.settings, HttpSource(url, FAST_RETRIES))
    assert [request for request in api.requests if request.startswith("/assets")] == [
        "/assets?page=1&pageSize=500",
        "/assets?page=2&pageSize=2",
    ]
    assert postgres_backend.scalar("select sum(item_count) from raw.assets_responses") == 3
    assert summary.pieces_landed == 25


def test_server_errors_and_rate_limits_are_retried_until_the_server_answers(postgres_backend: Backend) -> None:
    api = FakeApi(SAMPLE_DATA)
    api.faults[f"/telemetry/{UTRECHT}"] = [503, 429]
    api.faults["/assets"] = [500]
    with serve(api) as url:
        summary = run_load(postgres_backend.settings, HttpSource(url, FAST_RETRIES))
    assert len(telemetry_requests(api, UTRECHT)) == 3
    assert summary.status == "succeeded"
    assert summary.pieces_landed == 25


def test_a_server_that_never_answers_is_given_up_on_with_a_clear_error(postgres_backend: Backend) -> None:
    api = FakeApi(SAMPLE_DATA)
    api.hang_s = 3
    settings = HttpSettings(connect_timeout_s=1, read_timeout_s=0.3, max_attempts=2, backoff_s=0.01)
    started = time.monotonic()
    with serve(api) as url, pytest.raises(LoaderError) as raised:
        run_load(postgres_backend.settings, HttpSource(url, settings))
    assert time.monotonic() - started < 3
    assert raised.value.message == (
        f"The API kept failing for {url}assets?page=1&pageSize=500: no answer within the timeout after 2 attempts."
    )
    assert postgres_backend.scalar("select status from raw.load_log") == "failed"


def test_a_server_that_keeps_failing_exits_1_with_one_sentence(postgres_backend: Backend) -> None:
    api = FakeApi(SAMPLE_DATA)
    api.faults["/assets"] = [503] * 10
    with serve(api) as url:
        result = invoke(
            [*load_args(postgres_backend.settings, url), "--http-attempts", "2", "--http-timeout", "1s"],
            expected_exit=1,
        )
    assert result.output.strip().startswith("Error: The API kept failing for")
    assert result.output.strip().endswith("HTTP 503 after 2 attempts.")


def test_a_refused_connection_exits_1(postgres_backend: Backend) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    result = invoke([*load_args(postgres_backend.settings, url), "--http-attempts", "1"], expected_exit=1)
    assert "Error: The API kept failing for" in result.output
    # The reason whole, without urllib3's wrapping objects.
    assert "connection failed (Failed to establish a new connection: [Errno 111] Connection refused)" in result.output
    assert "HTTPConnection(" not in result.output and "..." not in result.output


def test_a_device_without_telemetry_on_the_server_is_a_warning(postgres_backend: Backend, tmp_path: Path) -> None:
    api = FakeApi(SAMPLE_DATA)
    api.faults[f"/telemetry/{UTRECHT}"] = [404]
    with serve(api) as url:
        summary = run_load(postgres_backend.settings, HttpSource(url, FAST_RETRIES))
    assert summary.pieces_landed == 11
    assert any(warning.startswith(f"no telemetry for device {UTRECHT}") for warning in summary.warnings)


def test_load_one_device_only(postgres_backend: Backend) -> None:
    api = FakeApi(SAMPLE_DATA)
    with serve(api) as url:
        invoke([*load_args(postgres_backend.settings, url), "--device", UTRECHT])
    assert [request.split("?")[0] for request in telemetry_requests(api)] == [f"/telemetry/{UTRECHT}"]
    assert postgres_backend.scalar("select count(distinct device_id) from raw.telemetry_pieces") == 1
