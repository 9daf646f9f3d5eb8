"""Idempotency under stress: concurrent loaders, and a loader killed with SIGKILL at random moments."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from loader.generate import FleetSpec, generate_fleet
from tests.conftest import Backend, _fresh_postgres_database
from tests.helpers import BIN_DIR, invoke, load_args

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_POINTS = 5000
RAW_CONTENT = (
    "select device_id, metric_name, series_index, chunk_index, point_count, content_hash, md5(payload::text)"
    " from raw.telemetry_pieces order by device_id, series_index, chunk_index"
)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fleet")
    generate_fleet(FleetSpec(devices=3, days=1, interval_s=4, seed=11), folder)
    return folder


def loader_process(backend: Backend, source: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN_DIR / "loader"), *load_args(backend.settings, str(source), "--max-points", str(MAX_POINTS))],
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
