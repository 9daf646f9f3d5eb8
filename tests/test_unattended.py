"""Scheduled runs that overlap: two builds, a load during a build. Real databases, real processes."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from harness.dbt import BIN_DIR, PROJECT_ROOT, dbt_environment, run_dbt
from loader import exit_codes
from loader.connection import connect
from loader.job_locks import build_is_running
from tests.conftest import SAMPLE_DATA, Backend
from tests.helpers import invoke, load_args

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def start_build(backend: Backend, work: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN_DIR / "loader"), "build", *args], cwd=PROJECT_ROOT, env=dbt_environment(backend.settings, work),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def wait_for_build_lock(backend: Backend, build: subprocess.Popen[str]) -> None:
    """Until the build holds its lock (on the embedded server a file lock: no query while dbt runs)."""
    connection = None if backend.is_embedded else connect(backend.settings)
    try:
        while build.poll() is None and not build_is_running(backend.settings, connection):
            time.sleep(0.1)
    finally:
        if connection is not None:
            connection.close()
    assert build.poll() is None, build.communicate()[0]


def test_a_second_build_exits_with_its_own_code_and_a_plain_dbt_build_stops_before_changing_anything(
    backend: Backend, tmp_path: Path
) -> None:
    invoke(load_args(backend.settings, str(SAMPLE_DATA)))
    first = start_build(backend, tmp_path / "first")
    wait_for_build_lock(backend, first)

    second = subprocess.run(
        [str(BIN_DIR / "loader"), "build"], cwd=PROJECT_ROOT, env=dbt_environment(backend.settings, tmp_path / "2"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert second.returncode == exit_codes.BUILD_ALREADY_RUNNING, second.stdout + second.stderr
    assert "is running against this database; this build did nothing." in second.stderr
    assert "Traceback" not in second.stderr

    if not backend.is_embedded:
        # The embedded server's build lock is a file only `loader build` knows; a real server's is
        # visible to dbt's first hook.
        plain = run_dbt(backend.settings, tmp_path / "plain", "build", check=False)
        assert plain.returncode != 0
        assert "Another build is running against this database" in plain.stdout
        assert "duplicate key" not in plain.stdout and "already exists" not in plain.stdout

    output, _ = first.communicate(timeout=1200)
    assert first.returncode == 0, output[-4000:]
    # Nothing was left half-done: the next build has nothing new and passes.
    assert run_dbt(backend.settings, tmp_path / "after", "build").returncode == 0


def test_a_build_waits_for_a_running_one_when_asked_to(postgres_backend: Backend, tmp_path: Path) -> None:
    invoke(load_args(postgres_backend.settings, str(SAMPLE_DATA)))
    first = start_build(postgres_backend, tmp_path / "first")
    wait_for_build_lock(postgres_backend, first)
    second = start_build(postgres_backend, tmp_path / "second", "--wait", "20m")

    outputs = [process.communicate(timeout=1800)[0] for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], [output[-3000:] for output in outputs]


def test_a_load_during_a_build_lands_and_the_next_build_transforms_it(backend: Backend, tmp_path: Path) -> None:
    invoke(load_args(backend.settings, str(SAMPLE_DATA)))
    build = start_build(backend, tmp_path / "first")
    wait_for_build_lock(backend, build)
    new_day = tmp_path / "source"
    (new_day / "telemetry").mkdir(parents=True)
    device = "499eba1c-bd0b-46db-a861-f8795fcbf02e"
    now_ms = int(time.time() * 1000)
    series = [{"name": "StateOfChargePercentage", "data": [[now_ms - 60_000, 55], [now_ms, 56]]}]
    (new_day / "telemetry" / f"{device}.json").write_text(json.dumps({"series": series}))

    # On the embedded server the load waits for its turn; on a real one it lands while dbt runs.
    landed = subprocess.run(
        [str(BIN_DIR / "loader"), *load_args(backend.settings, str(new_day))], capture_output=True, text=True,
        timeout=1200,
    )  # fmt: skip
    output, _ = build.communicate(timeout=1200)
    assert (landed.returncode, build.returncode) == (0, 0), landed.stdout + landed.stderr + output[-4000:]
    assert "Landed 1 pieces (2 points)" in landed.stdout
    if backend.is_embedded:
        assert "Waiting for another load or build to finish" in landed.stderr

    backend.run_policy_jobs()
    run_dbt(backend.settings, tmp_path / "next", "build")
    new_points = (
        "select count(*) from analytics.battery_telemetry where device_id = %s"
        " and metric_name = 'StateOfChargePercentage' and recorded_at >= to_timestamp(%s / 1000.0)"
    )
    assert backend.scalar(new_points, [device, now_ms - 60_000]) == 2


@pytest.fixture(params=["postgres", "native"])
def server_backend(request: pytest.FixtureRequest) -> Backend:
    """A real server: plain PostgreSQL, and a native TimescaleDB where built. (The embedded server serves
    one build at a time; two dbt processes on its one shared session can wait forever: docs/embedded-db.md.)"""
    return request.getfixturevalue("postgres_backend" if request.param == "postgres" else "native_backend")


def test_two_plain_dbt_builds_at_once_one_succeeds_the_other_stops_in_one_sentence(
    server_backend: Backend, tmp_path: Path
) -> None:
    backend = server_backend
    invoke(load_args(backend.settings, str(SAMPLE_DATA)))
    builds = []
    for name in ("one", "two"):
        builds.append(subprocess.Popen(
            [str(BIN_DIR / "dbt"), "build"], cwd=PROJECT_ROOT, env=dbt_environment(backend.settings, tmp_path / name),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))  # fmt: skip
        time.sleep(1.5)
    outputs = [build.communicate(timeout=1200)[0] for build in builds]
    codes = [build.returncode for build in builds]
    assert sorted(code == 0 for code in codes) == [False, True], "\n".join(output[-3000:] for output in outputs)
    stopped = outputs[codes.index(next(code for code in codes if code != 0))]
    assert "Another `dbt build` is running against this database" in stopped
    assert "Database Error" not in stopped and "already exists" not in stopped, stopped[-3000:]
    # The lease was given back: the next build runs, finds nothing new and passes.
    assert backend.count("select count(*) from analytics.dbt_build_lease") == 0
    assert run_dbt(backend.settings, tmp_path / "after", "build").returncode == 0
