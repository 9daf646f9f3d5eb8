"""Opt-in raw retention: remove raw telemetry pieces that dbt has already transformed.

Raw stays re-processable by default; `loader prune` is the operator's choice to trade that for space
on pieces older than a given age. Only pieces the admission ledger (raw.admission_ledger, written by dbt)
marks transformed are removed, never the piece a latest-readings row points at.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from loader.connection import connect, relation_exists
from loader.errors import LoaderError
from loader.settings import ConnectionSettings


@dataclass(frozen=True)
class PruneResult:
    pieces: int
    points: int
    payload_bytes: int


def is_transformed(raw_schema: str, piece: str = "pieces") -> sql.Composed:
    """SQL: the raw piece aliased `piece` is in battery_telemetry already: the admission ledger (raw,
    written by dbt's builds) marks it transformed, or compaction wrote it (it merges transformed
    pieces only; loader/compaction.py)."""
    return sql.SQL(
        "({piece}.compacted_at is not null or exists (select 1 from {ledger} as ledger"
        " where ledger.piece_id = {piece}.piece_id and ledger.transformed_at is not null))"
    ).format(piece=sql.Identifier(piece), ledger=sql.Identifier(raw_schema, "admission_ledger"))


def why_nothing_is_transformed(
    connection: psycopg.Connection, settings: ConnectionSettings, raw_schema: str
) -> str | None:
    """Why no raw piece can count as transformed yet (no load, or no dbt build), or None if one does."""
    if not relation_exists(connection, f"{raw_schema}.admission_ledger"):
        return f"{settings.display} has no raw schema {raw_schema} (no load yet)"
    transformed = connection.execute(
        sql.SQL("select exists (select 1 from {}.admission_ledger where transformed_at is not null)").format(
            sql.Identifier(raw_schema)
        )
    ).fetchone()
    if not (transformed and transformed[0]):
        return f"no dbt build has transformed a raw piece in {settings.display} yet"
    return None


def prune_transformed_pieces(
    settings: ConnectionSettings, raw_schema: str, older_than_ms: int, dry_run: bool = False
) -> PruneResult:
    """Delete raw pieces loaded more than older_than_ms ago that dbt has transformed; return what went."""
    raw = sql.Identifier(raw_schema)
    with connect(settings) as connection:
        if reason := why_nothing_is_transformed(connection, settings, raw_schema):
            raise LoaderError(f"Nothing to prune: {reason}.")
        prunable = sql.SQL(
            "from {raw}.telemetry_pieces as pieces"
            " where pieces.loaded_at < now() - make_interval(secs => %s / 1000.0) and {transformed}"
            " and not exists (select 1 from {raw}.latest_readings as latest where latest.piece_id = pieces.piece_id)"
        ).format(raw=raw, transformed=is_transformed(raw_schema))
        totals = sql.SQL("select count(*), coalesce(sum(point_count), 0), coalesce(sum(pg_column_size(payload)), 0) ")
        if dry_run:
            row = connection.execute(totals + prunable, [older_than_ms]).fetchone()
        else:
            delete = sql.SQL(
                "with pruned as (delete {prunable} returning point_count, pg_column_size(payload) as size)"
                " select count(*), coalesce(sum(point_count), 0), coalesce(sum(size), 0) from pruned"
            ).format(prunable=prunable)
            row = connection.execute(delete, [older_than_ms]).fetchone()
            try:
                connection.execute(sql.SQL("vacuum {}.telemetry_pieces").format(raw))
            except psycopg.Error as exc:
                raise LoaderError(f"Pruned, but VACUUM of {raw_schema}.telemetry_pieces failed: {exc}") from None
    pieces, points, payload_bytes = row if row else (0, 0, 0)
    return PruneResult(pieces=int(pieces), points=int(points), payload_bytes=int(payload_bytes))
