"""Real databases for the tests: the embedded TimescaleDB and a throwaway plain PostgreSQL cluster.

A test whose backend cannot be started is skipped with the reason. In CI (CI=true) such a skip fails
the run instead, so nothing is silently left out there.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from harness.background_jobs import run_policy_jobs
from harness.databases import (
    ClusterUnavailable,
    free_port,
    native_timescaledb_bin,
    throwaway_native_timescaledb,
    throwaway_postgres,
)
from harness.dbt import ParseState, run_dbt
from loader.archive import ARCHIVE_DESTINATION_ENV
from loader.embedded import EmbeddedServer
from loader.errors import LoaderError
from loader.generate import FleetSpec, generate_fleet
from loader.settings import PROJECT_ROOT, ConnectionSettings

SAMPLE_DATA = PROJECT_ROOT / "data"
# "Fudura Utrecht", a device of the sample data.
UTRECHT = "f31b650b-5f18-4a98-b01f-1170715a0796"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
BACKEND_UNAVAILABLE = "backend unavailable"


@dataclass(frozen=True)
class Backend:
    """A database a test may use, wiped clean for it."""

    name: str  # 'timescaledb' (embedded), 'native' (a native TimescaleDB server) or 'postgres' (plain)
    settings: ConnectionSettings

    @property
    def is_timescaledb(self) -> bool:
        return self.name in ("timescaledb", "native")

    @property
    def is_embedded(self) -> bool:
        """The embedded server: one shared session, no background worker."""
        return self.name == "timescaledb"

    def run_policy_jobs(self) -> int:
        """What a real server's background worker would have done by now (harness.background_jobs)."""
        return run_policy_jobs(self.settings)

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.settings.conninfo, autocommit=True, prepare_threshold=None)

    def scalar(self, query: str, params: list | None = None):  # type: ignore[no-untyped-def]
        with self.connect() as connection:
            row = connection.execute(query, params).fetchone()
            return row[0] if row else None

    def row(self, query: str, params: list | None = None) -> tuple:
        with self.connect() as connection:
            row = connection.execute(query, params).fetchone()
        assert row is not None, query
        return tuple(row)

    def rows(self, query: str) -> list[tuple]:
        with self.connect() as connection:
            return [tuple(row) for row in connection.execute(query)]

    def execute(self, statement: str) -> None:
        with self.connect() as connection:
            connection.execute(statement)

    def count(self, query: str) -> int:
        """A count(*) query's result, 0 while the loader has not created the raw schema yet."""
        try:
            return self.scalar(query) or 0
        except psycopg.errors.UndefinedTable:
            return 0

    def wipe(self) -> None:
        """Drop everything the loader and dbt create, leaving extensions in place."""
        with self.connect() as connection:
            schemas = [
                row[0]
                for row in connection.execute(
                    "select nspname from pg_namespace where nspname = 'raw' or nspname like 'raw\\_%'"
                    " or nspname like 'analytics%' or nspname like 'test\\_%'"
                )
            ]
            if self.is_timescaledb:
                # Drop continuous aggregates first: dropping their hypertable's schema alone leaves
                # TimescaleDB's catalog rows behind on the embedded server.
                for schema, view in connection.execute(
                    "select view_schema, view_name from timescaledb_information.continuous_aggregates"
                ):
                    connection.execute(f'drop materialized view if exists "{schema}"."{view}" cascade')
            for schema in schemas:
                connection.execute(f'drop schema if exists "{schema}" cascade')


