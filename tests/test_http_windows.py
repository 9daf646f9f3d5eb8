"""Time windows and cursors for the HTTP source, and parallel workers, against a real HTTP server on
127.0.0.1 that honours the time range and a real PostgreSQL: backfills in windows, resuming after kill -9,
a routine run's lookback landing only the readings that came late."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from harness.dbt import BIN_DIR
from harness.http_api import FakeApi, serve, telemetry_requests
from harness.points import landed_points, points_in_files
from loader.generate import FleetSpec
from loader.sources.http import RateLimit
from tests.conftest import Backend, FleetCache, wait_for
from tests.helpers import invoke, load_args

pytestmark = pytest.mark.integration

FLEET_START = datetime(2026, 1, 1, tzinfo=UTC)
FLEET_DAYS = 3
BACKFILL = ["--since", "2026-01-01", "--until", "2026-01-04"]


@pytest.fixture(scope="module")
def fleet(fleets: FleetCache) -> Path:
    return fleets.get(FleetSpec(devices=3, days=FLEET_DAYS, interval_s=300, seed=5, start=FLEET_START, profile="field"))


def window_ends_landed(backend: Backend) -> dict[str, int]:
    """Per device, the latest `to` of a window whose response committed."""
    ends: dict[str, int] = {}
    with backend.connect() as connection:
        for (uri,) in connection.execute("select source_uri from raw.landed_files where source_uri like '%%to=%%'"):
            parts = urlsplit(uri)
            device = parts.path.rsplit("/", 1)[-1]
            ends[device] = max(ends.get(device, 0), int(parse_qs(parts.query)["to"][0]))
    return ends


def cursors(backend: Backend, scope_like: str = "%") -> dict[str, int]:
    with backend.connect() as connection:
        rows = connection.execute(
            "select device_id, (extract(epoch from landed_until) * 1000)::bigint from raw.fetch_cursors"
            " where scope like %s",
            [scope_like],
        ).fetchall()
    return dict(rows)


def test_a_backfill_in_windows_with_workers_lands_exactly_what_a_directory_load_lands(
    postgres_backend: Backend, fleet: Path
) -> None:
    api = FakeApi(fleet)
    with serve(api) as url:
        invoke([*load_args(postgres_backend.settings, url), *BACKFILL, "--window", "1d", "--concurrency", "3"])
        requests = telemetry_requests(api)
        again = invoke([*load_args(postgres_backend.settings, url), *BACKFILL, "--window", "1d"])

    assert len(requests) == 3 * FLEET_DAYS
    first_day = int(FLEET_START.timestamp() * 1000)
    assert sorted(parse_qs(urlsplit(request).query)["from"][0] for request in requests)[:3] == [str(first_day)] * 3
    assert landed_points(postgres_backend.settings) == points_in_files(fleet)
    # The backfill finished: running it again asks for nothing and lands nothing.
    assert len(telemetry_requests(api)) == len(requests)
    assert "Landed 0 pieces" in again.output
    end = int((FLEET_START + timedelta(days=FLEET_DAYS)).timestamp() * 1000)
    assert set(cursors(postgres_backend, "backfill%").values()) == {end}
    assert cursors(postgres_backend, "") == {}, "a backfill with an end of its own leaves the routine cursor alone"


def test_kill_9_in_a_parallel_backfill_then_rerun_lands_every_point_once(
    postgres_backend: Backend, fleet: Path
) -> None:
    api = FakeApi(fleet)
    api.hang_s = 0.15
    windows_per_device = FLEET_DAYS * 4
    with serve(api) as url:
        command = [str(BIN_DIR / "loader"), *load_args(postgres_backend.settings, url), *BACKFILL, "--window", "6h"]
        process = subprocess.Popen([*command, "--concurrency", "3"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        committed = "select count(*) from raw.landed_files where source_uri like '%%/telemetry/%%'"
        assert wait_for(lambda: postgres_backend.count(committed) >= 4, timeout_s=60)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

        windows_committed = postgres_backend.count(committed)
        assert 4 <= windows_committed < 3 * windows_per_device, "the kill came after the backfill ended"
        # Each device's cursor is the end of its last window that committed, and nothing else moved it.
        assert cursors(postgres_backend) == window_ends_landed(postgres_backend)

        requests_before = len(telemetry_requests(api))
        api.hang_s = 0
        completed = subprocess.run([*command, "--concurrency", "3"], capture_output=True, text=True, check=False)
        assert completed.returncode == 0, completed.stdout + completed.stderr

    # The rerun asked only for the windows that had not committed.
    assert len(telemetry_requests(api)) - requests_before == 3 * windows_per_device - windows_committed
    assert landed_points(postgres_backend.settings) == points_in_files(fleet)
    # The killed load's row counts what its workers committed (each adds its counts in its response's transaction).
    died = postgres_backend.scalar("select load_id from raw.load_log where status = 'interrupted'")
    assert postgres_backend.scalar("select pieces_landed from raw.load_log where load_id = %s", [died]) == (
        postgres_backend.scalar("select count(*) from raw.telemetry_pieces where load_id = %s", [died])
    )


def write_device(folder: Path, device_id: str, points: list[list[int | float]]) -> None:
    (folder / "telemetry").mkdir(parents=True, exist_ok=True)
    (folder / "assets").mkdir(exist_ok=True)
    assets = {"totalCount": 1, "items": [{"deviceId": device_id, "description": "Lookback", "state": "Ok"}]}
    (folder / "assets" / "assets.json").write_text(json.dumps(assets))
    series = [{"name": "StateOfChargePercentage", "data": points}]
    (folder / "telemetry" / f"{device_id}.json").write_text(json.dumps({"series": series}))


def test_a_routine_run_asks_from_the_cursor_less_the_lookback_and_lands_only_late_readings(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    device = "0b7d3a52-8d0e-4d36-9b0e-5f4a1c2d3e4f"
    now = int(time.time() * 1000)
    minute = 60_000
    on_time = [[now - k * minute, 20.0 + k / 2] for k in range(60, 1, -1) if k != 3]
    write_device(tmp_path, device, on_time)
    api = FakeApi(tmp_path)
    with serve(api) as url:
        first = invoke([*load_args(postgres_backend.settings, url, "--format", "json")])
        cursor = cursors(postgres_backend)[device]
        # A reading three minutes old reaches the vendor only now, plus one newer reading.
        write_device(tmp_path, device, sorted([*on_time, [now - 3 * minute, 21.5], [cursor + 1, 21.0]]))
        second = invoke([*load_args(postgres_backend.settings, url, "--format", "json", "--lookback", "5m")])

    first_request, second_request = (parse_qs(urlsplit(request).query) for request in telemetry_requests(api))
    assert "from" not in first_request, "with no cursor yet the first run asks for everything up to now"
    assert int(first_request["to"][0]) == cursor
    assert int(second_request["from"][0]) == cursor - 5 * minute
    assert json.loads(first.output)["points_landed"] == len(on_time)
    assert json.loads(second.output)["points_landed"] == 2, "the lookback's overlap lands only what is new"
    assert sum(landed_points(postgres_backend.settings).values()) == len(on_time) + 2
    assert cursors(postgres_backend)[device] > cursor


def test_range_parameters_take_other_names_and_iso_8601_times(postgres_backend: Backend, fleet: Path) -> None:
    api = FakeApi(fleet, range_params=("start", "end"), time_format="iso8601")
    with serve(api) as url:
        invoke(
            [
                *load_args(postgres_backend.settings, url), *BACKFILL, "--window", "1d",
                "--http-range-params", "start,end", "--http-time-format", "iso8601",
            ]
        )  # fmt: skip
    query = parse_qs(urlsplit(telemetry_requests(api)[0]).query)
    assert query["start"][0].endswith("T00:00:00.000Z")
    assert landed_points(postgres_backend.settings) == points_in_files(fleet)


def test_an_api_without_time_ranges_is_asked_for_whole_responses(postgres_backend: Backend, fleet: Path) -> None:
    api = FakeApi(fleet)
    with serve(api) as url:
        invoke([*load_args(postgres_backend.settings, url), "--http-range-params", "none"])
    assert all("?" not in request for request in telemetry_requests(api))
    assert landed_points(postgres_backend.settings) == points_in_files(fleet)


def test_a_backfill_of_a_directory_or_without_a_start_is_refused_in_one_sentence(
    postgres_backend: Backend, fleet: Path
) -> None:
    result = invoke([*load_args(postgres_backend.settings, str(fleet)), *BACKFILL], expected_exit=2)
    assert result.output.startswith(f"Error: Source {fleet} cannot be asked for a time range")
    result = invoke([*load_args(postgres_backend.settings, str(fleet)), "--until", "2026-01-04"], expected_exit=2)
    assert "--until needs --since" in result.output
    result = invoke([*load_args(postgres_backend.settings, str(fleet)), "--window", "a day"], expected_exit=2)
    assert "'a day' is not a duration" in result.output


def test_workers_on_the_embedded_database_run_as_one_and_say_so_once(timescaledb_backend: Backend) -> None:
    from tests.conftest import SAMPLE_DATA

    result = invoke([*load_args(timescaledb_backend.settings, str(SAMPLE_DATA)), "--concurrency", "4"])
    assert result.output.count("--concurrency 4 runs as 1") == 1
    assert "Landed 25 pieces" in result.output


def test_the_request_rate_limit_spaces_requests_across_threads() -> None:
    limit = RateLimit(20)
    started = time.monotonic()
    for _ in range(5):
        limit.wait()
    assert time.monotonic() - started >= 4 / 20


def test_a_window_without_readings_is_no_reject_and_moves_the_cursor(postgres_backend: Backend, fleet: Path) -> None:
    with serve(FakeApi(fleet)) as url:
        result = invoke([*load_args(postgres_backend.settings, url, "--since", "2025-12-31", "--until", "2026-01-01")])
    assert "Landed 0 pieces" in result.output
    assert postgres_backend.count("select count(*) from raw.quarantine") == 0
    assert set(cursors(postgres_backend).values()) == {int(FLEET_START.timestamp() * 1000)}
