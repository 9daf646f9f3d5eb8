"""Extraction benchmark (issue 15): the HTTP source's windows, cursors and workers, and object storage.

1. Backfill of a fleet over the loopback vendor API (honouring from/to) in 1-day windows with
   --concurrency 4, killed with SIGKILL halfway and run again: does it land exactly the points the
   files hold, each once, asking again only for the windows that had not committed?
2. Landing throughput of that backfill with --concurrency 1, 4 and 8, on plain PostgreSQL and on the
   embedded TimescaleDB (which runs every load with one worker).
3. `--follow 5` against an API of 200 devices whose data reaches the present: requests, bytes and
   seconds per round.
4. Object storage: the fleet split into day objects on a real S3-API server (moto), landed twice.

    .venv/bin/python -m bench.extraction_bench [--devices 10 --days 30 --follow-devices 200]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.dbt_bench import _Embedded
from bench.fleets import count_points
from bench.loader_bench import LOADER, OUT
from harness.databases import throwaway_postgres
from harness.http_api import FakeApi, serve
from harness.object_storage import s3_environment, s3_server, upload_folder
from harness.points import landed_points, points_in_files
from loader.generate import FleetSpec, generate_fleet
from loader.settings import ConnectionSettings

FLEET_START = datetime(2026, 1, 1, tzinfo=UTC)


def fleet(name: str, spec: FleetSpec) -> Path:
    folder = OUT / name
    if not (folder / "assets").exists():
        generate_fleet(spec, folder)
    return folder


def load(settings: ConnectionSettings, *args: str, env: dict[str, str] | None = None) -> tuple[list[dict], float]:
    """`loader load ARGS --format json`: the summary of each round, and the wall time."""
    started = time.monotonic()
    completed = subprocess.run(
        [str(LOADER), "load", *args, "--database-url", settings.conninfo, "--format", "json", "--no-progress"],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    if completed.returncode != 0:
        raise SystemExit(f"loader {' '.join(args)} failed: {completed.stdout}{completed.stderr}")
    wall = time.monotonic() - started
    if "--follow" not in args:
        return [json.loads(completed.stdout)], wall
    return [json.loads(line) for line in completed.stdout.splitlines()], wall  # one summary a line


def backfill_args(url: str, days: int) -> list[str]:
    until = FLEET_START + timedelta(days=days)
    return [url, "--since", f"{FLEET_START:%Y-%m-%d}", "--until", f"{until:%Y-%m-%d}", "--window", "1d"]


def scalar(settings: ConnectionSettings, query: str) -> Any:
    with psycopg.connect(settings.conninfo, autocommit=True, prepare_threshold=None) as connection:
        row = connection.execute(query).fetchone()
    return row[0] if row else None


def kill_and_resume(folder: Path, devices: int, days: int) -> None:
    windows = devices * days
    committed_query = "select count(*) from raw.landed_files where source_uri like '%/telemetry/%'"
    with throwaway_postgres() as settings, serve(FakeApi(folder)) as url:
        command = [str(LOADER), "load", *backfill_args(url, days), "--concurrency", "4", "--no-progress",
                   "--database-url", settings.conninfo]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while process.poll() is None and (scalar(settings, "select to_regclass('raw.landed_files')") is None
                                          or scalar(settings, committed_query) < windows // 2):  # fmt: skip
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        committed = scalar(settings, committed_query)
        rounds, wall = load(settings, *backfill_args(url, days), "--concurrency", "4")
        exact = landed_points(settings) == points_in_files(folder)
    print(
        f"backfill {devices} devices x {days} days in 1-day windows, --concurrency 4, plain PostgreSQL: killed "
        f"after {committed} of {windows} windows committed; the re-run asked for {rounds[0]['files_seen'] - 1} "
        f"windows (+1 assets page) and landed {rounds[0]['points_landed']} points in {wall:.1f} s; raw holds exactly "
        f"the files' points, each once: {exact}"
    )


def throughput(name: str, settings_factory: Callable[[], Any], folder: Path, days: int, levels: list[int]) -> None:
    points = count_points(folder)
    for level in levels:
        with settings_factory() as settings, serve(FakeApi(folder)) as url:
            rounds, wall = load(settings, *backfill_args(url, days), "--concurrency", str(level))
        summary = rounds[0]
        print(
            f"{name}, --concurrency {level}: {summary['files_seen']} responses, {points} points, "
            f"{summary['bytes_read'] / 1e6:.1f} MB in {wall:.1f} s = {points / wall / 1000:.0f} k points/s, "
            f"{summary['bytes_read'] / 1e6 / wall:.1f} MB/s"
            + (f" ({summary['warnings'][0]})" if summary["warnings"] else "")
        )


def follow(devices: int, rounds: int) -> None:
    # Power every 10 s for the last two hours and half an hour beyond now: the API serves what lies
    # before now, so each round finds a few new readings per device, as from a live fleet.
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    spec = FleetSpec(devices=devices, days=2.5 / 24, interval_s=10, seed=9, start=now - timedelta(hours=2),
                     profile="field")  # fmt: skip
    folder = OUT / f"follow-field-{devices}-devices-10s-from-{spec.start:%Y%m%d%H%M}"
    if not (folder / "assets").exists():
        generate_fleet(spec, folder)
    with throwaway_postgres() as settings, serve(FakeApi(folder)) as url:
        summaries, _ = load(settings, url, "--follow", "5s", "--max-rounds", str(rounds))
    print(f"--follow 5 against {devices} devices (field profile, power every 10 s, up to now), plain PostgreSQL:")
    for number, summary in enumerate(summaries, start=1):
        print(
            f"  round {number}: {summary['files_seen']} requests, {summary['bytes_read'] / 1e3:.0f} kB, "
            f"{summary['points_landed']} points landed ({summary['pieces_unchanged']} pieces all landed before) "
            f"in {summary['seconds']:.2f} s"
        )


def object_storage(folder: Path) -> None:
    with s3_server() as endpoint, throwaway_postgres() as settings:
        objects = upload_folder(endpoint, "fleet", folder, by_day=True)
        environment = s3_environment(endpoint)
        first, first_wall = load(settings, "s3://fleet", env=environment)
        second, second_wall = load(settings, "s3://fleet", env=environment)
    print(
        f"object storage (moto's S3 server, {objects} objects: telemetry/<device>/<day>.json), plain PostgreSQL: "
        f"first run {first[0]['points_landed']} points, {first[0]['bytes_read'] / 1e6:.1f} MB in {first_wall:.1f} s; "
        f"second run {second[0]['files_unchanged']} objects unchanged, {second[0]['bytes_read']} bytes downloaded, "
        f"{second_wall:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--follow-devices", type=int, default=200)
    parser.add_argument("--follow-rounds", type=int, default=8)
    parser.add_argument("--only", choices=["backfill", "throughput", "follow", "s3"])
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    spec = FleetSpec(devices=args.devices, days=args.days, interval_s=300, seed=3, start=FLEET_START, profile="field")
    folder = fleet(f"extraction-field-{args.devices}x{args.days}d-300s", spec)
    print(f"fleet: {args.devices} devices x {args.days} days, field profile, {count_points(folder)} points")
    if args.only in (None, "backfill"):
        kill_and_resume(folder, args.devices, args.days)
    if args.only in (None, "throughput"):
        throughput("plain PostgreSQL 15", throwaway_postgres, folder, args.days, [1, 4, 8])
        throughput("embedded TimescaleDB", _Embedded, folder, args.days, [1])
    if args.only in (None, "follow"):
        follow(args.follow_devices, args.follow_rounds)
    if args.only in (None, "s3"):
        object_storage(folder)


if __name__ == "__main__":
    main()
