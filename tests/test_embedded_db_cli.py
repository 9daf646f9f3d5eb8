"""`loader db start | stop | status`: the embedded TimescaleDB's lifecycle and its error sentences."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import psycopg
import pytest

from harness.databases import free_port
from loader.embedded import EmbeddedServer
from tests.helpers import invoke

pytestmark = pytest.mark.integration


def db_args(command: str, state_dir: Path, port: int) -> list[str]:
    return ["db", command, "--state-dir", str(state_dir), "--port", str(port)]


def test_start_serves_timescaledb_and_refuses_to_start_twice_then_stops(tmp_path: Path) -> None:
    port = free_port()
    started = invoke(db_args("start", tmp_path, port))
    try:
        assert f"127.0.0.1:{port}/template1" in started.output
        with psycopg.connect(
            f"postgresql://postgres:postgres@127.0.0.1:{port}/template1?sslmode=disable",
            autocommit=True,
            prepare_threshold=None,
        ) as connection:
            row = connection.execute("select extversion from pg_extension where extname = 'timescaledb'")
            assert row.fetchone() is not None
        assert "running" in invoke(db_args("status", tmp_path, port)).output

        again = invoke(db_args("start", tmp_path, port), expected_exit=1)
        assert "Error: The embedded database is already running" in again.output
        assert "Traceback" not in again.output
    finally:
        invoke(db_args("stop", tmp_path, port))
    assert (tmp_path / "data").is_dir()
    stopped = invoke(db_args("status", tmp_path, port), expected_exit=1)
    assert "not running" in stopped.output


def test_stop_when_not_running_says_so(tmp_path: Path) -> None:
    result = invoke(db_args("stop", tmp_path, free_port()), expected_exit=1)
    assert result.output.strip() == "Error: The embedded database is not running."


def test_start_on_a_port_in_use_names_the_port(tmp_path: Path) -> None:
    with socket.socket() as occupied:
        occupied.bind(("127.0.0.1", 0))
        occupied.listen()
        port = occupied.getsockname()[1]
        result = invoke(db_args("start", tmp_path, port), expected_exit=1)
    assert f"Port {port} on 127.0.0.1 is already in use" in result.output


def test_start_without_node_says_node_is_missing(tmp_path: Path) -> None:
    result = invoke(db_args("start", tmp_path, free_port()), expected_exit=1, env={"PATH": str(tmp_path)})
    assert "Node.js is not installed" in result.output


def test_start_if_needed_does_nothing_for_a_non_embedded_target(tmp_path: Path) -> None:
    result = invoke(
        [
            "db",
            "start",
            "--if-needed",
            "--database-url",
            "postgresql://u@db.example:5432/x",
            "--state-dir",
            str(tmp_path),
        ]
    )
    assert "the embedded database is not needed" in result.output
    assert not (tmp_path / "server.pid").exists()


def test_psql_with_its_default_ssl_settings_gets_an_answer(embedded_server: EmbeddedServer) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed")
    # No sslmode: libpq's default asks for SSL first, which the server must decline, not ignore.
    result = subprocess.run(
        [psql, "-h", embedded_server.host, "-p", str(embedded_server.port), "-U", "postgres", "-d", "template1",
         "-tAc", "select 40 + 2"],
        env={**{k: v for k, v in os.environ.items() if k not in ("PGSSLMODE", "PGGSSENCMODE")},
             "PGPASSWORD": "postgres", "PGCONNECT_TIMEOUT": "10"},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert (result.returncode, result.stdout.strip()) == (0, "42"), result.stderr


def test_only_the_profiles_password_gets_in(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "profiles.yml").write_text(
        "battery_telemetry:\n  target: embedded\n  outputs:\n    embedded:\n      type: postgres\n"
        '      host: 127.0.0.1\n      port: 5433\n      user: postgres\n      password: "s3cret p@ss"\n'
        "      dbname: template1\n      schema: analytics\n      threads: 1\n"
    )
    port = free_port()
    started = invoke([*db_args("start", tmp_path / "db", port), "--profiles-dir", str(profiles)])
    try:
        assert "PGPASSWORD" not in started.output  # not the well-known default: psql asks for it
        url = f"postgresql://postgres:{{}}@127.0.0.1:{port}/template1?sslmode=disable"
        with psycopg.connect(url.format("s3cret%20p%40ss"), autocommit=True, prepare_threshold=None) as connection:
            assert connection.execute("select 40 + 2").fetchone() == (42,)
        for wrong in ("postgres", "s3cret"):
            with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "postgres"'):
                psycopg.connect(url.format(wrong), connect_timeout=10)
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            psycopg.connect(url.replace(":{}@", "@"), connect_timeout=10, passfile="/dev/null")
        # A refused client leaves the server serving the others.
        with psycopg.connect(url.format("s3cret%20p%40ss"), autocommit=True, prepare_threshold=None) as connection:
            assert connection.execute("select 1").fetchone() == (1,)
    finally:
        invoke(db_args("stop", tmp_path / "db", port))
