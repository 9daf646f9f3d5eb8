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
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown reason"
        raise LoaderError(f"Cannot connect to the database {settings.display}: {reason}") from None
