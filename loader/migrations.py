"""The raw landing schema, created and migrated by the loader.

Migrations are numbered and applied in order, each in its own transaction, and recorded in
`<schema>.schema_migrations`; append a new one to MIGRATIONS to change the schema, never edit an
applied one. An advisory lock keeps two loaders from migrating at the same time.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

DEFAULT_RAW_SCHEMA = "raw"
MIGRATION_LOCK_KEY = 7_321_004_211

MIGRATIONS: list[str] = [
    # 1: load log, telemetry pieces, assets responses, quarantine, landed files.
    """
    create table {schema}.load_log (
        load_id uuid primary key,
        source text not null,
        started_at timestamptz not null default clock_timestamp(),
        finished_at timestamptz,
        status text not null default 'running'
            check (status in ('running', 'succeeded', 'finished_with_rejects', 'failed')),
        files_seen integer not null default 0,
        files_landed integer not null default 0,
        files_unchanged integer not null default 0,
        files_quarantined integer not null default 0,
        pieces_landed integer not null default 0,
        pieces_unchanged integer not null default 0,
        points_landed bigint not null default 0,
        bytes_read bigint not null default 0,
        error text,
        loader_version text not null,
        summary jsonb
    );

    create table {schema}.telemetry_pieces (
        piece_id bigint generated always as identity primary key,
        load_id uuid not null references {schema}.load_log (load_id),
        loaded_at timestamptz not null default clock_timestamp(),
        source_uri text not null,
        device_id uuid not null,
        metric_name text not null,
        series_index integer not null,
        chunk_index integer not null,
        point_count integer not null,
        first_recorded_ms bigint,
        last_recorded_ms bigint,
        content_hash text not null,
        payload jsonb not null,
        constraint telemetry_pieces_content_hash_key unique (content_hash)
    );
    create index telemetry_pieces_loaded_at_idx on {schema}.telemetry_pieces (loaded_at);

    create table {schema}.assets_responses (
        response_id bigint generated always as identity primary key,
        load_id uuid not null references {schema}.load_log (load_id),
        loaded_at timestamptz not null default clock_timestamp(),
        source_uri text not null,
        page_number integer not null,
        item_count integer not null,
        total_count integer,
        content_hash text not null,
        payload jsonb not null,
        constraint assets_responses_content_hash_key unique (content_hash)
    );

    create table {schema}.landed_files (
        source_uri text not null,
        content_hash text not null,
        load_id uuid not null references {schema}.load_log (load_id),
        landed_at timestamptz not null default clock_timestamp(),
        size_bytes bigint not null,
        pieces integer not null,
        primary key (source_uri, content_hash)
    );

    create table {schema}.quarantine (
        quarantine_id bigint generated always as identity primary key,
        load_id uuid not null references {schema}.load_log (load_id),
        quarantined_at timestamptz not null default clock_timestamp(),
        source_uri text not null,
        series_index integer,
        disposition text not null check (disposition in ('rejected', 'landed_sanitized')),
        reason text not null,
        size_bytes bigint not null,
        content_hash text not null,
        content bytea,
        content_is_truncated boolean not null default false
    );
    create index quarantine_load_id_idx on {schema}.quarantine (load_id);
    """,
    # 2: the parser's verdict that a piece holds only [integer, plain decimal] points, which lets dbt
    # take a fast path. Pieces landed before this migration are judged point by point.
    """
    alter table {schema}.telemetry_pieces add column is_plain_numeric boolean not null default false;
    """,
    # 3: the newest numeric reading per device and metric, for the metrics alerting watches, kept up to
    # date by the loader in the landing transaction, so an alert can see a reading as soon as it is
    # committed instead of after the next dbt build. A cache, not raw history: rows are replaced.
    """
    create table {schema}.latest_readings (
        device_id uuid not null,
        metric_name text not null,
        recorded_at timestamptz not null,
        value jsonb not null,
        piece_id bigint not null references {schema}.telemetry_pieces (piece_id),
        loaded_at timestamptz not null default clock_timestamp(),
        primary key (device_id, metric_name)
    );
    """,
    # 4: a load that died says so. A running loader holds a session advisory lock keyed by its load id
    # (see loader/load_liveness.py) and records where it runs; a 'running' row whose holder is gone is
    # shown, and at the next load marked, 'interrupted'. A file rejected again unchanged is counted as
    # still quarantined instead of adding a quarantine row; the index finds its earlier verdict.
    """
    alter table {schema}.load_log drop constraint load_log_status_check;
    alter table {schema}.load_log add constraint load_log_status_check
        check (status in ('running', 'succeeded', 'finished_with_rejects', 'failed', 'interrupted'));
    alter table {schema}.load_log add column loader_host text, add column loader_pid integer,
        add column files_still_quarantined integer not null default 0;
    create index quarantine_source_uri_content_hash_idx on {schema}.quarantine (source_uri, content_hash);
    """,
    # 5: the pipeline-health view (dbt model pipeline_health) reads the newest loads and the last day's
    # rejects on every scrape: indexes keep that an index probe as the log grows.
    """
    create index load_log_finished_at_idx on {schema}.load_log (finished_at);
    create index load_log_started_at_idx on {schema}.load_log (started_at);
    create index quarantine_quarantined_at_idx on {schema}.quarantine (quarantined_at);
    """,
    # 6: time windows for sources that take a time range (loader/windows.py): per source, device and
    # scope (routine '' or one backfill) the end of the last window whose response committed. The
    # index finds the pieces a lookback overlaps, so already landed readings are not landed twice.
    """
    create table {schema}.fetch_cursors (
        source text not null,
        device_id text not null,
        scope text not null,
        landed_until timestamptz not null,
        load_id uuid not null references {schema}.load_log (load_id),
        updated_at timestamptz not null default clock_timestamp(),
        primary key (source, device_id, scope)
    );
    create index telemetry_pieces_device_id_metric_name_last_recorded_ms_idx
        on {schema}.telemetry_pieces (device_id, metric_name, last_recorded_ms);
    """,
    # 7: object storage lists each object's ETag and size: an object landed before with the same ones
    # is skipped without downloading it (loader/sources/s3.py).
    """
    alter table {schema}.landed_files add column object_etag text;
    create index landed_files_source_uri_object_etag_idx on {schema}.landed_files (source_uri, object_etag)
        where object_etag is not null;
    """,
    # 8: a streamed message's pieces record when the broker delivered it (loader/stream.py).
    """
    alter table {schema}.telemetry_pieces add column received_at timestamptz;
    """,
    # 9: compaction (loader/compaction.py) merges a day's small transformed pieces of a series into one:
    # when it took a piece (merged, or alone in its day and left as it is) and how many it merged. The
    # partial indexes find what is due: pieces not taken yet, and HTTP responses' file records, by age.
    """
    alter table {schema}.telemetry_pieces add column compacted_at timestamptz,
        add column compacted_from_pieces integer;
    create index telemetry_pieces_compaction_due_idx on {schema}.telemetry_pieces (loaded_at)
        where compacted_at is null and is_plain_numeric;
    create index landed_files_http_landed_at_idx on {schema}.landed_files (landed_at)
        where source_uri ~ '^https?://';
    """,
    # 10: the one home of the load lock's rule (loader/load_liveness.py): a running loader holds the
    # advisory lock (lock_class, load_lock_key(load_id)); pipeline_health and pipeline_runs (dbt macro
    # load_is_interrupted) ask load_lock_is_held as the loader does.
    """
    create function {schema}.load_lock_key(load_id uuid) returns integer
        language sql immutable parallel safe
        return ('x' || left(replace(load_id::text, '-', ''), 8))::bit(32)::integer & 2147483647;
    create function {schema}.load_lock_is_held(load_id uuid, lock_class integer) returns boolean
        language sql stable parallel safe
        return exists (
            select 1 from pg_catalog.pg_locks as lock
            where lock.locktype = 'advisory' and lock.granted and lock.objsubid = 2
                and lock.classid::bigint = lock_class
                and lock.objid::bigint = {schema}.load_lock_key(load_id)
        );
    """,
    # 11: the admission ledger: which raw pieces a dbt build took up (its batch) and which are
    # transformed. Created here, beside the pieces; its rows are written by dbt alone (its hooks
    # admit_telemetry_batch and close_telemetry_batch), and the loader only reads it.
    # A piece removed from raw (compaction, prune) takes its ledger row with it: on delete cascade.
    """
    create table {schema}.admission_ledger (
        piece_id bigint primary key references {schema}.telemetry_pieces (piece_id) on delete cascade,
        load_id uuid not null,
        loaded_at timestamptz not null,
        source_uri text not null,
        device_id uuid not null,
        metric_name text not null,
        point_count integer not null,
        batch_id text not null,
        transformed_at timestamptz
    );
    create index admission_ledger_batch_id_idx on {schema}.admission_ledger (batch_id);
    create index admission_ledger_loaded_at_idx on {schema}.admission_ledger (loaded_at);
    create index admission_ledger_pending_idx on {schema}.admission_ledger (piece_id)
        where transformed_at is null;
    """,
    # 12: the archive (loader/archive.py): each file `loader archive` writes, planned with the pieces it
    # holds before it is written, and marked archived in the transaction that removes those pieces once
    # the file was read back and verified. A planned file left by a run that died is finished first.
    """
    create table {schema}.archive_files (
        archive_file_id bigint generated always as identity primary key,
        destination text not null,
        file_path text not null,
        device_id uuid not null,
        piece_ids bigint[] not null,
        pieces integer not null,
        points bigint not null,
        first_recorded_ms bigint,
        last_recorded_ms bigint,
        planned_at timestamptz not null default clock_timestamp(),
        archived_at timestamptz,
        file_bytes bigint,
        file_sha256 text,
        payload_bytes_freed bigint,
        constraint archive_files_destination_file_path_key unique (destination, file_path)
    );
    create index archive_files_planned_idx on {schema}.archive_files (archive_file_id) where archived_at is null;
    """,
]


def migrate(connection: psycopg.Connection, schema: str = DEFAULT_RAW_SCHEMA) -> int:
    """Bring the raw schema to the latest version. Returns the number of migrations applied."""
    with connection.transaction():
        connection.execute("select pg_advisory_xact_lock(%s)", [MIGRATION_LOCK_KEY])
        connection.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        connection.execute(
            sql.SQL(
                "create table if not exists {}.schema_migrations ("
                " version integer primary key, applied_at timestamptz not null default now())"
            ).format(sql.Identifier(schema))
        )
        row = connection.execute(
            sql.SQL("select coalesce(max(version), 0) from {}.schema_migrations").format(sql.Identifier(schema))
        ).fetchone()
    current = row[0] if row else 0
    applied = 0
    for version, statement in enumerate(MIGRATIONS, start=1):
        if version <= current:
            continue
        with connection.transaction():
            connection.execute("select pg_advisory_xact_lock(%s)", [MIGRATION_LOCK_KEY])
            already = connection.execute(
                sql.SQL("select 1 from {}.schema_migrations where version = %s").format(sql.Identifier(schema)),
                [version],
            ).fetchone()
            if already:
                continue
            connection.execute(sql.SQL(statement.format(schema=sql.Identifier(schema).as_string(connection))))
            connection.execute(
                sql.SQL("insert into {}.schema_migrations (version) values (%s)").format(sql.Identifier(schema)),
                [version],
            )
            applied += 1
    return applied
