"""`loader readings` on a real PostgreSQL with the sample built by dbt: a device by id or name, time order,
CSV / JSON / table, pages by number and by key agreeing, and readings landed but not transformed yet."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

from loader.settings import ConnectionSettings
from tests.conftest import UTRECHT, Backend, _fresh_postgres_database
from tests.helpers import invoke, load_args

pytestmark = [pytest.mark.integration, pytest.mark.slow]

METRIC = "BatteryPowerW"


@pytest.fixture(scope="module")
def built(postgres_cluster: ConnectionSettings, sample_built_template: str) -> Backend:
    """A copy of the sample data built, which the tests here only read."""
    return Backend("postgres", _fresh_postgres_database(postgres_cluster, template=sample_built_template))


def readings(backend: Backend, *args: str, expected_exit: int = 0) -> tuple[str, str]:
    result = invoke(["readings", "--database-url", backend.settings.conninfo, "--metric", METRIC, *args], expected_exit)
    return result.stdout, result.stderr


def expected_rows(backend: Backend) -> list[tuple]:
    with backend.connect() as connection:
        return connection.execute(
            "select recorded_at, value from analytics.battery_telemetry where device_id = %s and metric_name = %s"
            " order by recorded_at",
            [UTRECHT, METRIC],
        ).fetchall()


def test_every_reading_of_a_device_named_as_in_the_assets_streams_as_csv_in_time_order(built: Backend) -> None:
    stdout, stderr = readings(built, "--device", "Fudura Utrecht", "--format", "csv")
    rows = list(csv.reader(io.StringIO(stdout)))
    expected = expected_rows(built)
    assert rows[0] == ["recorded_at", "value"]
    assert [(row[0], float(row[1])) for row in rows[1:]] == [(at.isoformat(), value) for at, value in expected]
    assert stderr.startswith(f"{len(expected)} readings of {METRIC} for Fudura Utrecht ({UTRECHT})")


def test_pages_by_number_and_by_key_are_the_same_rows(built: Backend) -> None:
    expected = expected_rows(built)
    first, first_note = readings(built, "--device", UTRECHT, "--page", "1", "--page-size", "4", "--format", "json")
    second, _ = readings(built, "--device", UTRECHT, "--page", "2", "--page-size", "4", "--format", "json")
    after = first_note.split("next page: --after ")[1].rstrip(".\n")
    by_key, _ = readings(built, "--device", UTRECHT, "--after", after, "--page-size", "4", "--format", "json")

    assert [row["value"] for row in json.loads(first)] == [value for _, value in expected[:4]]
    assert json.loads(second) == json.loads(by_key)
    assert [row["value"] for row in json.loads(second)] == [value for _, value in expected[4:8]]


def test_a_time_range_and_the_table_format(built: Backend) -> None:
    expected = expected_rows(built)
    start, end = expected[2][0], expected[5][0]
    stdout, _ = readings(
        built, "--device", UTRECHT, "--since", f"{start:%Y-%m-%dT%H:%M:%S}", "--until", f"{end:%Y-%m-%dT%H:%M:%S}"
    )
    lines = stdout.strip().splitlines()
    assert lines[0].startswith("recorded_at (UTC)")
    assert len(lines) == 1 + 3


def test_an_unknown_device_is_one_sentence(built: Backend) -> None:
    _, stderr = readings(built, "--device", "Nowhere", expected_exit=1)
    assert stderr == "Error: No device 'Nowhere': give a device id or a name from the assets list (dim_devices).\n"


def test_an_unknown_metric_names_the_devices_metrics_and_exits_2(built: Backend) -> None:
    result = invoke(["readings", "--database-url", built.settings.conninfo, "--device", UTRECHT,
                     "--metric", "BatteryPowerKW"], expected_exit=2)  # fmt: skip
    expected = "Invalid value for --metric: Fudura Utrecht has no readings of 'BatteryPowerKW'; its metrics:"
    assert expected in result.stderr
    assert METRIC in result.stderr.split("its metrics:")[1]
    # A known metric with nothing in the range is an answer, not an error.
    _, stderr = readings(built, "--device", UTRECHT, "--since", "2001-01-01", "--until", "2001-01-02")
    assert stderr.startswith(f"0 readings of {METRIC}")


def test_a_start_after_the_end_is_a_usage_error(built: Backend) -> None:
    _, stderr = readings(built, "--device", UTRECHT, "--since", "2026-02-01", "--until", "2026-01-01", expected_exit=2)
    assert "--since 2026-02-01T00:00:00 is not before --until 2026-01-01T00:00:00." in stderr


def test_readings_not_transformed_yet_come_only_when_asked_and_are_marked(built: Backend, tmp_path: Path) -> None:
    now_ms = int(time.time() * 1000)
    folder = tmp_path / "late"
    (folder / "telemetry").mkdir(parents=True)
    series = [{"name": METRIC, "data": [[now_ms, 1234.5]]}]
    (folder / "telemetry" / f"{UTRECHT}.json").write_text(json.dumps({"series": series}))
    invoke(load_args(built.settings, str(folder)))

    plain, _ = readings(built, "--device", UTRECHT, "--format", "csv")
    with_raw, note = readings(built, "--device", UTRECHT, "--format", "csv", "--include-untransformed")
    rows = list(csv.reader(io.StringIO(with_raw)))
    assert "1234.5" not in plain
    assert rows[0] == ["recorded_at", "value", "source"]
    assert rows[-1][1:] == ["1234.5", "landed, not transformed yet"]
    assert ", 1 of them landed but not transformed yet" in note
