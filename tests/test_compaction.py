"""Raw compaction: a series' small pieces of a past day become one piece, and raw still rebuilds the same data."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.dbt import run_dbt
from harness.http_api import FakeApi, serve
from harness.points import landed_points, points_in_files
from loader.generate import FleetSpec, generate_fleet
from tests.conftest import Backend
from tests.helpers import invoke, load_args

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 1, tzinfo=UTC)
CORE_CHECKSUM = (
    "select count(*), md5(string_agg(device_id::text || metric_name || recorded_at::text || value::text, ','"
    " order by device_id, metric_name, recorded_at)) from analytics.battery_telemetry"
)
# Plain pieces no latest reading points at, by series and day of their first reading: what compaction takes.
DUE_GROUPS = (
    "select count(*) as pieces from raw.telemetry_pieces as pieces where is_plain_numeric and not exists"
    " (select 1 from raw.latest_readings as latest where latest.piece_id = pieces.piece_id)"
    " group by device_id, metric_name, div(first_recorded_ms, 86400000)"
)


def land_polled(backend: Backend, fleet: Path, api: str, devices: int, days: int, seed: int) -> None:
    """Generate a field fleet from START into `fleet` (which `api` serves, reading it on request) and land it
    in three-hour windows: eight pieces per series and day, as a routine poll lands them."""
    generate_fleet(FleetSpec(devices=devices, days=days, interval_s=300, seed=seed, start=START, profile="field"),
                   fleet)  # fmt: skip
    until = START + timedelta(days=days)
    invoke(load_args(backend.settings, api, "--since", f"{START:%Y-%m-%d}", "--until", f"{until:%Y-%m-%d}",
                     "--window", "3h"))  # fmt: skip


def test_compaction_merges_each_series_day_into_one_piece_and_raw_rebuilds_the_same_telemetry(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    # Plain PostgreSQL only, to keep CI under its time limit: the same test passed on the embedded
    # TimescaleDB (63 s there; the compaction SQL and the staging filters are the same on both).
    backend = postgres_backend
    fleet = tmp_path / "fleet"
    work = tmp_path / "dbt"
    url = ["--database-url", backend.settings.conninfo]
    with serve(FakeApi(fleet)) as api:
        land_polled(backend, fleet, api, devices=2, days=2, seed=11)
        run_dbt(backend.settings, work, "build")
        # A correction: one reading sent again with another value, landed (and built) after the first.
        device, metric, recorded_ms = backend.row(
            "select device_id::text, metric_name, (extract(epoch from recorded_at) * 1000)::bigint"
            " from analytics.battery_telemetry where metric_name = 'BatteryPowerW' order by recorded_at limit 1"
        )
        correction = tmp_path / "correction"
        shutil.copytree(fleet / "assets", correction / "assets")
        (correction / "telemetry").mkdir()
        body = {"series": [{"name": metric, "data": [[recorded_ms, 4321.5]]}]}
        (correction / "telemetry" / f"{device}.json").write_text(json.dumps(body))
        invoke(load_args(backend.settings, str(correction)))
        run_dbt(backend.settings, work, "build")
        built = backend.row(CORE_CHECKSUM)
        files = points_in_files(fleet) + points_in_files(correction)
        assert landed_points(backend.settings) == files

        # Nothing is due while the pieces are younger than the compaction age.
        assert invoke(["compact", *url]).output.startswith("Merged 0 raw pieces into 0")
        backend.execute("update raw.telemetry_pieces set loaded_at = loaded_at - interval '3 days'")
        backend.execute("update raw.landed_files set landed_at = landed_at - interval '3 days'")
        groups = [size for (size,) in backend.rows(DUE_GROUPS)]
        merged, days = sum(size for size in groups if size > 1), sum(1 for size in groups if size > 1)
        assert days >= 16 and merged >= 6 * days  # most series-days hold eight pieces (some windows are empty)
        pieces_before = backend.scalar("select count(*) from raw.telemetry_pieces")
        assert invoke(["compact", "--dry-run", *url]).output.startswith(f"Would merge {merged} raw pieces into {days}")
        assert backend.scalar("select count(*) from raw.telemetry_pieces") == pieces_before

    # The next load compacts by default (here one that finds nothing new to land).
    summary = json.loads(invoke(load_args(backend.settings, str(correction), "--format", "json")).output)
    assert summary["compaction"]["pieces_merged"] == merged
    assert summary["compaction"]["series_days"] == days
    assert summary["compaction"]["http_file_records_removed"] >= 2 * 16
    assert invoke(["compact", *url]).output.startswith("Merged 0 raw pieces into 0")
    assert backend.scalar("select count(*) from raw.telemetry_pieces") == pieces_before - merged + days
    merged_from = "select sum(compacted_from_pieces) from raw.telemetry_pieces where compacted_from_pieces > 1"
    assert backend.scalar(merged_from) == merged
    assert max(size for (size,) in backend.rows(DUE_GROUPS)) == 1
    assert landed_points(backend.settings) == files  # every reading kept, none twice

    # A routine build finds nothing to transform; a rebuild from raw gives the same telemetry.
    run_dbt(backend.settings, work, "build")
    assert backend.scalar("select pending_pieces from analytics.pipeline_health") == 0
    assert backend.row(CORE_CHECKSUM) == built
    run_dbt(backend.settings, work, "build", "--full-refresh", "--vars", "{allow_full_refresh_of_history: true}")
    assert backend.row(CORE_CHECKSUM) == built
    assert (
        backend.scalar(
            "select value from analytics.battery_telemetry where device_id = %s and metric_name = %s"
            " and recorded_at = to_timestamp(%s / 1000.0)",
            [device, metric, recorded_ms],
        )
        == 4321.5
    )


def test_compaction_leaves_untransformed_recent_and_latest_reading_pieces_alone(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    backend = postgres_backend
    fleet = tmp_path / "fleet"
    url = ["--database-url", backend.settings.conninfo]
    with serve(FakeApi(fleet)) as api:
        land_polled(backend, fleet, api, devices=1, days=1, seed=12)
    result = invoke(["compact", *url], expected_exit=1)
    assert "Nothing to compact: no dbt build has transformed a raw piece" in result.output

    run_dbt(backend.settings, tmp_path / "dbt", "build")
    backend.execute("update raw.telemetry_pieces set loaded_at = loaded_at - interval '3 days'")
    backend.execute("update raw.admission_ledger set transformed_at = null"
                    " where metric_name = 'BatteryPowerW'")  # fmt: skip
    pointed_at = backend.scalar("select count(*) from raw.latest_readings")
    assert pointed_at > 0
    power_pieces = "select count(*) from raw.telemetry_pieces where metric_name = 'BatteryPowerW'"
    untransformed = backend.scalar(power_pieces)
    assert untransformed > 1
    invoke(["compact", "--older-than", "1d", *url])
    assert backend.scalar("select count(*) from raw.telemetry_pieces where compacted_from_pieces > 1") > 0
    assert backend.scalar(power_pieces + " and compacted_at is null") == untransformed
    assert (
        backend.scalar(
            "select count(*) from raw.latest_readings as latest"
            " inner join raw.telemetry_pieces as pieces"
            " on pieces.piece_id = latest.piece_id and pieces.compacted_at is null"
        )
        == pointed_at
    )
    # A day not yet over by the age is not due, however old its pieces.
    assert invoke(["compact", "--older-than", "3650d", *url]).output.startswith("Merged 0 raw pieces into 0")
