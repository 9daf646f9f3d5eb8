"""`loader generate`: a realistic, physically consistent battery fleet in the vendor API's format.

Each device is simulated sample by sample: a daily schedule charges the battery around midday and
discharges it in the evening to a depth that varies per day; state of charge follows the energy
stored over a usable capacity that fades linearly (a few % per year); import/export counters
integrate battery power; solar, site load and grid readings balance (grid = load + charge -
discharge - solar). Some devices lack some metrics, telemetry has gaps and counter jitter, and one
device's import counter is reset (a meter swap). The ground truth used (capacity per month, fade,
efficiency, energy, cycles) is written to `ground_truth.json` so the marts can be checked against it,
and the devices' specifications to `device_specs.csv`, in the format of the dbt seed of that name.

Output is streamed: each metric is written to its own temporary file while simulating, and the files
are joined into the response afterwards, so memory does not grow with the number of days.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import tempfile
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from loader.metrics import (
    ALL_METRICS,
    BATTERY_EXPORT,
    BATTERY_IMPORT,
    BATTERY_POWER,
    GRID_EXPORT,
    GRID_IMPORT,
    GRID_POWER,
    SETPOINT,
    SETPOINT_EXTERNAL,
    SOC,
    SOLAR_EXPORT,
    SOLAR_POWER,
    SUB_EXPORT,
    SUB_IMPORT,
    SUB_POWER,
)

SUBMETER_METRICS = {SUB_POWER, SUB_IMPORT, SUB_EXPORT}
SOLAR_METRICS = {SOLAR_POWER, SOLAR_EXPORT}
SITES = ["Utrecht", "Heerlen", "Zwolle", "Amersfoort", "Eindhoven", "Groningen", "Almere", "Breda", "Nijmegen",
         "Enschede", "Haarlem", "Arnhem", "Leiden", "Maastricht", "Delft", "Tilburg", "Deventer"]  # fmt: skip
SECONDS_PER_YEAR = 365.25 * 86400
MIN_SOC = 2.0
MAX_SOC = 100.0


@dataclass
class DeviceTruth:
    device_id: str
    description: str
    metrics: list[str]
    usable_capacity_kwh: float
    fade_pct_per_year: float
    round_trip_efficiency: float
    max_power_kw: float
    battery_power_positive_means: str
    commissioned_on: str
    counter_reset_at: str | None = None
    energy_in_kwh: float = 0.0
    energy_out_kwh: float = 0.0
    soc_abs_change_pct: float = 0.0
    # The true SoC moved per month (sum of its changes, either way), outside outages: what SoC-based
    # equivalent full cycles count (x 200). Re-calibration jumps of the BMS estimate are not in it.
    monthly_soc_moved_pct: dict[str, float] = field(default_factory=dict)
    monthly_capacity_kwh: dict[str, float] = field(default_factory=dict)
    gaps: list[list[str]] = field(default_factory=list)
    points_written: int = 0
    recalibration_jumps: int = 0
    # Energy out over energy in once the change in stored energy is counted as if discharged: the
    # efficiency a meter sees, standby losses (self-discharge) included. Lab: no standby losses.
    round_trip_efficiency_with_standby: float | None = None

    @property
    def efc_energy(self) -> float:
        return (self.energy_in_kwh + self.energy_out_kwh) / (2 * self.usable_capacity_kwh)


@dataclass(frozen=True)
class FleetSpec:
    devices: int = 3
    days: float = 7.0
    interval_s: float = 4.0
    seed: int = 1
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    inject_bad_input: bool = False
    # 'lab': one clock for every metric, steady power, mostly deep daily cycles. 'field': field-like
    # telemetry as docs/degradation.md describes it (see _simulate_field_device); interval_s is then
    # the battery power's cadence.
    profile: str = "lab"


def _device_plan(spec: FleetSpec, index: int) -> DeviceTruth:
    rng = random.Random(f"{spec.seed}/device/{index}")
    metrics = list(ALL_METRICS)
    if index % 5 == 1:
        metrics = [metric for metric in metrics if metric not in SUBMETER_METRICS]
    if index % 5 == 2:
        metrics = [metric for metric in metrics if metric not in SOLAR_METRICS]
    if index % 5 == 4:
        metrics = [metric for metric in metrics if metric != SOC]
    capacity = round(rng.uniform(100, 400), 1)
    commissioned = spec.start - timedelta(days=rng.randint(30, 900))
    return DeviceTruth(
        device_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        description=f"Fleet {SITES[index % len(SITES)]}"
        + (f" {index // len(SITES) + 1}" if index >= len(SITES) else ""),
        metrics=metrics,
        usable_capacity_kwh=capacity,
        fade_pct_per_year=round(rng.uniform(1.5, 4.0), 2),
        round_trip_efficiency=round(rng.uniform(0.85, 0.92), 3),
        max_power_kw=round(capacity * rng.uniform(0.4, 0.6), 1),
        battery_power_positive_means="discharge" if index % 4 == 3 else "charge",
        commissioned_on=commissioned.date().isoformat(),
    )


class _SeriesFiles:
    """One temporary file per metric, written in blocks, joined into one response at the end."""

    def __init__(self, folder: Path, metrics: list[str]) -> None:
        self.metrics = metrics
        self.files: dict[str, IO[str]] = {metric: (folder / f"{i}.part").open("w") for i, metric in enumerate(metrics)}
        self.buffers: dict[str, list[str]] = {metric: [] for metric in metrics}
        self.started: dict[str, bool] = dict.fromkeys(metrics, False)

    def add(self, metric: str, text: str) -> None:
        buffer = self.buffers[metric]
        buffer.append(text)
        if len(buffer) >= 4096:
            self.flush(metric)

    def flush(self, metric: str) -> None:
        buffer = self.buffers[metric]
        if buffer:
            self.files[metric].write(("," if self.started[metric] else "") + ",".join(buffer))
            self.started[metric] = True
            buffer.clear()

    def join_into(self, path: Path) -> None:
        with path.open("w") as out:
            out.write('{"series": [')
            for position, metric in enumerate(self.metrics):
                self.flush(metric)
                handle = self.files[metric]
                handle.close()
                out.write(("," if position else "") + f'{{"name": {json.dumps(metric)}, "data": [')
                with open(handle.name) as part:
                    shutil.copyfileobj(part, out, 1 << 20)
                out.write("]}")
            out.write("]}\n")


def _simulation_clock(spec: FleetSpec, truth: DeviceTruth) -> tuple[float, int, float, float, float, int]:
    """Step (s), number of steps, start and commissioning (epoch s), the one-way efficiency (losses
    split evenly between charging and discharging) and the sign battery power is reported in."""
    commissioned_s = datetime.fromisoformat(truth.commissioned_on).replace(tzinfo=UTC).timestamp()
    sign = 1 if truth.battery_power_positive_means == "charge" else -1
    steps = int(spec.days * 86400 / spec.interval_s)
    return spec.interval_s, steps, spec.start.timestamp(), commissioned_s, math.sqrt(truth.round_trip_efficiency), sign


def _simulate_device(spec: FleetSpec, index: int, out_dir: str) -> DeviceTruth:
    truth = _device_plan(spec, index)
    rng = random.Random(f"{spec.seed}/simulate/{index}")
    wanted = set(truth.metrics)
    dt, steps, start_s, commissioned_s, eta, sign = _simulation_clock(spec, truth)
    base_load_kw = truth.max_power_kw * rng.uniform(0.3, 0.8)
    solar_peak_kw = truth.max_power_kw * rng.uniform(0.5, 1.2)
    sub_share = rng.uniform(0.2, 0.4)
    reset_step = int(steps * 0.6) if index == 0 and BATTERY_IMPORT in wanted else None

    gaps: list[tuple[int, int]] = []
    for _ in range(max(1, int(spec.days / 15))):
        gap_start = rng.randrange(0, max(1, steps - 1))
        gaps.append((gap_start, gap_start + int(rng.uniform(600, 3600) / dt)))
    truth.gaps = [[_iso(start_s + a * dt), _iso(start_s + b * dt)] for a, b in gaps]

    counters = {
        BATTERY_IMPORT: rng.uniform(1e4, 3e5), BATTERY_EXPORT: rng.uniform(1e4, 3e5),
        GRID_IMPORT: rng.uniform(1e5, 5e5), GRID_EXPORT: rng.uniform(1e5, 3e5),
        SUB_IMPORT: rng.uniform(1e5, 3e5), SUB_EXPORT: rng.uniform(1e4, 1e5), SOLAR_EXPORT: rng.uniform(1e4, 1e5),
    }  # fmt: skip
    last_reported = dict.fromkeys(counters, -1.0)
    stored_kwh = truth.usable_capacity_kwh * 0.5
    mode, target, power_kw = "idle", 50.0, 0.0
    day_plan: tuple[float, float, float, float, float, float] = (0, 0, 0, 0, 0, 0)
    current_day = -1
    cloud = 1.0
    month_capacity: dict[str, list[float]] = {}
    last_soc_reported: float | None = None
    soc_seen: float | None = None  # the true SoC at the last step outside a gap
    moved: dict[str, float] = {}

    with tempfile.TemporaryDirectory(prefix="generate-") as scratch:
        files = _SeriesFiles(Path(scratch), truth.metrics)
        add = files.add
        for step in range(steps):
            t = start_s + step * dt
            seconds_of_day = (t + 3600) % 86400  # local time, UTC+1
            day = int((t + 3600) // 86400)
            if day != current_day:
                current_day = day
                day_plan = (
                    rng.uniform(9.5, 11.5) * 3600, rng.uniform(75, 100), truth.max_power_kw * rng.uniform(0.3, 0.6),
                    rng.uniform(17.0, 19.5) * 3600, rng.uniform(5, 45), truth.max_power_kw * rng.uniform(0.3, 0.7),
                )  # fmt: skip
                cloud = rng.uniform(0.2, 1.0)
            capacity = truth.usable_capacity_kwh * (
                1 - truth.fade_pct_per_year / 100 * (t - commissioned_s) / SECONDS_PER_YEAR
            )
            soc = 100 * stored_kwh / capacity
            charge_at, charge_to, charge_kw, discharge_at, discharge_to, discharge_kw = day_plan
            if mode == "idle":
                if charge_at <= seconds_of_day < charge_at + 3600 and soc < charge_to - 1:
                    mode, target, power_kw = "charge", charge_to, charge_kw
                elif discharge_at <= seconds_of_day < discharge_at + 3600 and soc > discharge_to + 1:
                    mode, target, power_kw = "discharge", discharge_to, discharge_kw
            elif (mode == "charge" and soc >= target) or (mode == "discharge" and soc <= target):
                mode, power_kw = "idle", 0.0
            hours = dt / 3600
            charge_kw = power_kw if mode == "charge" else 0.0
            discharge_kw = power_kw if mode == "discharge" else 0.0
            charge_kw = min(charge_kw, max(0.0, (MAX_SOC / 100 * capacity - stored_kwh) / (eta * hours)))
            discharge_kw = min(discharge_kw, max(0.0, (stored_kwh - MIN_SOC / 100 * capacity) * eta / hours))
            stored_kwh += (charge_kw * eta - discharge_kw / eta) * hours
            solar_kw = solar_peak_kw * cloud * max(0.0, math.sin(math.pi * (seconds_of_day / 3600 - 6) / 12))
            load_kw = base_load_kw * (1 + 0.3 * math.sin(2 * math.pi * seconds_of_day / 86400)) + rng.uniform(-2, 2)
            grid_kw = load_kw + charge_kw - discharge_kw - solar_kw
            sub_kw = load_kw * sub_share
            counters[BATTERY_IMPORT] += charge_kw * hours
            counters[BATTERY_EXPORT] += discharge_kw * hours
            counters[GRID_IMPORT] += max(grid_kw, 0.0) * hours
            counters[GRID_EXPORT] += max(-grid_kw, 0.0) * hours
            counters[SUB_IMPORT] += sub_kw * hours
            counters[SOLAR_EXPORT] += solar_kw * hours
            truth.energy_in_kwh += charge_kw * hours
            truth.energy_out_kwh += discharge_kw * hours
            if step == reset_step:
                counters[BATTERY_IMPORT] = 0.0
                last_reported[BATTERY_IMPORT] = -1.0
                truth.counter_reset_at = _iso(t)
            month = datetime.fromtimestamp(t, UTC).strftime("%Y-%m")
            month_capacity.setdefault(month, [capacity, capacity])[1] = capacity
            soc_now = 100 * stored_kwh / capacity

            if any(a <= step < b for a, b in gaps):
                soc_seen = None
                continue
            if soc_seen is not None:
                moved[month] = moved.get(month, 0.0) + abs(soc_now - soc_seen)
            soc_seen = soc_now
            ms = int(t * 1000)
            battery_w = round(sign * (charge_kw - discharge_kw) * 1000 * (1 + rng.uniform(-0.002, 0.002)))
            values = {
                SOC: round(soc_now), BATTERY_POWER: battery_w, GRID_POWER: round(grid_kw * 1000),
                SUB_POWER: round(sub_kw * 1000), SOLAR_POWER: round(solar_kw * 1000),
                SETPOINT: round(sign * (charge_kw - discharge_kw) * 1000), SETPOINT_EXTERNAL: 0,
            }  # fmt: skip
            for metric in truth.metrics:
                if metric in counters:
                    value = round(counters[metric], 2)
                    if value < last_reported[metric]:
                        value = last_reported[metric]
                    if rng.random() < 2e-4 and last_reported[metric] > 0.02:
                        value = round(last_reported[metric] - 0.01, 2)  # backward jitter of the meter
                    else:
                        last_reported[metric] = value
                    add(metric, f"[{ms},{value:.2f}]")
                else:
                    add(metric, f"[{ms},{values[metric]}]")
            truth.points_written += len(truth.metrics)
            if SOC in wanted:
                if last_soc_reported is not None:
                    truth.soc_abs_change_pct += abs(values[SOC] - last_soc_reported)
                last_soc_reported = values[SOC]
        files.join_into(Path(out_dir) / "telemetry" / f"{truth.device_id}.json")
    truth.monthly_capacity_kwh = {month: round((a + b) / 2, 3) for month, (a, b) in month_capacity.items()}
    truth.monthly_soc_moved_pct = {month: round(pct, 2) for month, pct in moved.items()}
    truth.energy_in_kwh = round(truth.energy_in_kwh, 3)
    truth.energy_out_kwh = round(truth.energy_out_kwh, 3)
    return truth


# Field profile: each metric's own cadence (seconds) at the default power cadence of 10 s. A slower
# power cadence (--interval) stretches none of them below it.
FIELD_SOC_INTERVAL_S = 60.0
FIELD_SOC_HEARTBEAT_S = 600.0
FIELD_COUNTER_INTERVAL_S = 300.0
FIELD_SITE_POWER_INTERVAL_S = 30.0
FIELD_COUNTER_RESOLUTION_KWH = 0.1
FIELD_METRICS = [SOC, BATTERY_POWER, BATTERY_IMPORT, BATTERY_EXPORT, GRID_POWER, GRID_IMPORT, GRID_EXPORT, SOLAR_POWER]
FIELD_SELF_DISCHARGE_PCT_PER_HOUR = 0.005
FIELD_RECALIBRATE_AT_SOC = (3.0, 98.0)
# The BMS miscounts SoC by this share (standard deviation) of the SoC it moved since its last calibration.
FIELD_BMS_ERROR_PER_SOC = 0.003


class _FieldClock:
    """One metric's sampling clock: due every `interval_s` from a random phase, each reading's time
    jittered by up to 1.5 s, so different metrics' timestamps almost never coincide."""

    def __init__(self, rng: random.Random, start_s: float, interval_s: float) -> None:
        self.rng = rng
        self.interval_s = interval_s
        self.next_due = start_s + rng.uniform(0, interval_s)

    def due(self, t: float) -> int | None:
        """The reading's epoch ms if one is due at simulation time t, else None."""
        if t < self.next_due:
            return None
        self.next_due += self.interval_s * math.ceil((t - self.next_due + 1e-9) / self.interval_s)
        return int((t + self.rng.uniform(-1.5, 1.5)) * 1000)


