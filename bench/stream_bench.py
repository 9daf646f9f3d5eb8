"""Streaming benchmark (issue 16): `loader stream` fed by a publisher on the same machine through Mosquitto.

    .venv/bin/python -m bench.stream_bench [--messages 20000] [--only postgres|embedded] [--skip-alerts]

1. Throughput: `--messages` QoS 1 messages published as fast as the publisher can (the vendor's shape,
   10 points of one series each, and single readings), timed from the first publish until every point
   is in raw.telemetry_pieces.
2. Publish -> committed: 300 single readings at 20 a second; per reading, its piece's insert time
   (in the batch's transaction, committed right after) less its publish time, same clock.
3. Publish -> alert active in Alertmanager (plain PostgreSQL): the sample built, 20 times a state of
   charge of 12 % published and the time until Alertmanager's API lists the alert, then 60 % and resolved.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from bench.dbt_bench import _Embedded
from bench.loader_bench import LOADER
from harness.alerting_stack import alerting_stack
from harness.databases import throwaway_postgres
from harness.dbt import run_dbt
from harness.mqtt_broker import Mosquitto, Publisher, mosquitto
from loader.landing import run_load
from loader.settings import ConnectionSettings
from loader.sources import DirectorySource

SAMPLE = Path(__file__).resolve().parents[1] / "data"
DEVICES = [f"00000000-0000-4000-8000-{number:012d}" for number in range(1, 51)]
UTRECHT = "f31b650b-5f18-4a98-b01f-1170715a0796"
# The stream runs with --exit-when-idle (the embedded database cannot be asked while it lands), which
# must outlast the wait for its subscription; the idle time is not counted.
IDLE_EXIT_S = 8


def scalar(settings: ConnectionSettings, query: str) -> Any:
    with psycopg.connect(settings.conninfo, autocommit=True, prepare_threshold=None) as connection:
        row = connection.execute(query).fetchone()
    return row[0] if row else None


def start_stream(settings: ConnectionSettings, broker: Mosquitto, *args: str) -> subprocess.Popen[bytes]:
    """Start the stream and wait until it is subscribed (its session exists, so nothing published is missed).
    The database is not asked meanwhile: on the embedded server a second client stalls a landing one."""
    process = subprocess.Popen(
        [str(LOADER), "stream", f"{broker.url}/battery/+/telemetry", "--database-url", settings.conninfo,
         "--client-id", "bench", "--format", "json", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    process.stderr.readline()  # "Streaming ... into ..." comes before connecting
    time.sleep(2)
    return process


def stop_stream(process: subprocess.Popen[bytes], when_idle: bool = False) -> dict:
    """Its summary, once it stopped: by SIGTERM, or by itself (--exit-when-idle)."""
    if not when_idle:
        process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=300)
    return json.loads(output)


def landed_points(settings: ConnectionSettings) -> int:
    return int(scalar(settings, "select coalesce(sum(point_count), 0) from raw.telemetry_pieces"))


def messages(count: int, points_each: int, start_ms: int) -> list[tuple[str, bytes]]:
    made = []
    for number in range(count):
        device = DEVICES[number % len(DEVICES)]
        first = start_ms + (number // len(DEVICES)) * points_each * 1000
        if points_each == 1:
            body: dict = {"metric": "BatteryPowerW", "time": first, "value": 1000 + number % 997}
        else:
            data = [[first + k * 1000, round(1000 + (number * 7 + k) % 997 * 1.5, 1)] for k in range(points_each)]
            body = {"series": [{"name": "BatteryPowerW", "data": data}]}
        made.append((f"battery/{device}/telemetry", json.dumps(body, separators=(",", ":")).encode()))
    return made


def throughput(name: str, settings_factory: Callable[[], Any], count: int) -> None:
    for points_each in (10, 1):
        with settings_factory() as settings, mosquitto() as broker:
            process = start_stream(settings, broker, "--exit-when-idle", f"{IDLE_EXIT_S}s")
            batch = messages(count, points_each, int(time.time() * 1000) - 86_400_000)
            size = sum(len(payload) for _, payload in batch) / len(batch)
            publisher = Publisher(broker.port)
            started = time.monotonic()
            publisher.publish_all(batch)
            published_s = time.monotonic() - started
            summary = stop_stream(process, when_idle=True)
            elapsed = time.monotonic() - started - IDLE_EXIT_S
            publisher.close()
            assert landed_points(settings) == count * points_each, "not every point landed"
        print(
            f"{name}: {count} messages of {points_each} point(s), {size:.0f} bytes each: published in "
            f"{published_s:.1f} s, all landed after {elapsed:.1f} s = {count / elapsed:.0f} messages/s, "
            f"{count * points_each / elapsed:.0f} points/s ({summary['pieces_landed']} pieces)"
        )


def commit_latency(name: str, settings_factory: Callable[[], Any], batch_seconds: str) -> None:
    with settings_factory() as settings, mosquitto() as broker:
        process = start_stream(
            settings, broker, "--batch-every", f"{batch_seconds}s", "--exit-when-idle", f"{IDLE_EXIT_S}s"
        )
        publisher = Publisher(broker.port)
        for number in range(300):
            now_ms = int(time.time() * 1000)
            body = {"metric": "BatteryPowerW", "time": now_ms, "value": number}
            publisher.publish(f"battery/{DEVICES[number % len(DEVICES)]}/telemetry", json.dumps(body).encode())
            time.sleep(0.05)
        stop_stream(process, when_idle=True)
        publisher.close()
        with psycopg.connect(settings.conninfo, autocommit=True, prepare_threshold=None) as connection:
            latencies = sorted(
                row[0]
                for row in connection.execute(
                    "select extract(epoch from loaded_at) * 1000 - first_recorded_ms from raw.telemetry_pieces"
                )
            )
    print(
        f"{name}, --batch-every {batch_seconds}s: publish -> committed over 300 readings at 20/s: "
        f"p50 {latencies[149]:.0f} ms, p99 {latencies[296]:.0f} ms, max {latencies[-1]:.0f} ms"
    )


def alert_latency(runs: int) -> None:
    with throwaway_postgres() as settings, tempfile.TemporaryDirectory() as work, mosquitto() as broker:
        run_load(settings, DirectorySource(SAMPLE))
        run_dbt(settings, Path(work) / "dbt", "build")
        process = start_stream(settings, broker)
        publisher = Publisher(broker.port)
        with alerting_stack(settings, Path(work) / "stack") as stack:

            def firing() -> bool:
                return bool(stack.active_alerts("BatteryStateOfChargeLow"))

            def publish_soc(value: float) -> float:
                body = {"metric": "StateOfChargePercentage", "time": int(time.time() * 1000), "value": value}
                publisher.publish_all([(f"battery/{UTRECHT}/telemetry", json.dumps(body).encode())])
                return time.monotonic()

            def wait(condition: Callable[[], bool], since: float) -> float:
                while not condition():
                    if time.monotonic() - since > 60:
                        raise SystemExit("timed out waiting for Alertmanager")
                    time.sleep(0.02)
                return time.monotonic() - since

            detect, resolve = [], []
            for _ in range(runs):
                detect.append(wait(firing, publish_soc(12)))
                resolve.append(wait(lambda: not firing(), publish_soc(60)))
        publisher.close()
        stop_stream(process)
    print(
        f"plain PostgreSQL 15: publish -> alert active in Alertmanager over {runs} runs: median "
        f"{statistics.median(detect):.2f} s, worst {max(detect):.2f} s; recovery -> resolved: median "
        f"{statistics.median(resolve):.2f} s, worst {max(resolve):.2f} s (batches of 1 s, scrape and evaluation "
        "every 1 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--only", choices=["postgres", "embedded"])
    parser.add_argument("--skip-alerts", action="store_true")
    args = parser.parse_args()
    backends = [("plain PostgreSQL 15", throwaway_postgres), ("embedded TimescaleDB", _Embedded)]
    for name, factory in backends:
        if args.only is None or args.only in name.lower():
            throughput(name, factory, args.messages)
            for batch_seconds in ("1.0", "0.1"):
                commit_latency(name, factory, batch_seconds)
    if not args.skip_alerts:
        alert_latency(20)


if __name__ == "__main__":
    main()
