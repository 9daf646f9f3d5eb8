"""Archive: move raw pieces dbt has transformed out of the database into compressed files the loader reads.

The database keeps what people and alerts query; raw stays re-processable in an archive of gzip files
in the layout the directory and object-storage sources read, so `loader load DEST` lands it again:

    telemetry/<deviceId>/<day>-<piece>.json.gz   one telemetry response: the device's pieces loaded on
                                                 that (UTC) day from raw piece <piece> on, one series per
                                                 piece, in landing order
    assets/page-<n>.json.gz                      the newest assets responses (the database keeps them too)

Names sort in landing order and a file's series keep it, so when a re-landed archive is built again the
value that won before (the one loaded last) wins again.

Each file goes through three steps, so that a run killed at any moment loses nothing:
1. planned: its pieces are recorded in raw.archive_files (committed);
2. written and verified: the file is written to a temporary name, moved (or uploaded) into place, read
   back from the destination, and checked against what was written (its bytes' SHA-256) and against
   the database (every piece one series, its metric and point count, its points' content hash);
3. removed: in one transaction its pieces are deleted (their admission-ledger rows with them) and the
   file is marked archived.
A run first finishes the files a stopped run planned, rewriting each from the pieces still in raw.
Only pieces the admission ledger marks transformed and loaded before the age are taken, never the piece
a latest-readings row points at (as `loader prune`).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Protocol

import psycopg
from psycopg import sql

from loader.connection import connect, relation_exists
from loader.embedded import DEFAULT_STATE_DIR
from loader.errors import LoaderError
from loader.job_locks import embedded_turn, is_shared_session_server
from loader.landing import piece_hash, sha256_file
from loader.migrations import migrate
from loader.npm_packages import STATE_DIR
from loader.retention import is_transformed, why_nothing_is_transformed
from loader.settings import ConnectionSettings
from loader.sources.base import Document, S3Settings
from loader.telemetry_parser import MalformedResponse, SeriesRejected, iter_telemetry

DEFAULT_ARCHIVE_OLDER_THAN = "7d"
DEFAULT_POINTS_PER_FILE = 1_000_000
ARCHIVE_DESTINATION_ENV = "LOADER_ARCHIVE_TO"
ARCHIVE_LOCK_KEY = 7_321_004_212
# Pieces read from the database at a time while a file is written: bounds the memory a file takes.
PIECES_PER_READ = 20


@dataclass(frozen=True)
class ArchivePolicy:
    """What `loader load` and `loader stream` archive after they land: where to, and from what age."""

    destination: str
    older_than_ms: int
    s3: S3Settings | None = None


@dataclass
class ArchiveResult:
    destination: str
    files: int = 0
    pieces: int = 0
    points: int = 0
    file_bytes: int = 0
    payload_bytes_freed: int = 0
    # Files a run that stopped had planned, finished (or, their pieces gone meanwhile, dropped) by this one.
    files_resumed: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class ArchiveStore(Protocol):
    """Where archive files go: a folder, or object storage."""

    description: str

    def put(self, relative: str, local: Path) -> None:
        """Store the local file at `relative`, replacing what is there, all or nothing."""
        ...

    def fetch(self, relative: str) -> Document:
        """The stored file, to read back."""
        ...

    def remove(self, relative: str) -> None: ...


class FolderStore:
    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()
        self.description = str(self.root)

    def put(self, relative: str, local: Path) -> None:
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        with local.open("rb") as source, partial.open("wb") as copy:
            shutil.copyfileobj(source, copy)
            copy.flush()
            os.fsync(copy.fileno())
        os.replace(partial, target)
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def fetch(self, relative: str) -> Document:
        path = self.root / relative
        return Document(str(path), "telemetry", path, path.stat().st_size)

    def remove(self, relative: str) -> None:
        (self.root / relative).unlink(missing_ok=True)


class S3Store:
    def __init__(self, url: str, settings: S3Settings | None) -> None:
        from loader.sources.s3 import S3Source  # boto3 takes a moment to import: only when needed

        self.bucket = S3Source(url, settings)
        self.description = self.bucket.description

    def put(self, relative: str, local: Path) -> None:
        self.bucket.upload(relative, local)

    def fetch(self, relative: str) -> Document:
        path = self.bucket.download(relative)
        return Document(f"{self.description}/{relative}", "telemetry", path, path.stat().st_size, is_temporary=True)

    def remove(self, relative: str) -> None:
        self.bucket.delete(relative)


def open_store(destination: str, s3: S3Settings | None = None) -> ArchiveStore:
    """The archive at `destination`: s3://bucket/prefix, else a folder (created when missing)."""
    if destination.startswith("s3://"):
        return S3Store(destination, s3)
    if "://" in destination:
        raise LoaderError(f"Archive destination {destination} is not supported: give a folder or an s3:// URL.")
    return FolderStore(Path(destination))


