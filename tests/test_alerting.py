"""The low-SoC alert view sees a reading as soon as the loader commits it, stays correct when dbt
catches up, and ignores stale and invalid readings."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness.dbt import BIN_DIR, run_dbt
from tests.conftest import FIXTURES, SAMPLE_DATA, UTRECHT, Backend, wait_for
from tests.helpers import invoke, load_args, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HEERLEN = "200e55ab-790b-4049-bf23-f84dc866dd32"


def land_soc(backend: Backend, folder: Path, readings: dict[str, list[list]]) -> None:
    """Land one state-of-charge response per device, as `loader load` would from the API."""
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(SAMPLE_DATA / "assets", folder / "assets")
    (folder / "telemetry").mkdir()
    for device_id, points in readings.items():
        body = {"series": [{"name": "StateOfChargePercentage", "data": points}]}
        (folder / "telemetry" / f"{device_id}.json").write_text(json.dumps(body))
    invoke(load_args(backend.settings, str(folder)))


def low_devices(backend: Backend) -> list[tuple[str, float]]:
    with backend.connect() as connection:
        return [(str(row[0]), row[1]) for row in connection.execute(
            "select device_id, soc_pct from analytics.alert_low_soc order by device_id")]  # fmt: skip


def test_a_low_reading_alerts_as_soon_as_it_is_landed_and_resolves_when_soc_recovers(
    sample_built_backend: Backend, tmp_path: Path
) -> None:
    backend = sample_built_backend
    now_ms = int(time.time() * 1000)
    assert low_devices(backend) == []

    # Landed, not yet transformed: the alert is there at once; a stale low reading is not.
    land_soc(backend, tmp_path / "r1", {UTRECHT: [[now_ms - 60_000, 30], [now_ms - 30_000, 15]],
                                         HEERLEN: [[now_ms - 3_600_000, 5]]})  # fmt: skip
    assert low_devices(backend) == [(UTRECHT, 15.0)]
    # Heerlen stopped reporting an hour ago: the "no data" view names it; Zwolle never reports SoC.
    with backend.connect() as connection:
        silent = [str(row[0]) for row in connection.execute("select device_id from analytics.alert_soc_no_data")]
    assert silent == [HEERLEN]

    # dbt catches up: still exactly one row for the device.
    run_dbt(backend.settings, tmp_path / "dbt", "build")
    assert low_devices(backend) == [(UTRECHT, 15.0)]

    # SoC recovers: resolved before the next build; an invalid newer reading changes nothing.
    land_soc(backend, tmp_path / "r2", {UTRECHT: [[now_ms - 10_000, 45]]})
    assert low_devices(backend) == []
    land_soc(backend, tmp_path / "r3", {UTRECHT: [[now_ms - 5_000, 150], [now_ms - 4_000, "NaN"]]})
    assert low_devices(backend) == []
    run_dbt(backend.settings, tmp_path / "dbt", "build")
    assert low_devices(backend) == []
    # The cron path says the same: nobody is low, but Heerlen's silence is no all-clear (exit 5).
    checked = invoke(["check-soc", "--database-url", backend.settings.conninfo], expected_exit=5).output
    assert "No device is below the state-of-charge threshold." in checked
    [silent_line] = [line for line in checked.splitlines() if line.startswith("NO DATA")]
    assert HEERLEN in silent_line
    assert re.match(r"NO DATA for 6\d minutes", silent_line), silent_line  # silent an hour and the test's time
    checked_json = invoke(["check-soc", "--database-url", backend.settings.conninfo, "--format", "json"], 5).output
    as_json = json.loads(checked_json)
    assert (as_json["low_soc"], [row["device_id"] for row in as_json["no_data"]]) == ([], [HEERLEN])


def test_follow_mode_lands_new_readings_without_a_restart_and_stops_cleanly(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    shutil.copytree(SAMPLE_DATA, source)
    # Output goes to files, not pipes: a pipe nobody reads fills up and blocks the loader.
    stdout_path, stderr_path = tmp_path / "stdout", tmp_path / "stderr"
    with stdout_path.open("w") as stdout_file, stderr_path.open("w") as stderr_file:
        process = subprocess.Popen(
            [str(BIN_DIR / "loader"),
             *load_args(postgres_backend.settings, str(source), "--follow", "300ms", "--format", "json")],
            stdout=stdout_file, stderr=stderr_file, text=True,
        )  # fmt: skip
    try:
        pieces = "select count(*) from raw.telemetry_pieces"
        assert wait_for(lambda: postgres_backend.count(pieces) == 25, timeout_s=30)
        now_ms = int(time.time() * 1000)
        body = {"series": [{"name": "StateOfChargePercentage", "data": [[now_ms, 12]]}]}
        (source / "telemetry" / f"{HEERLEN}.json").write_text(json.dumps(body))
        readings = f"select count(*) from raw.latest_readings where device_id = '{HEERLEN}' and value = '12'"
        assert wait_for(lambda: postgres_backend.count(readings) == 1, timeout_s=30)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    stdout, stderr = stdout_path.read_text(), stderr_path.read_text()
    assert process.returncode == 0, stderr
    assert "Stopped following" in stderr
    rounds = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert rounds[0]["pieces_landed"] == 25
    assert postgres_backend.scalar("select count(*) from raw.telemetry_pieces") == 26
    assert postgres_backend.scalar("select count(*) from raw.load_log where status = 'running'") == 0


def wait_until(condition, timeout_s: float) -> float | None:  # type: ignore[no-untyped-def]
    """Seconds until condition() held, or None if it did not within timeout_s."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def test_prometheus_and_alertmanager_fire_and_resolve_a_low_soc_alert(
    sample_built_backend: Backend, tmp_path: Path
) -> None:
    backend = sample_built_backend
    now_ms = int(time.time() * 1000)
    land_soc(backend, tmp_path / "r0", {UTRECHT: [[now_ms - 20_000, 60]], HEERLEN: [[now_ms - 20_000, 70]]})
    with running_stack(backend, tmp_path / "stack") as stack:

        def low_alert_devices() -> set[str]:
            return {alert["labels"]["device_id"] for alert in stack.active_alerts("BatteryStateOfChargeLow")}

        assert wait_until(lambda: stack.active_alerts() is not None, 10) is not None
        time.sleep(3)  # a few scrape and evaluation cycles: nothing is low yet
        assert low_alert_devices() == set()

        land_soc(backend, tmp_path / "r1", {UTRECHT: [[int(time.time() * 1000), 14]]})
        fired_after = wait_until(lambda: low_alert_devices() == {UTRECHT}, 30)
        assert fired_after is not None, "the low-SoC alert did not reach Alertmanager"
        [alert] = stack.active_alerts("BatteryStateOfChargeLow")
        assert alert["labels"]["device_name"] == "Fudura Utrecht"

        land_soc(backend, tmp_path / "r2", {UTRECHT: [[int(time.time() * 1000), 35]]})
        resolved_after = wait_until(lambda: low_alert_devices() == set(), 30)
        assert resolved_after is not None, "the alert did not resolve when SoC recovered"
        assert HEERLEN not in low_alert_devices()


