"""`loader load`: land API responses raw, idempotently, with lineage, quarantining what cannot land.

One telemetry response is landed in one transaction: either all of its pieces (and any series it
rejects) are committed together with its `landed_files` row and the load's running counts in
`load_log`, or none are; so a load that dies reports what it landed (see loader/load_liveness.py for
how its row comes to say 'interrupted'). A piece whose content
hash is already in the table is skipped (`on conflict do nothing` on a unique hash), which makes a
re-run land nothing new and lets two loaders run at once without landing anything twice: the second
waits on the first's uncommitted rows and then skips them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import psycopg
from psycopg import sql

from loader import __version__, metrics
from loader.connection import connect, relation_exists
from loader.errors import LoaderError, OptionsDoNotFit
from loader.job_locks import embedded_turn, is_shared_session_server
from loader.load_liveness import hold_load_lock, mark_interrupted_loads, release_load_lock, this_loader
from loader.migrations import DEFAULT_RAW_SCHEMA, migrate
from loader.settings import ConnectionSettings, dbt_project_var
from loader.sources import Document, MissingDocument, Source
from loader.telemetry_parser import (
    DEFAULT_MAX_POINTS,
    PLAIN_POINT,
    MalformedResponse,
    Piece,
    SeriesRejected,
    decode_for_jsonb,
    iter_telemetry,
)
from loader.windows import Window, WindowPlan, advance_cursor, plan_device_windows, read_cursors

QUARANTINE_MAX_BYTES = 16 << 20
HASH_BLOCK = 1 << 20


DEFAULT_LATEST_METRICS = (metrics.SOC,)
DEFAULT_CONCURRENCY = 4
# Readings outside these ranges never become a metric's latest reading (dbt staging's rule, from the
# same vars), so an invalid reading cannot hide the valid one before it.
LATEST_READING_RANGES = {metrics.SOC: tuple(dbt_project_var("soc_valid_range_pct"))}
MIN_VALID_EPOCH_MS = int(dbt_project_var("min_valid_epoch_ms"))
MAX_FUTURE_MS = int(dbt_project_var("max_future_ms"))


@dataclass
class LoadOptions:
    device_ids: list[str] | None = None
    only_asset_devices: bool = False
    dry_run: bool = False
    max_points_per_piece: int = DEFAULT_MAX_POINTS
    raw_schema: str = DEFAULT_RAW_SCHEMA
    # Metrics whose newest reading the loader keeps in raw.latest_readings for alerting.
    latest_metrics: tuple[str, ...] = DEFAULT_LATEST_METRICS
    # How to ask a source that takes time ranges (the HTTP API); see loader/windows.py.
    window_plan: WindowPlan = field(default_factory=WindowPlan)
    # Devices landed at once, each worker on its own connection; None: DEFAULT_CONCURRENCY, or 1 on
    # the embedded database, whose clients share one session.
    concurrency: int | None = None


@dataclass
class Rejection:
    source_uri: str
    reason: str
    series_index: int | None = None
    disposition: str = "rejected"


@dataclass
class LoadSummary:
    load_id: str
    source: str
    status: str = "running"
    dry_run: bool = False
    files_seen: int = 0
    files_landed: int = 0
    files_unchanged: int = 0
    files_quarantined: int = 0
    # Rejected files seen again unchanged: not quarantined a second time, not a new reject.
    files_still_quarantined: int = 0
    pieces_landed: int = 0
    pieces_unchanged: int = 0
    points_landed: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    rejections: list[Rejection] = field(default_factory=list)
    still_quarantined: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def has_rejects(self) -> bool:
        return any(rejection.disposition == "rejected" for rejection in self.rejections)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def add(self, other: LoadSummary) -> None:
        """Add a worker's counts and messages to this summary."""
        for name in COUNT_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejections += other.rejections
        self.still_quarantined += other.still_quarantined
        self.warnings += other.warnings


