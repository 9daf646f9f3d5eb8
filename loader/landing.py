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

import hashlib
import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from loader import __version__, metrics
from loader.connection import connect
from loader.errors import LoaderError
from loader.job_locks import embedded_turn, is_shared_session_server
from loader.load_liveness import hold_load_lock, mark_interrupted_loads, release_load_lock, this_loader
from loader.migrations import DEFAULT_RAW_SCHEMA, migrate
from loader.settings import ConnectionSettings, dbt_project_var
from loader.sources import DirectorySource, Document, HttpSource, MissingDocument
from loader.telemetry_parser import (
    DEFAULT_MAX_POINTS,
    MalformedResponse,
    Piece,
    SeriesRejected,
    decode_for_jsonb,
    iter_telemetry,
)

QUARANTINE_MAX_BYTES = 16 << 20
HASH_BLOCK = 1 << 20


DEFAULT_LATEST_METRICS = (metrics.SOC,)
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


class Progress:
    """Hooks the CLI uses to draw a progress bar; the library works without one."""

    def start(self, total_bytes: int | None) -> None: ...
    def advance(self, byte_count: int) -> None: ...
    def waiting(self, sentence: str) -> None: ...


def sha256_file(document: Document) -> str:
    digest = hashlib.sha256()
    with document.open() as stream:
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


class _Sink:
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
        if dry_run:
            row = connection.execute("select to_regclass(%s) is not null", [f"{schema}.load_log"]).fetchone()
            self.schema_exists = bool(row and row[0])

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(schema=self.schema)

    def begin_load(self, source: str) -> None:
        """Mark dead loads interrupted, then hold this load's lock before its row exists."""
        if self.dry_run:
            return
        mark_interrupted_loads(self.connection, self.schema_name)
        hold_load_lock(self.connection, self.load_id)
        host, pid = this_loader()
        self.connection.execute(
            self._q(
                "insert into {schema}.load_log (load_id, source, loader_version, loader_host, loader_pid)"
                " values (%s, %s, %s, %s, %s)"
            ),
            [self.load_id, source, __version__, host, pid],
        )

    def record_counts(self, summary: LoadSummary) -> None:
        """Write the load's counts so far; inside a response's transaction they commit with it."""
        if self.dry_run:
            return
        self.connection.execute(
            self._q(
                "update {schema}.load_log set files_seen = %s, files_landed = %s, files_unchanged = %s,"
                " files_quarantined = %s, files_still_quarantined = %s, pieces_landed = %s,"
                " pieces_unchanged = %s, points_landed = %s, bytes_read = %s where load_id = %s"
            ),
            [
                summary.files_seen,
                summary.files_landed,
                summary.files_unchanged,
                summary.files_quarantined,
                summary.files_still_quarantined,
                summary.pieces_landed,
                summary.pieces_unchanged,
                summary.points_landed,
                summary.bytes_read,
                self.load_id,
            ],
        )

    def finish_load(self, summary: LoadSummary, error: str | None = None) -> None:
        if self.dry_run:
            return
        with self.connection.transaction():
            self.record_counts(summary)
            self.connection.execute(
                self._q(
                    "update {schema}.load_log set finished_at = clock_timestamp(), status = %s, error = %s,"
                    " summary = %s::jsonb where load_id = %s"
                ),
                [summary.status, error, json.dumps(summary.as_dict()), self.load_id],
            )
        release_load_lock(self.connection, self.load_id)

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
                "insert into {schema}.landed_files (source_uri, content_hash, load_id, size_bytes, pieces)"
                " values (%s, %s, %s, %s, %s) on conflict do nothing"
            ),
            [document.uri, content_hash, self.load_id, document.size, pieces],
        )

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
                " is_plain_numeric, content_hash, payload)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)"
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
            ],
        ).fetchone()
        if row is not None and piece.name in self.latest_metrics:
            self.refresh_latest_reading(row[0], piece.name)
        return row is not None

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
    with document.open() as stream:
        return stream.read(QUARANTINE_MAX_BYTES + 1)


