"""The end-to-end slice: sample data through `loader load` and `dbt build` on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.dbt import run_dbt
from tests.conftest import SAMPLE_DATA, UTRECHT, Backend
from tests.helpers import invoke, load_args

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HEERLEN = "200e55ab-790b-4049-bf23-f84dc866dd32"
ZWOLLE = "499eba1c-bd0b-46db-a861-f8795fcbf02e"


def telemetry_counts(backend: Backend) -> dict[str, tuple[int, int]]:
    """Per device: (series, points) in battery_telemetry."""
    with backend.connect() as connection:
        rows = connection.execute(
            "select device_id::text, count(distinct metric_name), count(*)"
            " from analytics.battery_telemetry group by device_id"
        ).fetchall()
    return {device: (series, points) for device, series, points in rows}


def test_sample_lands_and_builds_into_battery_telemetry_on_both_backends(backend: Backend, tmp_path: Path) -> None:
    invoke(load_args(backend.settings, str(SAMPLE_DATA)))
    assert backend.scalar("select count(*) from raw.telemetry_pieces") == 25
    assert backend.scalar("select sum(point_count) from raw.telemetry_pieces") == 375

    run_dbt(backend.settings, tmp_path, "build")

    assert telemetry_counts(backend) == {UTRECHT: (14, 210), HEERLEN: (5, 75), ZWOLLE: (6, 90)}
    is_hypertable = (
        backend.scalar(
            "select exists (select 1 from pg_extension where extname = 'timescaledb')"
            " and exists (select 1 from timescaledb_information.hypertables"
            "             where hypertable_schema = 'analytics' and hypertable_name = 'battery_telemetry')"
        )
        if backend.is_timescaledb
        else False
    )
    assert is_hypertable is backend.is_timescaledb


def test_running_load_and_build_again_changes_nothing(backend: Backend, tmp_path: Path) -> None:
    invoke(load_args(backend.settings, str(SAMPLE_DATA)))
    run_dbt(backend.settings, tmp_path, "build")
    snapshot = (
        "select md5(string_agg(concat_ws('|', recorded_at, device_id, metric_name, value), ',' order by"
        " device_id, metric_name, recorded_at)) from analytics.battery_telemetry"
    )
    before = backend.scalar(snapshot)
    backend.run_policy_jobs()  # the sample is old: a real server compresses it before the next run

    second = invoke(load_args(backend.settings, str(SAMPLE_DATA)))
    assert "Landed 0 pieces" in second.output
    assert "4 files and 0 pieces unchanged" in second.output
    run_dbt(backend.settings, tmp_path, "build")

    assert backend.scalar("select count(*) from raw.telemetry_pieces") == 25
    assert backend.scalar(snapshot) == before
    assert backend.scalar("select count(*) from analytics.battery_telemetry") == 375
