"""Whether a load the log calls 'running' is still alive.

A running loader holds a session advisory lock keyed by its load id, taken before its log row is
written and released when it ends. PostgreSQL releases the lock when the loader's session ends for any
reason (the loader killed, its connection cut, the server restarted), so a 'running' row nobody holds
the lock of belongs to a dead load. The embedded database shares one session among all its clients
and so keeps a killed loader's lock until it restarts; for it, the row's host and process id answer
instead: a load started on this machine whose process is gone is dead too.

`interrupted_load_ids` applies both rules; `LOAD_IS_INTERRUPTED_SQL` is the lock rule alone, for
queries that run without the loader (the pipeline-health exporter).
"""

from __future__ import annotations

import os
import socket
import uuid

import psycopg
from psycopg import sql

from loader.settings import dbt_project_var

# The first key of every loader's two-key advisory lock (a dbt var: the pipeline_health model's
# load_is_interrupted macro applies the same rule); the second is derived from the load id.
LOAD_LOCK_CLASS = int(dbt_project_var("load_lock_class"))


def load_lock_key(load_id: str) -> int:
    """The load's lock key: the load id's first four bytes as a non-negative int4 (see the SQL twin)."""
    return int.from_bytes(uuid.UUID(load_id).bytes[:4], "big") & 0x7FFF_FFFF


# The same key computed in SQL from a load_log row, and whether any session holds that lock.
LOAD_LOCK_HELD_SQL = (
    "exists (select 1 from pg_locks as lock where lock.locktype = 'advisory' and lock.granted"
    f" and lock.classid::bigint = {LOAD_LOCK_CLASS} and lock.objsubid = 2"
    " and lock.objid::bigint = (('x' || left(replace(load_log.load_id::text, '-', ''), 8))::bit(32)::integer"
    " & 2147483647))"
)
LOAD_IS_INTERRUPTED_SQL = f"(load_log.status = 'running' and not {LOAD_LOCK_HELD_SQL})"


def hold_load_lock(connection: psycopg.Connection, load_id: str) -> None:
    connection.execute("select pg_advisory_lock(%s, %s)", [LOAD_LOCK_CLASS, load_lock_key(load_id)])


def release_load_lock(connection: psycopg.Connection, load_id: str) -> None:
    connection.execute("select pg_advisory_unlock(%s, %s)", [LOAD_LOCK_CLASS, load_lock_key(load_id)])


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
            "select load_id, loader_host, loader_pid, " + LOAD_LOCK_HELD_SQL + " from {}.load_log as load_log"
            " where status = 'running'"
        ).format(sql.Identifier(schema))
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