def _skip_unavailable(reason: str) -> None:
    pytest.skip(f"{BACKEND_UNAVAILABLE}: {reason}")


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(state_dir=tmp_path_factory.mktemp("embedded-db"), port=free_port())
    try:
        server.start()
    except LoaderError as exc:
        _skip_unavailable(f"embedded TimescaleDB: {exc.message}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[ConnectionSettings]:
    """A throwaway PostgreSQL cluster: initdb in a temporary directory, on a free port."""
    try:
        with throwaway_postgres(("fsync=off", "synchronous_commit=off", "full_page_writes=off")) as settings:
            yield settings
    except ClusterUnavailable as exc:
        _skip_unavailable(f"plain PostgreSQL: {exc}")


@pytest.fixture(scope="session")
def native_cluster() -> Iterator[ConnectionSettings]:
    """A throwaway cluster of a native TimescaleDB server (NATIVE_TSDB_BIN), background worker on.

    CI has none: the scenarios that take it run on the embedded server there, with harness.background_jobs
    standing in for the worker. Skipped without counting as a missing backend."""
    if native_timescaledb_bin() is None:
        pytest.skip("native TimescaleDB not built here (NATIVE_TSDB_BIN; ../shared/tools/build-native-timescaledb.sh)")
    with throwaway_native_timescaledb(("fsync=off", "synchronous_commit=off", "full_page_writes=off")) as settings:
        yield settings


class FleetCache:
    """Generated fleets by spec, for the whole test run: pytest-xdist's workers share one folder, and
    the first worker to ask for a spec generates it while the others wait for it (a file lock)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, spec: FleetSpec) -> Path:
        """The fleet's folder (assets/, telemetry/, ground_truth.json); tests only read it."""
        key = hashlib.sha256(repr(spec).encode()).hexdigest()[:16]
        folder = self.folder / f"{spec.profile}-{spec.devices}x{spec.days:g}d-{spec.interval_s:g}s-{key}"
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (folder / "ground_truth.json").exists():
                shutil.rmtree(folder, ignore_errors=True)
                generate_fleet(spec, folder)
        return folder


@pytest.fixture(scope="session")
def fleets(tmp_path_factory: pytest.TempPathFactory) -> FleetCache:
    base = tmp_path_factory.getbasetemp()
    # Under pytest-xdist each worker's base folder sits in the run's own folder, shared by its workers.
    return FleetCache((base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "fleets")


@pytest.fixture(scope="session", autouse=True)
def dbt_parse_state(tmp_path_factory: pytest.TempPathFactory) -> None:
    """dbt runs of this session start from each other's parsing state (harness.dbt.ParseState)."""
    ParseState.folder = tmp_path_factory.getbasetemp() / "dbt-parse-state"


_database_counter = iter(range(1, 1_000_000))


def _fresh_postgres_database(
    cluster: ConnectionSettings, reuse_name: bool = False, template: str = "template1"
) -> ConnectionSettings:
    """A new database, empty or a copy of `template`. With `reuse_name`, this worker's test database
    is dropped and created again under the same name: dbt's parsing state, which holds the database
    name, stays valid."""
    name = f"test_{os.getpid()}" if reuse_name else f"test_{os.getpid()}_{next(_database_counter)}"
    with psycopg.connect(cluster.conninfo, autocommit=True) as connection:
        if reuse_name:
            connection.execute(f'drop database if exists "{name}" with (force)')
        connection.execute(f'create database "{name}" template "{template}"')
    return ConnectionSettings(
        host=cluster.host,
        port=cluster.port,
        dbname=name,
        user=cluster.user,
        password="",
        sslmode="disable",
        target="postgres",
    )


def _embedded_backend(server: EmbeddedServer) -> Backend:
    settings = ConnectionSettings(host=server.host, port=server.port, dbname="template1", user="postgres",
                                  password="postgres", sslmode="disable", target="embedded")  # fmt: skip
    chosen = Backend("timescaledb", settings)
    chosen.wipe()
    return chosen


@pytest.fixture
def timescaledb_backend(embedded_server: EmbeddedServer) -> Backend:
    """The embedded TimescaleDB, wiped clean."""
    return _embedded_backend(embedded_server)


# Each named backend and the session fixture its databases come from.
_CLUSTERS = {"postgres": "postgres_cluster", "native": "native_cluster"}


def backend_named(request: pytest.FixtureRequest, name: str) -> Backend:
    """A clean database on the backend of that name ('timescaledb', 'native' or 'postgres')."""
    if name == "timescaledb":
        return _embedded_backend(request.getfixturevalue("embedded_server"))
    cluster: ConnectionSettings = request.getfixturevalue(_CLUSTERS[name])
    return Backend(name, _fresh_postgres_database(cluster, reuse_name=True))


@pytest.fixture(params=["timescaledb", "postgres"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each test using this runs once per backend, on a clean database."""
    return backend_named(request, request.param)


def land_and_build_sample(backend: Backend, work_dir: Path) -> Backend:
    """`loader load data/` then `dbt build`: the sample data as a first run leaves it."""
    from tests.helpers import invoke, load_args  # helpers import this module

    invoke(load_args(backend.settings, str(SAMPLE_DATA)))
    run_dbt(backend.settings, work_dir, "build")
    return backend


@pytest.fixture(scope="session")
def sample_built_template(postgres_cluster: ConnectionSettings, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A plain PostgreSQL database of this worker's, the sample data landed and built once: tests that
    start from there get a copy (`create database ... template`) instead of landing and building again."""
    built = land_and_build_sample(
        Backend("postgres", _fresh_postgres_database(postgres_cluster)), tmp_path_factory.mktemp("sample-template")
    )
    return built.settings.dbname


def sample_built(request: pytest.FixtureRequest, name: str, work_dir: Path) -> Backend:
    """A clean database on backend `name` holding the sample data, landed and built."""
    if name != "postgres":
        return land_and_build_sample(backend_named(request, name), work_dir)
    cluster: ConnectionSettings = request.getfixturevalue("postgres_cluster")
    template = request.getfixturevalue("sample_built_template")
    settings = _fresh_postgres_database(cluster, reuse_name=True, template=template)
    return Backend("postgres", settings)


@pytest.fixture(params=["timescaledb", "postgres"])
def sample_built_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each test using this runs once per backend, on a database where the sample data is landed and built."""
    return sample_built(request, request.param, tmp_path / "sample-build")


@pytest.fixture
def sample_built_postgres(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """A plain PostgreSQL database where the sample data is landed and built."""
    return sample_built(request, "postgres", tmp_path / "sample-build")


@pytest.fixture(params=["timescaledb", "native"])
def compressing_backend(request: pytest.FixtureRequest) -> Backend:
    """TimescaleDB with its compression policies: the embedded server, and a native one where built."""
    return backend_named(request, request.param)


@pytest.fixture
def native_backend(native_cluster: ConnectionSettings) -> Backend:
    """A clean database on a native TimescaleDB server (skipped where none is built)."""
    return Backend("native", _fresh_postgres_database(native_cluster, reuse_name=True))


@pytest.fixture
def postgres_backend(postgres_cluster: ConnectionSettings) -> Backend:
    """A clean plain PostgreSQL database, for tests of concurrency, crashes and the fallback path."""
    return Backend("postgres", _fresh_postgres_database(postgres_cluster, reuse_name=True))


@pytest.fixture
def second_postgres_backend(postgres_cluster: ConnectionSettings) -> Backend:
    """Another clean plain PostgreSQL database, beside the test's own (to land a copy into)."""
    return Backend("postgres", _fresh_postgres_database(postgres_cluster))


@pytest.fixture(scope="session", autouse=True)
def archive_destination(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Where loads archive by default in tests: a folder of the run's, not the user's state folder."""
    os.environ[ARCHIVE_DESTINATION_ENV] = str(tmp_path_factory.getbasetemp() / "archive")


def wait_for(condition, timeout_s: float = 10.0, interval_s: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()


# Fixtures that start a database server: a test that uses one must carry the `integration` marker,
# so that `make test-fast` (-m "not integration") provably starts none.
SERVER_FIXTURES = {
    "embedded_server", "postgres_cluster", "native_cluster",
    # These ask for a server by name at run time (request.getfixturevalue), which collection cannot see.
    "backend", "compressing_backend", "sample_built_backend", "sample_built_postgres",
}  # fmt: skip


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    unmarked = [
        item.nodeid
        for item in items
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("integration") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "These tests start a database server but are not marked integration: " + ", ".join(unmarked)
        )


def pytest_sessionfinish(session, exitstatus):  # type: ignore[no-untyped-def]
    """In CI, a test skipped for want of a database fails the run: CI must have both backends."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not os.environ.get("CI"):
        return
    unavailable = [
        report for report in reporter.stats.get("skipped", []) if BACKEND_UNAVAILABLE in str(report.longrepr)
    ]
    if unavailable:
        reporter.write_line(
            f"CI: {len(unavailable)} tests were skipped because a database backend was "
            "unavailable; CI must run them all.",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
