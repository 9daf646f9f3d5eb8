"""The `loader` command: a thin click layer over the library modules."""

from __future__ import annotations

import contextlib
import csv
import functools
import http.server
import json
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import click

from loader import __version__, exit_codes
from loader.archive import (
    ARCHIVE_DESTINATION_ENV,
    DEFAULT_ARCHIVE_OLDER_THAN,
    DEFAULT_POINTS_PER_FILE,
    ArchivePolicy,
    ArchiveResult,
    archive_after_load,
    archive_transformed_pieces,
    default_destination,
)
from loader.build import run_build
from loader.compaction import DEFAULT_COMPACT_AFTER, CompactionResult, compact_after_load, compact_raw_pieces
from loader.deprecated_options import bare_seconds, renamed_options
from loader.embedded import DEFAULT_PASSWORD, EmbeddedServer
from loader.errors import LoaderError
from loader.follow import rounds, stop_on_signals
from loader.generate import FleetSpec, generate_fleet
from loader.job_locks import BuildAlreadyRunning
from loader.landing import DEFAULT_CONCURRENCY, DEFAULT_LATEST_METRICS, LoadOptions, LoadSummary, Progress, run_load
from loader.migrations import DEFAULT_RAW_SCHEMA
from loader.readings import UNTRANSFORMED, DeviceFound, Reading, ReadingsQuery, device_metrics, iter_readings
from loader.report import DEFAULT_SITE_DIR, build_report
from loader.reports import LAYERS, database_summary, recent_loads, soc_alerts
from loader.retention import prune_transformed_pieces
from loader.settings import (
    PROJECT_ROOT,
    ConnectionSettings,
    embedded_target_password,
    find_project_dir,
    resolve_connection,
)
from loader.sources import TIME_FORMATS, HttpSettings, S3Settings, TimeFormat, open_source
from loader.sources.mqtt import Broker
from loader.stream import Stream, StreamOptions
from loader.telemetry_parser import DEFAULT_MAX_POINTS
from loader.windows import DEFAULT_LOOKBACK, DEFAULT_WINDOW, WindowPlan, epoch_ms, parse_duration

TIME_INPUT_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"]


class _Duration(click.ParamType):
    """A duration such as 500ms, 30s, 5m, 6h or 1d, as milliseconds: every span of time an option
    takes. A bare number of seconds (how some options took it before) still works, with a notice."""

    name = "duration"

    def __init__(self, allow_zero: bool = False) -> None:
        self.allow_zero = allow_zero

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        option = param.opts[0] if param is not None and param.opts else "a duration"
        text, notice = bare_seconds(option, str(value).strip())
        if notice:
            click.echo(notice, err=True)
        try:
            return parse_duration(text, allow_zero=self.allow_zero)
        except LoaderError as error:
            self.fail(error.message, param, ctx)


DURATION = _Duration()
DURATION_OR_ZERO = _Duration(allow_zero=True)

