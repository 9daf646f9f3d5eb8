"""`loader stream` against a real MQTT broker (Mosquitto on a loopback port) and a real PostgreSQL: every
published reading lands exactly once through kill -9 of the loader and a broker restart, bad messages are
quarantined while the stream goes on, SIGTERM commits the batch under way, and what was streamed builds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.dbt import BIN_DIR, run_dbt
from harness.mqtt_broker import BrokerUnavailable, Mosquitto, Publisher, mosquitto
from harness.points import landed_points
from loader.generate import FleetSpec, generate_fleet
from tests.conftest import UTRECHT, Backend, wait_for
from tests.helpers import invoke, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    try:
        with mosquitto() as running:
            yield running
    except BrokerUnavailable as exc:
        pytest.skip(f"backend unavailable: MQTT broker: {exc}")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stream-fleet")
    generate_fleet(FleetSpec(devices=2, days=0.5, interval_s=120, seed=13, profile="field"), folder)
    return folder


def fleet_messages(folder: Path, points_per_message: int = 20) -> tuple[list[tuple[str, bytes]], Counter[tuple]]:
    """The fleet as messages of the vendor's shape (one series, a few points each) and, for every
    fifth message, as single readings; and the points they carry."""
    messages: list[tuple[str, bytes]] = []
    points: Counter[tuple] = Counter()
    for path in sorted((folder / "telemetry").glob("*.json")):
        topic = f"battery/{path.stem}/telemetry"
        for series in json.loads(path.read_bytes())["series"]:
            data = series["data"]
            for start in range(0, len(data), points_per_message):
                chunk = data[start : start + points_per_message]
                points.update((path.stem, series["name"], point[0], point[1]) for point in chunk)
                if len(messages) % 5 == 4:
                    messages += [
                        (topic, json.dumps({"metric": series["name"], "time": t, "value": v}).encode())
                        for t, v in chunk
                    ]
                else:
                    messages.append((topic, json.dumps({"series": [{"name": series["name"], "data": chunk}]}).encode()))
    return messages, points


def stream_process(backend: Backend, broker: Mosquitto, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN_DIR / "loader"), "stream", f"{broker.url}/battery/+/telemetry", "--database-url",
         backend.settings.conninfo, "--batch-every", "200ms", "--client-id", "test-loader", "--format", "json", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def stop(process: subprocess.Popen[str]) -> dict:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode in (0, 3), output
    return json.loads(output[output.index("{") :])


def wait_for_points(backend: Backend, count: int, timeout_s: float = 60) -> None:
    query = "select coalesce(sum(point_count), 0) from raw.telemetry_pieces"
    assert wait_for(lambda: backend.count(query) >= count, timeout_s=timeout_s), (
        f"{backend.count(query)} of {count} points landed"
    )


def test_a_streamed_fleet_lands_every_reading_once_and_builds(
    postgres_backend: Backend, broker: Mosquitto, fleet: Path, tmp_path: Path
) -> None:
    messages, points = fleet_messages(fleet)
    process = stream_process(postgres_backend, broker)
    publisher = Publisher(broker.port)
    assert wait_for(lambda: postgres_backend.count("select count(*) from raw.load_log") == 1)
    time.sleep(0.5)  # subscribed
    publisher.publish_all(messages)
    publisher.close()
    wait_for_points(postgres_backend, sum(points.values()))
    summary = stop(process)

    assert landed_points(postgres_backend.settings) == points
    assert summary["status"] == "succeeded"
    assert summary["files_seen"] == len(messages)
    lineage = postgres_backend.scalar(
        "select count(*) from raw.telemetry_pieces where source_uri like %s and received_at is not null",
        [f"{broker.url}/battery/%/telemetry"],
    )
    assert lineage == postgres_backend.count("select count(*) from raw.telemetry_pieces")
    run_dbt(postgres_backend.settings, tmp_path / "dbt", "build")
    distinct = {(device, metric, recorded) for device, metric, recorded, _ in points}
    assert postgres_backend.count("select count(*) from analytics.battery_telemetry") == len(distinct)

    # A stream compacts raw when it starts (and hourly): a message's pieces are tiny. Made due by age.
    pieces = postgres_backend.count("select count(*) from raw.telemetry_pieces")
    postgres_backend.execute("update raw.telemetry_pieces set loaded_at = loaded_at - interval '3 days'")
    again = stream_process(postgres_backend, broker, "--exit-when-idle", "1s")
    output, _ = again.communicate(timeout=120)
    assert again.returncode == 0, output
    assert "Merged " in output
    series = len({(device, metric) for device, metric, _, _ in points})
    assert postgres_backend.count("select count(*) from raw.telemetry_pieces") <= 2 * series < pieces
    assert landed_points(postgres_backend.settings) == points

    # And moves what is due to the archive (made due here by asking for any age).
    archive = tmp_path / "archive"
    archiving = stream_process(postgres_backend, broker, "--exit-when-idle", "1s", "--archive-to", str(archive),
                               "--archive-older-than", "0s")  # fmt: skip
    output, _ = archiving.communicate(timeout=120)
    assert archiving.returncode == 0, output
    assert f"files in {archive}" in output
    pinned = postgres_backend.count("select count(distinct piece_id) from raw.latest_readings")
    assert postgres_backend.count("select count(*) from raw.telemetry_pieces") == pinned
    archived = postgres_backend.count("select coalesce(sum(points), 0) from raw.archive_files")
    remaining = postgres_backend.count("select coalesce(sum(point_count), 0) from raw.telemetry_pieces")
    assert archived + remaining == sum(points.values())
    assert len(list(archive.glob("telemetry/*/*.json.gz"))) == postgres_backend.count(
        "select count(*) from raw.archive_files"
    )


def test_kill_9_of_the_loader_and_a_broker_restart_lose_nothing_and_land_nothing_twice(
    postgres_backend: Backend, broker: Mosquitto, fleet: Path
) -> None:
    messages, points = fleet_messages(fleet, points_per_message=5)
    third = len(messages) // 3
    process = stream_process(postgres_backend, broker, "--batch-size", "50")
    assert wait_for(lambda: postgres_backend.count("select count(*) from raw.load_log") == 1)
    time.sleep(0.5)
    publisher = Publisher(broker.port)
    publisher.publish_all(messages[:third])
    assert wait_for(lambda: postgres_backend.count("select count(*) from raw.telemetry_pieces") > 0)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    publisher.publish_all(messages[third : 2 * third])  # queued by the broker for the loader's session
    publisher.close()

    process = stream_process(postgres_backend, broker, "--batch-size", "50")
    assert wait_for(lambda: postgres_backend.count("select count(*) from raw.load_log") == 2)
    time.sleep(1)  # connected
    broker.restart()  # the loader reconnects; its session and what is queued for it survive
    publisher = Publisher(broker.port)
    publisher.publish_all(messages[2 * third :])
    publisher.close()
    wait_for_points(postgres_backend, sum(points.values()), timeout_s=90)
    stop(process)

    assert landed_points(postgres_backend.settings) == points
    assert postgres_backend.count("select count(*) from raw.load_log where status = 'interrupted'") == 1


def test_bad_messages_are_quarantined_with_their_topic_and_the_stream_goes_on(
    postgres_backend: Backend, broker: Mosquitto
) -> None:
    process = stream_process(postgres_backend, broker)
    assert wait_for(lambda: postgres_backend.count("select count(*) from raw.load_log") == 1)
    time.sleep(0.5)
    good = json.dumps({"metric": "StateOfChargePercentage", "time": int(time.time() * 1000), "value": 55.0})
    publisher = Publisher(broker.port)
    publisher.publish_all(
        [
            (f"battery/{UTRECHT}/telemetry", b"not json"),
            (f"battery/{UTRECHT}/telemetry", b'{"series": 5}'),
            ("battery/not-a-device/telemetry", good.encode()),
            (f"battery/{UTRECHT}/telemetry", good.encode()),
        ]
    )
    publisher.close()
    wait_for_points(postgres_backend, 1)
    summary = stop(process)

    assert summary["files_quarantined"] == 3
    with postgres_backend.connect() as connection:
        rows = connection.execute("select source_uri, reason from raw.quarantine order by quarantine_id").fetchall()
    assert [uri.rsplit("/", 2)[-2] for uri, _ in rows] == [UTRECHT, UTRECHT, "not-a-device"]
    assert "topic 'battery/not-a-device/telemetry' names no device id" in rows[2][1]
    assert postgres_backend.scalar("select value from raw.latest_readings where device_id = %s", [UTRECHT]) == 55


def test_a_stream_that_cannot_reach_its_broker_or_database_says_so_in_one_sentence(postgres_backend: Backend) -> None:
    from harness.databases import free_port

    result = invoke(
        ["stream", f"mqtt://127.0.0.1:{free_port()}/battery/+/telemetry", "--database-url",
         postgres_backend.settings.conninfo],
        expected_exit=1,
    )  # fmt: skip
    *_, last = result.output.strip().splitlines()
    assert last.startswith("Error: Cannot reach the MQTT broker mqtt://127.0.0.1:")
    assert "Traceback" not in result.output
    assert postgres_backend.scalar("select status from raw.load_log") == "failed"
    result = invoke(["stream", "http://example.invalid/x", "--database-url", postgres_backend.settings.conninfo], 1)
    assert "is not an mqtt://host:port/topic-filter URL" in result.output


def test_a_low_soc_published_reaches_alertmanager_before_any_build(
    sample_built_postgres: Backend, broker: Mosquitto, tmp_path: Path
) -> None:
    postgres_backend = sample_built_postgres
    process = stream_process(postgres_backend, broker)
    assert wait_for(lambda: postgres_backend.count("select count(*) from raw.load_log where status = 'running'") == 1)
    time.sleep(0.5)  # connected
    try:
        with running_stack(postgres_backend, tmp_path / "stack") as stack:
            assert wait_for(lambda: stack.active_alerts() is not None, timeout_s=10)
            assert not stack.active_alerts("BatteryStateOfChargeLow")
            publisher = Publisher(broker.port)
            low = {"metric": "StateOfChargePercentage", "time": int(time.time() * 1000), "value": 12.0}
            publisher.publish_all([(f"battery/{UTRECHT}/telemetry", json.dumps(low).encode())])
            publisher.close()
            assert wait_for(
                lambda: (
                    [alert["labels"]["device_id"] for alert in stack.active_alerts("BatteryStateOfChargeLow")]
                    == [UTRECHT]
                ),
                timeout_s=30,
            ), (
                "the streamed low reading did not reach Alertmanager: "
                f"{postgres_backend.count('select count(*) from analytics.alert_low_soc')} rows in alert_low_soc, "
                f"stream exit {process.poll()}"
            )
    finally:
        stop(process)


def test_a_scheduled_run_drains_what_the_broker_kept_while_it_was_away_and_exits_when_idle(
    postgres_backend: Backend, broker: Mosquitto, fleet: Path
) -> None:
    messages, points = fleet_messages(fleet)
    first = stream_process(postgres_backend, broker)
    assert wait_for(lambda: postgres_backend.count("select count(*) from raw.load_log") == 1)
    time.sleep(0.5)
    stop(first)  # the session stays with the broker
    publisher = Publisher(broker.port)
    publisher.publish_all(messages)
    publisher.close()

    drain = stream_process(postgres_backend, broker, "--exit-when-idle", "1s")
    output, _ = drain.communicate(timeout=120)
    assert drain.returncode == 0, output
    assert landed_points(postgres_backend.settings) == points