PIPELINE_ALERTS = {
    "BatteryPipelineLoadsStopped",
    "BatteryPipelineBuildsStopped",
    "BatteryPipelineBacklog",
    "BatteryPipelineLoadsInterrupted",
    "BatteryPipelineRejects",
}


def test_pipeline_health_alerts_fire_when_the_schedule_stops_and_resolve_when_it_resumes(
    sample_built_postgres: Backend, tmp_path: Path
) -> None:
    backend = sample_built_postgres
    # Landed but not built yet; a truncated response quarantined; a load that died holding nothing.
    land_soc(backend, tmp_path / "r1", {UTRECHT: [[int(time.time() * 1000), 50]]})
    bad = tmp_path / "bad"
    shutil.copytree(SAMPLE_DATA / "assets", bad / "assets")
    (bad / "telemetry").mkdir()
    shutil.copyfile(FIXTURES / "bad_input" / "truncated.json", bad / "telemetry" / f"{HEERLEN}.json")
    invoke(load_args(backend.settings, str(bad)), expected_exit=3)
    with backend.connect() as connection:
        connection.execute(
            "insert into raw.load_log (load_id, source, loader_version, started_at) values"
            " (gen_random_uuid(), 'a loader killed with SIGKILL', 'test', now() - interval '2 hours')"
        )
        # The schedule stopped five hours ago.
        connection.execute("update raw.load_log set finished_at = finished_at - interval '5 hours'")
        connection.execute("update analytics.dbt_build_log set finished_at = finished_at - interval '5 hours'")
    health = backend.scalar("select row_to_json(pipeline_health)::text from analytics.pipeline_health")
    assert json.loads(health)["pending_pieces"] == 1, health

    with running_stack(backend, tmp_path / "stack") as stack:

        def firing() -> set[str]:
            return {alert["labels"]["alertname"] for alert in stack.active_alerts() or []} & PIPELINE_ALERTS

        assert wait_until(lambda: firing() == PIPELINE_ALERTS, 30) is not None, firing()

        # The schedule resumes: a load and a build succeed; the last day's rejects and dead load stay.
        invoke(load_args(backend.settings, str(SAMPLE_DATA)))
        run_dbt(backend.settings, tmp_path / "dbt", "build")
        still = {"BatteryPipelineLoadsInterrupted", "BatteryPipelineRejects"}
        assert wait_until(lambda: firing() == still, 30) is not None, firing()