# The counts a load's row in load_log keeps (LoadSummary's fields of the same names).
COUNT_FIELDS = (
    "files_seen",
    "files_landed",
    "files_unchanged",
    "files_quarantined",
    "files_still_quarantined",
    "pieces_landed",
    "pieces_unchanged",
    "points_landed",
    "bytes_read",
)


class Progress:
    """Hooks the CLI uses to draw a progress bar; the library works without one."""

    def start(self, total_bytes: int | None) -> None: ...
    def advance(self, byte_count: int) -> None: ...
    def waiting(self, sentence: str) -> None: ...


def sha256_file(document: Document) -> str:
    digest = hashlib.sha256()
    with document.open_stored() as stream:
        while block := stream.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def piece_hash(device_id: str, piece: Piece) -> str:
    """Content hash of a piece: the same points of the same device and metric hash the same."""
    digest = hashlib.sha256()
    for part in (device_id, piece.name, piece.points_json):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


class RawSink:
    """Writes to the raw schema, or, in a dry run, only asks what a write would do."""

    def __init__(
        self,
        connection: psycopg.Connection,
        schema: str,
        load_id: str,
        dry_run: bool,
        latest_metrics: tuple[str, ...] = DEFAULT_LATEST_METRICS,
    ) -> None:
        self.connection = connection
        self.latest_metrics = latest_metrics
        self.schema_name = schema
        self.schema = sql.Identifier(schema)
        self.load_id = load_id
        self.dry_run = dry_run
        self.schema_exists = True
        self._dry_run_hashes: set[str] = set()
        self._recorded: dict[str, int] = {}
        # A caller that commits many documents in one transaction (a stream's batch) records the
        # counts once, at its end, instead of once a document.
        self.counts_deferred = False
        if dry_run:
            self.schema_exists = relation_exists(connection, f"{schema}.load_log")

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(schema=self.schema)

    def begin_load(self, source: str) -> None:
        """Mark dead loads interrupted, then hold this load's lock before its row exists."""
        if self.dry_run:
            return
        mark_interrupted_loads(self.connection, self.schema_name)
        hold_load_lock(self.connection, self.schema_name, self.load_id)
        host, pid = this_loader()
        self.connection.execute(
            self._q(
                "insert into {schema}.load_log (load_id, source, loader_version, loader_host, loader_pid)"
                " values (%s, %s, %s, %s, %s)"
            ),
            [self.load_id, source, __version__, host, pid],
        )

    def record_counts(self, summary: LoadSummary) -> None:
        """Add what `summary` counted since this sink last recorded it to the load's row; inside a
        response's transaction the increments commit with it. Increments, so that the loader's workers
        (each with its own connection and summary) can share one row."""
        if self.dry_run or self.counts_deferred:
            return
        counts = {name: getattr(summary, name) for name in COUNT_FIELDS}
        increments = [counts[name] - self._recorded.get(name, 0) for name in COUNT_FIELDS]
        if not any(increments):
            return
        assignments = sql.SQL(", ").join(
            sql.SQL("{column} = {column} + %s").format(column=sql.Identifier(name)) for name in COUNT_FIELDS
        )
        self.connection.execute(
            sql.SQL("update {schema}.load_log set {assignments} where load_id = %s").format(
                schema=self.schema, assignments=assignments
            ),
            [*increments, self.load_id],
        )
        self._recorded = counts

    def finish_load(self, summary: LoadSummary, error: str | None = None) -> None:
        if self.dry_run:
            return
        counts = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(name)) for name in COUNT_FIELDS)
        with self.connection.transaction():
            self.connection.execute(
                sql.SQL(
                    "update {schema}.load_log set {counts}, finished_at = clock_timestamp(), status = %s,"
                    " error = %s, summary = %s::jsonb where load_id = %s"
                ).format(schema=self.schema, counts=counts),
                [
                    *(getattr(summary, name) for name in COUNT_FIELDS),
                    summary.status,
                    error,
                    json.dumps(summary.as_dict()),
                    self.load_id,
                ],
            )
        release_load_lock(self.connection, self.schema_name, self.load_id)

    def was_quarantined(self, uri: str, content_hash: str) -> bool:
        """Was this very content of this input rejected before?"""
        if not self.schema_exists:
            return False
        row = self.connection.execute(
            self._q(
                "select 1 from {schema}.quarantine where source_uri = %s and content_hash = %s"
                " and disposition = 'rejected' limit 1"
            ),
            [uri, content_hash],
        ).fetchone()
        return row is not None

    def file_already_landed(self, uri: str, content_hash: str) -> bool:
        if not self.schema_exists:
            return False
        row = self.connection.execute(
            self._q("select 1 from {schema}.landed_files where source_uri = %s and content_hash = %s"),
            [uri, content_hash],
        ).fetchone()
        return row is not None

    def mark_file_landed(self, document: Document, content_hash: str, pieces: int) -> None:
        if self.dry_run:
            return
        self.connection.execute(
            self._q(
                "insert into {schema}.landed_files (source_uri, content_hash, load_id, size_bytes, pieces,"
                " object_etag) values (%s, %s, %s, %s, %s, %s) on conflict do nothing"
            ),
            [document.uri, content_hash, self.load_id, document.size, pieces, document.etag],
        )

    def object_already_landed(self, document: Document) -> bool:
        """Was this stored object (same key, ETag and size) landed before? Then it need not be downloaded."""
        if document.etag is None or not self.schema_exists:
            return False
        row = self.connection.execute(
            self._q(
                "select 1 from {schema}.landed_files where source_uri = %s and object_etag = %s and size_bytes = %s"
            ),
            [document.uri, document.etag, document.size],
        ).fetchone()
        return row is not None

    def _exists(self, table: str, content_hash: str) -> bool:
        """Dry run: would this content hash be skipped?"""
        if content_hash in self._dry_run_hashes:
            return True
        self._dry_run_hashes.add(content_hash)
        if not self.schema_exists:
            return False
        row = self.connection.execute(
            sql.SQL("select 1 from {}.{} where content_hash = %s").format(self.schema, sql.Identifier(table)),
            [content_hash],
        ).fetchone()
        return row is not None

    def insert_piece(self, document: Document, device_id: str, piece: Piece) -> bool:
        """Land one piece; False when the same content was already landed."""
        content_hash = piece_hash(device_id, piece)
        if self.dry_run:
            return not self._exists("telemetry_pieces", content_hash)
        row = self.connection.execute(
            self._q(
                "insert into {schema}.telemetry_pieces (load_id, source_uri, device_id, metric_name,"
                " series_index, chunk_index, point_count, first_recorded_ms, last_recorded_ms,"
                " is_plain_numeric, content_hash, payload, received_at)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)"
                " on conflict (content_hash) do nothing returning piece_id"
            ),
            [
                self.load_id,
                document.uri,
                device_id,
                piece.name,
                piece.series_index,
                piece.chunk_index,
                piece.point_count,
                piece.first_ms,
                piece.last_ms,
                piece.is_plain_numeric,
                content_hash,
                piece.payload_json,
                document.received_at,
            ],
        ).fetchone()
        if row is not None and piece.name in self.latest_metrics:
            self.refresh_latest_reading(row[0], piece.name)
        return row is not None

    def without_landed_points(self, device_id: str, piece: Piece, overlap_until_ms: int) -> Piece:
        """The piece less its points at or before `overlap_until_ms` that an earlier piece of the series
        already landed with the same value: a lookback asks again for what the previous window got, and
        only the readings that came late (or changed) should land. Pieces the parser found odd are kept
        whole (dbt's upsert still keeps each reading once)."""
        if not piece.is_plain_numeric or piece.first_ms is None or piece.first_ms > overlap_until_ms:
            return piece
        landed = {
            (int(timestamp), float(value))
            for timestamp, value in self.connection.execute(
                self._q(
                    "select (point ->> 0)::bigint, (point ->> 1)::double precision"
                    " from {schema}.telemetry_pieces as piece"
                    " cross join lateral jsonb_array_elements(piece.payload -> 'data') as element (point)"
                    " where piece.device_id = %s and piece.metric_name = %s and piece.last_recorded_ms >= %s"
                    " and piece.first_recorded_ms <= %s and piece.is_plain_numeric"
                    " and (point ->> 0)::bigint between %s and %s"
                ),
                [device_id, piece.name, piece.first_ms, overlap_until_ms, piece.first_ms, overlap_until_ms],
            )
        }
        if not landed:
            return piece
        kept = [
            match for match in PLAIN_POINT.finditer(piece.points_json) if (int(match[1]), float(match[2])) not in landed
        ]
        if len(kept) == piece.point_count:
            return piece
        timestamps = [int(match[1]) for match in kept]
        return replace(
            piece,
            points_json="[" + ",".join(match[0] for match in kept) + "]",
            point_count=len(kept),
            first_ms=min(timestamps, default=None),
            last_ms=max(timestamps, default=None),
        )

    def refresh_latest_reading(self, piece_id: int, metric_name: str) -> None:
        """Keep raw.latest_readings at the newest valid numeric point of this piece, if it is newer."""
        low, high = LATEST_READING_RANGES.get(metric_name, (-1e300, 1e300))
        self.connection.execute(
            self._q(
                "insert into {schema}.latest_readings (device_id, metric_name, recorded_at, value, piece_id)"
                " select piece.device_id, piece.metric_name,"
                " to_timestamp((point ->> 0)::double precision / 1000), point -> 1, piece.piece_id"
                " from {schema}.telemetry_pieces as piece"
                " cross join lateral jsonb_array_elements(piece.payload -> 'data') as element (point)"
                " where piece.piece_id = %s and jsonb_typeof(point -> 0) = 'number'"
                " and jsonb_typeof(point -> 1) = 'number'"
                " and (point ->> 0)::numeric between %s and extract(epoch from now()) * 1000 + %s"
                " and (point ->> 1)::numeric between %s and %s"
                " order by (point ->> 0)::numeric desc limit 1"
                " on conflict (device_id, metric_name) do update set recorded_at = excluded.recorded_at,"
                " value = excluded.value, piece_id = excluded.piece_id, loaded_at = excluded.loaded_at"
                " where latest_readings.recorded_at < excluded.recorded_at"
            ),
            [piece_id, MIN_VALID_EPOCH_MS, MAX_FUTURE_MS, low, high],
        )

    def insert_assets(self, document: Document, payload_json: str, items: int, total: int | None) -> bool:
        content_hash = hashlib.sha256(payload_json.encode("utf-8", "surrogatepass")).hexdigest()
        if self.dry_run:
            return not self._exists("assets_responses", content_hash)
        row = self.connection.execute(
            self._q(
                "insert into {schema}.assets_responses (load_id, source_uri, page_number, item_count,"
                " total_count, content_hash, payload) values (%s, %s, %s, %s, %s, %s, %s::jsonb)"
                " on conflict (content_hash) do nothing returning response_id"
            ),
            [self.load_id, document.uri, document.page_number, items, total, content_hash, payload_json],
        ).fetchone()
        return row is not None

    def quarantine(
        self, document: Document, rejection: Rejection, content: bytes | None, size: int, content_hash: str
    ) -> None:
        if self.dry_run:
            return
        kept = content[:QUARANTINE_MAX_BYTES] if content is not None else None
        self.connection.execute(
            self._q(
                "insert into {schema}.quarantine (load_id, source_uri, series_index, disposition, reason,"
                " size_bytes, content_hash, content, content_is_truncated)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ),
            [
                self.load_id,
                document.uri,
                rejection.series_index,
                rejection.disposition,
                rejection.reason,
                size,
                content_hash,
                kept,
                content is not None and len(content) > QUARANTINE_MAX_BYTES,
            ],
        )


def _read_capped(document: Document) -> bytes:
    with document.open_stored() as stream:
        return stream.read(QUARANTINE_MAX_BYTES + 1)


class LandingRun:
    def __init__(
        self,
        sink: RawSink,
        source: Source,
        options: LoadOptions,
        summary: LoadSummary,
        progress: Progress,
    ) -> None:
        self.sink = sink
        self.source = source
        self.options = options
        self.summary = summary
        self.progress = progress

    def reject(
        self, document: Document, rejection: Rejection, content: bytes | None, size: int, content_hash: str
    ) -> None:
        self.summary.rejections.append(rejection)
        self.sink.quarantine(document, rejection, content, size, content_hash)

    def reject_file(
        self, document: Document, rejection: Rejection, content: bytes | None, size: int, content_hash: str
    ) -> None:
        """Quarantine a whole response, unless this very content was quarantined before."""
        if self.sink.was_quarantined(document.uri, content_hash):
            self.summary.files_still_quarantined += 1
            self.summary.still_quarantined.append(rejection)
            with self.sink.connection.transaction():
                self.sink.record_counts(self.summary)
                self.record_window(document)
            return
        self.summary.files_quarantined += 1
        with self.sink.connection.transaction():
            self.reject(document, rejection, content, size, content_hash)
            self.sink.record_counts(self.summary)
            self.record_window(document)

    def record_window(self, document: Document) -> None:
        """The response of a time window committed (landed, unchanged or quarantined, whose bytes the
        quarantine keeps): move the device's cursor past it, in the caller's transaction."""
        if document.window is None or self.sink.dry_run or document.device_id is None:
            return
        advance_cursor(
            self.sink.connection, self.sink.schema_name, self.source.description, document.device_id,
            document.window, self.sink.load_id,
        )  # fmt: skip

    def land_assets(self) -> list[str]:
        """Land every assets page; returns the device ids the valid pages list."""
        device_ids: list[str] = []
        for document in self.source.assets():
            try:
                device_ids += self._land_assets_page(document)
            finally:
                document.discard()
        return device_ids

    def _land_assets_page(self, document: Document) -> list[str]:
        self.summary.files_seen += 1
        # Skipped only when its devices are not needed: they are in the page, which stays undownloaded.
        if not self.options.only_asset_devices and self.sink.object_already_landed(document):
            self.summary.files_unchanged += 1
            self.sink.record_counts(self.summary)
            return []
        stored = document.local_path().read_bytes()
        self.summary.bytes_read += len(stored)
        self.progress.advance(len(stored))
        content_hash = hashlib.sha256(stored).hexdigest()
        problem: str | None
        page: dict[str, Any]
        try:
            body = document.read_body()
        except MalformedResponse as malformed:
            body, problem, page = stored, malformed.reason, {}
        else:
            problem, page = _read_assets_page(body)
        if problem:
            self.reject_file(
                document, Rejection(document.uri, f"assets response {problem}"), body, len(body), content_hash
            )
            return []
        items = page["items"]
        _, payload_json, notes = decode_for_jsonb(body.decode("utf-8-sig"))
        with self.sink.connection.transaction():
            landed = self.sink.insert_assets(document, payload_json, len(items), page.get("totalCount"))
            if document.etag is not None:
                self.sink.mark_file_landed(document, content_hash, 0)
            if notes:
                self.reject(
                    document,
                    Rejection(document.uri, "; ".join(notes), None, "landed_sanitized"),
                    body,
                    len(body),
                    content_hash,
                )
            if landed:
                self.summary.files_landed += 1
            else:
                self.summary.files_unchanged += 1
            self.sink.record_counts(self.summary)
        return [item["deviceId"] for item in items if isinstance(item, dict) and isinstance(item.get("deviceId"), str)]

    def land_device(self, device_id: str, windows: list[Window] | None, stop: threading.Event) -> None:
        """Land the device's responses (its windows, its objects) in order, until `stop` is set."""
        try:
            for document in self.source.telemetry_documents(device_id, windows):
                try:
                    self.land_document(document)
                finally:
                    document.discard()
                if stop.is_set():
                    return
        except MissingDocument as missing:
            self.summary.warnings.append(f"no telemetry for device {device_id} ({missing})")

    def land_document(self, document: Document) -> None:
        summary = self.summary
        summary.files_seen += 1
        if self.sink.object_already_landed(document):
            self.progress.advance(document.size)
            summary.files_unchanged += 1
            self.sink.record_counts(summary)
            return
        content_hash = sha256_file(document)
        if not _is_uuid(document.device_id or ""):
            summary.bytes_read += document.size
            self.progress.advance(document.size)
            self.reject_file(
                document,
                Rejection(document.uri, f"file name {document.device_id!r} is not a device id (a UUID)"),
                _read_capped(document),
                document.size,
                content_hash,
            )
            return
        if document.ledgered and self.sink.file_already_landed(document.uri, content_hash):
            summary.bytes_read += document.size
            self.progress.advance(document.size)
            summary.files_unchanged += 1
            with self.sink.connection.transaction():
                self.sink.record_counts(summary)
                self.record_window(document)
            return
        device_id = str(uuid.UUID(document.device_id))
        landed = unchanged = points = 0
        rejections_before = len(summary.rejections)
        try:
            with self.sink.connection.transaction(), document.open() as stream:
                # A compressed file counts its bytes as stored, as the progress bar's total does.
                counted = None if document.is_gzip else self._count_bytes
                for item in iter_telemetry(stream, self.options.max_points_per_piece, on_bytes=counted):
                    if isinstance(item, SeriesRejected) and item.is_empty and document.window is not None:
                        continue  # no readings of this metric in the window asked for
                    if isinstance(item, SeriesRejected):
                        reason = f"series {item.series_index}"
                        reason += f" ({item.name})" if item.name else ""
                        rejection = Rejection(document.uri, f"{reason} {item.reason}", item.series_index)
                        text = item.text.encode("utf-8", "surrogatepass")
                        self.reject(document, rejection, text, len(text), hashlib.sha256(text).hexdigest())
                        continue
                    overlap_until_ms = document.window.overlap_until_ms if document.window else None
                    if overlap_until_ms is not None:
                        item = self.sink.without_landed_points(device_id, item, overlap_until_ms)
                    if item.point_count == 0:
                        unchanged += 1
                    elif self.sink.insert_piece(document, device_id, item):
                        landed += 1
                        points += item.point_count
                    else:
                        unchanged += 1
                    if item.sanitized:
                        text = item.payload_json.encode("utf-8", "surrogatepass")
                        rejection = Rejection(
                            document.uri,
                            f"series {item.series_index} ({item.name}): {'; '.join(item.sanitized)}",
                            item.series_index,
                            "landed_sanitized",
                        )
                        self.reject(document, rejection, text, len(text), hashlib.sha256(text).hexdigest())
                if counted is None:
                    self._count_bytes(document.size)
                if document.ledgered:
                    self.sink.mark_file_landed(document, content_hash, landed + unchanged)
                self.record_window(document)
                summary.pieces_landed += landed
                summary.pieces_unchanged += unchanged
                summary.points_landed += points
                if landed:
                    summary.files_landed += 1
                else:
                    summary.files_unchanged += 1
                self.sink.record_counts(summary)
        except MalformedResponse as malformed:
            del summary.rejections[rejections_before:]  # rolled back with the rest of the file
            self.reject_file(
                document,
                Rejection(document.uri, f"telemetry response {malformed.reason}"),
                _read_capped(document),
                document.size,
                content_hash,
            )
            return

    def _count_bytes(self, count: int) -> None:
        self.summary.bytes_read += count
        self.progress.advance(count)


def run_load(
    settings: ConnectionSettings,
    source: Source,
    options: LoadOptions | None = None,
    progress: Progress | None = None,
) -> LoadSummary:
    """Land the source's assets and telemetry. Raises LoaderError when the run cannot proceed."""
    options = options or LoadOptions()
    progress = progress or Progress()
    if options.window_plan.since_ms is not None and not source.takes_time_ranges:
        raise OptionsDoNotFit(
            f"Source {source.description} cannot be asked for a time range: --since and --until need an HTTP "
            "source whose API takes one."
        )
    with load_session(settings, source, options, progress) as session:
        summary = session.summary
        run = LandingRun(session.sink, source, options, summary, progress)
        asset_devices = run.land_assets()
        if options.device_ids is not None:
            devices = options.device_ids
        elif options.only_asset_devices or not source.lists_devices:
            devices = asset_devices
        else:
            devices = source.telemetry_devices(None)
        if source.lists_devices:
            summary.warnings += [f"skipped {path}: not a .json response" for path in source.skipped_files()]
        progress.start(source.telemetry_bytes(devices))
        windows = _plan_windows(session.sink, source, options, devices)
        _land_devices(settings, run, devices, windows, _worker_count(options, session.shared_session, summary))
        listed = set(asset_devices)
        for device_id in devices:
            # A file whose name is no device id was rejected for that already: one message per file.
            if asset_devices and device_id not in listed and _is_uuid(device_id):
                summary.warnings.append(f"telemetry for device {device_id}, which the assets list lacks")
        if source.lists_devices and options.device_ids is None:
            with_telemetry = set(devices)
            summary.warnings += [
                f"asset {device} has no telemetry" for device in asset_devices if device not in with_telemetry
            ]
    return session.summary


@dataclass
class LoadSession:
    """One load (or stream) as load_log records it: its sink, its summary, and whether the database is
    the embedded server, whose clients share one session."""

    sink: RawSink
    summary: LoadSummary
    shared_session: bool


@contextmanager
def load_session(
    settings: ConnectionSettings,
    source: Source,
    options: LoadOptions,
    progress: Progress,
    what: str = "load",
    hold_turn: bool = True,
) -> Iterator[LoadSession]:
    """The life of a load, for `loader load` and `loader stream` alike: connect, migrate the raw schema,
    record the load as running, and at the end record how it finished: succeeded, with rejects,
    interrupted, or failed with its one-sentence reason (raised as a LoaderError). With hold_turn the
    embedded server's turn is held throughout, else only while the load is recorded as started."""
    summary = LoadSummary(load_id=str(uuid.uuid4()), source=source.description, dry_run=options.dry_run)
    started = time.monotonic()
    connection = connect(settings)
    shared_session = is_shared_session_server(settings, connection)
    with connection, contextlib.ExitStack() as turn:
        turn.enter_context(embedded_turn(settings, shared_session, progress.waiting))
        if not options.dry_run:
            migrate(connection, options.raw_schema)
        sink = RawSink(connection, options.raw_schema, summary.load_id, options.dry_run, options.latest_metrics)
        sink.begin_load(source.description)
        if not hold_turn:
            turn.close()
        try:
            yield LoadSession(sink, summary, shared_session)
        except KeyboardInterrupt:
            summary.status = "failed"
            summary.seconds = round(time.monotonic() - started, 3)
            if not connection.closed:
                sink.finish_load(summary, "interrupted")
            raise
        except (LoaderError, psycopg.Error, OSError) as exc:
            raise end_failed(sink, summary, exc, started, what) from None
        summary.status = "finished_with_rejects" if summary.has_rejects else "succeeded"
        summary.seconds = round(time.monotonic() - started, 3)
        sink.finish_load(summary)


def end_failed(sink: RawSink, summary: LoadSummary, error: Exception, started: float, what: str) -> LoaderError:
    """Record a load (or stream) that failed in its row, while the connection still works; returns the
    error to raise: the library's own, or one sentence for a database or file error."""
    summary.status = "failed"
    summary.seconds = round(time.monotonic() - started, 3)
    message = error.message if isinstance(error, LoaderError) else f"{type(error).__name__}: {error}"
    if not sink.connection.closed and not isinstance(error, psycopg.OperationalError):
        sink.finish_load(summary, message)
    return error if isinstance(error, LoaderError) else LoaderError(f"The {what} failed: {message}")


def _plan_windows(
    sink: RawSink, source: Source, options: LoadOptions, devices: list[str]
) -> dict[str, list[Window] | None]:
    """Each device's windows, from its cursor (None: the source is asked for whole responses)."""
    if not source.takes_time_ranges:
        return dict.fromkeys(devices)
    plan = options.window_plan
    cursors = read_cursors(sink.connection, sink.schema_name, source.description, plan.scope)
    now_ms = int(time.time() * 1000)
    return {device: plan_device_windows(plan, cursors.get(device), now_ms) for device in devices}


def _worker_count(options: LoadOptions, shared_session: bool, summary: LoadSummary) -> int:
    asked = options.concurrency
    if asked is None:
        return 1 if shared_session else DEFAULT_CONCURRENCY
    if asked > 1 and shared_session:
        summary.warnings.append(
            f"the embedded database serves all clients in one session, so --concurrency {asked} runs as 1"
        )
        options.concurrency = 1  # a --follow says it once
        return 1
    return asked


def _land_devices(
    settings: ConnectionSettings,
    run: LandingRun,
    devices: list[str],
    windows: dict[str, list[Window] | None],
    workers: int,
) -> None:
    """Land each device's telemetry, with `workers` threads each on its own connection (one: this one).

    A device's windows go in order on one worker, so its cursor only moves forward; what the workers
    counted joins `run.summary` when they are done, also when one failed or the run was interrupted
    (then the others finish the response under way and stop).
    """
    stop = threading.Event()
    if workers == 1:
        for device_id in devices:
            run.land_device(device_id, windows[device_id], stop)
        return
    progress = _SerializedProgress(run.progress)
    worker_runs: list[LandingRun] = []
    local = threading.local()
    lock = threading.Lock()

    def land(device_id: str) -> None:
        worker_run: LandingRun | None = getattr(local, "run", None)
        if worker_run is None:
            main = run.sink
            sink = RawSink(connect(settings), main.schema_name, main.load_id, main.dry_run, main.latest_metrics)
            summary = LoadSummary(load_id=main.load_id, source=run.summary.source, dry_run=main.dry_run)
            worker_run = local.run = LandingRun(sink, run.source, run.options, summary, progress)
            with lock:
                worker_runs.append(worker_run)
        worker_run.land_device(device_id, windows[device_id], stop)

    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="loader-worker") as pool:
            futures = [pool.submit(land, device_id) for device_id in devices]
            try:
                for future in as_completed(futures):
                    future.result()
            except BaseException:
                stop.set()
                for future in futures:
                    future.cancel()
                raise
    finally:
        for worker_run in worker_runs:
            run.summary.add(worker_run.summary)
            worker_run.sink.connection.close()


class _SerializedProgress(Progress):
    """One progress display for every worker."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.lock = threading.Lock()

    def advance(self, byte_count: int) -> None:
        with self.lock:
            self.progress.advance(byte_count)

    def waiting(self, sentence: str) -> None:
        with self.lock:
            self.progress.waiting(sentence)


def _read_assets_page(body: bytes) -> tuple[str | None, dict[str, Any]]:
    """(problem, page): problem says why the page cannot land, else None."""
    if not body.strip():
        return "is empty", {}
    try:
        page, _, _ = decode_for_jsonb(body.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return "is not valid UTF-8 text", {}
    except json.JSONDecodeError as exc:
        if exc.pos >= len(body.rstrip()) - 1 or exc.msg.startswith("Unterminated string"):
            return "ends early (truncated)", {}
        return f"is not valid JSON at character {exc.pos}: {exc.msg}", {}
    if not isinstance(page, dict):
        return "is not a JSON object", {}
    if not isinstance(page.get("items"), list):
        return "has no 'items' list", {}
    return None, page
