"""Idempotency under stress: concurrent loaders, a loader killed with SIGKILL at random moments, a server
crash mid-load, and what the load log says about a load that died."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.databases import ClusterUnavailable, crash_and_restart, throwaway_postgres
from harness.dbt import BIN_DIR
from loader.generate import FleetSpec
from tests.conftest import Backend, FleetCache, _fresh_postgres_database
from tests.helpers import invoke, load_args

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_POINTS = 5000
RAW_CONTENT = (
    "select device_id, metric_name, series_index, chunk_index, point_count, content_hash, md5(payload::text)"
    " from raw.telemetry_pieces order by device_id, series_index, chunk_index"
)


@pytest.fixture(scope="module")
def fleet(fleets: FleetCache) -> Path:
    return fleets.get(FleetSpec(devices=3, days=1, interval_s=4, seed=11))


def loader_process(backend: Backend, source: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN_DIR / "loader"), *load_args(backend.settings, str(source), "--max-points", str(MAX_POINTS), *args)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def raw_content(backend: Backend) -> list[tuple]:
    with backend.connect() as connection:
        return connection.execute(RAW_CONTENT).fetchall()


def test_two_loaders_at_once_land_each_piece_exactly_once(postgres_backend: Backend, fleet: Path) -> None:
    first, second = loader_process(postgres_backend, fleet), loader_process(postgres_backend, fleet)
    outputs = [process.communicate(timeout=300)[0] for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs

    content = raw_content(postgres_backend)
    hashes = [row[5] for row in content]
    assert len(hashes) == len(set(hashes))
    landed = postgres_backend.scalar("select sum(pieces_landed) from raw.load_log")
    unchanged = postgres_backend.scalar("select sum(pieces_unchanged) from raw.load_log")
    assert landed == len(content)
    assert landed + unchanged >= len(content)


def test_kill_9_at_random_moments_then_rerun_gives_the_same_raw_content(postgres_cluster, fleet: Path) -> None:
    reference = Backend("postgres", _fresh_postgres_database(postgres_cluster))
    started = time.monotonic()
    invoke(load_args(reference.settings, str(fleet), "--max-points", str(MAX_POINTS)))
    full_run_s = time.monotonic() - started + 0.5  # plus the CLI's start-up, which invoke() skips
    expected = raw_content(reference)

    rng = random.Random(20261123)
    killed_mid_landing = 0
    for attempt in range(6):
        backend = Backend("postgres", _fresh_postgres_database(postgres_cluster))
        process = loader_process(backend, fleet)
        if attempt % 2:
            # Half the kills at a random moment (also before the schema exists), half right after
            # the first response committed, so kills between commits do not depend on the machine's speed.
            time.sleep(rng.uniform(0.3, full_run_s))
        else:
            wait_for_first_commit(backend, process)
            time.sleep(rng.uniform(0, 0.05))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        # The kill may come before the loader has even created the raw schema.
        pieces_after_kill = backend.count("select count(*) from raw.telemetry_pieces")
        if 0 < pieces_after_kill < len(expected):
            killed_mid_landing += 1
        # Only whole responses were committed: every landed file has all of its pieces.
        assert (
            backend.count(
                "select count(*) from raw.landed_files f where f.pieces <> (select count(*)"
                " from raw.telemetry_pieces p where p.source_uri = f.source_uri)"
            )
            == 0
        )

        invoke(load_args(backend.settings, str(fleet), "--max-points", str(MAX_POINTS)))
        assert raw_content(backend) == expected
    assert killed_mid_landing >= 2, "too few kills fell between the first and the last commit"


def wait_for_first_commit(backend: Backend, process: subprocess.Popen[str]) -> None:
    while process.poll() is None and backend.count("select count(*) from raw.telemetry_pieces") == 0:
        time.sleep(0.01)


def wait_for_committed_counts(backend: Backend, process: subprocess.Popen[str]) -> None:
    """Until the running load's row shows a committed response (its counts commit with the response)."""
    query = "select count(*) from raw.load_log where status = 'running' and pieces_landed > 0"
    while process.poll() is None and backend.count(query) == 0:
        time.sleep(0.01)


