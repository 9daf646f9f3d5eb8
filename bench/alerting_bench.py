"""Alerting benchmark: detection latency through a real Prometheus + Alertmanager, and the alert query's
latency on a large table. Not a test; run by hand and report the numbers.

    .venv/bin/python -m bench.alerting_bench latency [--runs 20] [--only postgres|embedded]
    .venv/bin/python -m bench.alerting_bench query [--rows 10000000]

`latency`: the sample data is loaded and built; then, `--runs` times, a state of charge of 12 % is
landed with `loader load` (the clock starts when the load has committed) and the time until the alert
is active in Alertmanager's API is measured; the reading then recovers and the alert resolves.
Prometheus scrapes the exporter and evaluates the rules every second.
`query`: plain PostgreSQL; battery_telemetry is filled with synthetic rows (100 devices x 14 metrics,
newest 8 hours at 4 s per device per metric, scaled to --rows), then the alert query runs 1000 times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import psycopg

from bench.dbt_bench import _Embedded
from harness.alerting_stack import alerting_stack
from harness.databases import throwaway_postgres
from harness.dbt import run_dbt
from loader.landing import run_load
from loader.settings import ConnectionSettings
from loader.sources import DirectorySource

SAMPLE = Path(__file__).resolve().parents[1] / "data"
UTRECHT = "f31b650b-5f18-4a98-b01f-1170715a0796"
ALERT_QUERY = "select device_id, device_name, soc_pct, reading_at from analytics.alert_low_soc"


def land_soc(settings: ConnectionSettings, folder: Path, value: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "assets").mkdir(exist_ok=True)
    (folder / "assets" / "assets.json").write_bytes((SAMPLE / "assets" / "assets.json").read_bytes())
    (folder / "telemetry").mkdir(exist_ok=True)
    body = {"series": [{"name": "StateOfChargePercentage", "data": [[int(time.time() * 1000), value]]}]}
    (folder / "telemetry" / f"{UTRECHT}.json").write_text(json.dumps(body))
    run_load(settings, DirectorySource(folder))


def wait_until(condition, timeout_s: float = 60) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise SystemExit("timed out waiting for Alertmanager")
        time.sleep(0.02)
    return time.monotonic() - started


def latency(name: str, settings_factory, runs: int) -> None:  # type: ignore[no-untyped-def]
    with settings_factory() as settings, tempfile.TemporaryDirectory() as work:
        run_load(settings, DirectorySource(SAMPLE))
        run_dbt(settings, Path(work) / "dbt", "build")
        with alerting_stack(settings, Path(work) / "stack") as stack:

            def firing() -> bool:
                return bool(stack.active_alerts("BatteryStateOfChargeLow"))

            detect, resolve = [], []
            for run in range(runs):
                land_soc(settings, Path(work) / f"low{run}", 12)
                detect.append(wait_until(firing))
                land_soc(settings, Path(work) / f"ok{run}", 60)
                resolve.append(wait_until(lambda: not firing()))
        print(
            f"{name}: loader commit -> alert active in Alertmanager over {runs} runs: median "
            f"{statistics.median(detect):.2f} s, worst {max(detect):.2f} s; recovery -> resolved: median "
            f"{statistics.median(resolve):.2f} s, worst {max(resolve):.2f} s (scrape and evaluation every 1 s)"
        )


def query(rows: int) -> None:
    devices, metrics = 100, 14
    points = -(-rows // (devices * metrics))  # round up: at least --rows rows
    with throwaway_postgres() as settings, tempfile.TemporaryDirectory() as work:
        run_load(settings, DirectorySource(SAMPLE))
        run_dbt(settings, Path(work) / "dbt", "build")
        with psycopg.connect(settings.conninfo, autocommit=True) as connection:
            started = time.monotonic()
            connection.execute(
                "insert into analytics.dim_devices (device_id, device_name, device_state, first_listed_at,"
                " last_listed_at, is_in_warning_state) select md5('device' || d)::uuid, 'Site ' || d, 'Ok', now(),"
                " now(), false from generate_series(1, %s) d",
                [devices],
            )
            connection.execute(
                "insert into analytics.battery_telemetry (recorded_at, device_id, metric_name, value)"
                " select now() - make_interval(secs => 4 * p), md5('device' || d)::uuid,"
                " case when m = 1 then 'StateOfChargePercentage' else 'Metric' || m end,"
                " case when m = 1 then (d * 7 + p) %% 100 else random() * 1000 end"
                " from generate_series(1, %s) d, generate_series(1, %s) m, generate_series(0, %s) p",
                [devices, metrics, points - 1],
            )
            connection.execute("analyze analytics.battery_telemetry")
            connection.execute("analyze analytics.dim_devices")
            total = connection.execute("select count(*) from analytics.battery_telemetry").fetchone()[0]
            print(f"filled battery_telemetry: {total} rows in {time.monotonic() - started:.0f} s")
            timings = []
            for _ in range(1000):
                started = time.perf_counter()
                connection.execute(ALERT_QUERY).fetchall()
                timings.append((time.perf_counter() - started) * 1000)
            timings.sort()
            print(
                f"alert query over {total} rows, 1000 runs: p50 {timings[499]:.2f} ms, p99 {timings[989]:.2f} ms,"
                f" max {timings[-1]:.2f} ms ({devices} devices)"
            )
            plan = connection.execute(f"explain (analyze, buffers, costs off) {ALERT_QUERY}").fetchall()
            print("\n".join(row[0] for row in plan))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("latency")
    run.add_argument("--runs", type=int, default=20)
    run.add_argument("--only", choices=["postgres", "embedded"])
    run.set_defaults(handler=lambda args: [
        latency(name, factory, args.runs)
        for name, factory in (("plain PostgreSQL 15", throwaway_postgres), ("embedded TimescaleDB", _Embedded))
        if args.only is None or args.only in name.lower()
    ])  # fmt: skip
    big = commands.add_parser("query")
    big.add_argument("--rows", type=int, default=10_000_000)
    big.set_defaults(handler=lambda args: query(args.rows))
    args = parser.parse_args()
    args.handler(args)


if __name__ == "__main__":
    main()
