"""`loader readings`: one device's readings of one metric over a time range, for people who do not write SQL.

Rows come from `battery_telemetry` in time order through a server-side cursor, so an export of any
size streams with flat memory. Paging is by key: `after` (the last time of the previous page) makes any
page cost what the first costs; `page` numbers skip rows with an offset, whose cost grows with the page.
With `include_untransformed`, readings landed in raw pieces that dbt has not transformed yet (no ledger
row with `transformed_at`) are added,
marked as such (they may still be judged invalid or replaced by a later correction).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from loader.connection import connect, relation_exists
from loader.errors import LoaderError
from loader.migrations import DEFAULT_RAW_SCHEMA
from loader.retention import is_transformed
from loader.settings import ConnectionSettings

FETCH_ROWS = 5000
TRANSFORMED = "transformed"
UNTRANSFORMED = "landed, not transformed yet"


@dataclass(frozen=True)
class ReadingsQuery:
    device: str
    metric: str
    start: datetime | None = None
    end: datetime | None = None
    after: datetime | None = None
    page: int | None = None
    page_size: int = 1000
    include_untransformed: bool = False
    models_schema: str | None = None
    raw_schema: str = DEFAULT_RAW_SCHEMA


@dataclass(frozen=True)
class Reading:
    recorded_at: datetime
    value: float
    source: str


def resolve_device(connection: psycopg.Connection, schema: str, device: str) -> tuple[str, str | None]:
    """(device id, name) of a device given by id or by its name in dim_devices."""
    rows = connection.execute(
        sql.SQL(
            "select device_id::text, device_name from {} where device_id::text = lower(%s) or device_name = %s"
        ).format(sql.Identifier(schema, "dim_devices")),
        [device, device],
    ).fetchall()
    if not rows:
        raise LoaderError(f"No device {device!r}: give a device id or a name from the assets list (dim_devices).")
    if len(rows) > 1:
        raise LoaderError(f"{len(rows)} devices are named {device!r}: give the device id instead.")
    return rows[0][0], rows[0][1]


@dataclass(frozen=True)
class DeviceFound:
    """The device a readings query resolved to: what iter_readings yields first."""

    device_id: str
    name: str | None


def iter_readings(settings: ConnectionSettings, query: ReadingsQuery) -> Iterator[Reading | DeviceFound]:
    """First the device (DeviceFound), then its readings in time order."""
    schema = query.models_schema or settings.schema
    with connect(settings) as connection:
        for relation in ("battery_telemetry", "dim_devices"):
            if not relation_exists(connection, f"{schema}.{relation}"):
                raise LoaderError(f"{schema}.{relation} does not exist yet: run `dbt build` first.")
        device_id, name = resolve_device(connection, schema, query.device)
        yield DeviceFound(device_id, name)
        statement, parameters = _statement(query, schema, device_id)
        with connection.transaction(), connection.cursor(name="loader_readings") as cursor:
            cursor.itersize = FETCH_ROWS
            cursor.execute(statement, parameters)
            for recorded_at, value, source in cursor:
                yield Reading(recorded_at, value, source)


def device_metrics(settings: ConnectionSettings, query: ReadingsQuery, device_id: str) -> list[str]:
    """The metrics a device has readings of (transformed, or landed too with include_untransformed):
    what to tell a user who asked for another one. Reads the device's rows; not for routine paths."""
    schema = query.models_schema or settings.schema
    statement = sql.SQL("select distinct metric_name from {} where device_id = %s").format(
        sql.Identifier(schema, "battery_telemetry")
    )
    if query.include_untransformed:
        statement = sql.SQL("{} union select distinct metric_name from {} where device_id = %s").format(
            statement, sql.Identifier(query.raw_schema, "telemetry_pieces")
        )
    parameters = [device_id] * (2 if query.include_untransformed else 1)
    with connect(settings) as connection:
        return sorted(row[0] for row in connection.execute(statement, parameters))


def _statement(query: ReadingsQuery, schema: str, device_id: str) -> tuple[sql.Composed, list[Any]]:
    bounds, parameters = _time_bounds(query, "recorded_at")
    transformed = sql.SQL(
        "select recorded_at, value, {transformed} as source from {core}"
        " where device_id = %s and metric_name = %s{bounds}"
    ).format(transformed=sql.Literal(TRANSFORMED), core=sql.Identifier(schema, "battery_telemetry"), bounds=bounds)
    parameters = [device_id, query.metric, *parameters]
    if query.include_untransformed:
        raw_bounds, raw_parameters = _time_bounds(query, "point_at")
        untransformed = sql.SQL(
            "select point_at, point_value, {untransformed} from ("
            " select to_timestamp((point ->> 0)::double precision / 1000) as point_at,"
            " (point ->> 1)::double precision as point_value"
            " from {pieces} as piece cross join lateral jsonb_array_elements(piece.payload -> 'data') as point"
            " where piece.device_id = %s and piece.metric_name = %s"
            " and not {transformed}"
            " and jsonb_typeof(point -> 0) = 'number' and jsonb_typeof(point -> 1) = 'number'"
            ") as landed where true{bounds}"
        ).format(
            untransformed=sql.Literal(UNTRANSFORMED),
            pieces=sql.Identifier(query.raw_schema, "telemetry_pieces"),
            transformed=is_transformed(query.raw_schema, "piece"),
            bounds=raw_bounds,
        )
        transformed = sql.SQL("{} union all {}").format(transformed, untransformed)
        parameters += [device_id, query.metric, *raw_parameters]
    statement = sql.SQL("select * from ({}) as readings order by 1").format(transformed)
    if query.page is not None:
        statement = sql.SQL("{} limit %s offset %s").format(statement)
        parameters += [query.page_size, (query.page - 1) * query.page_size]
    elif query.after is not None:
        statement = sql.SQL("{} limit %s").format(statement)
        parameters += [query.page_size]
    return statement, parameters


def _time_bounds(query: ReadingsQuery, column: str) -> tuple[sql.Composed, list[Any]]:
    conditions, parameters = [], []
    for value, operator in ((query.start, ">="), (query.end, "<"), (query.after, ">")):
        if value is not None:
            conditions.append(sql.SQL(" and {} {} %s").format(sql.Identifier(column), sql.SQL(operator)))
            parameters.append(value)
    return sql.Composed(conditions), parameters