def default_destination(settings: ConnectionSettings) -> str:
    """LOADER_ARCHIVE_TO, else a folder beside the embedded database's files (its target), else one per
    database in the user's state folder. Production points it at object storage."""
    if os.environ.get(ARCHIVE_DESTINATION_ENV):
        return os.environ[ARCHIVE_DESTINATION_ENV]
    if settings.is_embedded:
        return str(Path(os.environ.get("EMBEDDED_DB_DIR") or DEFAULT_STATE_DIR) / "archive")
    return str(STATE_DIR / "archive" / f"{settings.dbname}-{settings.host}-{settings.port}")


@dataclass
class _PlannedFile:
    archive_file_id: int
    file_path: str
    device_id: str
    piece_ids: list[int]


@dataclass
class _SeriesCheck:
    """What a series of an archive file must read back as: its metric, point count and points' hash."""

    name: str
    points: int
    digest: str = ""


@dataclass
class _Written:
    local: Path
    local_size: int
    sha256: str
    series: list[_SeriesCheck]


def archive_transformed_pieces(
    settings: ConnectionSettings,
    raw_schema: str,
    destination: str,
    older_than_ms: int,
    *,
    s3: S3Settings | None = None,
    points_per_file: int = DEFAULT_POINTS_PER_FILE,
    dry_run: bool = False,
    require_transformed: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
    on_wait: Callable[[str], None] = lambda sentence: None,
) -> ArchiveResult:
    """Archive the raw pieces dbt has transformed that were loaded more than `older_than_ms` ago (see the
    module's docstring). With require_transformed=False a database no build has transformed is left
    alone instead of raising. on_progress(done, total) per file. On the embedded server it takes the job
    turn like a load."""
    store = open_store(destination, s3)
    result = ArchiveResult(destination=store.description, dry_run=dry_run)
    try:
        return _archive(settings, raw_schema, store, older_than_ms, points_per_file, dry_run, require_transformed,
                        on_progress, on_wait, result)  # fmt: skip
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LoaderError(f"The archive run stopped ({reason}); what it archived stays archived, the rest stays "
                          "in raw and the next run goes on.") from None  # fmt: skip
    except OSError as exc:
        raise LoaderError(f"The archive run could not write to {store.description}: {exc}.") from None


def _archive(
    settings: ConnectionSettings,
    raw_schema: str,
    store: ArchiveStore,
    older_than_ms: int,
    points_per_file: int,
    dry_run: bool,
    require_transformed: bool,
    on_progress: Callable[[int, int], None] | None,
    on_wait: Callable[[str], None],
    result: ArchiveResult,
) -> ArchiveResult:
    with (
        connect(settings) as connection,
        embedded_turn(settings, is_shared_session_server(settings, connection), on_wait),
    ):
        if reason := why_nothing_is_transformed(connection, settings, raw_schema):
            if require_transformed:
                raise LoaderError(f"Nothing to archive: {reason}.")
            return result
        if dry_run:
            return _what_is_due(connection, raw_schema, older_than_ms, result)
        migrate(connection, raw_schema)
        with _archive_lock(connection, settings):
            archive = _Archive(connection, raw_schema, store, result)
            resumed = archive.planned_files()
            for planned in resumed:
                archive.finish(planned, resumed=True)
            planned_now = archive.plan(older_than_ms, points_per_file)
            for done, planned in enumerate(planned_now, start=1):
                archive.finish(planned)
                if on_progress is not None:
                    on_progress(done, len(planned_now))
            if result.files:
                archive.write_assets()
                with contextlib.suppress(psycopg.Error):  # space is reused by later loads either way
                    connection.execute(sql.SQL("vacuum {}.telemetry_pieces").format(sql.Identifier(raw_schema)))
    return result


def archive_after_load(
    settings: ConnectionSettings,
    raw_schema: str,
    policy: ArchivePolicy,
    on_wait: Callable[[str], None] = lambda sentence: None,
) -> ArchiveResult | str:
    """The archiving `loader load` and `loader stream` run by themselves: what is due, on a database dbt has
    built. What landed stays landed, so a failure is returned as its sentence and the next run tries again."""
    try:
        return archive_transformed_pieces(
            settings, raw_schema, policy.destination, policy.older_than_ms, s3=policy.s3, require_transformed=False,
            on_wait=on_wait,
        )  # fmt: skip
    except (LoaderError, psycopg.Error, OSError) as exc:
        message = exc.message if isinstance(exc, LoaderError) else str(exc)
        return message.strip().splitlines()[0]


