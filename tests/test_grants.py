"""Least privilege: the alerting role reads only the alert views, the analyst role the models but not raw."""

from __future__ import annotations

import psycopg
import pytest

from loader.settings import ConnectionSettings
from tests.conftest import Backend

pytestmark = pytest.mark.integration


def can_read(settings: ConnectionSettings, user: str, relation: str) -> bool:
    as_user = ConnectionSettings(settings.host, settings.port, settings.dbname, user, "secret", "disable")
    with psycopg.connect(as_user.conninfo, autocommit=True) as connection:
        try:
            connection.execute(f"select * from {relation} limit 1").fetchall()
        except psycopg.errors.InsufficientPrivilege:
            return False
    return True


def test_the_alerting_role_reads_only_the_alert_views_and_the_analyst_role_not_raw(
    sample_built_postgres: Backend,
) -> None:
    settings = sample_built_postgres.settings
    with sample_built_postgres.connect() as connection:
        for user, role in (("grafana", "battery_alerting"), ("ana", "battery_analyst")):
            connection.execute(f"drop user if exists {user}")
            connection.execute(f"create user {user} login password 'secret' in role {role}")

    alert_views = ["analytics.alert_low_soc", "analytics.alert_soc_no_data", "analytics.pipeline_health"]
    assert all(can_read(settings, "grafana", view) for view in alert_views)
    for relation in ["raw.telemetry_pieces", "raw.latest_readings", "analytics.battery_telemetry",
                     "analytics.fct_device_health"]:  # fmt: skip
        assert not can_read(settings, "grafana", relation), relation

    models = ["analytics.battery_telemetry", "analytics.battery_telemetry_hourly", "analytics.fct_device_health",
              "analytics.dq_telemetry_rejected_points"]  # fmt: skip
    for relation in models + alert_views:
        assert can_read(settings, "ana", relation), relation
    for relation in ["raw.telemetry_pieces", "raw.load_log"]:
        assert not can_read(settings, "ana", relation), relation