def pieces_to_land(backend: Backend, source: Path) -> int:
    dry_run = invoke(
        load_args(backend.settings, str(source), "--max-points", str(MAX_POINTS), "--dry-run", "--format", "json")
    )
    return json.loads(dry_run.output)["pieces_landed"]


def assert_died_load_is_interrupted_and_rerun_lands_the_rest(backend: Backend, source: Path, expected: int) -> None:
    died = json.loads(invoke(["status", "--database-url", backend.settings.conninfo, "--format", "json"]).output)[0]
    assert died["status"] == "interrupted"
    committed = backend.scalar("select count(*) from raw.telemetry_pieces where load_id = %s", [died["load_id"]])
    committed_points = backend.scalar(
        "select sum(point_count) from raw.telemetry_pieces where load_id = %s", [died["load_id"]]
    )
    assert 0 < committed < expected, "the load did not die midway"
    assert (died["pieces_landed"], died["points_landed"]) == (committed, committed_points)

    rerun = json.loads(
        invoke(load_args(backend.settings, str(source), "--max-points", str(MAX_POINTS), "--format", "json")).output
    )
    assert rerun["pieces_landed"] == expected - committed
    assert backend.scalar("select count(*) from raw.telemetry_pieces") == expected
    # The re-run also recorded the verdict in the log itself, for readers other than `loader status`.
    assert backend.scalar("select status from raw.load_log where load_id = %s", [died["load_id"]]) == "interrupted"


def test_a_load_killed_midway_shows_as_interrupted_with_what_it_committed(backend: Backend, fleet: Path) -> None:
    expected = pieces_to_land(backend, fleet)
    started = time.monotonic()
    invoke(load_args(backend.settings, str(fleet), "--max-points", str(MAX_POINTS), "--concurrency", "1"))
    full_run_s = time.monotonic() - started + 0.5  # plus the CLI's start-up, which invoke() skips
    # Kill at a moment chosen from the full run's time, not by polling the database: on the embedded
    # server a client querying while a load's transaction is open can stall the load (docs/embedded-db.md).
    # One worker, so that the three files commit one after another and a kill can fall between them
    # (parallel workers' load-log counts: tests/test_http_windows.py).
    for fraction in (0.5, 0.35, 0.65, 0.2, 0.8):
        backend.wipe()
        process = loader_process(backend, fleet, "--concurrency", "1")
        time.sleep(full_run_s * fraction)
        process.kill()
        process.wait(timeout=60)
        if 0 < backend.count("select count(*) from raw.telemetry_pieces") < expected:
            break
    assert_died_load_is_interrupted_and_rerun_lands_the_rest(backend, fleet, expected)


@pytest.fixture
def crashable_postgres() -> Iterator[Backend]:
    """A cluster of its own, since the test crashes it."""
    try:
        with throwaway_postgres() as cluster:
            yield Backend("postgres", cluster)
    except ClusterUnavailable as exc:
        pytest.skip(f"backend unavailable: plain PostgreSQL: {exc}")


def test_a_server_crash_midway_leaves_the_load_interrupted_with_what_it_committed(
    crashable_postgres: Backend, fleet: Path
) -> None:
    backend = crashable_postgres
    expected = pieces_to_land(backend, fleet)
    process = loader_process(backend, fleet)
    wait_for_committed_counts(backend, process)
    crash_and_restart(backend.settings)
    output, _ = process.communicate(timeout=60)

    assert process.returncode == 1, output
    assert "Traceback" not in output
    assert output.startswith("Error: The load failed") or output.startswith("Error: Cannot connect"), output
    assert_died_load_is_interrupted_and_rerun_lands_the_rest(backend, fleet, expected)
