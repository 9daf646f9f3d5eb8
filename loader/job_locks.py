"""Scheduled jobs that must not overlap: one build at a time, and on the embedded server one job at a time.

Builds: `loader build` holds the build lock for the whole `dbt build`; a second build finds it held
and stops before doing anything (`BuildAlreadyRunning`), or waits for it with a timeout. On a
PostgreSQL server the lock is a session advisory lock (released by the server when the holder dies,
however it dies); the key is the dbt var `build_lock_key`, so dbt's `refuse_overlapping_build` hook
finds the same lock and stops a plain `dbt build` that would overlap one. The embedded server shares
one session among its clients, where advisory locks mean nothing; there the lock is a file lock.

The embedded server also cannot serve a load and a build at the same time (a client's reply can go
missing and it waits forever; see docs/embedded-db.md), so there `loader load` and `loader build` take
turns on a second file lock, waiting for each other. On a real server loads and builds overlap freely.
"""

from __future__ import annotations

import fcntl
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import psycopg

from loader.errors import LoaderError
from loader.settings import ConnectionSettings, dbt_project_var

WAIT_POLL_S = 1.0
# `loader build` tells the dbt it runs which database session holds the build lock for it.
BUILD_LOCK_HOLDER_ENV = "LOADER_BUILD_LOCK_HOLDER"


class BuildAlreadyRunning(LoaderError):
    """Another build holds the build lock of this database."""


def build_lock_key() -> int:
    """The advisory lock key builds hold (dbt's hook reads the same var)."""
    return int(dbt_project_var("build_lock_key"))


def is_shared_session_server(settings: ConnectionSettings, connection: psycopg.Connection | None) -> bool:
    """The embedded server (PostgreSQL compiled to WebAssembly), whose clients share one session: the
    'embedded' target, or a server that says so when asked (without a connection, only the former)."""
    if settings.is_embedded:
        return True
    if connection is None:
        return False
    row = connection.execute("select version() like '%%Emscripten%%'").fetchone()
    return bool(row and row[0])


def _lock_file(settings: ConnectionSettings, purpose: str) -> IO[str]:
    name = f"battery-telemetry-{purpose}-{settings.host}-{settings.port}-{settings.dbname}.lock"
    return (Path(tempfile.gettempdir()) / name).open("a")


EMBEDDED_WAIT_SENTENCE = "Waiting for another load or build to finish (the embedded database runs one at a time) ..."


@contextmanager
def embedded_turn(settings: ConnectionSettings, shared_session: bool, on_wait: Callable[[str], None]) -> Iterator[None]:
    """On a shared-session server, wait until no other load or build runs and hold the turn; else
    nothing. `on_wait` hears one sentence if it has to wait."""
    if not shared_session:
        yield
        return
    with _lock_file(settings, "turn") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(EMBEDDED_WAIT_SENTENCE)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _advisory_lock_holder(connection: psycopg.Connection, key: int) -> int | None:
    row = connection.execute(
        "select pid from pg_locks where locktype = 'advisory' and granted and objsubid = 1"
        " and classid = 0 and objid::bigint = %s",
        [key],
    ).fetchone()
    return int(row[0]) if row else None


def build_is_running(settings: ConnectionSettings, connection: psycopg.Connection | None) -> bool:
    """Does some build hold this database's build lock?"""
    if is_shared_session_server(settings, connection):
        with _lock_file(settings, "build") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    assert connection is not None
    return _advisory_lock_holder(connection, build_lock_key()) is not None


@contextmanager
def build_lock(settings: ConnectionSettings, connection: psycopg.Connection | None, wait_s: float) -> Iterator[int]:
    """Hold this database's build lock while the block runs; yields the holding session's pid (0 for a
    file lock). Without a connection (a shared-session server) the lock is a file lock.

    Raises BuildAlreadyRunning if another build still holds it after `wait_s` seconds.
    """
    deadline = time.monotonic() + wait_s
    if connection is None:
        with _lock_file(settings, "build") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise BuildAlreadyRunning(_busy_sentence("Another build", wait_s)) from None
                    time.sleep(WAIT_POLL_S)
            yield 0
        return
    key = build_lock_key()
    while True:
        row = connection.execute("select pg_try_advisory_lock(%s::bigint)", [key]).fetchone()
        if row and row[0]:
            break
        if time.monotonic() >= deadline:
            holder = _advisory_lock_holder(connection, key)
            raise BuildAlreadyRunning(_busy_sentence(f"Another build (database session {holder})", wait_s))
        time.sleep(WAIT_POLL_S)
    try:
        pid_row = connection.execute("select pg_backend_pid()").fetchone()
        yield int(pid_row[0]) if pid_row else 0
    finally:
        if not connection.closed:
            connection.execute("select pg_advisory_unlock(%s::bigint)", [key])


def _busy_sentence(holder: str, wait_s: float) -> str:
    waited = f" after waiting {wait_s:g} s" if wait_s else ""
    return f"{holder} is running against this database{waited}; this build did nothing."
