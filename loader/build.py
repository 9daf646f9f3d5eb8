"""`loader build`: dbt build, one at a time per database.

Two builds that overlap would both fail midway (they create the same relations), so a build holds the
database's build lock (loader/job_locks.py) for its whole run, and on the embedded database loads and
builds take turns. dbt runs as a subprocess, as a user runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from loader.connection import connect
from loader.job_locks import BUILD_LOCK_HOLDER_ENV, build_lock, embedded_turn, is_shared_session_server
from loader.settings import IS_CHECKOUT, PROJECT_ROOT, ConnectionSettings, find_project_dir


def dbt_build_command(
    dbt_args: tuple[str, ...], target: str | None, profiles_dir: str | None
) -> tuple[list[str], dict[str, str]]:
    """The dbt command line and its environment. The dbt project is found as dbt finds it
    (--project-dir among dbt_args, DBT_PROJECT_DIR, the current folder), else the one the loader came
    with, whose artifacts then go to the current folder rather than into the installed package."""
    command = [str(Path(sys.executable).parent / "dbt"), "build", *dbt_args]
    if target:
        command += ["--target", target]
    if profiles_dir:
        command += ["--profiles-dir", profiles_dir]
    environment = dict(os.environ)
    if "--project-dir" not in dbt_args:
        project_dir = find_project_dir()
        command += ["--project-dir", str(project_dir)]
        if not IS_CHECKOUT and project_dir == PROJECT_ROOT:
            environment.setdefault("DBT_TARGET_PATH", str(Path.cwd() / "target"))
            environment.setdefault("DBT_LOG_PATH", str(Path.cwd() / "logs"))
    return command, environment


def run_build(
    settings: ConnectionSettings,
    dbt_args: tuple[str, ...] = (),
    target: str | None = None,
    profiles_dir: str | None = None,
    wait_s: float = 0.0,
    on_wait: Callable[[str], None] = lambda sentence: None,
) -> int:
    """Run `dbt build` holding the build lock; returns dbt's exit code. Raises BuildAlreadyRunning when
    another build holds the lock for longer than `wait_s`."""
    command, environment = dbt_build_command(dbt_args, target, profiles_dir)
    # On the embedded target nothing connects before the locks are held (docs/embedded-db.md).
    connection = None if settings.is_embedded else connect(settings)
    try:
        shared_session = is_shared_session_server(settings, connection)
        with (
            build_lock(settings, None if shared_session else connection, wait_s) as lock_pid,
            embedded_turn(settings, shared_session, on_wait),
        ):
            environment[BUILD_LOCK_HOLDER_ENV] = str(lock_pid)
            return subprocess.run(command, env=environment, check=False).returncode
    finally:
        if connection is not None:
            connection.close()
