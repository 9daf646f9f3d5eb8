"""Numbers a user can trust at a glance: a 60-day field fleet (its last month holds one day) beside the
sample's devices, which report for a few seconds (one of them without state of charge). Partial months
and windows with too few cycles give no efficiency above 1 and no 0 where the answer is unknown; the
fleet counts only devices with real data; fade is fitted only on whole months; the marts people read
carry the device's name."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.dbt import run_dbt
from loader.generate import FleetSpec, generate_fleet
from tests.conftest import SAMPLE_DATA, Backend
from tests.helpers import invoke, load_args

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FLEET = FleetSpec(devices=3, days=61.5, interval_s=180, seed=7, profile="field")  # to 2025-03-02 12:00
SAMPLE_DEVICES = 3


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("field-60-days")
    generate_fleet(FLEET, folder)
    return folder


def test_partial_months_few_cycles_and_seconds_long_devices_give_flags_not_false_figures(
    postgres_backend: Backend, fleet: Path, tmp_path: Path
) -> None:
    backend = postgres_backend
    invoke(load_args(backend.settings, str(SAMPLE_DATA)))
    invoke(load_args(backend.settings, str(fleet)))
    run_dbt(backend.settings, tmp_path, "build")
    fleet_devices = {path.stem for path in (fleet / "telemetry").glob("*.json")}
    march = datetime(2025, 3, 1, tzinfo=UTC).date()

    # Efficiencies: none above 1 on a row flagged ok, none at all on a partial month or with too few cycles.
    monthly = backend.rows(
        "select device_id::text, month, rte, rte_soc_adjusted, quality_flag, device_name"
        " from analytics.fct_round_trip_efficiency_monthly"
    )
    assert all(rte is None or (flag == "ok" and rte <= 1) for _, _, rte, _, flag, _ in monthly)
    march_rows = [row for row in monthly if row[1] == march]
    assert {row[0] for row in march_rows} == fleet_devices
    assert all(row[4] == "partial_month" and row[2] is None and row[3] is None for row in march_rows)
    assert any(row[4] == "ok" for row in monthly), monthly
    assert all(name for *_, name in monthly)

    # The fleet: the sample's devices (seconds of data in February) do not count; no efficiency from
    # a month of partial device-months.
    fleet_months = {
        month: (devices, efc_per_device, total_efc, fleet_rte, with_rte)
        for month, devices, efc_per_device, total_efc, fleet_rte, with_rte in backend.rows(
            "select month, devices, efc_per_device, total_efc, fleet_rte, devices_with_rte"
            " from analytics.fct_fleet_monthly"
        )
    }
    assert [devices for devices, *_ in fleet_months.values()] == [FLEET.devices] * 3
    for devices, efc_per_device, total_efc, fleet_rte, _ in fleet_months.values():
        assert efc_per_device == pytest.approx(total_efc / devices)
        assert fleet_rte is None or 0 < fleet_rte <= 1
    assert fleet_months[march][3] is None and fleet_months[march][4] == 0
    assert fleet_months[datetime(2025, 2, 1, tzinfo=UTC).date()][3] is not None

    # Capacity: March's one day is flagged partial and not fitted; two whole months are too few for a fade.
    flags = dict(
        backend.rows(
            "select device_id::text, quality_flag from analytics.fct_capacity_monthly where month = '2025-03-01'"
        )
    )
    assert set(flags.values()) <= {"partial_month", "too_few_segments"}
    health = {
        device: (n_months, fade, rte_30d, rte_flag, name)
        for device, n_months, fade, rte_30d, rte_flag, name in backend.rows(
            "select device_id::text, n_months, fade_pct_per_year, rte_30d, rte_30d_quality_flag, device_name"
            " from analytics.fct_device_health"
        )
    }
    for device in fleet_devices:
        n_months, fade, rte_30d, rte_flag, name = health[device]
        assert (n_months, fade) == (2, None)
        assert rte_flag == "ok" and 0 < rte_30d <= 1
        assert name
    # A device seen for seconds: null with the reason, never 0.
    sample_health = [values for device, values in health.items() if device not in fleet_devices]
    assert len(sample_health) == SAMPLE_DEVICES
    assert all(rte_30d is None and rte_flag != "ok" for _, _, rte_30d, rte_flag, _ in sample_health)
    assert backend.scalar("select count(*) from analytics.fct_capacity_monthly where device_name is null") == 0
