"""dbt build benchmark: points/s of a first build and of an incremental build adding one day, on plain
PostgreSQL (throwaway cluster, default settings) and on the embedded TimescaleDB, next to a binary COPY
of the same points into the same table (plain PostgreSQL only: COPY crashes the embedded server).

    .venv/bin/python -m bench.dbt_bench [--devices 10 --days 30 --interval 30] [--only postgres|embedded]
    .venv/bin/python -m bench.dbt_bench --profile field --interval 10

Prints one line per measurement; timings of battery_telemetry and of the degradation models come from
dbt's run_results.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench.fleets import count_points, split_by_time
from bench.loader_bench import OUT, land
from harness.databases import free_port, throwaway_postgres
from harness.dbt import run_dbt
from loader.embedded import EmbeddedServer
from loader.generate import FleetSpec, generate_fleet
from loader.settings import ConnectionSettings

# The models the degradation marts add to a build (names start with these).
DEGRADATION_MODELS = ("int_battery_", "int_device_", "int_capacity_", "battery_cycling_hourly", "fct_")


def split_fleet(devices: int, days: int, interval: float, profile: str = "lab") -> tuple[Path, Path, int]:
    """A fleet of days + 1 days, split into the first `days` and the last day. Returns both and the points."""
    whole = OUT / f"dbt-fleet-{'' if profile == 'lab' else profile + '-'}{devices}x{days + 1}d-{interval:g}s"
    start = datetime(2025, 1, 1, tzinfo=UTC)
    if not (whole / "assets").exists():
        spec = FleetSpec(devices=devices, days=days + 1, interval_s=interval, seed=2, start=start, profile=profile)
        generate_fleet(spec, whole)
    cut = int((start + timedelta(days=days)).timestamp() * 1000)
    history, last_day = split_by_time(whole, [cut], ["history", "last-day"])
    return history, last_day, count_points(history)


def build(settings: ConnectionSettings, work: Path, label: str, points: int) -> float:
    started = time.monotonic()
    run_dbt(settings, work, "build")
    wall = time.monotonic() - started
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    model = "model.battery_telemetry.battery_telemetry"
    model_s = next(result["execution_time"] for result in results if result["unique_id"] == model)
    degradation = {
        name: result["execution_time"]
        for result in results
        if result["unique_id"].startswith("model.")
        and (name := result["unique_id"].split(".")[-1]).startswith(DEGRADATION_MODELS)
    }
    print(
        f"{label}: dbt build {wall:.1f} s ({points / wall / 1000:.0f} k points/s); battery_telemetry model "
        f"{model_s:.1f} s ({points / model_s / 1000:.0f} k points/s); degradation models "
        f"{sum(degradation.values()):.1f} s ({100 * sum(degradation.values()) / wall:.0f} % of the build): "
        + ", ".join(f"{name} {seconds:.1f}" for name, seconds in sorted(degradation.items(), key=lambda i: -i[1])[:6])
    )
    return model_s


def copy_ceiling(settings: ConnectionSettings, points: int) -> None:
    """Binary COPY of battery_telemetry's rows into an empty copy of the table (same key and index)."""
    with psycopg.connect(settings.conninfo, autocommit=True) as connection:
        rows = connection.execute("select recorded_at, device_id, metric_name, value from analytics.battery_telemetry"
                                  " order by device_id, metric_name, recorded_at").fetchall()  # fmt: skip
        connection.execute("create table analytics.copy_ceiling (like analytics.battery_telemetry including all)")
        connection.execute("create unique index on analytics.copy_ceiling (device_id, metric_name, recorded_at)")
        started = time.monotonic()
        with (
            connection.cursor() as cursor,
            cursor.copy(
                "copy analytics.copy_ceiling (recorded_at, device_id, metric_name, value) from stdin (format binary)"
            ) as copy,
        ):
            copy.set_types(["timestamptz", "uuid", "text", "float8"])
            for row in rows:
                copy.write_row(row)
        wall = time.monotonic() - started
    print(
        f"binary COPY ceiling (plain PostgreSQL, same rows, same unique index): {wall:.1f} s "
        f"({len(rows) / wall / 1000:.0f} k rows/s)"
    )


def run_backend(name: str, settings_factory, history: Path, last_day: Path, points: int, day_points: int,  # type: ignore[no-untyped-def]
                baselines: bool = True) -> None:  # fmt: skip
    with settings_factory() as settings, tempfile.TemporaryDirectory() as work:
        land(settings, history, f"{name}: loader load, history")
        first = build(settings, Path(work), f"{name}: first build, {points} points", points)
        land(settings, last_day, f"{name}: loader load, one more day")
        incremental = build(settings, Path(work), f"{name}: incremental build, +{day_points} points", day_points)
        if not baselines:
            return
        if name == "plain PostgreSQL 15":
            copy_ceiling(settings, points)
    with settings_factory() as settings, tempfile.TemporaryDirectory() as work:
        land(settings, last_day, f"{name}: loader load, the one day alone")
        alone = build(settings, Path(work), f"{name}: first build of that day alone", day_points)
    print(
        f"{name}: incremental / first-build-of-the-day-alone (battery_telemetry model) = {incremental / alone:.2f}; "
        f"first build model time {first:.1f} s"
    )


class _Embedded:
    def __enter__(self) -> ConnectionSettings:
        self.folder = tempfile.TemporaryDirectory()
        self.server = EmbeddedServer(Path(self.folder.name), free_port())
        self.server.start()
        return ConnectionSettings(host=self.server.host, port=self.server.port, dbname="template1",
                                  user="postgres", password="postgres", sslmode="disable")  # fmt: skip

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self.folder.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--interval", type=float, default=30)
    parser.add_argument("--only", choices=["postgres", "embedded"])
    parser.add_argument("--profile", choices=["lab", "field"], default="lab")
    parser.add_argument("--no-baselines", action="store_true", help="skip the COPY ceiling and the day built alone")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    history, last_day, points = split_fleet(args.devices, args.days, args.interval, args.profile)
    day_points = count_points(last_day)
    print(f"fleet: {args.devices} devices, {args.days} days + 1 at {args.interval:g} s: {points} + {day_points} points")
    if args.only in (None, "postgres"):
        run_backend("plain PostgreSQL 15", throwaway_postgres, history, last_day, points, day_points,
                    not args.no_baselines)  # fmt: skip
    if args.only in (None, "embedded"):
        run_backend("embedded TimescaleDB", _Embedded, history, last_day, points, day_points, not args.no_baselines)


if __name__ == "__main__":
    main()
