"""The degradation marts recover what `loader generate` simulated, on both backends: a fleet of 4
devices x 181 days sampled every 300 s (2.65 M points), one device reporting charging as negative
power, one with a counter reset, gaps and counter jitter; three devices have a device_specs row,
one gets a baseline reference capacity."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from loader.generate import FleetSpec, generate_fleet
from tests.conftest import Backend
from tests.degradation_truth import compare, format_table, project_with_specs
from tests.helpers import invoke, load_args, run_dbt

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FLEET = FleetSpec(devices=4, days=181, interval_s=300, seed=1)
DEVICE_WITHOUT_SPEC = 1


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("fleet")
    generate_fleet(FLEET, folder)
    truth = json.loads((folder / "ground_truth.json").read_text())["devices"]
    assert {device["battery_power_positive_means"] for device in truth} == {"charge", "discharge"}
    assert any(device["counter_reset_at"] for device in truth)
    return folder, truth


def test_marts_recover_simulated_capacity_fade_cycles_and_efficiency(
    backend: Backend, fleet: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    folder, truth = fleet
    project = project_with_specs(folder, tmp_path / "project", DEVICE_WITHOUT_SPEC)
    invoke(load_args(backend.settings, str(folder)))
    run_dbt(backend.settings, tmp_path, "build", project_dir=project)

    with backend.connect() as conn:
        comparisons = compare(conn, truth)
    report = format_table(comparisons)
    print(report)
    assert [c.ref_source for c in comparisons] == ["baseline" if i == DEVICE_WITHOUT_SPEC else "spec" for i in range(4)]
    for c in comparisons:
        assert c.power_sign[0] == c.power_sign[1], report
        assert len(c.monthly_capacity_kwh) == 6, report
        assert all(e is not None and abs(e) <= 3 for e in c.capacity_errors_pct()), report
        fade, true_fade = c.fade_pct_per_year
        assert fade is not None and abs(fade - true_fade) <= 1, report
        assert abs(c.efc[0] / c.efc[1] - 1) <= 0.02, report
        assert abs(c.rte[0] - c.rte[1]) <= 0.01, report
        assert len(c.monthly_rte_soc_adjusted) == 6, report
        assert all(rte is not None and abs(rte - c.rte[1]) <= 0.01 for rte in c.monthly_rte_soc_adjusted), report
        assert c.rte_30d_soc_adjusted is not None and abs(c.rte_30d_soc_adjusted - c.rte[1]) <= 0.01, report

    with backend.connect() as conn:
        resets = conn.execute(
            "select device_id::text, ended_at from analytics.fct_telemetry_anomalies"
            " where anomaly_type = 'counter_reset'"
        ).fetchall()
        gaps = conn.execute(
            "select device_id::text, started_at, ended_at from analytics.fct_telemetry_anomalies"
            " where anomaly_type = 'gap'"
        ).fetchall()
        anomaly_types = {row[0] for row in conn.execute("select anomaly_type from analytics.fct_telemetry_anomalies")}
        fleet_months = conn.execute(
            "select month, devices, devices_with_soh from analytics.fct_fleet_monthly order by month"
        ).fetchall()
    # The simulation has gaps and one counter reset, and nothing else the anomaly rules look for.
    assert anomaly_types == {"gap", "counter_reset"}
    reset_devices = {device["device_id"] for device in truth if device["counter_reset_at"]}
    assert {device for device, _ in resets} == reset_devices
    # Every simulated silence longer than the cap (900 s) plus one sample interval is reported, from
    # the last sample before it to the first after it.
    interval = timedelta(seconds=FLEET.interval_s)
    for device in truth:
        for start, end in device["gaps"]:
            silence = (datetime.fromisoformat(start), datetime.fromisoformat(end))
            if silence[1] - silence[0] > timedelta(seconds=900) + interval:
                assert any(
                    gap_device == device["device_id"]
                    and silence[0] - interval <= started <= silence[0]
                    and silence[1] <= ended <= silence[1] + interval
                    for gap_device, started, ended in gaps
                ), f"gap {start}..{end} of {device['device_id']} not reported"
    assert [(devices, with_soh) for _, devices, with_soh in fleet_months] == [(4, 4)] * 6
