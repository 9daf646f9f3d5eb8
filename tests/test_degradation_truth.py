"""The degradation marts recover what `loader generate` simulated, for both of its profiles:

- lab: 4 devices x 181 days sampled every 600 s on one clock (1.33 M points), one device reporting
  charging as negative power, one with a counter reset, gaps and counter jitter;
- field: 3 devices x 181 days, battery power every 180 s, SoC every 3 minutes as an integer BMS
  estimate reported on change (with drift and re-calibration jumps), counters every 5 minutes at
  0.1 kWh, solar- and load-following power, grid-service and idle days, outages of hours and of
  days, a counter restart, one device reporting charging as positive (1.0 M points).

Both run on plain PostgreSQL (the faster here); the embedded TimescaleDB, whose models differ there
(hypertables, continuous aggregates), takes a smaller field case: 2 devices x 120 days (0.45 M
points). `bench/degradation_bench.py` runs any profile and size on either database.

Device 1 has no device_specs row and gets a baseline reference capacity; the others have one.
Tolerances for every device: monthly apparent capacity within 3 %, fade within 1 point a year,
equivalent full cycles within 2 % (from energy over the whole period; from SoC every month, against
the true SoC moved outside outages), round-trip efficiency within 1 point.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from harness.dbt import run_dbt
from harness.degradation_truth import compare, format_table, project_with_specs
from loader.generate import FleetSpec
from tests.conftest import FleetCache, backend_named
from tests.helpers import invoke, load_args

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Case name: the fleet, the backend it is built on, and how many calendar months it spans.
CASES = {
    "lab": (FleetSpec(devices=4, days=181, interval_s=600, seed=1), "postgres", 6),
    "field": (FleetSpec(devices=3, days=181, interval_s=180, seed=1, profile="field"), "postgres", 6),
    "field-small": (FleetSpec(devices=2, days=120, interval_s=180, seed=1, profile="field"), "timescaledb", 4),
}
DEVICE_WITHOUT_SPEC = 1
# Anomalies each profile simulates, which must be reported; nothing else may be. A field BMS that
# over-reads shows 100 % while it still charges until it re-calibrates: SoC stuck while power flows.
REQUIRED_ANOMALIES = {
    "lab": {"gap", "counter_reset"},
    "field": {"gap", "counter_reset", "soc_recalibration"},
}
ALLOWED_ANOMALIES = {
    "lab": REQUIRED_ANOMALIES["lab"],
    "field": REQUIRED_ANOMALIES["field"] | {"soc_stuck_while_power_flows"},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_marts_recover_simulated_capacity_fade_cycles_and_efficiency(
    case: str, request: pytest.FixtureRequest, fleets: FleetCache, tmp_path: Path
) -> None:
    spec, backend_name, months = CASES[case]
    profile, devices = spec.profile, spec.devices
    backend = backend_named(request, backend_name)
    folder = fleets.get(spec)
    truth = json.loads((folder / "ground_truth.json").read_text())["devices"]
    assert {device["battery_power_positive_means"] for device in truth} == {"charge", "discharge"}
    assert any(device["counter_reset_at"] for device in truth)
    project = project_with_specs(folder, tmp_path / "project", DEVICE_WITHOUT_SPEC)
    invoke(load_args(backend.settings, str(folder)))
    run_dbt(backend.settings, tmp_path, "build", project_dir=project)

    with backend.connect() as conn:
        comparisons = compare(conn, truth)
    report = format_table(comparisons)
    print(f"{profile} profile on {backend.name}:\n{report}")
    expected_sources = ["baseline" if i == DEVICE_WITHOUT_SPEC else "spec" for i in range(devices)]
    assert [c.ref_source for c in comparisons] == expected_sources
    for c in comparisons:
        assert c.power_sign[0] == c.power_sign[1], report
        assert len(c.monthly_capacity_kwh) == months, report
        assert all(e is not None and abs(e) <= 3 for e in c.capacity_errors_pct()), report
        fade, true_fade = c.fade_pct_per_year
        assert fade is not None and abs(fade - true_fade) <= 1, report
        assert abs(c.efc[0] / c.efc[1] - 1) <= 0.02, report
        assert all(e is not None and abs(e) <= 2 for e in c.soc_moved_errors_pct()), report
        assert abs(c.rte[0] - c.rte[1]) <= 0.01, report
        assert c.rte_30d_soc_adjusted is not None and abs(c.rte_30d_soc_adjusted - c.rte[1]) <= 0.01, report
        assert len(c.monthly_rte_soc_adjusted) == months, report
        if profile == "lab":
            # Field months hold fewer, shallower cycles: the monthly figure is not held to 1 point there.
            assert all(r is not None and abs(r - c.rte[1]) <= 0.01 for r in c.monthly_rte_soc_adjusted), report

    with backend.connect() as conn:
        anomalies_with_details = conn.execute(
            "select device_id::text, anomaly_type, started_at, ended_at, details from analytics.fct_telemetry_anomalies"
        ).fetchall()
        fleet_months = conn.execute(
            "select month, devices, devices_with_soh from analytics.fct_fleet_monthly order by month"
        ).fetchall()
    anomalies = [row[:4] for row in anomalies_with_details]
    anomaly_types = {anomaly_type for _, anomaly_type, _, _ in anomalies}
    assert REQUIRED_ANOMALIES[profile] <= anomaly_types <= ALLOWED_ANOMALIES[profile], anomaly_types
    reset_devices = {device["device_id"] for device in truth if device["counter_reset_at"]}
    assert {device for device, kind, _, _ in anomalies if kind == "counter_reset"} == reset_devices
    if profile == "field":
        stuck = [row[4] for row in anomalies_with_details if row[1] == "soc_stuck_while_power_flows"]
        assert all(" at 100 % " in text for text in stuck), stuck
        # Small corrections hide in the rounding; the large ones are reported, and only where the BMS corrected.
        recalibrating = {device["device_id"] for device in truth if device["recalibration_jumps"]}
        reported = {device for device, kind, _, _ in anomalies if kind == "soc_recalibration"}
        assert reported and reported <= recalibrating
    # Every simulated silence longer than the cap (900 s) plus one sample interval is reported, from
    # the last sample before it to the first after it (field readings jitter by up to 1.5 s). Outages
    # may overlap (an outage of hours inside one of days): the telemetry is then silent for their union.
    interval = timedelta(seconds=spec.interval_s + 2)
    gaps = [(device, started, ended) for device, kind, started, ended in anomalies if kind == "gap"]
    for device in truth:
        for silence in silences(device["gaps"]):
            if silence[1] - silence[0] > timedelta(seconds=900) + interval:
                assert any(
                    gap_device == device["device_id"]
                    and silence[0] - interval <= started <= silence[0] + interval
                    and silence[1] - interval <= ended <= silence[1] + interval
                    for gap_device, started, ended in gaps
                ), f"silence {silence[0]}..{silence[1]} of {device['device_id']} not reported"
    assert [(count, with_soh) for _, count, with_soh in fleet_months] == [(devices, devices)] * months


def silences(outages: list[list[str]]) -> list[tuple[datetime, datetime]]:
    """The simulated outages merged where they overlap: the stretches without any reading."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted((datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in outages):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