def _field_outages(rng: random.Random, spec: FleetSpec) -> list[tuple[float, float]]:
    """Communication outages (seconds since start): about two of hours a month, and one of days."""
    span = spec.days * 86400
    outages = []
    for _ in range(max(1, round(spec.days / 15))):
        begin = rng.uniform(0, span)
        outages.append((begin, begin + rng.uniform(1, 8) * 3600))
    if spec.days >= 20:
        begin = rng.uniform(0.2, 0.8) * span
        outages.append((begin, begin + rng.uniform(2, 4) * 86400))
    return sorted(outages)


def _simulate_field_device(spec: FleetSpec, index: int, out_dir: str) -> DeviceTruth:
    """Field-like telemetry: power every interval_s, SoC every minute as an integer BMS estimate
    (reported when it changes, at least every 10 minutes) that drifts with the energy through the
    battery and jumps back to the truth at full charge or empty; counters every 5 minutes at 0.1 kWh;
    charging follows solar surplus under passing clouds, discharging a noisy building load with
    spikes; days of deep cycles, of grid-service shallow cycles between 30 and 70 %, and idle days
    with self-discharge; outages of hours and one of days (no backfill); one device's battery
    counters restart from zero (firmware update); every third device reports charging as positive,
    the others as negative."""
    truth = _device_plan(spec, index)
    truth.metrics = list(FIELD_METRICS)
    truth.battery_power_positive_means = "charge" if index % 3 == 1 else "discharge"
    rng = random.Random(f"{spec.seed}/field/{index}")
    dt, steps, start_s, commissioned_s, eta, sign = _simulation_clock(spec, truth)
    max_kw = truth.max_power_kw
    base_load_kw = max_kw * rng.uniform(0.3, 0.6)
    solar_peak_kw = max_kw * rng.uniform(1.0, 1.6)
    restart_at = int(steps * 0.55) if index == 0 else None
    outages = _field_outages(rng, spec)
    truth.gaps = [[_iso(start_s + a), _iso(start_s + b)] for a, b in outages]
    clocks = {
        SOC: _FieldClock(rng, start_s, max(FIELD_SOC_INTERVAL_S, dt)),
        BATTERY_POWER: _FieldClock(rng, start_s, dt),
        GRID_POWER: _FieldClock(rng, start_s, max(FIELD_SITE_POWER_INTERVAL_S, 2 * dt)),
        SOLAR_POWER: _FieldClock(rng, start_s, max(FIELD_SITE_POWER_INTERVAL_S, 2 * dt)),
    }
    for counter in (BATTERY_IMPORT, BATTERY_EXPORT, GRID_IMPORT, GRID_EXPORT):
        clocks[counter] = _FieldClock(rng, start_s, max(FIELD_COUNTER_INTERVAL_S, dt))
    counters = {BATTERY_IMPORT: rng.uniform(1e3, 5e4), BATTERY_EXPORT: rng.uniform(1e3, 5e4),
                GRID_IMPORT: rng.uniform(1e5, 5e5), GRID_EXPORT: rng.uniform(1e4, 1e5)}  # fmt: skip
    stored_kwh = stored_at_start = truth.usable_capacity_kwh * 0.5
    drift_pct, drift_per_soc = 0.0, rng.gauss(0, FIELD_BMS_ERROR_PER_SOC)
    last_soc_sent: tuple[int, float] | None = None
    true_soc_before: float | None = None
    soc_abs_change = 0.0
    moved: dict[str, float] = {}
    recalibrations = 0
    month_capacity: dict[str, list[float]] = {}
    day_kind, current_day, mode, target = "idle", -1, "idle", 50.0
    cloud, cloud_dip_until, dip_depth, block_until = 1.0, 0.0, 1.0, 0.0
    discharge_window = (18.0, 23.0)
    charge_to, discharge_to, service_band = 95.0, 20.0, (30.0, 70.0)

    with tempfile.TemporaryDirectory(prefix="generate-") as scratch:
        files = _SeriesFiles(Path(scratch), truth.metrics)
        for step in range(steps):
            elapsed = step * dt
            t = start_s + elapsed
            hour_of_day = ((t + 3600) % 86400) / 3600  # local time, UTC+1
            day = int((t + 3600) // 86400)
            if day != current_day:
                current_day = day
                draw = rng.random()
                day_kind = "deep" if draw < 0.55 else "grid_service" if draw < 0.8 else "idle"
                charge_to = rng.uniform(80, 100.5)
                discharge_to = rng.uniform(8, 35)
                discharge_window = (rng.uniform(16.5, 19), rng.uniform(22, 23.9))
                service_band = (rng.uniform(25, 35), rng.uniform(65, 75))
            capacity = truth.usable_capacity_kwh * (
                1 - truth.fade_pct_per_year / 100 * (t - commissioned_s) / SECONDS_PER_YEAR
            )
            soc = 100 * stored_kwh / capacity
            # Clouds: a slow random walk, and passing clouds that cut the sun by half or more for minutes.
            cloud = min(1.0, max(0.3, cloud + rng.gauss(0, 0.08) * math.sqrt(dt / 60)))
            if t >= cloud_dip_until and rng.random() < dt / 1200:
                cloud_dip_until, dip_depth = t + rng.uniform(60, 600), rng.uniform(0.0, 0.5)
            sun = max(0.0, math.sin(math.pi * (hour_of_day - 6.5) / 12)) * cloud
            if t < cloud_dip_until:
                sun *= dip_depth
            solar_kw = solar_peak_kw * sun
            load_kw = base_load_kw * (0.7 + 0.5 * math.exp(-(((hour_of_day - 19) / 2.5) ** 2)))
            load_kw *= 1 + rng.gauss(0, 0.15)
            if rng.random() < dt / 900:
                load_kw += max_kw * rng.uniform(0.3, 1.0)  # a spike: a kettle, a heat pump starting
            load_kw = max(0.0, load_kw)

            charge_kw = discharge_kw = 0.0
            if day_kind == "deep":
                if 7 <= hour_of_day < 17 and soc < charge_to:
                    charge_kw = min(max_kw, max(0.0, solar_kw - load_kw * 0.5))
                elif discharge_window[0] <= hour_of_day < discharge_window[1] and soc > discharge_to:
                    discharge_kw = min(max_kw, load_kw)
            elif day_kind == "grid_service" and 8 <= hour_of_day < 22:
                if (
                    t >= block_until
                    or (mode == "charge" and soc >= service_band[1])
                    or (mode == "discharge" and soc <= service_band[0])
                ):
                    mode = "charge" if soc < (service_band[0] + service_band[1]) / 2 else "discharge"
                    target = max_kw * rng.uniform(0.2, 0.7)
                    block_until = t + rng.uniform(10, 45) * 60
                level = target * (1 + rng.gauss(0, 0.1))
                if mode == "charge" and soc < service_band[1]:
                    charge_kw = min(max_kw, max(0.0, level))
                elif mode == "discharge" and soc > service_band[0]:
                    discharge_kw = min(max_kw, max(0.0, level))
            hours = dt / 3600
            charge_kw = min(charge_kw, max(0.0, (capacity - stored_kwh) / (eta * hours)))
            discharge_kw = min(discharge_kw, max(0.0, (stored_kwh - MIN_SOC / 100 * capacity) * eta / hours))
            # The state at time t is what the readings show: SoC and counters up to t, and the power
            # that flows from t on (so a counter never holds energy whose power was not read yet).
            # The BMS counts charge with an error that builds up with the SoC moved, and re-calibrates
            # to the truth at full charge or empty (a visible jump); each calibration draws a new error.
            true_soc = 100 * stored_kwh / capacity
            in_outage = any(begin <= elapsed < end for begin, end in outages)
            if true_soc_before is not None:
                soc_abs_change += abs(true_soc - true_soc_before)
                drift_pct += drift_per_soc * abs(true_soc - true_soc_before)
                if not in_outage:
                    month_now = datetime.fromtimestamp(t, UTC).strftime("%Y-%m")
                    moved[month_now] = moved.get(month_now, 0.0) + abs(true_soc - true_soc_before)
            true_soc_before = true_soc
            if (true_soc >= FIELD_RECALIBRATE_AT_SOC[1] and charge_kw > 0) or (
                true_soc <= FIELD_RECALIBRATE_AT_SOC[0] and discharge_kw > 0
            ):
                if abs(drift_pct) >= 0.5:
                    recalibrations += 1
                drift_pct, drift_per_soc = 0.0, rng.gauss(0, FIELD_BMS_ERROR_PER_SOC)

            grid_kw = load_kw + charge_kw - discharge_kw - solar_kw
            readings = {
                BATTERY_POWER: round(sign * (charge_kw - discharge_kw) * 1000 * (1 + rng.gauss(0, 0.005))),
                GRID_POWER: round(grid_kw * 1000),
                SOLAR_POWER: round(solar_kw * 1000),
            }
            for metric, clock in clocks.items():
                ms = clock.due(t)
                if ms is None or in_outage:  # the readings of an outage are lost, not sent later
                    continue
                if metric == SOC:
                    reported = round(min(100.0, max(0.0, true_soc + drift_pct)))
                    if last_soc_sent and reported == last_soc_sent[0] and t - last_soc_sent[1] < FIELD_SOC_HEARTBEAT_S:
                        continue
                    last_soc_sent = (reported, t)
                    files.add(metric, f"[{ms},{reported}]")
                elif metric in counters:
                    resolution = FIELD_COUNTER_RESOLUTION_KWH
                    files.add(metric, f"[{ms},{math.floor(counters[metric] / resolution) * resolution:.1f}]")
                else:
                    files.add(metric, f"[{ms},{readings[metric]}]")
                truth.points_written += 1

            stored_kwh += (charge_kw * eta - discharge_kw / eta) * hours
            stored_kwh -= capacity * FIELD_SELF_DISCHARGE_PCT_PER_HOUR / 100 * hours
            stored_kwh = max(0.0, stored_kwh)
            counters[BATTERY_IMPORT] += charge_kw * hours
            counters[BATTERY_EXPORT] += discharge_kw * hours
            counters[GRID_IMPORT] += max(grid_kw, 0.0) * hours
            counters[GRID_EXPORT] += max(-grid_kw, 0.0) * hours
            truth.energy_in_kwh += charge_kw * hours
            truth.energy_out_kwh += discharge_kw * hours
            if step == restart_at:
                counters[BATTERY_IMPORT] = counters[BATTERY_EXPORT] = 0.0
                truth.counter_reset_at = _iso(t)
            month = datetime.fromtimestamp(t, UTC).strftime("%Y-%m")
            month_capacity.setdefault(month, [capacity, capacity])[1] = capacity
        files.join_into(Path(out_dir) / "telemetry" / f"{truth.device_id}.json")
    truth.monthly_capacity_kwh = {month: round((a + b) / 2, 3) for month, (a, b) in month_capacity.items()}
    truth.energy_in_kwh = round(truth.energy_in_kwh, 3)
    truth.energy_out_kwh = round(truth.energy_out_kwh, 3)
    truth.soc_abs_change_pct = round(soc_abs_change, 2)
    truth.monthly_soc_moved_pct = {month: round(pct, 2) for month, pct in moved.items()}
    truth.recalibration_jumps = recalibrations
    # A device that never charged (a short fleet's idle day) has no efficiency to speak of.
    truth.round_trip_efficiency_with_standby = (
        round((truth.energy_out_kwh + (stored_kwh - stored_at_start) * eta) / truth.energy_in_kwh, 4)
        if truth.energy_in_kwh
        else None
    )
    return truth


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")


def generate_fleet(spec: FleetSpec, out_dir: Path, workers: int | None = None,
                   on_device_done: Callable[[DeviceTruth], None] | None = None) -> list[DeviceTruth]:  # fmt: skip
    """Write assets/, telemetry/ and ground_truth.json for the fleet into out_dir."""
    (out_dir / "assets").mkdir(parents=True, exist_ok=True)
    (out_dir / "telemetry").mkdir(parents=True, exist_ok=True)
    workers = workers or min(spec.devices, os.cpu_count() or 1)
    truths: list[DeviceTruth] = []
    simulate = {"lab": _simulate_device, "field": _simulate_field_device}[spec.profile]
    if workers == 1:
        for index in range(spec.devices):
            truths.append(simulate(spec, index, str(out_dir)))
            if on_device_done:
                on_device_done(truths[-1])
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(simulate, spec, index, str(out_dir)) for index in range(spec.devices)]
            for future in futures:
                truths.append(future.result())
                if on_device_done:
                    on_device_done(truths[-1])
    rng = random.Random(f"{spec.seed}/assets")
    items = [
        {
            "deviceId": truth.device_id,
            "description": truth.description,
            "state": "Warning" if rng.random() < 0.2 else "Ok",
        }
        for truth in truths
    ]
    (out_dir / "assets" / "assets.json").write_text(json.dumps({"totalCount": len(items), "items": items}, indent=1))
    if spec.inject_bad_input:
        _inject_bad_input(out_dir, truths, spec)
    ground_truth = {
        "spec": {**asdict(spec), "start": spec.start.isoformat()},
        "devices": [asdict(truth) | {"efc_energy": round(truth.efc_energy, 4)} for truth in truths],
    }
    (out_dir / "ground_truth.json").write_text(json.dumps(ground_truth, indent=1))
    write_device_specs(truths, out_dir / "device_specs.csv")
    return truths


