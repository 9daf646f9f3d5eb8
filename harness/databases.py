"""Throwaway database servers for tests and benchmarks."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from loader.settings import ConnectionSettings

POSTGRES_BIN_DIRS = [Path("/usr/lib/postgresql") / version / "bin" for version in ("17", "16", "15")]


class ClusterUnavailable(Exception):
    """No PostgreSQL server binaries, or no way to run them here."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def throwaway_postgres(settings: tuple[str, ...] = (), bin_dir: Path | None = None) -> Iterator[ConnectionSettings]:
    """A PostgreSQL cluster made with initdb in a temporary directory, on a free port, removed after.

    `settings` are extra `-c name=value` server settings; `bin_dir` the server's binaries (default:
    Debian's newest PostgreSQL).
    """
    bin_dir = bin_dir or next((path for path in POSTGRES_BIN_DIRS if (path / "initdb").exists()), None)
    if bin_dir is None or not (bin_dir / "initdb").exists():
        raise ClusterUnavailable(f"initdb not found in {bin_dir or 'Debian PostgreSQL'} (apt-get install postgresql)")
    base = Path(tempfile.mkdtemp(prefix="pg-cluster-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            raise ClusterUnavailable("running as root and there is no 'postgres' user") from None
        os.chown(base, account.pw_uid, account.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", free_port()
    subprocess.run([*run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                    "-E", "UTF8", "--locale=C.UTF-8"], check=True, capture_output=True)  # fmt: skip
    options = " ".join([f"-p {port} -k {base} -c listen_addresses=127.0.0.1", *(f"-c {item}" for item in settings)])
    pg_ctl = [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data)]
    start = [*pg_ctl, "-l", str(base / "log"), "-o", options, "-w", "start"]
    subprocess.run(start, check=True, capture_output=True)

    def crash_then_start() -> None:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], check=True, capture_output=True)
        subprocess.run(start, check=True, capture_output=True)

    _crash_and_restart[port] = crash_then_start
    try:
        yield ConnectionSettings(host="127.0.0.1", port=port, dbname="postgres", user="postgres", password="",
                                 sslmode="disable", target="postgres")  # fmt: skip
    finally:
        del _crash_and_restart[port]
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


_crash_and_restart: dict[int, Callable[[], None]] = {}


def native_timescaledb_bin() -> Path | None:
    """The bin folder of a native TimescaleDB server (NATIVE_TSDB_BIN, as
    ../shared/tools/build-native-timescaledb.sh prints it), or None where there is none (CI)."""
    value = os.environ.get("NATIVE_TSDB_BIN")
    return Path(value) if value else None


@contextmanager
def throwaway_native_timescaledb(settings: tuple[str, ...] = ()) -> Iterator[ConnectionSettings]:
    """A throwaway cluster of the native TimescaleDB server, its background worker on, as in production."""
    bin_dir = native_timescaledb_bin()
    if bin_dir is None:
        raise ClusterUnavailable("NATIVE_TSDB_BIN is not set")
    preload = ("shared_preload_libraries=timescaledb", "timescaledb.telemetry_level=off")
    with throwaway_postgres((*preload, *settings), bin_dir=bin_dir) as cluster:
        yield cluster


def crash_and_restart(settings: ConnectionSettings) -> None:
    """Stop a throwaway cluster as a crash would (pg_ctl -m immediate: no clean shutdown), then start it."""
    _crash_and_restart[settings.port]()
