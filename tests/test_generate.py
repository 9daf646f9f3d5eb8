"""`loader generate`: deterministic, physically consistent fleets with their ground truth."""

from __future__ import annotations

import hashlib
import json
import statistics
from itertools import pairwise
from pathlib import Path

from harness.dbt import PROJECT_ROOT
from loader.generate import FleetSpec, generate_fleet
from loader.metrics import BATTERY_EXPORT, BATTERY_IMPORT, BATTERY_POWER, SOC
from tests.helpers import invoke


def digest(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*.json"))}  # fmt: skip


def series_of(folder: Path, device_id: str) -> dict[str, list]:
    body = json.loads((folder / "telemetry" / f"{device_id}.json").read_text())
    return {series["name"]: series["data"] for series in body["series"]}


def test_same_seed_writes_the_same_fleet_byte_for_byte(tmp_path: Path) -> None:
    args = ["--devices", "2", "--period", "12h", "--interval", "30s", "--seed", "7"]
    invoke(["generate", str(tmp_path / "a"), *args])
    invoke(["generate", str(tmp_path / "b"), *args, "--workers", "1"])
    invoke(["generate", str(tmp_path / "c"), *args[:-1], "8"])
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_counters_integrate_battery_power_and_soc_follows_it(tmp_path: Path) -> None:
    [truth] = generate_fleet(FleetSpec(devices=1, days=3, interval_s=10, seed=3), tmp_path, workers=1)
    series = series_of(tmp_path, truth.device_id)
    sign = 1 if truth.battery_power_positive_means == "charge" else -1
    interval_h = 10 / 3600
    charged = sum(sign * value for _, value in series[BATTERY_POWER] if sign * value > 0) / 1000 * interval_h
    discharged = -sum(sign * value for _, value in series[BATTERY_POWER] if sign * value < 0) / 1000 * interval_h
    exported = series[BATTERY_EXPORT][-1][1] - series[BATTERY_EXPORT][0][1]
    # Power integrates to the counter's increase (the gap, where nothing is reported, is the difference).
    assert abs(exported - discharged) / exported < 0.08
    assert abs(truth.energy_in_kwh - charged) / truth.energy_in_kwh < 0.08
    # SoC rises while charging and falls while discharging.
    soc = dict(series[SOC])
    rising = [
        soc[t + 10_000] - soc[t] for t, value in series[BATTERY_POWER] if sign * value > 20_000 and t + 10_000 in soc
    ]
    assert sum(rising) > 0
    assert min(soc.values()) >= 0 and max(soc.values()) <= 100
    # Energy balance: what went in (less losses) minus what came out is what the SoC change stores.
    eta = truth.round_trip_efficiency**0.5
    stored_change = truth.energy_in_kwh * eta - truth.energy_out_kwh / eta
    capacity = next(iter(truth.monthly_capacity_kwh.values()))
    soc_change = series[SOC][-1][1] - series[SOC][0][1]
    assert abs(stored_change - capacity * soc_change / 100) < 0.02 * capacity


def test_fleet_has_missing_metrics_a_counter_reset_and_ground_truth(tmp_path: Path) -> None:
    truths = generate_fleet(FleetSpec(devices=5, days=2, interval_s=60, seed=1), tmp_path)
    assert len({len(truth.metrics) for truth in truths}) > 1
    assert not any(SOC in truth.metrics for truth in truths[4:])
    reset = truths[0].counter_reset_at
    assert reset is not None
    imports = [value for _, value in series_of(tmp_path, truths[0].device_id)[BATTERY_IMPORT]]
    assert min(b - a for a, b in pairwise(imports)) < -1000
    ground_truth = json.loads((tmp_path / "ground_truth.json").read_text())
    assert [device["device_id"] for device in ground_truth["devices"]] == [truth.device_id for truth in truths]
    assets = json.loads((tmp_path / "assets" / "assets.json").read_text())
    assert assets["totalCount"] == 5
    specs = (tmp_path / "device_specs.csv").read_text().splitlines()
    assert specs[0] == (PROJECT_ROOT / "dbt_project" / "seeds" / "device_specs.csv").read_text().splitlines()[0]
    assert specs[1].split(",")[:2] == [truths[0].device_id, str(truths[0].usable_capacity_kwh)]


def test_field_profile_has_own_clocks_coarse_counters_and_recalibrating_soc(tmp_path: Path) -> None:
    spec = FleetSpec(devices=3, days=20, interval_s=10, seed=2, profile="field")
    truths = generate_fleet(spec, tmp_path, workers=1)
    assert {truth.battery_power_positive_means for truth in truths} == {"charge", "discharge"}
    assert truths[0].counter_reset_at is not None
    for truth in truths:
        series = series_of(tmp_path, truth.device_id)
        power_times = {t for t, _ in series[BATTERY_POWER]}
        soc_times = [t for t, _ in series[SOC]]
        # Each metric on its own jittered clock: timestamps of SoC and power almost never coincide.
        assert len(power_times.intersection(soc_times)) < 0.02 * len(soc_times)
        assert all(isinstance(value, int) and 0 <= value <= 100 for _, value in series[SOC])
        # SoC is reported on change, at least every 10 minutes (on its 1-minute clock);
        # counters every 5 minutes at 0.1 kWh.
        assert max(b - a for a, b in pairwise(soc_times) if b - a < 3600_000) <= 663_000
        counter_steps = [b - a for (a, _), (b, _) in pairwise(series[BATTERY_IMPORT]) if b - a < 3600_000]
        assert 297_000 <= statistics.median(counter_steps) <= 303_000
        assert all(round(value * 10) == value * 10 for _, value in series[BATTERY_IMPORT][:500])
        # An outage of days: no reading of any metric in it.
        assert max(b - a for a, b in pairwise(sorted(power_times))) >= 2 * 86400_000