DEFAULT_SOURCE = str(PROJECT_ROOT / "data")
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def connection_options(command: Any) -> Any:
    """Options every database command takes; the dbt profile is the default for all of them."""
    options = [
        click.option(
            "--database-url",
            envvar="LOADER_DATABASE_URL",
            metavar="URL",
            help="postgresql://user:password@host:port/db; overrides the dbt profile. Env: LOADER_DATABASE_URL.",
        ),
        click.option(
            "--target",
            envvar="DBT_TARGET",
            metavar="NAME",
            help="dbt target of profile 'battery_telemetry' to connect to. Env: DBT_TARGET.",
        ),
        click.option(
            "--profiles-dir",
            envvar="DBT_PROFILES_DIR",
            metavar="DIR",
            help="Folder holding profiles.yml, as for dbt. Env: DBT_PROFILES_DIR.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


# The two schemas every command may need are named alike: --raw-schema (where the loader lands) and
# --models-schema (where dbt builds).
raw_schema_option = click.option(
    "--raw-schema", default=DEFAULT_RAW_SCHEMA, show_default=True, metavar="NAME", help="Schema the loader lands into."
)
models_schema_option = click.option(
    "--models-schema",
    "models_schema",
    metavar="NAME",
    help="Schema of the dbt models (default: the dbt target's schema).",
)


def format_option(what: str) -> Any:
    """The one output option: --format, text for people (the default) or json for programs."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help=f"text for people, or json: {what}.",
    )


compact_after_option = click.option(
    "--compact-older-than",
    "compact_after",
    default=DEFAULT_COMPACT_AFTER,
    show_default=True,
    type=DURATION,
    metavar="DURATION",
    help="Merge each series' small raw pieces of a day into one piece once dbt has transformed them and they "
    "were recorded and loaded before the (UTC) day this long ago began (raw stays re-processable; see "
    "`loader compact`).",
)
no_compact_option = click.option("--no-compact", is_flag=True, help="Keep every piece as landed.")


def archive_options(command: Any) -> Any:
    """What `loader load` and `loader stream` archive after they land (see `loader archive --help`)."""
    options = [
        click.option(
            "--archive-older-than",
            default=DEFAULT_ARCHIVE_OLDER_THAN,
            show_default=True,
            type=DURATION_OR_ZERO,
            metavar="DURATION",
            help="Move raw pieces loaded longer ago than this, once dbt has transformed them, into the archive "
            "(compressed files `loader load` reads back; see `loader archive`).",
        ),
        click.option(
            "--archive-to",
            metavar="DEST",
            help=f"The archive: a folder or s3://bucket/prefix (default: ${ARCHIVE_DESTINATION_ENV}, else a folder "
            "in the loader's state folder; point it at object storage in production).",
        ),
        click.option("--no-archive", is_flag=True, help="Keep raw in the database (`loader prune` deletes it)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _archive_policy(
    settings: ConnectionSettings, archive_to: str | None, older_than_ms: int, no_archive: bool, s3: S3Settings
) -> ArchivePolicy | None:
    if no_archive:
        return None
    return ArchivePolicy(archive_to or default_destination(settings), older_than_ms, s3)


def _settings(database_url: str | None, target: str | None, profiles_dir: str | None) -> ConnectionSettings:
    return resolve_connection(database_url, target, profiles_dir)


class _LoaderGroup(click.Group):
    """Turns the library's LoaderError into click's error: its sentence on stderr, its exit code; takes
    the old spellings of options (loader/deprecated_options.py) with a notice."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name is not None:
            rest, notices = renamed_options(name, rest)
            for notice in notices:
                click.echo(notice, err=True)
        return name, command, rest

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LoaderError as error:
            click.echo(f"Error: {error.message}", err=True)
            ctx.exit(error.exit_code)


# The top-level help, in the terminal and in the docs site's generated CLI reference (which renders
# it as Markdown: hence list items, which read as lines in both).
CLI_HELP = """Land battery telemetry API responses raw, as JSONB, for dbt to transform.

Typical use:

\b
- `loader db start`: only for the embedded TimescaleDB (development)
- `loader load`: land data/ (or an API URL, or s3://bucket/prefix) into the raw schema
- `loader stream URL`: or land what devices publish to an MQTT broker, as it arrives
- `loader readings --device NAME --metric NAME`: a device's readings, no SQL needed
- `loader build`: dbt build, transforming into battery_telemetry and the marts
- `loader summary`: rows per table, layer by layer
- `loader status`: what the last loads did
- `loader report build`: the report site, pictures of the marts (`loader report serve` shows it)

The connection comes from the dbt profile 'battery_telemetry' (profiles.yml), so dbt and the
loader share one config. Options speak one vocabulary: --since/--until for time ranges,
--format for output, durations as 30s, 5m, 6h or 7d.

Exit codes:

\b
""" + "\n".join(f"- {code}: {meaning}" for code, meaning in exit_codes.MEANINGS.items())


@click.group(cls=_LoaderGroup, context_settings=CONTEXT_SETTINGS, help=CLI_HELP)
@click.version_option(__version__, prog_name="loader")
def cli() -> None:
    pass


class _Bar(Progress):
    """A progress bar over bytes read, drawn on stderr only when stderr is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def start(self, total_bytes: int | None) -> None:
        if self.enabled:
            self.bar = click.progressbar(
                length=total_bytes or 0,
                label="Landing telemetry",
                file=sys.stderr,
                show_pos=False,
                show_percent=bool(total_bytes),
                width=30,
            )
            self.bar.__enter__()

    def advance(self, byte_count: int) -> None:
        if self.bar is not None:
            self.bar.update(byte_count)

    def waiting(self, sentence: str) -> None:
        click.echo(sentence, err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


class _SourceOptionsCommand(click.Command):
    """A command whose --help lists each source's own options under that source's heading."""

    # Option (parameter) names by the source they are for; the rest apply to every source.
    SOURCE_SECTIONS: ClassVar[dict[str, list[str]]] = {
        "HTTP API source (http(s)://...): time windows, cursors, backfills": [
            "since", "until", "window", "lookback", "max_requests_per_second",
            "http_timeout", "http_attempts", "http_range_params", "http_time_format",
        ],
        "Object storage source (s3://bucket/prefix)": ["s3_endpoint_url"],
    }  # fmt: skip

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        by_source = {name: heading for heading, names in self.SOURCE_SECTIONS.items() for name in names}
        sections: dict[str, list[tuple[str, str]]] = {"Options": []}
        sections.update((heading, []) for heading in self.SOURCE_SECTIONS)
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                sections[by_source.get(param.name or "", "Options")].append(record)
        for heading, records in sections.items():
            if records:
                with formatter.section(heading):
                    formatter.write_dl(records)


@cli.command(cls=_SourceOptionsCommand)
@click.argument("source", default=DEFAULT_SOURCE, metavar="[SOURCE]")
@click.option(
    "--device",
    "device_ids",
    multiple=True,
    metavar="ID",
    help="Load telemetry of this device only (repeatable).",
)
@click.option("--only-assets", is_flag=True, help="Load telemetry only for devices listed in the assets response.")
@click.option("--dry-run", is_flag=True, help="Report what would land, be skipped and be quarantined; write nothing.")
@format_option("the run summary as JSON on stdout")
@click.option(
    "--max-points",
    default=DEFAULT_MAX_POINTS,
    show_default=True,
    type=click.IntRange(1),
    help="Points per landed piece; long series are split into pieces of this size.",
)
@raw_schema_option
@click.option(
    "--http-timeout",
    default="60s",
    show_default=True,
    type=DURATION,
    metavar="DURATION",
    help="HTTP source: how long to wait for the server to answer (connect: 5 s).",
)
@click.option(
    "--http-attempts",
    default=5,
    show_default=True,
    type=click.IntRange(1),
    help="HTTP source: attempts per request on timeouts, connection errors, 429 and 5xx, with exponential backoff.",
)
@click.option(
    "--latest-metric",
    "latest_metrics",
    multiple=True,
    default=DEFAULT_LATEST_METRICS,
    show_default=True,
    metavar="NAME",
    help="Keep the newest reading of this metric in raw.latest_readings, for alerting before dbt runs (repeatable).",
)
@click.option(
    "--follow",
    type=DURATION,
    metavar="DURATION",
    help="Near real time: load again every DURATION (e.g. 30s) until Ctrl-C or SIGTERM (which end the loop after the "
    "round under way); each round lands only what changed.",
)
@click.option("--max-rounds", type=click.IntRange(1), help="With --follow: stop after this many rounds.")
@click.option(
    "--since",
    type=click.DateTime(TIME_INPUT_FORMATS),
    metavar="TIME",
    help="HTTP source: backfill from this time (UTC; 2026-01-31 or 2026-01-31T12:00:00) in windows of --window; "
    "an interrupted backfill resumes at its first window that did not land. Default: from each device's cursor.",
)
@click.option(
    "--until",
    type=click.DateTime(TIME_INPUT_FORMATS),
    metavar="TIME",
    help="HTTP source, with --since: backfill up to this time (exclusive). Default: now, and then the "
    "routine cursor moves there too.",
)
@click.option(
    "--window",
    default=DEFAULT_WINDOW,
    show_default=True,
    type=DURATION,
    metavar="DURATION",
    help="HTTP source: the longest time range one request asks for (30m, 6h, 1d, ...).",
)
@click.option(
    "--lookback",
    default=DEFAULT_LOOKBACK,
    show_default=True,
    type=DURATION,
    metavar="DURATION",
    help="HTTP source: a routine run asks again for this much before each device's cursor, for readings "
    "the API received late; only readings not landed yet land.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    help=f"Devices fetched and landed at once, each on its own database connection. Default: "
    f"{DEFAULT_CONCURRENCY}, and 1 on the embedded database (which serves one session).",
)
@click.option(
    "--max-requests-per-second",
    type=click.FloatRange(min=0.01),
    metavar="N",
    help="HTTP source: at most N requests a second, across all workers. Default: no limit.",
)
@click.option(
    "--http-range-params",
    default="from,to",
    show_default=True,
    metavar="FROM,TO|none",
    help="HTTP source: the query parameters that ask GET /telemetry/{deviceId} for readings with "
    "FROM <= time < TO; 'none' for an API without them (every request then gets the whole history).",
)
@click.option(
    "--http-time-format",
    type=click.Choice(TIME_FORMATS),
    default="epoch-ms",
    show_default=True,
    help="HTTP source: how the range parameters' times are written (epoch-ms: 1767225600000; "
    "iso8601: 2026-01-01T00:00:00.000Z).",
)
@click.option(
    "--s3-endpoint-url",
    metavar="URL",
    help="s3:// source: an S3-compatible server such as MinIO (http://host:9000). Default: AWS, or "
    "AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL.",
)
@compact_after_option
@no_compact_option
@archive_options
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: only when stderr is a terminal).",
)
@connection_options
def load(
    source: str,
    device_ids: tuple[str, ...],
    only_assets: bool,
    dry_run: bool,
    output_format: str,
    max_points: int,
    raw_schema: str,
    http_timeout: int,
    http_attempts: int,
    latest_metrics: tuple[str, ...],
    follow: int | None,
    max_rounds: int | None,
    since: datetime | None,
    until: datetime | None,
    window: int,
    lookback: int,
    concurrency: int | None,
    max_requests_per_second: float | None,
    http_range_params: str,
    http_time_format: TimeFormat,
    s3_endpoint_url: str | None,
    compact_after: int,
    no_compact: bool,
    archive_older_than: int,
    archive_to: str | None,
    no_archive: bool,
    progress: bool | None,
    database_url: str | None,
    target: str | None,
    profiles_dir: str | None,
) -> None:
    """Land API responses from SOURCE into the raw schema.

    SOURCE is a directory laid out like the API (assets/*.json, telemetry/<deviceId>.json; default:
    the project's data/ folder), the API's base URL (http(s)://...; GET /assets, paged, and
    GET /telemetry/{deviceId} for each listed device; token from LOADER_API_TOKEN), or object storage
    (s3://bucket/prefix, laid out like a directory, optionally telemetry/<deviceId>/<day>.json;
    credentials from the standard AWS variables; objects landed unchanged are not downloaded again).

    From an HTTP API each device is asked for time windows: the loader keeps per device the end of the
    last window that landed (raw.fetch_cursors) and asks from there, less --lookback, up to now; the
    first run asks for everything up to now. --since/--until backfill a range in windows of --window.
    --concurrency devices are fetched at once.

    Re-running on the same input lands nothing new. Input that cannot land is quarantined with its
    reason (table raw.quarantine) while the rest still lands; the exit code is then 3. A rejected
    file that is still there unchanged on a later run is reported as "still quarantined", not
    quarantined again, and alone does not make the exit code 3 (only new rejects do).

    Each run ends by compacting raw (--compact-older-than, --no-compact; see `loader compact --help`) and
    moving what dbt transformed more than --archive-older-than ago into the archive (--archive-to,
    --no-archive; see `loader archive --help`).
    """
    settings = _settings(database_url, target, profiles_dir)
    if until is not None and since is None:
        raise click.UsageError("--until needs --since: a backfill runs from --since to --until.")
    if since is not None and until is not None and until <= since:
        raise click.UsageError("--until must be later than --since.")
    options = LoadOptions(
        window_plan=WindowPlan(
            window_ms=window,
            lookback_ms=lookback,
            since_ms=epoch_ms(since) if since else None,
            until_ms=epoch_ms(until) if until else None,
        ),
        concurrency=concurrency,
        device_ids=list(device_ids) or None,
        only_asset_devices=only_assets,
        dry_run=dry_run,
        max_points_per_piece=max_points,
        raw_schema=raw_schema,
        latest_metrics=tuple(latest_metrics),
    )
    http = HttpSettings(
        read_timeout_s=http_timeout / 1000,
        max_attempts=http_attempts,
        token=os.environ.get("LOADER_API_TOKEN"),
        range_params=_range_params(http_range_params),
        time_format=http_time_format,
        max_requests_per_second=max_requests_per_second,
    )
    stop = stop_on_signals() if follow is not None else threading.Event()

    s3 = S3Settings(endpoint_url=s3_endpoint_url)
    archive_policy = _archive_policy(settings, archive_to, archive_older_than, no_archive, s3)

    def load_once() -> tuple[LoadSummary, CompactionResult | None, ArchiveResult | None]:
        bar = _Bar((sys.stderr.isatty() if progress is None else progress) and follow is None)
        try:
            summary = run_load(settings, open_source(source, http, s3), options, bar)
        finally:
            bar.close()
        compaction = archived = None
        if not (dry_run or no_compact):
            compaction = compact_after_load(settings, raw_schema, compact_after, on_wait=_say_on_stderr)
        if not dry_run and archive_policy is not None:
            archived = archive_after_load(settings, raw_schema, archive_policy, on_wait=_say_on_stderr)
        if isinstance(compaction, str):
            _report_compaction(compaction)
        if isinstance(archived, str):
            _report_archive(archived)
        return (
            summary,
            compaction if isinstance(compaction, CompactionResult) else None,
            archived if isinstance(archived, ArchiveResult) else None,
        )

    any_rejects = False
    follow_s = None if follow is None else follow / 1000
    for summary, compaction, archived in rounds(load_once, follow_s, max_rounds, stop):
        if output_format == "json":
            output = summary.as_dict() | ({"compaction": compaction.as_dict()} if compaction else {})
            output |= {"archive": archived.as_dict()} if archived else {}
            click.echo(json.dumps(output, indent=None if follow else 2))
        else:
            _print_summary(summary, settings)
            if compaction and (compaction.pieces_merged or compaction.http_file_records_removed):
                click.echo(_compaction_sentence(compaction, dry_run=False))
            if archived and archived.files:
                click.echo(_archive_sentence(archived, archive_older_than))
        any_rejects = any_rejects or summary.has_rejects
    if stop.is_set():
        click.echo("Stopped following.", err=True)
    if any_rejects:
        sys.exit(exit_codes.FINISHED_WITH_REJECTS)


@cli.command()
@click.argument("broker_url", metavar="URL")
@click.option(
    "--batch-size",
    default=500,
    show_default=True,
    type=click.IntRange(1, 30000),
    help="Commit a batch when it holds this many messages ...",
)
@click.option(
    "--batch-every",
    "batch_every",
    default="1s",
    show_default=True,
    type=DURATION,
    metavar="DURATION",
    help="... or when its first message is this old.",
)
@click.option(
    "--client-id",
    default=StreamOptions.client_id,
    show_default=True,
    metavar="ID",
    help="MQTT client id of the persistent session: keep it fixed, so the broker keeps what arrives while "
    "the loader is away for it; two loaders need two ids (each then gets every message).",
)
@click.option(
    "--exit-when-idle",
    type=DURATION,
    metavar="DURATION",
    help="Stop once no message came for DURATION: drain what the broker kept for the session, then exit "
    "(for a scheduled run instead of a service). Default: run until stopped.",
)
@format_option("the stream's summary as JSON on stdout when it stops")
@click.option(
    "--latest-metric",
    "latest_metrics",
    multiple=True,
    default=DEFAULT_LATEST_METRICS,
    show_default=True,
    metavar="NAME",
    help="Keep the newest reading of this metric in raw.latest_readings, for alerting (repeatable).",
)
@compact_after_option
@no_compact_option
@archive_options
@click.option("--s3-endpoint-url", metavar="URL", help="s3:// archive: an S3-compatible server (http://host:9000).")
@raw_schema_option
@connection_options
def stream(
    broker_url: str,
    batch_size: int,
    batch_every: int,
    client_id: str,
    exit_when_idle: int | None,
    output_format: str,
    latest_metrics: tuple[str, ...],
    compact_after: int,
    no_compact: bool,
    archive_older_than: int,
    archive_to: str | None,
    no_archive: bool,
    s3_endpoint_url: str | None,
    raw_schema: str,
    database_url: str | None,
    target: str | None,
    profiles_dir: str | None,
) -> None:
    """Land what the fleet publishes to an MQTT broker, until Ctrl-C or SIGTERM.

    URL is mqtt://[user:password@]host[:port]/TOPIC-FILTER (mqtts:// for TLS), e.g.
    mqtt://broker:1883/battery/+/telemetry. Messages are JSON: the API's response shape
    {"series": [...]} or one reading {"metric": ..., "time": <epoch ms>, "value": ...}; the device id
    is the topic level that is a UUID. They land raw in batches (--batch-size / --batch-seconds), each
    batch in one transaction with raw.latest_readings, so alerts see a reading once its batch commits.
    Subscribed with QoS 1 on a persistent session; a message is acknowledged only after its batch
    committed, so nothing is lost when the loader or the broker goes down, and nothing lands twice.
    Bad messages are quarantined with their topic and reason. The first Ctrl-C or SIGTERM commits the
    batch under way and stops (exit 0, or 3 if messages were quarantined). At the start and every hour raw
    is compacted (--compact-older-than, --no-compact; see `loader compact --help`) and what dbt
    transformed more than --archive-older-than ago moves into the archive (--archive-to, --no-archive;
    see `loader archive --help`).
    """
    settings = _settings(database_url, target, profiles_dir)
    options = StreamOptions(
        batch_size=batch_size,
        batch_seconds=batch_every / 1000,
        client_id=client_id,
        load=LoadOptions(raw_schema=raw_schema, latest_metrics=tuple(latest_metrics)),
        exit_when_idle_s=None if exit_when_idle is None else exit_when_idle / 1000,
        compact_after_ms=None if no_compact else compact_after,
        archive=_archive_policy(
            settings, archive_to, archive_older_than, no_archive, S3Settings(endpoint_url=s3_endpoint_url)
        ),
    )
    stop = stop_on_signals()
    broker = Broker.from_url(broker_url)
    click.echo(f"Streaming {broker.uri}/{broker.topic_filter} into {settings.display}; Ctrl-C stops.", err=True)
    report = _StreamReport(enabled=sys.stderr.isatty())
    summary = Stream(
        settings, broker, options, stop, on_batch=report.batch, on_compaction=_report_compaction,
        on_archive=_report_archive,
    ).run()  # fmt: skip
    if output_format == "json":
        click.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        click.echo(
            f"Streamed {summary.files_seen} messages: {summary.pieces_landed} pieces ({summary.points_landed} points) "
            f"landed, {summary.pieces_unchanged} already landed, {summary.files_quarantined} messages quarantined "
            f"in {summary.seconds:.0f} s. Load id {summary.load_id}."
        )
    if summary.has_rejects:
        sys.exit(exit_codes.FINISHED_WITH_REJECTS)


def _report_compaction(result: CompactionResult | str) -> None:
    if isinstance(result, str):
        click.echo(f"Compaction skipped: {result}", err=True)
    elif result.pieces_merged or result.http_file_records_removed:
        click.echo(_compaction_sentence(result, dry_run=False), err=True)


class _StreamReport:
    """A status line on a terminal, at most once a second: messages and points so far."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown_at = 0.0

    def batch(self, summary: LoadSummary, messages: int) -> None:
        if self.enabled and time.monotonic() - self.shown_at >= 1:
            self.shown_at = time.monotonic()
            click.echo(
                f"\r{summary.files_seen} messages, {summary.points_landed} points landed, "
                f"{summary.files_quarantined} quarantined",
                err=True,
                nl=False,
            )


def _range_params(text: str) -> tuple[str, str] | None:
    if text.strip().lower() == "none":
        return None
    names = [name.strip() for name in text.split(",")]
    if len(names) != 2 or not all(names):
        raise click.BadParameter(f"{text!r}: give two names, as in from,to, or none.", param_hint="--http-range-params")
    return names[0], names[1]


def _print_summary(summary: LoadSummary, settings: ConnectionSettings) -> None:
    verb = "Would land" if summary.dry_run else "Landed"
    click.echo(
        f"{verb} {summary.pieces_landed} pieces ({summary.points_landed} points) from "
        f"{summary.files_landed} files into {settings.display}; {summary.files_unchanged} files and "
        f"{summary.pieces_unchanged} pieces unchanged; {summary.files_quarantined} files quarantined, "
        f"{summary.files_still_quarantined} still quarantined; {summary.bytes_read / 1e6:.1f} MB in "
        f"{summary.seconds:.1f} s."
    )
    for rejection in summary.rejections:
        what = "quarantined" if rejection.disposition == "rejected" else "landed sanitized"
        click.echo(f"  {what}: {rejection.source_uri}: {rejection.reason}")
    for rejection in summary.still_quarantined:
        click.echo(f"  still quarantined (unchanged since rejected): {rejection.source_uri}: {rejection.reason}")
    for warning in summary.warnings:
        click.echo(f"  warning: {warning}", err=True)
    if not summary.dry_run:
        click.echo(f"Load id {summary.load_id}, status {summary.status}.")


@cli.command()
@click.option("-n", "--limit", default=10, show_default=True, type=click.IntRange(1), help="How many loads.")
@format_option("the loads as JSON")
@raw_schema_option
@connection_options
def status(
    limit: int,
    output_format: str,
    raw_schema: str,
    database_url: str | None,
    target: str | None,
    profiles_dir: str | None,
) -> None:
    """Show the most recent loads from the load log, newest first.

    Status is running, succeeded, finished_with_rejects (new input quarantined), failed (with its
    error), or interrupted: the loader died (killed, or its connection or the server went down) and
    the counts are what it committed before; the next load lands the rest. Counts are of files
    (responses) except where a column says pieces or points.
    """
    settings = _settings(database_url, target, profiles_dir)
    loads = recent_loads(settings, raw_schema, limit)
    if output_format == "json":
        click.echo(json.dumps(loads, indent=2, default=str))
        return
    if not loads:
        click.echo("No loads yet.")
        return
    click.echo(
        f"{'started (UTC)':19}  {'status':21}  {'files seen':>10}  {'files landed':>12}  {'files unchanged':>15}  "
        f"{'files quarantined':>17}  {'still quarantined':>17}  {'pieces landed':>13}  {'points landed':>13}  load id"
    )
    for row in loads:
        click.echo(
            f"{row['started_at']:%Y-%m-%d %H:%M:%S}  {row['status']:21}  {row['files_seen']:>10}  "
            f"{row['files_landed']:>12}  {row['files_unchanged']:>15}  {row['files_quarantined']:>17}  "
            f"{row['files_still_quarantined']:>17}  {row['pieces_landed']:>13}  {row['points_landed']:>13}  "
            f"{row['load_id']}"
        )


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--wait",
    "wait",
    default="0s",
    show_default=True,
    type=DURATION_OR_ZERO,
    metavar="DURATION",
    help="If another build is running, wait up to this long for it before giving up with exit code 6.",
)
@click.option("--target", envvar="DBT_TARGET", metavar="NAME", help="dbt target, as for dbt. Env: DBT_TARGET.")
@click.option("--profiles-dir", envvar="DBT_PROFILES_DIR", metavar="DIR", help="As for dbt. Env: DBT_PROFILES_DIR.")
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def build(wait: int, target: str | None, profiles_dir: str | None, dbt_args: tuple[str, ...]) -> None:
    """Run `dbt build [DBT_ARGS]` unless another build is running: the way to schedule builds.

    Two builds that overlap would both fail midway (they create the same relations). This holds the
    database's build lock for the whole build; a second `loader build` exits at once with code 6 and
    one sentence (or waits up to --wait), and a plain `dbt build` started meanwhile stops in
    its first hook. On the embedded database loads and builds also take turns. Exit codes otherwise
    are dbt's: 0 success, 1 a model or test failed, 2 dbt could not run. The dbt project is found as
    dbt finds it (--project-dir among DBT_ARGS, DBT_PROJECT_DIR, the current folder), else the one the
    loader came with. Example: `loader build --select marts`.
    """
    settings = _settings(None, target, profiles_dir)
    try:
        returncode = run_build(settings, dbt_args, target, profiles_dir, wait / 1000, _say_on_stderr)
    except BuildAlreadyRunning as busy:
        click.echo(f"Error: {busy.message}", err=True)
        sys.exit(exit_codes.BUILD_ALREADY_RUNNING)
    sys.exit(returncode)


@cli.command()
@format_option("the objects as JSON")
@raw_schema_option
@models_schema_option
@connection_options
def summary(
    output_format: str,
    raw_schema: str,
    models_schema: str | None,
    database_url: str | None,
    target: str | None,
    profiles_dir: str | None,
) -> None:
    """Print rows per table and view, layer by layer (raw, staging, core, ..., marts), and what each
    layer is for; the layers analysts, dashboards and alerts query are marked."""
    settings = _settings(database_url, target, profiles_dir)
    objects = database_summary(settings, raw_schema, models_schema or settings.schema, find_project_dir())
    if output_format == "json":
        click.echo(json.dumps(objects, indent=2))
        return
    click.echo(f"Database {settings.display}:")
    layer = None
    for row in objects:
        if row["layer"] != layer:
            layer = row["layer"]
            purpose, queried = LAYERS[layer]
            click.echo(f"\n{layer}: {purpose}{' (query these)' if queried else ''}")
        qualified = f"{row['schema']}.{row['name']}"
        click.echo(f"  {qualified:50} {row['kind']:22} {row['rows']:>12} rows")


@cli.command()
@click.option(
    "--older-than",
    required=True,
    type=DURATION_OR_ZERO,
    metavar="DURATION",
    help="Remove raw pieces loaded longer ago than this (e.g. 30d) that dbt has transformed; keep the rest.",
)
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@raw_schema_option
@connection_options
def prune(
    older_than: int,
    dry_run: bool,
    raw_schema: str,
    database_url: str | None,
    target: str | None,
    profiles_dir: str | None,
) -> None:
    """Remove raw telemetry pieces loaded longer ago than --older-than that dbt has already transformed.

    Opt-in raw retention: raw is kept (and can be re-processed) unless you run this. Only pieces the
    admission ledger marks transformed go, never one a latest-readings row points at; a re-sent file
    is recognised by its file hash and not landed again. VACUUM runs afterwards, so the space is
    reused by later loads. Says how many pieces, points and bytes of payload it removed.
    """
    settings = _settings(database_url, target, profiles_dir)
    result = prune_transformed_pieces(settings, raw_schema, older_than, dry_run)
    verb = "Would remove" if dry_run else "Removed"
    click.echo(
        f"{verb} {result.pieces} raw pieces ({result.points} points, {result.payload_bytes / 1e6:.1f} MB of payload)"
        f" loaded more than {_duration(older_than / 1000)} ago and already transformed by dbt."
    )


def _say_on_stderr(sentence: str) -> None:
    click.echo(sentence, err=True)


def _compaction_sentence(result: CompactionResult, dry_run: bool) -> str:
    verb = "Would merge" if dry_run else "Merged"
    payload = f"{result.payload_bytes_before / 1e6:.1f} MB of payload"
    if not dry_run:
        payload += f" now {result.payload_bytes_after / 1e6:.1f} MB"
    return (
        f"{verb} {result.pieces_merged} raw pieces into {result.series_days} (one per device, metric and day; "
        f"{result.points} points, {payload}); {result.pieces_left_alone} pieces were alone in their day; "
        f"{result.http_file_records_removed} old HTTP response records {'would go' if dry_run else 'removed'}."
    )


@cli.command()
@click.option(
    "--older-than",
    default=DEFAULT_COMPACT_AFTER,
    show_default=True,
    type=DURATION,
    metavar="DURATION",
    help="Merge the pieces recorded and loaded before the (UTC) day this long ago began.",
)
@click.option("--dry-run", is_flag=True, help="Only say what would be merged.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: only when stderr is a terminal).",
)
@raw_schema_option
@connection_options
def compact(
    older_than: int,
    dry_run: bool,
    progress: bool | None,
    raw_schema: str,
    database_url: str | None,
    target: str | None,
    profiles_dir: str | None,
) -> None:
    """Merge each series' small raw pieces of a day into one piece, keeping every reading.

    A routine run every few minutes lands a piece per device and metric per run, each with a few
    readings and ~750 bytes of overhead; merged, a day of a series takes one piece. Only pieces dbt
    has transformed are merged, so raw stays re-processable (a full refresh reads merged pieces like
    any other) and a build never transforms them again. A merged piece keeps the newest contributing
    load, its load time, the source the pieces share and how many it merged, but no longer which
    response brought which reading. Pieces with odd points, and the piece a latest reading points at,
    are left as landed. Records of HTTP responses older than --older-than are removed (routine runs
    never ask for an old window again; backfills remember theirs in raw.fetch_cursors).

    `loader load` does this after every run and `loader stream` hourly (--compact-after, --no-compact);
    run it yourself to see what is due (--dry-run) or to compact with another age.
    """
    settings = _settings(database_url, target, profiles_dir)
    with _StepBar(sys.stderr.isatty() if progress is None else progress, "Merging pieces") as bar:
        result = compact_raw_pieces(
            settings,
            raw_schema,
            older_than,
            dry_run,
            on_progress=bar.advance,
            on_wait=_say_on_stderr,
        )
    click.echo(_compaction_sentence(result, dry_run))


class _StepBar:
    """A progress bar over steps whose number the first step tells (on_progress(done, total)), drawn on
    stderr only when enabled."""

    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled = enabled
        self.label = label
        self.bar: Any = None

    def advance(self, done: int, total: int) -> None:
        if self.enabled and self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr, width=30)
            self.bar.__enter__()
        if self.bar is not None:
            self.bar.update(1)

    def __enter__(self) -> _StepBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@cli.command()
@click.argument("destination", metavar="[DEST]", required=False)
@click.option(
    "--older-than",
    default=DEFAULT_ARCHIVE_OLDER_THAN,
    show_default=True,
    type=DURATION_OR_ZERO,
    metavar="DURATION",
    help="Archive raw pieces loaded longer ago than this that dbt has transformed.",
)
@click.option(
    "--max-points-per-file",
    default=DEFAULT_POINTS_PER_FILE,
    show_default=True,
    type=click.IntRange(1),
    metavar="N",
    help="Start a new file after this many points (a piece is never split).",
)
@click.option("--s3-endpoint-url", metavar="URL", help="s3:// destination: an S3-compatible server (http://host:9000).")
@click.option("--dry-run", is_flag=True, help="Only say what would be archived.")
@format_option("what was archived, as JSON on stdout")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar over the files (default: only when stderr is a terminal).",
)
@raw_schema_option
@connection_options
def archive(
    destination: str | None,
    older_than: int,
    max_points_per_file: int,
    s3_endpoint_url: str | None,
    dry_run: bool,
    output_format: str,
    progress: bool | None,
    raw_schema: str,
    database_url: str | None,
    target: str | None,
    profiles_dir: str | None,
) -> None:
    """Move raw pieces dbt has transformed into compressed files, out of the database.

    DEST is a folder or s3://bucket/prefix. Default: $LOADER_ARCHIVE_TO, else the folder `archive`
    beside the embedded database's files (target embedded), else
    ~/.local/state/battery-telemetry-elt/archive/<database>. In production, point it at object storage.

    Raw pieces loaded longer ago than --older-than, that dbt has transformed, go to DEST as gzip files
    in the layout `loader load` reads (telemetry/<deviceId>/<day>-<piece>.json.gz, one per device and
    load day, plus the newest assets in assets/). Each file is read back and checked (its bytes, and
    every piece's metric, point count and content hash) before its pieces are removed from the
    database, with their admission-ledger rows, in one transaction. A run that is killed loses
    nothing; the next one finishes what it had started. Never takes the piece a latest-readings row
    points at. Every `loader load` and `loader stream` runs this by itself (--archive-older-than,
    --archive-to, --no-archive).

    To re-process history: `loader load DEST`, then `dbt build --full-refresh --vars
    '{allow_full_refresh_of_history: true}'`. `loader prune` deletes without archiving.
    """
    settings = _settings(database_url, target, profiles_dir)
    where = destination or default_destination(settings)
    s3 = S3Settings(endpoint_url=s3_endpoint_url)
    with _StepBar(sys.stderr.isatty() if progress is None else progress, "Archiving files") as bar:
        result = archive_transformed_pieces(
            settings, raw_schema, where, older_than, s3=s3, points_per_file=max_points_per_file, dry_run=dry_run,
            on_progress=bar.advance, on_wait=_say_on_stderr,
        )  # fmt: skip
    if output_format == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo(_archive_sentence(result, older_than))


def _archive_sentence(result: ArchiveResult, older_than_ms: int) -> str:
    pieces = f"{result.pieces} raw pieces ({result.points} points"
    if result.dry_run:
        return (
            f"Would archive {pieces}, {result.payload_bytes_freed / 1e6:.1f} MB of payload) loaded more than "
            f"{_duration(older_than_ms / 1000)} ago and transformed by dbt, to {result.destination}."
        )
    resumed = f", {result.files_resumed} of them left unfinished by an earlier run" if result.files_resumed else ""
    return (
        f"Archived {pieces}) into {result.files} files{resumed} in {result.destination}: "
        f"{result.file_bytes / 1e6:.1f} MB written, {result.payload_bytes_freed / 1e6:.1f} MB of payload freed in "
        "the database."
    )


def _report_archive(result: ArchiveResult | str) -> None:
    if isinstance(result, str):
        click.echo(f"Archiving skipped: {result}", err=True)
    elif result.files:
        click.echo(_archive_sentence(result, 0), err=True)


@cli.command()
@click.option("--device", required=True, metavar="ID|NAME", help="Device id, or its name in the assets list.")
@click.option("--metric", required=True, metavar="NAME", help="Metric name, e.g. StateOfChargePercentage.")
@click.option(
    "--since", "start", type=click.DateTime(TIME_INPUT_FORMATS), metavar="TIME", help="From this time (UTC), inclusive."
)
@click.option(
    "--until", "end", type=click.DateTime(TIME_INPUT_FORMATS), metavar="TIME", help="Up to this time (UTC), exclusive."
)
@click.option(
    "--after",
    type=click.DateTime([*TIME_INPUT_FORMATS, "%Y-%m-%dT%H:%M:%S.%fZ"]),
    metavar="TIME",
    help="The page after this time: each page ends with the --after of the next one. Any page costs what "
    "the first does.",
)
@click.option(
    "--page",
    type=click.IntRange(1),
    help="Page number (of --page-size rows). Skips the rows before it, so deep pages cost more: page with "
    "--after instead. Default: every row, streamed.",
)
@click.option("--page-size", default=1000, show_default=True, type=click.IntRange(1), help="Rows a page.")
@click.option(
    "--format", "output_format", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@click.option(
    "--include-untransformed",
    is_flag=True,
    help="Also readings landed that dbt has not transformed yet (marked in a source column; they may still "
    "be judged invalid or corrected).",
)
@raw_schema_option
@models_schema_option
@connection_options
def readings(
    device: str,
    metric: str,
    start: datetime | None,
    end: datetime | None,
    after: datetime | None,
    page: int | None,
    page_size: int,
    output_format: str,
    include_untransformed: bool,
    raw_schema: str,
    models_schema: str | None,
    database_url: str | None,
    target: str | None,
    profiles_dir: str | None,
) -> None:
    """Print one device's readings of one metric in time order, as a table, CSV or JSON.

    Without --page or --after every row in the range is streamed (flat memory, any size):
    `loader readings --device "Fudura Utrecht" --metric BatteryPowerW --since 2026-01-01 --until 2026-02-01
    --format csv > january.csv`. With --after (or --page) one page of --page-size rows.
    """
    if page is not None and after is not None:
        raise click.UsageError("Give --page or --after, not both.")
    if start is not None and end is not None and start >= end:
        raise click.UsageError(f"--since {start:%Y-%m-%dT%H:%M:%S} is not before --until {end:%Y-%m-%dT%H:%M:%S}.")
    settings = _settings(database_url, target, profiles_dir)
    query = ReadingsQuery(
        device=device, metric=metric, start=_utc(start), end=_utc(end), after=_utc(after), page=page,
        page_size=page_size, include_untransformed=include_untransformed, models_schema=models_schema,
        raw_schema=raw_schema,
    )  # fmt: skip
    rows = iter_readings(settings, query)
    found = next(rows)
    assert isinstance(found, DeviceFound)
    device_id, name = found.device_id, found.name
    printer = _ReadingsPrinter(output_format, include_untransformed)
    last = None
    count = untransformed = 0
    for reading in rows:
        assert isinstance(reading, Reading)
        printer.row(reading)
        last, count = reading, count + 1
        untransformed += reading.source == UNTRANSFORMED
    printer.close()
    if count == 0:
        known = device_metrics(settings, query, device_id)
        if metric not in known:
            raise click.BadParameter(
                f"{name or device_id} has no readings of {metric!r}; its metrics: {', '.join(known) or 'none'}.",
                param_hint="--metric",
            )
    what = f"{count} readings of {metric} for {name or device_id} ({device_id})"
    if include_untransformed:
        what += f", {untransformed} of them landed but not transformed yet"
    paged = page is not None or after is not None
    if paged and count == page_size and last is not None:
        what += f"; next page: --after {last.recorded_at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}"
    click.echo(what + ".", err=True)


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


class _ReadingsPrinter:
    def __init__(self, output_format: str, with_source: bool) -> None:
        self.format = output_format
        self.with_source = with_source
        self.rows = 0
        self.csv = csv.writer(sys.stdout, lineterminator="\n")
        header = ["recorded_at", "value", *(["source"] if with_source else [])]
        if output_format == "csv":
            self.csv.writerow(header)
        elif output_format == "table":
            click.echo(f"{'recorded_at (UTC)':<26}  {'value':>14}" + ("  source" if with_source else ""))

    def row(self, reading: Reading) -> None:
        at = reading.recorded_at.astimezone(UTC)
        if self.format == "csv":
            self.csv.writerow([at.isoformat(), reading.value, *([reading.source] if self.with_source else [])])
        elif self.format == "json":
            item = {"recorded_at": at.isoformat(), "value": reading.value}
            if self.with_source:
                item["source"] = reading.source
            click.echo(("[" if self.rows == 0 else ",") + json.dumps(item))
        else:
            click.echo(
                f"{at:%Y-%m-%d %H:%M:%S.%f}  {reading.value:>14g}" + (f"  {reading.source}" if self.with_source else "")
            )
        self.rows += 1

    def close(self) -> None:
        if self.format == "json":
            click.echo("]" if self.rows else "[]")


@cli.command("check-soc")
@models_schema_option
@format_option('{"low_soc": [...], "no_data": [...]}')
@connection_options
def check_soc(
    models_schema: str | None,
    output_format: str,
    database_url: str | None,
    target: str | None,
    profiles_dir: str | None,
) -> None:
    """Check state of charge for cron: exit 4 if a device is low, else 5 if one has gone silent, else 0.

    Runs the queries an alerting system runs: `select * from <schema>.alert_low_soc` (latest reading
    below the dbt var low_soc_threshold_pct and at most low_soc_max_age old) and `alert_soc_no_data`
    (devices that reported state of charge before but not within low_soc_max_age: silence is never
    reported as healthy). Prints one line per device in either list.
    """
    settings = _settings(database_url, target, profiles_dir)
    alerts = soc_alerts(settings, models_schema)
    if output_format == "json":
        click.echo(json.dumps(alerts, indent=2, default=str))
    else:
        for device in alerts["low_soc"]:
            click.echo(
                f"LOW SOC {device['soc_pct']:g} % < {device['threshold_pct']} %: {device['device_name']} "
                f"({device['device_id']}) at {device['reading_at']:%Y-%m-%d %H:%M:%S%z}"
            )
        for device in alerts["no_data"]:
            click.echo(
                f"NO DATA for {_duration(device['age_seconds'])}: {device['device_name']} ({device['device_id']}), "
                f"last state of charge at {device['last_reading_at']:%Y-%m-%d %H:%M:%S%z}"
            )
        if not alerts["low_soc"]:
            click.echo("No device is below the state-of-charge threshold.")
    if alerts["low_soc"]:
        sys.exit(exit_codes.ALERT_FIRING)
    if alerts["no_data"]:
        sys.exit(exit_codes.SOC_NO_DATA)


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} seconds"


@cli.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--devices", default=10, show_default=True, type=click.IntRange(1), help="Number of devices.")
@click.option(
    "--period",
    default="30d",
    show_default=True,
    type=DURATION,
    metavar="DURATION",
    help="How much telemetry, from --since.",
)
@click.option(
    "--profile",
    type=click.Choice(["lab", "field"]),
    default="lab",
    show_default=True,
    help="lab: one clock for every metric, steady power, mostly deep daily cycles. field: each metric on "
    "its own clock (power every --interval, SoC every minute as a drifting integer BMS estimate with "
    "re-calibration jumps, counters every 5 min at 0.1 kWh), solar- and load-following power, shallow "
    "and idle days, outages (see docs/degradation.md).",
)
@click.option(
    "--interval",
    default="4s",
    show_default=True,
    type=DURATION,
    metavar="DURATION",
    help="Sampling interval (at least 500ms).",
)
@click.option(
    "--since",
    "start",
    default="2025-01-01",
    show_default=True,
    type=click.DateTime(["%Y-%m-%d"]),
    help="First day (UTC).",
)
@click.option("--seed", default=1, show_default=True, type=int, help="Same seed, same fleet, byte for byte.")
@click.option(
    "--inject-bad-input",
    is_flag=True,
    help="Also write broken responses (truncated, not JSON, empty series, NaN) for extra devices.",
)
@click.option("--workers", type=click.IntRange(1), help="Processes to simulate devices in (default: cores).")
def generate(
    out_dir: Path,
    devices: int,
    period: int,
    interval: int,
    start: datetime,
    seed: int,
    inject_bad_input: bool,
    workers: int | None,
    profile: str,
) -> None:
    """Write a realistic battery fleet in the API's format into OUT_DIR.

    Physically consistent: SoC follows battery power over a usable capacity that fades a few % per
    year, counters integrate power, solar, load and grid balance; with gaps, counter jitter, one
    counter reset and devices missing some metrics. OUT_DIR/ground_truth.json records the capacity,
    fade, efficiency and energy used, to check the marts against; OUT_DIR/device_specs.csv the
    devices' capacities in the format of the dbt seed `device_specs`. Load it with `loader load OUT_DIR`.
    """
    spec = FleetSpec(
        devices=devices,
        days=period / 86_400_000,
        interval_s=interval / 1000,
        seed=seed,
        start=start.replace(tzinfo=UTC),
        inject_bad_input=inject_bad_input,
        profile=profile,
    )
    started = time.monotonic()
    truths = generate_fleet(
        spec,
        out_dir,
        workers,
        lambda truth: click.echo(f"  {truth.device_id} {truth.description}: {truth.points_written} points", err=True),
    )
    points = sum(truth.points_written for truth in truths)
    size = sum(path.stat().st_size for path in (out_dir / "telemetry").glob("*.json"))
    click.echo(
        f"Wrote {devices} devices, {points} points, {size / 1e6:.1f} MB into {out_dir} "
        f"in {time.monotonic() - started:.1f} s (ground truth: {out_dir / 'ground_truth.json'}).\n"
        f"Next: loader load {out_dir}"
    )


@cli.group()
def db() -> None:
    """Run the embedded TimescaleDB (development and tests; Node.js needed).

    It listens on 127.0.0.1, port EMBEDDED_DB_PORT (default 5433), user postgres, database template1,
    checks the password of the dbt profile's 'embedded' target (else 'postgres'), and keeps its data
    in EMBEDDED_DB_DIR (default: .embedded-db/ in a checkout, else ~/.local/state/battery-telemetry-elt/db).
    All clients share one database session, so dbt must use threads: 1 (the 'embedded' target does).
    """


def _server(state_dir: str | None, port: int | None) -> EmbeddedServer:
    return EmbeddedServer.from_environment(state_dir, port)


state_dir_option = click.option(
    "--state-dir",
    envvar="EMBEDDED_DB_DIR",
    metavar="DIR",
    help="Data, pid and log folder. Env: EMBEDDED_DB_DIR.",
)
port_option = click.option(
    "--port", envvar="EMBEDDED_DB_PORT", type=click.IntRange(1, 65535), help="Env: EMBEDDED_DB_PORT."
)


@db.command("start")
@state_dir_option
@port_option
@click.option(
    "--if-needed",
    is_flag=True,
    help="Do nothing (exit 0) if it is already running, or if the dbt target is not 'embedded'.",
)
@connection_options
def db_start(
    state_dir: str | None,
    port: int | None,
    if_needed: bool,
    database_url: str | None,
    target: str | None,
    profiles_dir: str | None,
) -> None:
    """Start the embedded TimescaleDB in the background and wait until it accepts connections.

    Clients must give the password of the dbt profile's 'embedded' target (else 'postgres')."""
    password = embedded_target_password(profiles_dir) or DEFAULT_PASSWORD
    server = EmbeddedServer.from_environment(state_dir, port, password)
    if if_needed:
        settings = _settings(database_url, target, profiles_dir)
        if not settings.is_embedded:
            click.echo(f"Using {settings.display}; the embedded database is not needed.")
            return
        if server.running_pid():
            click.echo(f"The embedded database is already running on {server.host}:{server.port}.")
            return
    click.echo(f"Starting the embedded TimescaleDB on {server.host}:{server.port} ...", err=True)
    pid = server.start()
    click.echo(
        f"Embedded TimescaleDB running (pid {pid}). Look around with:\n"
        f"  {server.psql_command}\nStop it with: loader db stop"
    )


@db.command("stop")
@state_dir_option
@port_option
def db_stop(state_dir: str | None, port: int | None) -> None:
    """Stop the embedded TimescaleDB cleanly."""
    pid = _server(state_dir, port).stop()
    click.echo(f"Embedded TimescaleDB stopped (pid {pid}).")


@db.command("status")
@state_dir_option
@port_option
def db_status(state_dir: str | None, port: int | None) -> None:
    """Say whether the embedded TimescaleDB is running (exit 0) or not (exit 1)."""
    server = _server(state_dir, port)
    pid = server.running_pid()
    if pid is None:
        raise LoaderError(f"The embedded database is not running (state in {server.state_dir}).")
    click.echo(f"Embedded TimescaleDB running (pid {pid}) on {server.host}:{server.port}, data in {server.data_dir}.")


@cli.group()
def report() -> None:
    """The report site: pictures of the fleet, each device, data quality and the pipeline.

    `loader report build` queries the marts as the analysts' role (dbt var report_role) and writes a
    static site (reports/ holds its pages and queries); `loader report serve` serves it. Needs the
    `report` extra (pip install 'battery-telemetry-elt[report]') and npm for the chart libraries.
    """


site_dir_option = click.option(
    "--out",
    "site_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_SITE_DIR,
    show_default=True,
    help="Folder the site is written to: new, empty, or an earlier report (replaced).",
)


@report.command("build")
@site_dir_option
@connection_options
def report_build(site_dir: Path, database_url: str | None, target: str | None, profiles_dir: str | None) -> None:
    """Build the report site from the database (run after `loader build`)."""
    settings = _settings(database_url, target, profiles_dir)
    built = build_report(settings, site_dir, progress=lambda message: click.echo(f"{message} ...", err=True))
    slowest = max(built.timings, key=lambda timing: timing.seconds)
    click.echo(
        f"Report: {built.pages} pages ({built.devices} devices), {built.site_bytes / 1e6:.1f} MB in {site_dir}, "
        f"built in {built.seconds:.1f} s (queries {built.query_seconds:.1f} s, slowest {slowest.name} "
        f"{slowest.seconds:.2f} s).\nOpen it with: loader report serve"
    )


@report.command("serve")
@site_dir_option
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port on 127.0.0.1.")
def report_serve(site_dir: Path, port: int) -> None:
    """Serve the built site on http://127.0.0.1:PORT until interrupted (Ctrl-C)."""
    if not (site_dir / "index.html").is_file():
        raise LoaderError(f"No report site in {site_dir}: build it with `loader report build`.")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site_dir))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        click.echo(f"Serving the report on http://127.0.0.1:{port}/ (Ctrl-C stops).")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