@contextlib.contextmanager
def _archive_lock(connection: psycopg.Connection, settings: ConnectionSettings) -> Iterator[None]:
    """One archive run at a time per database (a session advisory lock; the embedded server's job turn
    already serialises its runs)."""
    if is_shared_session_server(settings, connection):
        yield
        return
    row = connection.execute("select pg_try_advisory_lock(%s::bigint)", [ARCHIVE_LOCK_KEY]).fetchone()
    if not (row and row[0]):
        raise LoaderError(f"Another archive run is working on {settings.display}; this one did nothing.")
    try:
        yield
    finally:
        if not connection.closed:
            connection.execute("select pg_advisory_unlock(%s::bigint)", [ARCHIVE_LOCK_KEY])


def _due_pieces(raw_schema: str, exclude_planned: bool = True) -> sql.Composed:
    """SQL: the pieces due for the archive (parameter: the age in ms), not planned into a file yet."""
    not_planned = sql.SQL(
        " and not exists (select 1 from {raw}.archive_files as planned"
        " where planned.archived_at is null and pieces.piece_id = any(planned.piece_ids))"
    )
    return sql.SQL(
        "from {raw}.telemetry_pieces as pieces"
        " where pieces.loaded_at < now() - make_interval(secs => %s / 1000.0) and {transformed}"
        " and not exists (select 1 from {raw}.latest_readings as latest where latest.piece_id = pieces.piece_id)"
        "{not_planned}"
    ).format(
        raw=sql.Identifier(raw_schema),
        transformed=is_transformed(raw_schema),
        not_planned=not_planned.format(raw=sql.Identifier(raw_schema)) if exclude_planned else sql.SQL(""),
    )


def _what_is_due(
    connection: psycopg.Connection, raw_schema: str, older_than_ms: int, result: ArchiveResult
) -> ArchiveResult:
    """A dry run's answer: the pieces, points and payload bytes a run would archive now."""
    planned_files_exist = relation_exists(connection, f"{raw_schema}.archive_files")
    row = connection.execute(
        sql.SQL("select count(*), coalesce(sum(point_count), 0), coalesce(sum(pg_column_size(payload)), 0) ")
        + _due_pieces(raw_schema, exclude_planned=planned_files_exist),
        [older_than_ms],
    ).fetchone()
    pieces, points, payload = row if row else (0, 0, 0)
    result.pieces, result.points, result.payload_bytes_freed = int(pieces), int(points), int(payload)
    return result