class _Run:
    def __init__(
        self,
        sink: _Sink,
        source: DirectorySource | HttpSource,
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
            self.sink.record_counts(self.summary)
            return
        self.summary.files_quarantined += 1
        with self.sink.connection.transaction():
            self.reject(document, rejection, content, size, content_hash)
            self.sink.record_counts(self.summary)

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
        body = document.path.read_bytes()
        self.summary.bytes_read += len(body)
        self.progress.advance(len(body))
        content_hash = hashlib.sha256(body).hexdigest()
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

    def land_telemetry(self, device_id: str) -> None:
        try:
            document = self.source.fetch_telemetry(device_id)
        except MissingDocument as missing:
            self.summary.warnings.append(f"no telemetry for device {device_id} ({missing})")
            return
        try:
            self._land_telemetry_document(document)
        finally:
            document.discard()

    def _land_telemetry_document(self, document: Document) -> None:
        summary = self.summary
        summary.files_seen += 1
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
        if self.sink.file_already_landed(document.uri, content_hash):
            summary.bytes_read += document.size
            self.progress.advance(document.size)
            summary.files_unchanged += 1
            self.sink.record_counts(summary)
            return
        device_id = str(uuid.UUID(document.device_id))
        landed = unchanged = points = 0
        rejections_before = len(summary.rejections)
        try:
            with self.sink.connection.transaction(), document.open() as stream:
                for item in iter_telemetry(stream, self.options.max_points_per_piece, on_bytes=self._count_bytes):
                    if isinstance(item, SeriesRejected):
                        reason = f"series {item.series_index}"
                        reason += f" ({item.name})" if item.name else ""
                        rejection = Rejection(document.uri, f"{reason} {item.reason}", item.series_index)
                        text = item.text.encode("utf-8", "surrogatepass")
                        self.reject(document, rejection, text, len(text), hashlib.sha256(text).hexdigest())
                        continue
                    if self.sink.insert_piece(document, device_id, item):
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
                self.sink.mark_file_landed(document, content_hash, landed + unchanged)
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
    source: DirectorySource | HttpSource,
    options: LoadOptions | None = None,
    progress: Progress | None = None,
) -> LoadSummary:
    """Land the source's assets and telemetry. Raises LoaderError when the run cannot proceed."""
    options = options or LoadOptions()
    progress = progress or Progress()
    summary = LoadSummary(load_id=str(uuid.uuid4()), source=source.description, dry_run=options.dry_run)
    started = time.monotonic()
    connection = connect(settings)
    shared_session = is_shared_session_server(settings, connection)
    with connection, embedded_turn(settings, shared_session, progress.waiting):
        if not options.dry_run:
            migrate(connection, options.raw_schema)
        sink = _Sink(connection, options.raw_schema, summary.load_id, options.dry_run, options.latest_metrics)
        sink.begin_load(source.description)
        run = _Run(sink, source, options, summary, progress)
        try:
            asset_devices = run.land_assets()
            if options.device_ids is not None:
                devices = options.device_ids
            elif options.only_asset_devices or not source.lists_devices:
                devices = asset_devices
            else:
                devices = source.telemetry_devices(None)
            if isinstance(source, DirectorySource):
                summary.warnings += [f"skipped {path}: not a .json response" for path in source.skipped_files()]
                progress.start(sum(_size_or_zero(source, device) for device in devices))
            else:
                progress.start(None)
            for device_id in devices:
                run.land_telemetry(device_id)
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
        except KeyboardInterrupt:
            summary.status = "failed"
            summary.seconds = round(time.monotonic() - started, 3)
            if not connection.closed:
                sink.finish_load(summary, "interrupted")
            raise
        except (LoaderError, psycopg.Error, OSError) as exc:
            summary.status = "failed"
            summary.seconds = round(time.monotonic() - started, 3)
            message = exc.message if isinstance(exc, LoaderError) else f"{type(exc).__name__}: {exc}"
            if not connection.closed and not isinstance(exc, psycopg.OperationalError):
                sink.finish_load(summary, message)
            if isinstance(exc, LoaderError):
                raise
            raise LoaderError(f"The load failed: {message}") from None
        summary.status = "finished_with_rejects" if summary.has_rejects else "succeeded"
        summary.seconds = round(time.monotonic() - started, 3)
        sink.finish_load(summary)
    return summary


def _size_or_zero(source: DirectorySource, device_id: str) -> int:
    path = source.root / "telemetry" / f"{device_id}.json"
    return path.stat().st_size if path.is_file() else 0


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
