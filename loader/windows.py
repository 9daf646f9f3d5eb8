"""Time windows for sources that can be asked for a time range (the HTTP API), and the cursors behind them.

Per source and device the raw schema keeps a cursor: the end of the last window whose response
committed (`<raw>.fetch_cursors`, scope ''). A routine run asks from the cursor less a lookback (for
readings the vendor received late) up to now; the first run, with no cursor, asks for everything up to
now. A backfill (`--since`, optionally `--until`) keeps a cursor of its own (scope 'backfill
<since>..<until>'), so an interrupted one resumes at its first window that did not commit; one that
runs up to now also moves the routine cursor there. Every range is cut into windows of at most
`window_ms`, so no response is unbounded, and a device's windows are landed in order, each in its own
transaction together with its cursor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from loader.connection import relation_exists
from loader.errors import LoaderError

ROUTINE_SCOPE = ""
DURATION_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION_PART = r"(\d+(?:\.\d+)?)(ms|s|m|h|d)"
DEFAULT_WINDOW = "1d"
DEFAULT_LOOKBACK = "5m"


@dataclass(frozen=True)
class Window:
    """Ask for readings with start_ms <= time < end_ms (start None: from the beginning)."""

    start_ms: int | None
    end_ms: int
    scope: str = ROUTINE_SCOPE
    # Readings at or before this time were asked for by an earlier window (the lookback's overlap):
    # the loader lands only those of them it has not landed yet.
    overlap_until_ms: int | None = None
    # A backfill that reaches now also moves the routine cursor: its last window says so.
    moves_routine_cursor: bool = False


@dataclass(frozen=True)
class WindowPlan:
    """How a run asks for time ranges; `since_ms` None is a routine run."""

    window_ms: int = 86_400_000
    lookback_ms: int = 300_000
    since_ms: int | None = None
    until_ms: int | None = None

    @property
    def scope(self) -> str:
        if self.since_ms is None:
            return ROUTINE_SCOPE
        until = "now" if self.until_ms is None else _iso(self.until_ms)
        return f"backfill {_iso(self.since_ms)}..{until}"


def parse_duration(text: str, allow_zero: bool = False) -> int:
    """'500ms', '90s', '1.5m', '6h', '1d' (or a sum such as '1h30m') as milliseconds: the one duration
    syntax of every option that takes a span of time."""
    parts = re.fullmatch(f"(?:{_DURATION_PART})+", text.strip().lower())
    if not parts:
        raise LoaderError(f"{text!r} is not a duration: write e.g. 30s, 5m, 6h or 1d.")
    total = round(sum(float(number) * DURATION_UNITS_MS[unit] for number, unit in re.findall(_DURATION_PART, parts[0])))
    if total <= 0 and not (allow_zero and total == 0):
        raise LoaderError(f"{text!r} is not a duration longer than zero.")
    return total


def epoch_ms(moment: datetime) -> int:
    return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_device_windows(plan: WindowPlan, cursor_ms: int | None, now_ms: int) -> list[Window]:
    """The windows to fetch for one device, oldest first, given its cursor in the plan's scope."""
    if plan.since_ms is None:
        if cursor_ms is None:
            return [Window(None, now_ms)]
        return _cut(max(cursor_ms - plan.lookback_ms, 0), now_ms, plan, overlap_until_ms=cursor_ms)
    end_ms = now_ms if plan.until_ms is None else plan.until_ms
    start_ms = plan.since_ms if cursor_ms is None else max(plan.since_ms, cursor_ms)
    return _cut(start_ms, end_ms, plan, overlap_until_ms=None)


def _cut(start_ms: int, end_ms: int, plan: WindowPlan, overlap_until_ms: int | None) -> list[Window]:
    windows = []
    while start_ms < end_ms:
        window_end = min(start_ms + plan.window_ms, end_ms)
        overlap = overlap_until_ms if overlap_until_ms is not None and start_ms <= overlap_until_ms else None
        windows.append(Window(start_ms, window_end, plan.scope, overlap))
        start_ms = window_end
    if windows and plan.since_ms is not None and plan.until_ms is None:
        last = windows[-1]
        windows[-1] = Window(last.start_ms, last.end_ms, last.scope, last.overlap_until_ms, moves_routine_cursor=True)
    return windows


def read_cursors(connection: psycopg.Connection, schema: str, source: str, scope: str) -> dict[str, int]:
    """Each device's cursor (epoch ms) for this source and scope (none before the schema has cursors,
    as in a dry run against a schema no loader of this version migrated yet)."""
    if not relation_exists(connection, f"{schema}.fetch_cursors"):
        return {}
    rows = connection.execute(
        sql.SQL(
            "select device_id, (extract(epoch from landed_until) * 1000)::bigint"
            " from {}.fetch_cursors where source = %s and scope = %s"
        ).format(sql.Identifier(schema)),
        [source, scope],
    ).fetchall()
    return {device_id: int(ms) for device_id, ms in rows}


def advance_cursor(
    connection: psycopg.Connection, schema: str, source: str, device_id: str, window: Window, load_id: str
) -> None:
    """Move the device's cursor to the window's end (never back), in the caller's transaction."""
    scopes = [window.scope] + ([ROUTINE_SCOPE] if window.moves_routine_cursor else [])
    for scope in scopes:
        connection.execute(
            sql.SQL(
                "insert into {schema}.fetch_cursors (source, device_id, scope, landed_until, load_id)"
                " values (%s, %s, %s, to_timestamp(%s / 1000.0), %s)"
                " on conflict (source, device_id, scope) do update set landed_until = excluded.landed_until,"
                " load_id = excluded.load_id, updated_at = clock_timestamp()"
                " where fetch_cursors.landed_until < excluded.landed_until"
            ).format(schema=sql.Identifier(schema)),
            [source, device_id, scope, window.end_ms, load_id],
        )
