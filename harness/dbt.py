"""Run dbt against a database the way a user does, each run with its own profiles, target and log folders."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from loader.settings import PROJECT_ROOT, ConnectionSettings

BIN_DIR = Path(sys.executable).parent


def write_profile(settings: ConnectionSettings, folder: Path, threads: int = 1) -> Path:
    output = {
        "type": "postgres",
        "host": settings.host,
        "port": settings.port,
        "user": settings.user,
        "password": settings.password,
        "dbname": settings.dbname,
        "schema": "analytics",
        "threads": threads,
        "sslmode": "disable",
        "autocommit": True,
        "connect_timeout": 30,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "profiles.yml"
    path.write_text(yaml.safe_dump({"battery_telemetry": {"target": "test", "outputs": {"test": output}}}))
    return folder


def dbt_environment(settings: ConnectionSettings, work_dir: Path) -> dict[str, str]:
    """Environment for dbt (or `loader build`) against `settings`, with its own profiles, target and log folders."""
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(write_profile(settings, work_dir / "profiles")),
        "DBT_TARGET_PATH": str(work_dir / "target"),
        "DBT_LOG_PATH": str(work_dir / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    env.pop("DBT_TARGET", None)
    return env


PARSE_STATE_FILE = "partial_parse.msgpack"


class ParseState:
    """dbt's partial parsing state, kept between runs that would parse the same way: a run's own
    target folder starts from it, so each run parses only what changed (half of a small build's
    start-up). Off until a folder is given (the test session gives one of its own)."""

    folder: Path | None = None


def _parse_state(folder: Path, work_dir: Path, project_dir: Path, args: tuple[str, ...]) -> Path:
    """Where partial parsing state is kept for runs with this project, profile and --vars: what dbt's
    own state check compares (dbt rejects state that no longer matches the project files)."""
    profile = (work_dir / "profiles" / "profiles.yml").read_text()
    variables = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--vars"]
    key = hashlib.sha256("\x00".join([str(project_dir.resolve()), profile, *variables]).encode()).hexdigest()
    return folder / f"{key}.msgpack"


def run_dbt(
    settings: ConnectionSettings, work_dir: Path, *args: str, check: bool = True, project_dir: Path = PROJECT_ROOT
) -> subprocess.CompletedProcess[str]:
    """Run the dbt CLI against `settings`, with its own profiles, target and log folders."""
    environment = dbt_environment(settings, work_dir)
    target = Path(environment["DBT_TARGET_PATH"])
    state = _parse_state(ParseState.folder, work_dir, project_dir, args) if ParseState.folder else None
    if state and state.exists() and not (target / PARSE_STATE_FILE).exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(state, target / PARSE_STATE_FILE)
    completed = subprocess.run(
        [str(BIN_DIR / "dbt"), *args], cwd=project_dir, env=environment, text=True, capture_output=True, timeout=1800
    )
    if state and (target / PARSE_STATE_FILE).exists():
        state.parent.mkdir(parents=True, exist_ok=True)
        staged = state.with_suffix(f".{os.getpid()}.tmp")
        shutil.copy(target / PARSE_STATE_FILE, staged)
        staged.replace(state)  # atomic: a run starting meanwhile reads the old state or the new, never half
    if check:
        assert completed.returncode == 0, f"dbt {' '.join(args)} failed:\n{completed.stdout[-8000:]}"
    return completed


def copy_dbt_project(destination: Path) -> Path:
    """A private copy of the dbt project (to change seeds in), sharing nothing with the checkout."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "dbt_project.yml", destination / "dbt_project.yml")
    shutil.copytree(PROJECT_ROOT / "dbt_project", destination / "dbt_project")
    return destination
