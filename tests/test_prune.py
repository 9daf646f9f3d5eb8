"""`loader prune`: opt-in raw retention that removes only old pieces dbt has transformed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.dbt import run_dbt
from tests.conftest import SAMPLE_DATA, UTRECHT, Backend
from tests.helpers import invoke, load_args

pytestmark = pytest.mark.integration


def test_prune_removes_only_old_transformed_pieces_and_the_next_build_still_runs(
    sample_built_backend: Backend, tmp_path: Path
) -> None:
    backend = sample_built_backend
    # A piece landed after the build: not transformed yet, so --older-than 0s must keep it.
    late = tmp_path / "late"
    shutil.copytree(SAMPLE_DATA / "assets", late / "assets")
    (late / "telemetry").mkdir()
    body = {"series": [{"name": "GridPowerW", "data": [[1738850000000, 1.5], [1738850060000, 2.5]]}]}
    (late / "telemetry" / f"{UTRECHT}.json").write_text(json.dumps(body))
    invoke(load_args(backend.settings, str(late)))
    pointed_at = backend.scalar("select count(distinct piece_id) from raw.latest_readings")
    assert 0 < pointed_at < 25
    prunable = 25 - pointed_at
    url = ["--database-url", backend.settings.conninfo]

    dry = invoke(["prune", "--older-than", "0s", "--dry-run", *url])
    assert dry.output.startswith(f"Would remove {prunable} raw pieces")
    assert backend.scalar("select count(*) from raw.telemetry_pieces") == 26
    assert invoke(["prune", "--older-than", "1d", *url]).output.startswith("Removed 0 raw pieces")

    removed = invoke(["prune", "--older-than", "0s", *url])
    assert removed.output.startswith(f"Removed {prunable} raw pieces")
    assert "MB of payload" in removed.output
    assert backend.scalar("select count(*) from raw.telemetry_pieces") == 26 - prunable
    assert backend.scalar("select count(*) from raw.telemetry_pieces where metric_name = 'GridPowerW'"
                          " and source_uri like '%late%'") == 1  # fmt: skip

    run_dbt(backend.settings, tmp_path / "dbt", "build")
    assert backend.scalar("select count(*) from analytics.battery_telemetry") == 375 + 2


def test_prune_without_a_dbt_build_says_there_is_nothing_to_prune(postgres_backend: Backend) -> None:
    invoke(load_args(postgres_backend.settings, str(SAMPLE_DATA)))
    result = invoke(["prune", "--older-than", "0s", "--database-url", postgres_backend.settings.conninfo],
                    expected_exit=1)  # fmt: skip
    assert "Nothing to prune: no dbt build has transformed a raw piece" in result.output
    assert postgres_backend.scalar("select count(*) from raw.telemetry_pieces") == 25
