"""Whether a load the log calls 'running' is still alive.

A running loader holds a session advisory lock keyed by its load id, taken before its log row is
written and released when it ends. PostgreSQL releases the lock when the loader's session ends for any
reason (the loader killed, its connection cut, the server restarted), so a 'running' row nobody holds
the lock of belongs to a dead load. The embedded database shares one session among all its clients
and so keeps a killed loader's lock until it restarts; for it, the row's host and process id answer
instead: a load started on this machine whose process is gone is dead too.

The lock's key and the question whether it is held are SQL functions of the raw schema (migration 10:
load_lock_key, load_lock_is_held), so the loader and dbt's pipeline views (macro load_is_interrupted)
ask the same thing. `interrupted_load_ids` applies both rules.
"""

from __future__ import annotations

import os
import socket

import psycopg
from psycopg import sql

from loader.settings import dbt_project_var

# The first key of every loader's two-key advisory lock (a dbt var, which load_is_interrupted reads too).
LOAD_LOCK_CLASS = int(dbt_project_var("load_lock_class"))


def hold_load_lock(connection: psycopg.Connection, schema: str, load_id: str) -> None:
    connection.execute(
        sql.SQL("select pg_advisory_lock(%s, {}.load_lock_key(%s))").format(sql.Identifier(schema)),
        [LOAD_LOCK_CLASS, load_id],
    )


def release_load_lock(connection: psycopg.Connection, schema: str, load_id: str) -> None:
    connection.execute(
        sql.SQL("select pg_advisory_unlock(%s, {}.load_lock_key(%s))").format(sql.Identifier(schema)),
        [LOAD_LOCK_CLASS, load_id],
    )


def this_loader() -> tuple[str, int]:
    """(host, process id) as a load's log row records them."""
    return socket.gethostname(), os.getpid()


def _process_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def interrupted_load_ids(connection: psycopg.Connection, schema: str) -> set[str]:
    """Load ids whose row says 'running' although the loader that wrote it is gone."""
    rows = connection.execute(
        sql.SQL(
            "select load_id, loader_host, loader_pid, {schema}.load_lock_is_held(load_id, %s)"
            " from {schema}.load_log where status = 'running'"
        ).format(schema=sql.Identifier(schema)),
        [LOAD_LOCK_CLASS],
    ).fetchall()
    host = socket.gethostname()
    return {
        str(load_id)
        for load_id, loader_host, loader_pid, lock_held in rows
        if not lock_held or (loader_host == host and loader_pid is not None and _process_is_gone(loader_pid))
    }


def mark_interrupted_loads(connection: psycopg.Connection, schema: str) -> int:
    """Record 'interrupted' on the rows of dead loads; returns how many."""
    dead = interrupted_load_ids(connection, schema)
    if dead:
        connection.execute(
            sql.SQL(
                "update {}.load_log set status = 'interrupted', error = coalesce(error, %s)"
                " where load_id = any(%s::uuid[]) and status = 'running'"
            ).format(sql.Identifier(schema)),
            ["the loader ended without finishing this load (killed, or its database connection was lost)",
             sorted(dead)],
        )  # fmt: skip
    return len(dead)
