"""`loader readings` on a large table (issue 16): page 1 and page 1,000 of 1,000 rows, by key and by number,
and the CSV export of one device-month with its peak memory. Plain PostgreSQL 15.

    .venv/bin/python -m bench.readings_bench [--rows 10000000]

The sample is loaded and built, then battery_telemetry is filled with synthetic BatteryPowerW readings of
10 devices every 4 s (`--rows` in all), each device listed in dim_devices.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench.loader_bench import LOADER
from harness.databases import throwaway_postgres
from harness.dbt import run_dbt
from loader.landing import run_load
from loader.readings import ReadingsQuery, iter_readings
from loader.settings import ConnectionSettings
from loader.sources import DirectorySource

SAMPLE = Path(__file__).resolve().parents[1] / "data"
DEVICES = 10
START = datetime(2025, 1, 1, tzinfo=UTC)


def fill(settings: ConnectionSettings, rows: int) -> None:
    per_device = rows // DEVICES
    with psycopg.connect(settings.conninfo, autocommit=True) as connection:
        connection.execute(
            "insert into analytics.dim_devices (device_id, device_name, device_state, first_listed_at,"
            " last_listed_at, is_in_warning_state) select md5('device' || d)::uuid, 'Site ' || d, 'Ok', now(),"
            " now(), false from generate_series(1, %s) d",
            [DEVICES],
        )
        connection.execute(
            "insert into analytics.battery_telemetry (recorded_at, device_id, metric_name, value)"
            " select %s::timestamptz + make_interval(secs => 4 * p), md5('device' || d)::uuid, 'BatteryPowerW',"
            " (p %% 5000) - 2500 from generate_series(1, %s) d, generate_series(0, %s) p",
            [START, DEVICES, per_device - 1],
        )
        connection.execute("vacuum analyze analytics.battery_telemetry")


def timed_page(settings: ConnectionSettings, query: ReadingsQuery) -> tuple[float, int, datetime]:
    started = time.perf_counter()
    rows = list(iter_readings(settings, query))[1:]  # after the DeviceFound
    elapsed_ms = (time.perf_counter() - started) * 1000
    return elapsed_ms, len(rows), rows[-1].recorded_at  # type: ignore[union-attr]


# Runs a command and prints its peak RSS in kB: the loader's own, not the largest of this process's children.
PEAK_RSS_OF = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True);"
    " print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)"
)


def export_csv(settings: ConnectionSettings, start: datetime, days: int) -> tuple[float, float, str]:
    """Seconds, peak RSS (MB) and the closing line of `loader readings --format csv` over `days` days."""
    started = time.monotonic()
    with open("/dev/null", "w") as sink:
        completed = subprocess.run(
            [sys.executable, "-c", PEAK_RSS_OF, str(LOADER), "readings", "--database-url", settings.conninfo,
             "--device", "Site 3", "--metric", "BatteryPowerW", "--since", f"{start:%Y-%m-%d}",
             "--until", f"{start + timedelta(days=days):%Y-%m-%d}", "--format", "csv"],
            stdout=sink, stderr=subprocess.PIPE, text=True, check=True,
        )  # fmt: skip
    *notes, peak_kb = completed.stderr.strip().splitlines()
    return time.monotonic() - started, int(peak_kb) / 1024, notes[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    with throwaway_postgres() as settings, tempfile.TemporaryDirectory() as work:
        run_load(settings, DirectorySource(SAMPLE))
        run_dbt(settings, Path(work) / "dbt", "build")
        started = time.monotonic()
        fill(settings, args.rows)
        with psycopg.connect(settings.conninfo) as connection:
            total = connection.execute("select count(*) from analytics.battery_telemetry").fetchone()[0]  # type: ignore[index]
        filled_s = time.monotonic() - started
        print(f"battery_telemetry: {total} rows ({DEVICES} devices x 1 metric every 4 s), filled in {filled_s:.0f} s")

        query = ReadingsQuery(device="Site 3", metric="BatteryPowerW", page=1, page_size=1000)
        timed_page(settings, query)  # warm the cache as a user's second page would find it
        first_ms, count, _ = timed_page(settings, query)
        by_number_ms, _, _ = timed_page(settings, ReadingsQuery(**{**query.__dict__, "page": 1000}))
        _, _, before_last = timed_page(settings, ReadingsQuery(**{**query.__dict__, "page": 999}))
        by_key_ms, count_by_key, _ = timed_page(
            settings, ReadingsQuery(**{**query.__dict__, "page": None, "after": before_last})
        )
        print(
            f"page 1 of {count} rows: {first_ms:.1f} ms; page 1,000 by key (--after): {by_key_ms:.1f} ms "
            f"({count_by_key} rows); page 1,000 by number (--page 1000): {by_number_ms:.1f} ms"
        )

        for days in (1, 30):
            seconds, peak_mb, note = export_csv(settings, START + timedelta(days=10), days)
            print(f"CSV export of one device over {days} day(s): {note} in {seconds:.1f} s, peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