def write_device_specs(truths: list[DeviceTruth], path: Path) -> None:
    """The fleet's rows for the dbt seed `device_specs` (copy into dbt_project/seeds/ to use them)."""
    lines = ["device_id,usable_capacity_kwh,max_power_kw,commissioned_on"]
    lines += [f"{t.device_id},{t.usable_capacity_kwh},{t.max_power_kw},{t.commissioned_on}" for t in truths]
    path.write_text("\n".join(lines) + "\n")


def _inject_bad_input(out_dir: Path, truths: list[DeviceTruth], spec: FleetSpec) -> None:
    """One response of each broken kind, for devices the assets do not list, beside the good fleet."""
    t0 = int(spec.start.timestamp() * 1000)
    broken = {
        "truncated": '{"series": [{"name": "StateOfChargePercentage", "data": [[' + str(t0) + ", 5",
        "not-json": "<html><body>502 Bad Gateway</body></html>",
        "empty-series": '{"series": []}',
        "nan-values": '{"series": [{"name": "BatteryPowerW", "data": [['
        + str(t0)
        + ", NaN], ["
        + str(t0 + 4000)
        + ", 1]]}]}",
    }
    for position, body in enumerate(broken.values()):
        device_id = uuid.UUID(int=random.Random(f"{spec.seed}/bad/{position}").getrandbits(128), version=4)
        (out_dir / "telemetry" / f"{device_id}.json").write_text(body)
