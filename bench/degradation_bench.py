"""Degradation marts: how close they come to the simulated truth, and what they cost to build.

Generates a fleet with `loader generate` (device 1 gets no device_specs row, so its reference capacity
is a baseline), lands it, runs `dbt build` on a private copy of the project, and prints the
recovered-vs-true table and the build time of the degradation models (from run_results.json).

    python -m bench.degradation_bench --devices 4 --days 181 --interval 60 --only postgres
    python -m bench.degradation_bench --profile field --devices 3 --days 181 --interval 10
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import psycopg

from bench.dbt_bench import DEGRADATION_MODELS, _Embedded
from bench.loader_bench import OUT, land
from harness.databases import throwaway_postgres
from harness.dbt import run_dbt
from harness.degradation_truth import compare, format_table, project_with_specs
from loader.generate import FleetSpec, generate_fleet


def run_backend(name: str, settings_factory, fleet: Path, without_spec: int) -> None:  # type: ignore[no-untyped-def]
    truth = json.loads((fleet / "ground_truth.json").read_text())["devices"]
    with settings_factory() as settings, tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        project = project_with_specs(fleet, work / "project", without_spec)
        land(settings, fleet, f"{name}: loader load")
        started = time.monotonic()
        run_dbt(settings, work, "build", project_dir=project)
        wall = time.monotonic() - started
        results = json.loads((work / "target" / "run_results.json").read_text())["results"]
        timings = {
            result["unique_id"].split(".")[-1]: result["execution_time"]
            for result in results
            if result["unique_id"].startswith("model.")
            and result["unique_id"].split(".")[-1].startswith(DEGRADATION_MODELS)
        }
        print(f"{name}: dbt build {wall:.1f} s; degradation models {sum(timings.values()):.1f} s:")
        print("  " + ", ".join(f"{model} {seconds:.1f} s" for model, seconds in sorted(timings.items())))
        with psycopg.connect(settings.conninfo, autocommit=True, prepare_threshold=None) as conn:
            print(format_table(compare(conn, truth)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--days", type=float, default=181)
    parser.add_argument("--interval", type=float, default=300)
    parser.add_argument("--without-spec", type=int, default=1, help="index of the device without a spec row")
    parser.add_argument("--only", choices=["postgres", "embedded"])
    parser.add_argument("--profile", choices=["lab", "field"], default="lab")
    args = parser.parse_args()
    fleet = OUT / f"degradation-fleet-{args.profile}-{args.devices}x{args.days:g}d-{args.interval:g}s"
    if not (fleet / "ground_truth.json").exists():
        started = time.monotonic()
        spec = FleetSpec(devices=args.devices, days=args.days, interval_s=args.interval, profile=args.profile)
        truths = generate_fleet(spec, fleet)
        points = sum(truth.points_written for truth in truths)
        print(f"generated {args.devices} devices x {args.days:g} days at {args.interval:g} s: {points} points "
              f"in {time.monotonic() - started:.1f} s")  # fmt: skip
    if args.only in (None, "postgres"):
        run_backend("plain PostgreSQL 15", throwaway_postgres, fleet, args.without_spec)
    if args.only in (None, "embedded"):
        run_backend("embedded TimescaleDB", _Embedded, fleet, args.without_spec)


if __name__ == "__main__":
    main()
