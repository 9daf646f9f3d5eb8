"""Read-only views of the database for the CLI: the load log and rows per table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from psycopg import sql
from psycopg.rows import dict_row

from loader.connection import connect, relation_exists
from loader.errors import LoaderError
from loader.load_liveness import interrupted_load_ids
from loader.migrations import migrate
from loader.settings import ConnectionSettings


def recent_loads(settings: ConnectionSettings, raw_schema: str, limit: int) -> list[dict[str, Any]]:
    """The newest loads; a 'running' load whose loader is gone shows as 'interrupted'."""
    with connect(settings) as connection:
        if not relation_exists(connection, f"{raw_schema}.load_log"):
            return []
        migrate(connection, raw_schema)  # a loader upgrade adds columns this reads
        interrupted = interrupted_load_ids(connection, raw_schema)
        cursor = connection.cursor(row_factory=dict_row)
        loads = cursor.execute(
            sql.SQL(
                "select load_id, source, started_at, finished_at, status, files_seen, files_landed,"
                " files_unchanged, files_quarantined, files_still_quarantined, pieces_landed, pieces_unchanged,"
                " points_landed, bytes_read, error, loader_host, loader_pid from {}.load_log"
                " order by started_at desc limit %s"
            ).format(sql.Identifier(raw_schema)),
            [limit],
        ).fetchall()
    for load in loads:
        if str(load["load_id"]) in interrupted:
            load["status"] = "interrupted"
    return loads


# The layers of the pipeline in the order data flows, and what each is for; `queried` marks what
# analysts, dashboards and alerts read.
LAYERS: dict[str, tuple[str, bool]] = {
    "raw": ("API responses as landed by the loader", False),
    "staging": ("dbt's views over raw and the admission ledger", False),
    "core": ("battery_telemetry, every valid reading", True),
    "intermediate": ("building blocks of the marts", False),
    "aggregates": ("hourly and daily rollups", True),
    "marts": ("degradation, devices and alerting", True),
    "data_quality": ("rejected points with their reasons", True),
    "reference": ("seeds and snapshots", False),
    "other": ("bookkeeping and objects of other tools", False),
}


def model_layers(project_dir: Path) -> dict[str, str]:
    """Each dbt model's layer: the folder it lives in under models/ (seeds and snapshots: reference)."""
    layers = {path.stem: "reference" for path in (project_dir / "dbt_project" / "seeds").glob("*.csv")}
    models = project_dir / "dbt_project" / "models"
    for path in models.rglob("*.sql"):
        layers[path.stem] = path.relative_to(models).parts[0]
    for path in (project_dir / "dbt_project" / "snapshots").glob("*.yml"):
        layers.update({name: "reference" for name in _snapshot_names(path)})
    return layers


def database_summary(
    settings: ConnectionSettings, raw_schema: str, models_schema: str, project_dir: Path
) -> list[dict[str, Any]]:
    """Every table, view and materialized view outside the system schemas, with its row count and
    its layer (LAYERS), in the order of the layers."""
    layers = model_layers(project_dir)
    with connect(settings) as connection:
        has_timescaledb = connection.execute(
            "select exists (select 1 from pg_extension where extname = 'timescaledb')"
        ).fetchone()
        hypertables: set[tuple[str, str]] = set()
        aggregates: set[tuple[str, str]] = set()
        if has_timescaledb and has_timescaledb[0]:
            hypertables = {
                (row[0], row[1])
                for row in connection.execute(
                    "select hypertable_schema, hypertable_name from timescaledb_information.hypertables"
                )
            }
            aggregates = {
                (row[0], row[1])
                for row in connection.execute(
                    "select view_schema, view_name from timescaledb_information.continuous_aggregates"
                )
            }
        objects = connection.execute(
            "select n.nspname, c.relname, c.relkind from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'v', 'm', 'p')"
            " and n.nspname not in ('pg_catalog', 'information_schema')"
            " and n.nspname not like '\\_timescaledb%%' and n.nspname not like 'timescaledb%%'"
            " and n.nspname not like 'pg\\_%%' order by 1, 2"
        ).fetchall()
        summary = []
        for schema, name, relkind in objects:
            if (schema, name) in hypertables:
                kind = "hypertable"
            elif (schema, name) in aggregates:
                kind = "continuous aggregate"
            else:
                kind = {"r": "table", "v": "view", "m": "materialized view", "p": "table"}[relkind]
            count = connection.execute(
                sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
            ).fetchone()
            if schema == raw_schema:
                layer = "raw"
            elif schema == models_schema or schema.startswith(f"{models_schema}_"):
                layer = layers.get(name, "other")
            else:
                layer = "other"
            rows = count[0] if count else 0
            summary.append({"layer": layer, "schema": schema, "name": name, "kind": kind, "rows": rows})
        order = list(LAYERS)
        return sorted(summary, key=lambda row: (order.index(row["layer"]), row["schema"], row["name"]))


def soc_alerts(settings: ConnectionSettings, schema: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """The two state-of-charge alerts, as the dbt views alert_low_soc and alert_soc_no_data give them:
    'low_soc' (latest recent reading below the threshold) and 'no_data' (reported before, silent now)."""
    schema = schema or settings.schema
    queries = {  # kind: (view, its columns and order)
        "low_soc": ("alert_low_soc", "device_id, device_name, soc_pct, reading_at, threshold_pct", "soc_pct"),
        "no_data": ("alert_soc_no_data", "device_id, device_name, last_reading_at, age_seconds", "age_seconds desc"),
    }
    alerts: dict[str, list[dict[str, Any]]] = {}
    with connect(settings) as connection:
        for kind, (view, columns, order) in queries.items():
            if not relation_exists(connection, f"{schema}.{view}"):
                raise LoaderError(f"The alert view {schema}.{view} does not exist yet: run `dbt build` first.")
            query = sql.SQL(f"select {columns} from {{}} order by {order}").format(sql.Identifier(schema, view))
            alerts[kind] = connection.cursor(row_factory=dict_row).execute(query).fetchall()
    return alerts


def _snapshot_names(path: Path) -> list[str]:
    content = yaml.safe_load(path.read_text()) or {}
    return [snapshot["name"] for snapshot in content.get("snapshots", []) if isinstance(snapshot, dict)]
