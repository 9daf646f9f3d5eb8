"""Start, stop and inspect the embedded TimescaleDB (PGlite served by Node over the wire protocol).

The server runs in the background as `node embedded/server.mjs`; its pid file, log and data
directory live under one state directory: `.embedded-db/` (git-ignored) in a checkout, else the
user's state folder. An installed package carries the server's script without its npm packages: the
first start installs them into the state directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from loader.errors import LoaderError
from loader.npm_packages import STATE_DIR, npm_folder
from loader.settings import IS_CHECKOUT, PROJECT_ROOT

PACKAGED_SERVER_DIR = PROJECT_ROOT / "embedded"
SERVER_FILES = ("server.mjs", "package.json", "package-lock.json")
PGLITE_PACKAGE = Path("node_modules") / "@unni-craftsman" / "pglite"
DEFAULT_STATE_DIR = PROJECT_ROOT / ".embedded-db" if IS_CHECKOUT else STATE_DIR / "db"
DEFAULT_PORT = 5433
DEFAULT_PASSWORD = "postgres"
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class EmbeddedServer:
    state_dir: Path
    port: int
    host: str = "127.0.0.1"
    # The password clients must give (user postgres); `loader db start` takes the dbt profile's.
    password: str = DEFAULT_PASSWORD

    @classmethod
    def from_environment(
        cls, state_dir: str | Path | None = None, port: int | None = None, password: str = DEFAULT_PASSWORD
    ) -> EmbeddedServer:
        return cls(
            state_dir=Path(state_dir or os.environ.get("EMBEDDED_DB_DIR") or DEFAULT_STATE_DIR),
            port=port or int(os.environ.get("EMBEDDED_DB_PORT", DEFAULT_PORT)),
            password=password,
        )

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "server.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "server.log"

    @property
    def conninfo(self) -> str:
        password = quote(self.password, safe="")
        return f"postgresql://postgres:{password}@{self.host}:{self.port}/template1?sslmode=disable"

    @property
    def psql_command(self) -> str:
        """How to look around with psql; psql asks for a password that is not the well-known default."""
        given = f"PGPASSWORD={DEFAULT_PASSWORD} " if self.password == DEFAULT_PASSWORD else ""
        return f"{given}psql 'postgresql://postgres@{self.host}:{self.port}/template1?sslmode=disable'"

    def running_pid(self) -> int | None:
        """The pid of the server started from this state directory, if it is still alive."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def start(self) -> int:
        """Start the server in the background and wait until it accepts connections. Returns its pid."""
        pid = self.running_pid()
        if pid:
            raise LoaderError(f"The embedded database is already running (pid {pid}, port {self.port}).")
        node = shutil.which("node")
        if node is None:
            raise LoaderError("Node.js is not installed; the embedded database needs it (apt install nodejs).")
        server_dir = self.server_dir()
        if _port_in_use(self.host, self.port):
            raise LoaderError(
                f"Port {self.port} on {self.host} is already in use; set EMBEDDED_DB_PORT to a free port."
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                [
                    node,
                    str(server_dir / "server.mjs"),
                    "--data-dir",
                    str(self.data_dir),
                    "--port",
                    str(self.port),
                    "--host",
                    self.host,
                ],
                cwd=server_dir,
                env={**os.environ, "EMBEDDED_DB_PASSWORD": self.password},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{process.pid} {self.port}\n")
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise LoaderError(
                    f"The embedded database exited during start-up (code {process.returncode}); "
                    f"last log lines: {self.last_log_lines()}"
                )
            if _accepts_connections(self.host, self.port) and self._log_says_ready(log_offset):
                return process.pid
            time.sleep(0.2)
        self.stop()
        raise LoaderError(f"The embedded database did not accept connections within {START_TIMEOUT_S:.0f} s.")

    def server_dir(self) -> Path:
        """The folder the server runs from, with its npm packages (loader/npm_packages.py): the
        checkout's embedded/, else a copy in the state directory."""
        return npm_folder(
            PACKAGED_SERVER_DIR, SERVER_FILES, PGLITE_PACKAGE, self.state_dir / "server", "the embedded database"
        )

    def stop(self) -> int:
        """Stop the server cleanly (SIGTERM, then SIGKILL after a timeout). Returns the stopped pid."""
        pid = self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            raise LoaderError("The embedded database is not running.")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return pid

    def _log_says_ready(self, offset: int) -> bool:
        with self.log_file.open("rb") as log:
            log.seek(offset)
            return f"ready {self.host}:{self.port}".encode() in log.read()

    def last_log_lines(self, count: int = 5) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").strip().splitlines()
        except FileNotFoundError:
            return "(no log)"
        return " | ".join(lines[-count:]) or "(empty log)"


def _alive(pid: int) -> bool:
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As a listening server does: connections of a stopped server in TIME_WAIT do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False
