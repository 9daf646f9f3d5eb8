"""The one way the loader's commands connect to the database, and the sentence a user sees when they cannot."""

from __future__ import annotations

import psycopg

from loader.errors import LoaderError
from loader.settings import ConnectionSettings


def connect(settings: ConnectionSettings) -> psycopg.Connection:
    try:
        # No server-side prepared statements: on the embedded database all clients share one session,
        # where psycopg's per-connection statement names would collide.
        return psycopg.connect(settings.conninfo, autocommit=True, connect_timeout=15, prepare_threshold=None)
    except psycopg.OperationalError as exc:
        reason = connection_failure(exc, settings)
        raise LoaderError(f"Cannot connect to the database {settings.display}: {reason}") from None


def relation_exists(connection: psycopg.Connection, relation: str) -> bool:
    """Whether `relation` ("schema.name") exists; the one way the loader asks."""
    row = connection.execute("select to_regclass(%s) is not null", [relation]).fetchone()
    return bool(row and row[0])


def connection_failure(exc: psycopg.OperationalError, settings: ConnectionSettings) -> str:
    """libpq's reason on one line, every line of it (the last says what to check), and on the embedded
    target what to run when nothing listens."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    sentences = [line if line.endswith((".", "?", "!")) else f"{line}." for line in lines]
    reason = " ".join(sentences).removeprefix("connection failed: ") or "unknown reason"
    if settings.is_embedded and "Connection refused" in reason:
        reason += " The embedded database is not running: start it with `loader db start`."
    return reason
