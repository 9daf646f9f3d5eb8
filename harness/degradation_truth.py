"""What the degradation marts recovered, next to what `loader generate` simulated (ground_truth.json).

Shared by the ground-truth test and bench/degradation_bench.py. The true fade rate and cycle count
are expressed against the reference capacity the marts use: the simulated usable capacity when the
device has a spec row, else the true capacity over the baseline months.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from harness.dbt import copy_dbt_project


def project_with_specs(fleet: Path, destination: Path, without_spec: int) -> Path:
    """A copy of the dbt project whose device_specs seed holds the generated fleet's specs, except
    for device number `without_spec`, whose reference capacity becomes a baseline."""
    project = copy_dbt_project(destination)
    specs = (fleet / "device_specs.csv").read_text().splitlines()
    del specs[1 + without_spec]
    (project / "dbt_project" / "seeds" / "device_specs.csv").write_text("\n".join(specs) + "\n")
    return project


@dataclass
class DeviceComparison:
    device_id: str
    ref_source: str
    power_sign: tuple[str, str]
    monthly_capacity_kwh: list[tuple[str, float | None, float]] = field(default_factory=list)
    monthly_segments: list[int] = field(default_factory=list)
    fade_pct_per_year: tuple[float | None, float] = (None, 0.0)
    efc: tuple[float, float] = (0.0, 0.0)
    rte: tuple[float, float] = (0.0, 0.0)
    energy_in_kwh: tuple[float, float] = (0.0, 0.0)
    energy_out_kwh: tuple[float, float] = (0.0, 0.0)
    monthly_rte_soc_adjusted: list[float | None] = field(default_factory=list)
    rte_30d_soc_adjusted: float | None = None
    # Per month: SoC moved as monthly efc_soc x 200, and the true SoC moved outside outages.
    monthly_soc_moved_pct: list[tuple[str, float | None, float]] = field(default_factory=list)

    def capacity_errors_pct(self) -> list[float | None]:
        return [None if got is None else 100 * (got / true - 1) for _, got, true in self.monthly_capacity_kwh]

    def soc_moved_errors_pct(self) -> list[float | None]:
        return [None if got is None else 100 * (got / true - 1) for _, got, true in self.monthly_soc_moved_pct]


def compare(
    conn: psycopg.Connection, truth_devices: list[dict[str, Any]], schema: str = "analytics"
) -> list[DeviceComparison]:
    comparisons = []
    for truth in truth_devices:
        device = truth["device_id"]

        def row(query: str, device: str = device) -> tuple[Any, ...]:
            found = conn.execute(query.format(schema=schema), [device]).fetchone()
            assert found is not None, f"no row for device {device}: {query}"
            return found

        ref_source, baseline_months = row(
            "select ref_source, baseline_months from {schema}.int_device_reference_capacity where device_id = %s"
        )
        (sign,) = row("select power_positive_means from {schema}.int_device_power_sign where device_id = %s")
        capacity_rows = conn.execute(
            f"select to_char(month, 'YYYY-MM'), apparent_capacity_kwh, n_segments from {schema}.fct_capacity_monthly"
            " where device_id = %s",
            [device],
        ).fetchall()
        recovered_months = {month: capacity for month, capacity, _ in capacity_rows}
        segments = {month: count for month, _, count in capacity_rows}
        true_months = truth["monthly_capacity_kwh"]
        if ref_source == "spec":
            true_ref = truth["usable_capacity_kwh"]
        else:
            first_months = sorted(month for month, capacity in recovered_months.items() if capacity is not None)
            true_ref = statistics.median(true_months[month] for month in first_months[:baseline_months])
        fade, efc, rte_30d = row(
            "select fade_pct_per_year, lifetime_efc, rte_30d_soc_adjusted from {schema}.fct_device_health"
            " where device_id = %s"
        )
        energy_in, energy_out = row(
            "select sum(energy_in_kwh), sum(energy_out_kwh)"
            " from {schema}.fct_round_trip_efficiency_monthly where device_id = %s"
        )
        monthly_rte = [
            value
            for (value,) in conn.execute(
                f"select rte_soc_adjusted from {schema}.fct_round_trip_efficiency_monthly"
                " where device_id = %s order by month",
                [device],
            ).fetchall()
        ]
        soc_moved = dict(
            conn.execute(
                f"select to_char(day, 'YYYY-MM'), sum(efc_soc) * 200 from {schema}.fct_battery_daily"
                " where device_id = %s group by 1",
                [device],
            ).fetchall()
        )
        # The field profile loses some energy standing (self-discharge): that is part of what a meter sees.
        true_rte = truth["round_trip_efficiency_with_standby"] or truth["round_trip_efficiency"]
        comparisons.append(
            DeviceComparison(
                device_id=device,
                ref_source=ref_source,
                power_sign=(sign, truth["battery_power_positive_means"]),
                monthly_capacity_kwh=[(m, recovered_months.get(m), true) for m, true in true_months.items()],
                monthly_segments=[segments.get(m, 0) for m in true_months],
                fade_pct_per_year=(fade, truth["fade_pct_per_year"] * truth["usable_capacity_kwh"] / true_ref),
                efc=(efc, (truth["energy_in_kwh"] + truth["energy_out_kwh"]) / (2 * true_ref)),
                rte=(energy_out / energy_in, true_rte),
                energy_in_kwh=(energy_in, truth["energy_in_kwh"]),
                energy_out_kwh=(energy_out, truth["energy_out_kwh"]),
                monthly_rte_soc_adjusted=monthly_rte,
                rte_30d_soc_adjusted=rte_30d,
                monthly_soc_moved_pct=[
                    (month, soc_moved.get(month), true) for month, true in truth["monthly_soc_moved_pct"].items()
                ],
            )
        )
    return comparisons


def format_table(comparisons: list[DeviceComparison]) -> str:
    """Recovered vs true, one block per device, for test failures, benchmark output and issue notes."""
    lines = []
    for c in comparisons:
        errors = [f"{e:+.2f}" if e is not None else "n/a" for e in c.capacity_errors_pct()]
        months = [f"{m} {'n/a' if got is None else f'{got:.1f}'}/{true:.1f}" for m, got, true in c.monthly_capacity_kwh]
        lines += [
            f"{c.device_id} (E_ref: {c.ref_source}; power positive means {c.power_sign[0]}, truth {c.power_sign[1]})",
            f"  monthly apparent capacity kWh (recovered/true): {', '.join(months)}",
            f"  capacity error %: {', '.join(errors)}",
            "  SoC moved, efc_soc x 200 vs true, error %: "
            + ", ".join("n/a" if e is None else f"{e:+.2f}" for e in c.soc_moved_errors_pct()),
            f"  clean segments per month: {', '.join(str(count) for count in c.monthly_segments)}",
            f"  fade %/yr {_pair(c.fade_pct_per_year, 2)}; EFC {_pair(c.efc, 1)};"
            f" RTE {_pair(c.rte, 4)}; energy in kWh {_pair(c.energy_in_kwh, 0)}; out {_pair(c.energy_out_kwh, 0)}",
            "  RTE SoC-adjusted, monthly: "
            + ", ".join("n/a" if value is None else f"{value:.4f}" for value in c.monthly_rte_soc_adjusted)
            + f"; last 30 days: {'n/a' if c.rte_30d_soc_adjusted is None else f'{c.rte_30d_soc_adjusted:.4f}'}",
        ]
    return "\n".join(lines)


def _pair(pair: tuple[float | None, float], digits: int) -> str:
    got, true = pair
    return f"{'n/a' if got is None else f'{got:.{digits}f}'} (true {true:.{digits}f})"
