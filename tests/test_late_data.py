"""Late data on TimescaleDB once its policies have run: a fleet's history landed and built in steps, and
one device's backlog longer than a chunk interval plus `compress_after`, with every refresh,
compression and retention job run between the steps as a real server's background worker would.

TimescaleDB stops a statement that decompresses more rows than
`timescaledb.max_tuples_decompressed_per_dml_transaction` (default 100,000): 500 devices at 4 s met
that limit on a native server. The test lowers the limit so that 200 devices at 30 minutes meet it
the same way (every device's newest compressed batch of int_battery_samples is rewritten), and runs
on the embedded server and, where NATIVE_TSDB_BIN is set, on a native one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.background_jobs import compressed_chunk_count
from harness.dbt import run_dbt
from loader.generate import FleetSpec
from loader.metrics import BATTERY_POWER, SOC
from tests.conftest import Backend, FleetCache
from tests.helpers import invoke, load_args
from tests.test_dbt_core import Expected, assert_incremental_models_equal_a_rebuild, rows

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEVICES = 200
DAY_MS = 86_400_000
# Low enough that rewriting one compressed batch (about 72 rows a day here) of each of 200 devices
# exceeds it, as one batch (up to 1,000 rows) of each of 500 devices exceeded the default.
DECOMPRESSION_LIMIT = 5_000
LATE_VARS = (
    "{telemetry_chunk_interval: '1 day', telemetry_compress_after: '6 hours', derived_compress_after: '6 hours', "
    "low_soc_max_age: '4 days'}"
)
KEPT_METRICS = {SOC, BATTERY_POWER, "BatteryImportKwh", "BatteryExportKwh", "GridPowerW-mainmeter"}


@pytest.fixture(scope="module")
def fleet(fleets: FleetCache) -> tuple[Path, int]:
    """200 devices, 2 days at 30 minutes ending at yesterday's midnight, five metrics."""
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    folder = fleets.get(FleetSpec(devices=DEVICES, days=2, interval_s=1800, seed=25, start=start))
    return folder, int(start.timestamp() * 1000)


def write_slice(fleet: Path, out: Path, windows: dict[str, tuple[int, int]], default: tuple[int, int] | None) -> Path:
    """A directory source holding, per device, its readings in [start, end) (`windows`, else `default`)."""
    (out / "telemetry").mkdir(parents=True)
    (out / "assets").symlink_to(fleet / "assets")
    for path in sorted((fleet / "telemetry").glob("*.json")):
        window = windows.get(path.stem, default)
        if window is None:
            continue
        body = json.loads(path.read_text())
        series = [
            {"name": entry["name"], "data": [point for point in entry["data"] if window[0] <= point[0] < window[1]]}
            for entry in body["series"]
            if entry["name"] in KEPT_METRICS
        ]
        (out / "telemetry" / path.name).write_text(json.dumps({"series": [s for s in series if s["data"]]}))
    return out


@contextmanager
def decompression_limit(backend: Backend, tuples: int) -> Iterator[None]:
    """The server's decompression limit lowered for this test's connections (and, on the embedded server,
    its one shared session), restored after."""
    guc = "timescaledb.max_tuples_decompressed_per_dml_transaction"
    backend.execute(f'alter database "{backend.settings.dbname}" set {guc} = {tuples}')
    if backend.is_embedded:
        backend.execute(f"set {guc} = {tuples}")
    try:
        yield
    finally:
        backend.execute(f'alter database "{backend.settings.dbname}" reset {guc}')
        if backend.is_embedded:
            backend.execute(f"reset {guc}")


def test_history_built_in_steps_and_a_late_backlog_equal_one_build_once_policies_have_compressed_chunks(
    compressing_backend: Backend, fleet: tuple[Path, int], tmp_path: Path
) -> None:
    backend = compressing_backend
    folder, start_ms = fleet
    devices = sorted(path.stem for path in (folder / "telemetry").glob("*.json"))
    assert len(devices) == DEVICES
    late_device = devices[0]
    outage = (start_ms + DAY_MS // 4, start_ms + 7 * DAY_MS // 4)  # 36 h: more than a chunk plus compress_after
    steps = [
        # Day 1 for the fleet; the late device reports until its outage starts.
        write_slice(folder, tmp_path / "day1", {late_device: (start_ms, outage[0])}, (start_ms, start_ms + DAY_MS)),
        # Day 2; the late device resumes after its outage, without backfill.
        write_slice(
            folder,
            tmp_path / "day2",
            {late_device: (outage[1], start_ms + 2 * DAY_MS)},
            (start_ms + DAY_MS, start_ms + 2 * DAY_MS),
        ),
        # The late device's backlog, into chunks compressed a build ago.
        write_slice(folder, tmp_path / "backlog", {late_device: outage}, None),
    ]
    expected = Expected()
    work = tmp_path / "dbt"
    with decompression_limit(backend, DECOMPRESSION_LIMIT):
        for number, step in enumerate(steps, start=1):
            invoke(load_args(backend.settings, str(step)))
            built = run_dbt(backend.settings, work, "build", "--vars", LATE_VARS, check=False)
            assert built.returncode == 0, f"build after step {number} failed:\n{built.stdout[-6000:]}"
            expected.land(step)
            assert backend.run_policy_jobs() >= 3
            # Both days' chunks are compressed from the first step on that holds them.
            assert compressed_chunk_count(backend.settings, "battery_telemetry") == min(number, 2)
            assert compressed_chunk_count(backend.settings, "int_battery_samples") >= 1

    # Every reading reached the core, the backlog's included.
    core = "select device_id::text, metric_name, (extract(epoch from recorded_at) * 1000)::bigint, value"
    landed = {
        (device, metric, ms): value
        for device, metric, ms, value in rows(backend, f"{core} from analytics.battery_telemetry")
    }
    assert landed == expected.values
    hourly = {(device, metric, int(hour)): (low, high, count) for device, metric, hour, low, high, count in rows(
        backend, "select device_id::text, metric_name, extract(epoch from hour_start) / 3600, value_min, value_max,"
                 " reading_count from analytics.battery_telemetry_hourly")}  # fmt: skip
    assert hourly == expected.hourly()

    # The backlog's days reach the daily marts: the late device has as many hours observed as its peers.
    day_hours = dict(rows(backend, "select device_id::text, sum(day_hours) from analytics.fct_battery_daily"
                                   " where day_hours is not null group by device_id"))  # fmt: skip
    assert day_hours[late_device] >= 0.95 * max(day_hours.values())

    # The backlog raised no stale alert: the newest reading of each device decides.
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    low = {row[0] for row in rows(backend, "select device_id::text from analytics.alert_low_soc")}
    assert low == expected.low_soc_devices(now_ms, max_age_ms=4 * DAY_MS)

    # Built in steps with compression between them, everything equals one build from scratch.
    assert_incremental_models_equal_a_rebuild(backend, work, min_samples=DEVICES * 48, test_vars=LATE_VARS)
