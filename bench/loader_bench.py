"""Loader benchmark: landing throughput and peak memory. Not a test; run by hand and report the numbers.

    .venv/bin/python -m bench.loader_bench throughput [--devices 10 --days 30 --interval 30]
    .venv/bin/python -m bench.loader_bench memory [--megabytes 500]

`throughput` generates a fleet, then lands it with `loader load` into a throwaway plain PostgreSQL
cluster (default server settings) and into the embedded TimescaleDB, and prints MB/s and pieces/s.
`memory` generates one telemetry response of at least the given size and lands it, printing the
loader process's peak RSS. Generated data goes to bench/out/ (git-ignored) and is reused.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.databases import free_port, throwaway_postgres
from loader.embedded import EmbeddedServer
from loader.generate import FleetSpec, generate_fleet
from loader.settings import ConnectionSettings

OUT = Path(__file__).resolve().parent / "out"
LOADER = Path(sys.executable).parent / "loader"


def fleet(devices: int, days: float, interval: float, seed: int = 1) -> Path:
    folder = OUT / f"fleet-{devices}x{days:g}d-{interval:g}s-seed{seed}"
    if not (folder / "ground_truth.json").exists():
        started = time.monotonic()
        generate_fleet(FleetSpec(devices=devices, days=days, interval_s=interval, seed=seed), folder)
        print(f"generated {folder.name} in {time.monotonic() - started:.1f} s")
    return folder


def land(settings: ConnectionSettings, source: Path, label: str) -> dict:
    """Run `loader load` as a user would; returns its JSON summary plus wall time and peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    completed = subprocess.run(
        [str(LOADER), "load", str(source), "--database-url", settings.conninfo, "--format", "json", "--no-progress"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.monotonic() - started
    if completed.returncode not in (0, 3):
        raise SystemExit(f"{label}: loader failed: {completed.stdout}{completed.stderr}")
    summary = json.loads(completed.stdout)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    summary.update(wall_s=round(wall, 2), peak_rss_mb=round(peak_kb / 1024, 1) if peak_kb > before else None)
    megabytes = summary["bytes_read"] / 1e6
    print(
        f"{label}: {summary['pieces_landed']} pieces, {summary['points_landed']} points, {megabytes:.1f} MB in "
        f"{wall:.1f} s = {megabytes / wall:.1f} MB/s, {summary['pieces_landed'] / wall:.0f} pieces/s, "
        f"{summary['points_landed'] / wall / 1000:.0f} k points/s (peak RSS {summary['peak_rss_mb']} MB)"
    )
    return summary


def throughput(args: argparse.Namespace) -> None:
    source = fleet(args.devices, args.days, args.interval)
    size = sum(path.stat().st_size for path in (source / "telemetry").glob("*.json")) / 1e6
    print(f"fleet: {args.devices} devices x {args.days:g} days at {args.interval:g} s, {size:.0f} MB of telemetry")
    with throwaway_postgres() as settings:
        land(settings, source, "plain PostgreSQL 15, first load")
        land(settings, source, "plain PostgreSQL 15, re-run (all unchanged)")
    with tempfile.TemporaryDirectory() as state:
        server = EmbeddedServer(Path(state), free_port())
        server.start()
        try:
            embedded = ConnectionSettings(host=server.host, port=server.port, dbname="template1", user="postgres",
                                          password="postgres", sslmode="disable")  # fmt: skip
            land(embedded, source, "embedded TimescaleDB, first load")
        finally:
            server.stop()


def memory(args: argparse.Namespace) -> None:
    # One device with every metric writes about 6.8 MB per day at 4 s.
    days = max(1.0, round(args.megabytes / 6.5))
    source = fleet(1, days, 4.0, seed=3)
    [response] = list((source / "telemetry").glob("*.json"))
    print(f"response: {response.stat().st_size / 1e6:.0f} MB ({days:g} days of one device at 4 s)")
    with throwaway_postgres() as settings:
        land(settings, source, "plain PostgreSQL 15, one large response")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("throughput")
    run.add_argument("--devices", type=int, default=10)
    run.add_argument("--days", type=float, default=30)
    run.add_argument("--interval", type=float, default=30)
    run.set_defaults(handler=throughput)
    big = commands.add_parser("memory")
    big.add_argument("--megabytes", type=float, default=500)
    big.set_defaults(handler=memory)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    args.handler(args)


if __name__ == "__main__":
    main()
