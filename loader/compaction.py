"""Raw compaction: a day's small pieces of a series become one piece, so routine polling does not bloat raw.

A routine run every few minutes lands, per device and metric, a piece holding the few readings that
came since the last run: each piece costs ~750 bytes of row, indexes and admission-ledger row, so raw
takes hundreds of bytes per reading where a day's piece takes ~10 (README, "Routine builds and
storage"). Once dbt has transformed them, the pieces a series landed for one day (UTC, by their first
reading) are merged into one piece holding the same readings in time order, when they were loaded
longer ago than the compaction age and that day ended longer ago too. A reading sent twice keeps its
landing order within the merged piece, so a correction still wins when raw is re-processed.

Raw stays re-processable: a full refresh reads a merged piece like any other, and an incremental build
never admits one (its readings are in battery_telemetry already). What a merged piece no longer says
is which response and load brought each reading: it keeps the newest contributing load and load time,
the source the pieces share (their URI up to the first difference, cut at a '/' or '?') and how many
pieces it merged. Only plain pieces (the parser's is_plain_numeric) are merged; a piece a latest
reading points at waits until a newer reading replaces it; a piece alone in its day is marked as taken
and left as it is. HTTP responses' file records older than the age are removed too: a routine run never
asks for an old window again, and a backfill remembers its windows in raw.fetch_cursors.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass

import psycopg
from psycopg import sql

from loader.connection import connect
from loader.errors import LoaderError
from loader.job_locks import embedded_turn, is_shared_session_server
from loader.landing import piece_hash
from loader.retention import is_transformed, why_nothing_is_transformed
from loader.settings import ConnectionSettings
from loader.telemetry_parser import Piece

DAY_MS = 86_400_000
DEFAULT_COMPACT_AFTER = "2d"


@dataclass(frozen=True)
class CompactionResult:
    series_days: int = 0  # device-metric-days whose pieces were merged
    pieces_merged: int = 0
    pieces_left_alone: int = 0
    points: int = 0
    payload_bytes_before: int = 0
    payload_bytes_after: int = 0
    http_file_records_removed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def shared_source(uris: list[str]) -> str:
    """The source URI the pieces share: the common start of their URIs, cut back to a '/' or '?'."""
    if len(set(uris)) == 1:
        return uris[0]
    common = os.path.commonprefix(uris)  # noqa: RUF071 (URIs, compared by character on purpose)
    cut = max(common.rfind("/"), common.rfind("?"))
    return common[:cut] if cut > 0 else common


def compact_after_load(
    settings: ConnectionSettings,
    raw_schema: str,
    older_than_ms: int,
    on_wait: Callable[[str], None] = lambda sentence: None,
) -> CompactionResult | str:
    """The compaction `loader load` and `loader stream` run by themselves: what is due, on a database
    dbt has built. What landed stays landed, so a failure is returned as its sentence (the caller says
    it on one line) and the next run tries again."""
    try:
        return compact_raw_pieces(settings, raw_schema, older_than_ms, require_transformed=False, on_wait=on_wait)
    except (LoaderError, psycopg.Error) as exc:
        return str(exc).strip().splitlines()[0]


def compact_raw_pieces(
    settings: ConnectionSettings,
    raw_schema: str,
    older_than_ms: int,
    dry_run: bool = False,
    require_transformed: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
    on_wait: Callable[[str], None] = lambda sentence: None,
) -> CompactionResult:
    """Merge each series' transformed pieces of one day into one piece, for the days before the (UTC) day
    `older_than_ms` ago and the pieces loaded before that day began; remove HTTP file records older than
    `older_than_ms`. With require_transformed=False a database where no dbt build transformed a piece
    yet is left alone instead of raising. on_progress(done, total) per series-day. On the embedded
    server it takes the job turn like a load (on_wait hears why when it has to wait).

    Both bounds are that day's start, so a day's pieces become due together and are merged once, and the
    partial index of pieces not taken yet (by loaded_at) reads only what is due: a piece loaded before
    that start holds readings of an earlier day (unless a device's clock runs ahead)."""
    with (
        connect(settings) as connection,
        embedded_turn(settings, is_shared_session_server(settings, connection), on_wait),
    ):
        return _compact(connection, settings, raw_schema, older_than_ms, dry_run, require_transformed,
                        on_progress)  # fmt: skip


def _compact(
    connection: psycopg.Connection,
    settings: ConnectionSettings,
    raw_schema: str,
    older_than_ms: int,
    dry_run: bool,
    require_transformed: bool,
    on_progress: Callable[[int, int], None] | None,
) -> CompactionResult:
    raw = sql.Identifier(raw_schema)
    if reason := why_nothing_is_transformed(connection, settings, raw_schema):
        if require_transformed:
            raise LoaderError(f"Nothing to compact: {reason}.")
        return CompactionResult()
    # The database's clock, not this machine's: load times are the database's.
    now = connection.execute("select (extract(epoch from now()) * 1000)::bigint").fetchone()
    horizon_ms = (int(now[0]) - older_than_ms) // DAY_MS * DAY_MS if now else 0
    due = connection.execute(
        sql.SQL(
            "select pieces.device_id, pieces.metric_name,"
            " array_agg(pieces.piece_id order by pieces.loaded_at, pieces.piece_id),"
            " sum(pieces.point_count), sum(pg_column_size(pieces.payload))"
            " from {raw}.telemetry_pieces as pieces"
            " where pieces.compacted_at is null and pieces.is_plain_numeric"
            " and pieces.loaded_at < to_timestamp(%(horizon)s / 1000.0) and pieces.first_recorded_ms < %(horizon)s"
            " and {transformed}"
            " and not exists (select 1 from {raw}.latest_readings as latest"
            " where latest.piece_id = pieces.piece_id)"
            " group by pieces.device_id, pieces.metric_name, div(pieces.first_recorded_ms, %(day)s)"
        ).format(raw=raw, transformed=is_transformed(raw_schema)),
        {"horizon": horizon_ms, "day": DAY_MS},
    ).fetchall()
    alone = [ids[0] for _, _, ids, _, _ in due if len(ids) == 1]
    merges = [(str(device_id), metric, ids) for device_id, metric, ids, _, _ in due if len(ids) > 1]
    http_records = sql.SQL(
        "from {raw}.landed_files where source_uri ~ '^https?://' and landed_at < now() - %s * interval '1 millisecond'"
    ).format(raw=raw)
    if dry_run:
        row = connection.execute(sql.SQL("select count(*) {}").format(http_records), [older_than_ms]).fetchone()
        return CompactionResult(
            series_days=len(merges),
            pieces_merged=sum(len(ids) for _, _, ids in merges),
            pieces_left_alone=len(alone),
            points=sum(int(points) for _, _, ids, points, _ in due if len(ids) > 1),
            payload_bytes_before=sum(int(size) for _, _, ids, _, size in due if len(ids) > 1),
            http_file_records_removed=int(row[0]) if row else 0,
        )
    if alone:
        connection.execute(
            sql.SQL(
                "update {raw}.telemetry_pieces set compacted_at = now(), compacted_from_pieces = 1"
                " where piece_id = any(%s) and compacted_at is null"
            ).format(raw=raw),
            [alone],
        )
    series_days = pieces = points = before = after = 0
    for done, (device_id, metric, ids) in enumerate(merges, start=1):
        merged = _merge(connection, raw_schema, device_id, metric, ids)
        if merged is not None:
            series_days, pieces = series_days + 1, pieces + len(ids)
            points, before, after = points + merged[0], before + merged[1], after + merged[2]
        if on_progress is not None:
            on_progress(done, len(merges))
    removed = connection.execute(
        sql.SQL("with removed as (delete {} returning 1) select count(*) from removed").format(http_records),
        [older_than_ms],
    ).fetchone()
    return CompactionResult(
        series_days=series_days,
        pieces_merged=pieces,
        pieces_left_alone=len(alone),
        points=points,
        payload_bytes_before=before,
        payload_bytes_after=after,
        http_file_records_removed=int(removed[0]) if removed else 0,
    )


def _merge(
    connection: psycopg.Connection, raw_schema: str, device_id: str, metric: str, ids: list[int]
) -> tuple[int, int, int] | None:
    """One series-day's pieces into one, in one transaction. Returns points and payload bytes before and
    after, or None when another run took some of the pieces first."""
    raw = sql.Identifier(raw_schema)
    with connection.transaction():
        locked = connection.execute(
            sql.SQL(
                "select piece_id from {raw}.telemetry_pieces where piece_id = any(%s) and compacted_at is null"
                " for update"
            ).format(raw=raw),
            [ids],
        ).fetchall()
        if len(locked) != len(ids):
            return None
        row = connection.execute(
            sql.SQL(
                "select jsonb_agg(element.point order by (element.point ->> 0)::bigint, pieces.loaded_at,"
                " pieces.piece_id, element.position)::text, count(*),"
                " min((element.point ->> 0)::bigint), max((element.point ->> 0)::bigint)"
                " from {raw}.telemetry_pieces as pieces"
                " cross join lateral jsonb_array_elements(pieces.payload -> 'data')"
                " with ordinality as element (point, position)"
                " where pieces.piece_id = any(%s)"
            ).format(raw=raw),
            [ids],
        ).fetchone()
        lineage = connection.execute(
            sql.SQL(
                "select (array_agg(load_id order by loaded_at desc, piece_id desc))[1], max(loaded_at),"
                " array_agg(source_uri), sum(pg_column_size(payload))"
                " from {raw}.telemetry_pieces where piece_id = any(%s)"
            ).format(raw=raw),
            [ids],
        ).fetchone()
        assert row is not None and lineage is not None  # aggregates always return a row
        points_json, points, first_ms, last_ms = row
        load_id, loaded_at, uris, size_before = lineage
        piece = Piece(series_index=0, name=metric, chunk_index=0, points_json=points_json, point_count=points,
                      first_ms=first_ms, last_ms=last_ms, is_plain_numeric=True)  # fmt: skip
        # Their admission-ledger rows go with them (on delete cascade).
        connection.execute(
            sql.SQL("delete from {raw}.telemetry_pieces where piece_id = any(%s)").format(raw=raw), [ids]
        )
        inserted = connection.execute(
            sql.SQL(
                "insert into {raw}.telemetry_pieces (load_id, loaded_at, source_uri, device_id, metric_name,"
                " series_index, chunk_index, point_count, first_recorded_ms, last_recorded_ms, is_plain_numeric,"
                " content_hash, payload, compacted_at, compacted_from_pieces)"
                " values (%s, %s, %s, %s, %s, 0, 0, %s, %s, %s, true, %s, %s::jsonb, now(), %s)"
                " on conflict (content_hash) do nothing returning piece_id"
            ).format(raw=raw),
            [
                *(load_id, loaded_at, shared_source(uris), device_id, metric, points, first_ms, last_ms),
                *(piece_hash(device_id, piece), piece.payload_json, len(ids)),
            ],
        ).fetchone()
        # Measured once stored: TOAST compresses the payload on the way in.
        stored = connection.execute(
            sql.SQL("select pg_column_size(payload) from {raw}.telemetry_pieces where piece_id = %s").format(raw=raw),
            [inserted[0] if inserted else None],
        ).fetchone()
    return int(points), int(size_before), int(stored[0]) if stored else 0