class _Archive:
    def __init__(
        self, connection: psycopg.Connection, raw_schema: str, store: ArchiveStore, result: ArchiveResult
    ) -> None:
        self.connection = connection
        self.raw_schema = raw_schema
        self.raw = sql.Identifier(raw_schema)
        self.store = store
        self.result = result

    def _sql(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(raw=self.raw)

    def planned_files(self) -> list[_PlannedFile]:
        """Files a run that stopped planned for this destination and did not finish. Plans for another
        destination (the archive was moved) are dropped: their pieces are still in raw, and go here."""
        self.connection.execute(
            self._sql("delete from {raw}.archive_files where archived_at is null and destination <> %s"),
            [self.store.description],
        )
        rows = self.connection.execute(
            self._sql(
                "select archive_file_id, file_path, device_id, piece_ids from {raw}.archive_files"
                " where archived_at is null order by archive_file_id"
            )
        ).fetchall()
        return [_PlannedFile(int(row[0]), row[1], str(row[2]), list(row[3])) for row in rows]

    def plan(self, older_than_ms: int, points_per_file: int) -> list[_PlannedFile]:
        """Group the due pieces into files (a device's pieces of one load day, in landing order, at most
        points_per_file points unless one piece holds more) and record each as planned."""
        rows = self.connection.execute(
            sql.SQL(
                "select pieces.device_id, to_char(pieces.loaded_at at time zone 'UTC', 'YYYY-MM-DD'),"
                " pieces.piece_id, pieces.point_count, pieces.first_recorded_ms, pieces.last_recorded_ms "
            )
            + _due_pieces(self.raw_schema)
            + sql.SQL(" order by pieces.device_id, pieces.loaded_at, pieces.piece_id"),
            [older_than_ms],
        ).fetchall()
        groups: list[list[tuple]] = []
        for row in rows:
            current = groups[-1] if groups else None
            if (
                current is None
                or (current[0][0], current[0][1]) != (row[0], row[1])
                or sum(piece[3] for piece in current) + row[3] > points_per_file
            ):
                groups.append([row])
            else:
                current.append(row)
        return [self._record_plan(group) for group in groups]

    def _record_plan(self, group: list[tuple]) -> _PlannedFile:
        device_id, day, first_piece = str(group[0][0]), group[0][1], int(group[0][2])
        file_path = f"telemetry/{device_id}/{day}-{first_piece:012d}.json.gz"
        piece_ids = [int(row[2]) for row in group]
        firsts = [row[4] for row in group if row[4] is not None]
        lasts = [row[5] for row in group if row[5] is not None]
        row = self.connection.execute(
            self._sql(
                "insert into {raw}.archive_files (destination, file_path, device_id, piece_ids, pieces, points,"
                " first_recorded_ms, last_recorded_ms) values (%s, %s, %s, %s, %s, %s, %s, %s)"
                " on conflict (destination, file_path) do update set piece_ids = excluded.piece_ids,"
                " pieces = excluded.pieces, points = excluded.points, archived_at = null"
                " returning archive_file_id"
            ),
            [
                self.store.description, file_path, device_id, piece_ids, len(piece_ids),
                sum(int(row[3]) for row in group), min(firsts, default=None), max(lasts, default=None),
            ],
        ).fetchone()  # fmt: skip
        assert row is not None  # insert ... returning always returns the row
        return _PlannedFile(int(row[0]), file_path, device_id, piece_ids)

    def finish(self, planned: _PlannedFile, resumed: bool = False) -> None:
        """Write, verify and remove one planned file's pieces, from what of them is still in raw."""
        present = self._present(planned.piece_ids)
        if not present:
            # Its pieces left raw another way (prune): nothing of this file is only in the archive.
            self.store.remove(planned.file_path)
            self.connection.execute(
                self._sql("delete from {raw}.archive_files where archive_file_id = %s"), [planned.archive_file_id]
            )
            self.result.files_resumed += int(resumed)
            return
        planned.piece_ids = [piece_id for piece_id in planned.piece_ids if piece_id in present]
        written = self._write(planned)
        try:
            self.store.put(planned.file_path, written.local)
            self._verify(planned, written)
        finally:
            written.local.unlink(missing_ok=True)
        freed = self._remove(planned, written)
        result = self.result
        result.files += 1
        result.files_resumed += int(resumed)
        result.pieces += len(planned.piece_ids)
        result.points += sum(check.points for check in written.series)
        result.file_bytes += written.local_size
        result.payload_bytes_freed += freed

    def _present(self, piece_ids: list[int]) -> set[int]:
        """The pieces still in raw."""
        rows = self.connection.execute(
            self._sql("select piece_id from {raw}.telemetry_pieces where piece_id = any(%s)"), [piece_ids]
        ).fetchall()
        return {int(piece_id) for (piece_id,) in rows}

    def _pieces(self, piece_ids: list[int]) -> Iterator[tuple[str, str, int]]:
        """(metric, points as JSON text, point count) of each piece, in the order given, a few at a time."""
        for start in range(0, len(piece_ids), PIECES_PER_READ):
            batch = piece_ids[start : start + PIECES_PER_READ]
            yield from self.connection.execute(
                self._sql(
                    "select metric_name, (payload -> 'data')::text, point_count from {raw}.telemetry_pieces"
                    " where piece_id = any(%s) order by array_position(%s, piece_id)"
                ),
                [batch, batch],
            )

    def _write(self, planned: _PlannedFile) -> _Written:
        """The planned file's pieces as one telemetry response, gzip-compressed into a local temporary file,
        with what each series must read back as; a piece whose points disagree with its row is refused."""
        handle, name = tempfile.mkstemp(prefix="loader-archive-", suffix=".json.gz")
        local = Path(name)
        series: list[_SeriesCheck] = []
        try:
            with os.fdopen(handle, "wb") as stored, gzip.GzipFile(fileobj=stored, mode="wb", mtime=0) as body:
                body.write(b'{"series": [')
                for index, (metric, points_json, point_count) in enumerate(self._pieces(planned.piece_ids)):
                    text = f'{{"name": {json.dumps(metric)}, "data": {points_json}}}'.encode("utf-8", "surrogatepass")
                    body.write((b", " if index else b"") + text)
                    check = _series_checks(planned.device_id, b'{"series": [' + text + b"]}")[0]
                    if check.points != point_count:
                        raise LoaderError(
                            f"A raw piece of {metric} for device {planned.device_id} holds {check.points} points where "
                            f"its row says {point_count}: archive file {planned.file_path} was not written."
                        )
                    series.append(check)
                body.write(b"]}\n")
            with local.open("rb") as written:
                sha256 = hashlib.file_digest(written, "sha256").hexdigest()
            return _Written(local, local.stat().st_size, sha256, series)
        except BaseException:
            local.unlink(missing_ok=True)
            raise

    def _verify(self, planned: _PlannedFile, written: _Written) -> None:
        """Read the file back from the destination: the same bytes, and series by series the same pieces."""
        stored = self.store.fetch(planned.file_path)
        try:
            if sha256_file(stored) != written.sha256:
                raise LoaderError(
                    f"Archive file {planned.file_path} read back from {self.store.description} differs from what "
                    "was written; nothing was removed from the database."
                )
            with stored.open() as body:
                read_back = _series_checks(planned.device_id, body)
        except MalformedResponse as malformed:
            raise LoaderError(
                f"Archive file {planned.file_path} in {self.store.description} {malformed.reason}; nothing was removed "
                "from the database."
            ) from None
        finally:
            stored.discard()
        if read_back != written.series:
            raise LoaderError(
                f"Archive file {planned.file_path} read back from {self.store.description} does not hold the "
                f"{len(written.series)} pieces it was written from; nothing was removed from the database."
            )

    def _remove(self, planned: _PlannedFile, written: _Written) -> int:
        """Delete the file's pieces and mark it archived, in one transaction. Returns the payload bytes freed."""
        with self.connection.transaction():
            locked = self.connection.execute(
                self._sql(
                    "with locked as (select payload from {raw}.telemetry_pieces where piece_id = any(%s) for update)"
                    " select sum(pg_column_size(payload)), count(*) from locked"
                ),
                [planned.piece_ids],
            ).fetchone()
            freed, count = (int(locked[0] or 0), int(locked[1])) if locked else (0, 0)
            if count != len(planned.piece_ids):
                raise LoaderError(
                    f"Some pieces of archive file {planned.file_path} left raw while it was written (a compaction or "
                    "prune ran at the same time); run `loader archive` again: it rewrites the file."
                )
            # Their admission-ledger rows go with them (on delete cascade).
            self.connection.execute(
                self._sql("delete from {raw}.telemetry_pieces where piece_id = any(%s)"), [planned.piece_ids]
            )
            self.connection.execute(
                self._sql(
                    "update {raw}.archive_files set archived_at = clock_timestamp(), piece_ids = %s, pieces = %s,"
                    " points = %s, file_bytes = %s, file_sha256 = %s, payload_bytes_freed = %s"
                    " where archive_file_id = %s"
                ),
                [
                    planned.piece_ids, len(planned.piece_ids), sum(check.points for check in written.series),
                    written.local_size, written.sha256, freed, planned.archive_file_id,
                ],
            )  # fmt: skip
        return freed

    def write_assets(self) -> None:
        """The newest assets responses, so the archive lands as a whole (a device's description and state)."""
        rows = self.connection.execute(
            self._sql(
                "select page_number, payload::text from {raw}.assets_responses where load_id = ("
                " select load_id from {raw}.assets_responses order by loaded_at desc, response_id desc limit 1)"
                " order by page_number"
            )
        ).fetchall()
        for page_number, payload in rows:
            handle, name = tempfile.mkstemp(prefix="loader-archive-", suffix=".json.gz")
            local = Path(name)
            try:
                with os.fdopen(handle, "wb") as stored, gzip.GzipFile(fileobj=stored, mode="wb", mtime=0) as body:
                    body.write(payload.encode("utf-8", "surrogatepass"))
                self.store.put(f"assets/page-{page_number}.json.gz", local)
            finally:
                local.unlink(missing_ok=True)


def _series_checks(device_id: str, body: bytes | IO[bytes]) -> list[_SeriesCheck]:
    """Each series of a telemetry response as the loader would land it: metric, point count, and the
    hash of its points (of its pieces' hashes, where the parser cuts a series into several)."""
    stream = io.BytesIO(body) if isinstance(body, bytes) else body
    checks: dict[int, _SeriesCheck] = {}
    piece_hashes: dict[int, list[str]] = {}
    for item in iter_telemetry(stream):
        if isinstance(item, SeriesRejected):
            raise MalformedResponse(f"has a series that cannot land: {item.reason}")
        check = checks.setdefault(item.series_index, _SeriesCheck(item.name, 0))
        check.points += item.point_count
        piece_hashes.setdefault(item.series_index, []).append(piece_hash(device_id, item))
    for index, check in checks.items():
        check.digest = hashlib.sha256(",".join(piece_hashes[index]).encode()).hexdigest()
    return [checks[index] for index in sorted(checks)]
