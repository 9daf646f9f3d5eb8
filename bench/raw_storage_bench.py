"""Raw storage benchmark: what raw costs per reading when a routine poll lands it, before and after compaction.

A fleet is landed from the loopback vendor API in windows of 5 minutes (a poll every 5 minutes lands
the same pieces), 1 hour and 1 day, and built with dbt. Per window: raw bytes per point (the raw
schema plus dbt's admission ledger, one row per piece) as landed, then after `loader compact`. The
pieces are made to look older than the compaction age by moving their load times back three days (a
real deployment waits two days); VACUUM FULL then shows what the tables keep (a routine deployment
reuses the freed space for later loads instead). Plain PostgreSQL: the raw tables are the same on
TimescaleDB.

    .venv/bin/python -m bench.raw_storage_bench [--devices 10 --days 2 --interval 60 --windows 5m,1h,1d]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import psycopg

from bench.extraction_bench import FLEET_START, fleet, load
from bench.loader_bench import LOADER
from harness.databases import throwaway_postgres
from harness.dbt import run_dbt
from harness.http_api import FakeApi, serve
from loader.generate import FleetSpec
from loader.settings import ConnectionSettings

LEDGER = "raw.admission_ledger"
# Every raw table, the admission ledger among them.
RAW_BYTES = """
select coalesce(sum(pg_total_relation_size(relation.oid)), 0)
from pg_class as relation
inner join pg_namespace as namespace on namespace.oid = relation.relnamespace
where namespace.nspname = 'raw' and relation.relkind = 'r'
"""


def measure(settings: ConnectionSettings) -> tuple[int, int, int, int]:
    """Points in raw, pieces, raw bytes (with the ledger), bytes of telemetry_pieces alone."""
    with psycopg.connect(settings.conninfo, autocommit=True, prepare_threshold=None) as connection:
        row = connection.execute(
            f"select (select sum(point_count) from raw.telemetry_pieces), (select count(*) from raw.telemetry_pieces),"
            f" ({RAW_BYTES}), pg_total_relation_size('raw.telemetry_pieces')"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def run_window(folder: Path, days: int, window: str) -> None:
    until = FLEET_START + timedelta(days=days)
    with throwaway_postgres() as settings, serve(FakeApi(folder)) as url, tempfile.TemporaryDirectory() as work:
        _, wall = load(settings, url, "--since", f"{FLEET_START:%Y-%m-%d}", "--until", f"{until:%Y-%m-%d}",
                       "--window", window, "--concurrency", "2")  # fmt: skip
        run_dbt(settings, Path(work), "build")
        points, pieces, raw_bytes, piece_bytes = measure(settings)
        print(f"window {window}: {points} points in {pieces} pieces ({points / pieces:.1f} points a piece), landed in "
              f"{wall:.1f} s; raw {raw_bytes / points:.1f} bytes/point (telemetry_pieces {piece_bytes / points:.1f}, "
              f"{piece_bytes / pieces:.0f} bytes a piece)")  # fmt: skip
        with psycopg.connect(settings.conninfo, autocommit=True, prepare_threshold=None) as connection:
            connection.execute("update raw.telemetry_pieces set loaded_at = loaded_at - interval '3 days'")
            connection.execute("update raw.landed_files set landed_at = landed_at - interval '3 days'")
        started = time.monotonic()
        completed = subprocess.run([str(LOADER), "compact", "--no-progress", "--database-url", settings.conninfo],
                                   capture_output=True, text=True, check=True)  # fmt: skip
        compact_wall = time.monotonic() - started
        with psycopg.connect(settings.conninfo, autocommit=True, prepare_threshold=None) as connection:
            for table in ("raw.telemetry_pieces", "raw.landed_files", LEDGER):
                connection.execute(f"vacuum full {table}")
        points_after, pieces_after, raw_after, piece_after = measure(settings)
        assert points_after == points, "compaction must keep every reading"
        print(f"  after `loader compact` ({compact_wall:.1f} s: {completed.stdout.strip()})")
        print(f"  {pieces_after} pieces; raw {raw_after / points:.1f} bytes/point "
              f"(telemetry_pieces {piece_after / points:.1f})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--interval", type=float, default=60, help="battery power's reporting interval, s")
    parser.add_argument("--windows", default="5m,1h,1d")
    args = parser.parse_args()
    spec = FleetSpec(devices=args.devices, days=args.days, interval_s=args.interval, seed=5, start=FLEET_START,
                     profile="field")  # fmt: skip
    folder = fleet(f"polled-field-{args.devices}x{args.days}d-{args.interval:g}s", spec)
    print(f"fleet: {args.devices} devices x {args.days} days, field profile, power every {args.interval:g} s; "
          "plain PostgreSQL 15")  # fmt: skip
    for window in args.windows.split(","):
        run_window(folder, args.days, window)


if __name__ == "__main__":
    main()
