"""The loader as a team installs it: a wheel in a fresh virtual environment, run from a folder that is
not the checkout, against a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.databases import free_port
from harness.dbt import write_profile
from loader.settings import PROJECT_ROOT
from tests.conftest import Backend

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a new virtual environment with the project's wheel installed (not editable),
    with its `report` extra."""
    work = tmp_path_factory.mktemp("installed")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir",
         str(work / "dist"), str(PROJECT_ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    [wheel] = (work / "dist").glob("*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
    subprocess.run(
        [str(work / "venv" / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", f"{wheel}[report]"],
        check=True, capture_output=True,
    )  # fmt: skip
    return work / "venv" / "bin"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[Path]:
    """A folder with no dbt project in it or above it."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    assert not any((parent / "dbt_project.yml").exists() for parent in [folder, *folder.parents])
    yield folder


def run(bin_dir: Path, cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("DBT_", "PYTHON"))}
    completed = subprocess.run(
        [str(bin_dir / args[0]), *args[1:]], cwd=cwd, env={**environment, **(env or {})}, text=True,
        capture_output=True, timeout=600,
    )  # fmt: skip
    assert completed.returncode == 0, f"{' '.join(args)} exited {completed.returncode}:\n{completed.stderr[-4000:]}"
    return completed


def test_the_installed_loader_generates_loads_and_builds_from_any_folder(
    installed: Path, elsewhere: Path, postgres_backend: Backend
) -> None:
    where = run(installed, elsewhere, "python", "-c", "import loader, loader.settings as s; print(loader.__file__)")
    assert where.stdout.startswith(str(installed.parent)), where.stdout  # the wheel's copy, not the checkout
    assert "Usage: loader" in run(installed, elsewhere, "loader", "--help").stdout

    generated = run(installed, elsewhere, "loader", "generate", "fleet", "--devices", "2", "--period", "1d",
                    "--interval", "5m")  # fmt: skip
    assert (elsewhere / "fleet" / "ground_truth.json").exists(), generated.stdout
    url = postgres_backend.settings.conninfo
    run(installed, elsewhere, "loader", "load", "fleet", "--database-url", url, "--no-progress")

    # No dbt project here: `loader build` builds the one the package carries, its artifacts land here.
    profiles = write_profile(postgres_backend.settings, elsewhere / "profiles")
    run(installed, elsewhere, "loader", "build", env={"DBT_PROFILES_DIR": str(profiles)})
    assert (elsewhere / "target" / "run_results.json").exists()
    assert not list(installed.parent.glob("lib/python*/site-packages/loader/project/target"))
    assert postgres_backend.scalar("select count(distinct device_id) from analytics.battery_telemetry") == 2
    assert postgres_backend.scalar("select count(*) from analytics.fct_battery_daily") > 0

    # The report the package carries, its chart libraries installed into the user's state folder.
    state = {"XDG_STATE_HOME": str(elsewhere / "state")}
    run(installed, elsewhere, "loader", "report", "build", "--database-url", url, env=state)
    assert (elsewhere / "report" / "index.html").exists()
    assert (elsewhere / "state" / "battery-telemetry-elt" / "report" / "node_modules" / "vega-embed").is_dir()


def test_the_installed_loader_runs_the_embedded_database_from_any_folder(installed: Path, elsewhere: Path) -> None:
    """Its server's npm packages are installed into the state folder on first start."""
    state = ["--state-dir", str(elsewhere / "db"), "--port", str(free_port())]
    started = run(installed, elsewhere, "loader", "db", "start", *state)
    try:
        assert "Embedded TimescaleDB running" in started.stdout
        assert "running" in run(installed, elsewhere, "loader", "db", "status", *state).stdout
        assert (elsewhere / "db" / "server" / "node_modules").is_dir()
    finally:
        run(installed, elsewhere, "loader", "db", "stop", *state)
