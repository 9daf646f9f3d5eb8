"""`loader load` options and `loader status`: dry run, JSON summary, piece size, re-sends."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.databases import free_port
from tests.conftest import SAMPLE_DATA, UTRECHT, Backend
from tests.helpers import invoke, load_args

pytestmark = pytest.mark.integration


def test_dry_run_reports_what_would_land_and_writes_nothing(postgres_backend: Backend) -> None:
    dry = invoke(load_args(postgres_backend.settings, str(SAMPLE_DATA), "--dry-run"))
    assert dry.output.startswith("Would land 25 pieces (375 points) from 4 files")
    assert postgres_backend.scalar("select to_regclass('raw.load_log') is null")

    invoke(load_args(postgres_backend.settings, str(SAMPLE_DATA)))
    again = invoke(load_args(postgres_backend.settings, str(SAMPLE_DATA), "--dry-run"))
    assert again.output.startswith("Would land 0 pieces (0 points) from 0 files")
    assert "4 files and 0 pieces unchanged" in again.output
    assert postgres_backend.scalar("select count(*) from raw.load_log") == 1


def test_json_summary_is_machine_readable(postgres_backend: Backend) -> None:
    result = invoke(load_args(postgres_backend.settings, str(SAMPLE_DATA), "--format", "json"))
    summary = json.loads(result.output)
    assert summary["status"] == "succeeded"
    assert (summary["pieces_landed"], summary["points_landed"], summary["files_landed"]) == (25, 375, 4)
    assert summary["rejections"] == []


def test_long_series_are_split_into_pieces_of_at_most_max_points(postgres_backend: Backend) -> None:
    invoke(load_args(postgres_backend.settings, str(SAMPLE_DATA), "--max-points", "4"))
    with postgres_backend.connect() as connection:
        counts = connection.execute(
            "select point_count, count(*) from raw.telemetry_pieces group by 1 order by 1"
        ).fetchall()
        ranges_ok = connection.execute(
            "select bool_and(first_recorded_ms = (payload #>> '{data,0,0}')::bigint) from raw.telemetry_pieces"
        ).fetchone()[0]
    assert counts == [(3, 25), (4, 75)]  # 15 points per series: 4 + 4 + 4 + 3
    assert ranges_ok


def test_a_corrected_resend_lands_as_new_rows_and_the_old_ones_stay(postgres_backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(SAMPLE_DATA, source)
    invoke(load_args(postgres_backend.settings, str(source)))
    path = source / "telemetry" / f"{UTRECHT}.json"
    body = json.loads(path.read_text())
    body["series"][0]["data"][-1][1] += 1
    path.write_text(json.dumps(body))

    result = invoke(load_args(postgres_backend.settings, str(source)))

    assert "Landed 1 pieces (15 points) from 1 files" in result.output
    assert "3 files and 13 pieces unchanged" in result.output
    assert postgres_backend.scalar("select count(*) from raw.telemetry_pieces") == 26


def test_status_lists_recent_loads_newest_first(postgres_backend: Backend) -> None:
    url = postgres_backend.settings.conninfo
    assert invoke(["status", "--database-url", url]).output.strip() == "No loads yet."
    invoke(load_args(postgres_backend.settings, str(SAMPLE_DATA)))
    invoke(load_args(postgres_backend.settings, str(SAMPLE_DATA)))
    lines = invoke(["status", "--database-url", url]).output.strip().splitlines()
    assert lines[0].startswith("started (UTC)")
    assert len(lines) == 3
    assert "succeeded" in lines[1] and "succeeded" in lines[2]
    loads = json.loads(invoke(["status", "--database-url", url, "--format", "json"]).output)
    assert [load["pieces_landed"] for load in loads] == [0, 25]


def test_an_unreachable_database_is_one_sentence_and_exit_1(tmp_path: Path) -> None:
    url = f"postgresql://someone:secret@127.0.0.1:{free_port()}/nowhere"
    result = invoke(["load", "--database-url", url, str(SAMPLE_DATA)], expected_exit=1)
    assert result.output.startswith("Error: Cannot connect to the database someone@127.0.0.1:")
    # libpq's whole reason on one line: what failed and what to check.
    assert "failed: Connection refused. Is the server running on that host" in result.output
    assert "\t" not in result.output and len(result.output.strip().splitlines()) == 1
    assert "secret" not in result.output


def test_a_stopped_embedded_database_says_how_to_start_it(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "profiles.yml").write_text(
        "battery_telemetry:\n  target: embedded\n  outputs:\n    embedded:\n      type: postgres\n"
        f"      host: 127.0.0.1\n      port: {free_port()}\n      user: postgres\n      password: postgres\n"
        "      dbname: template1\n      schema: analytics\n      threads: 1\n"
    )
    result = invoke(["status", "--profiles-dir", str(profiles)], expected_exit=1)
    assert result.output.rstrip().endswith("The embedded database is not running: start it with `loader db start`.")


def test_an_unknown_source_is_one_sentence_and_exit_1(tmp_path: Path) -> None:
    result = invoke(["load", "--database-url", "postgresql://x@127.0.0.1:1/x", str(tmp_path / "nope")], expected_exit=1)
    assert result.output.strip() == f"Error: Source directory {tmp_path / 'nope'} does not exist."


def test_only_assets_skips_telemetry_of_unlisted_devices(postgres_backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(SAMPLE_DATA, source)
    unlisted = "0a0a0a0a-0000-4000-8000-000000000009"
    shutil.copyfile(source / "telemetry" / f"{UTRECHT}.json", source / "telemetry" / f"{unlisted}.json")
    invoke(load_args(postgres_backend.settings, str(source), "--only-assets"))
    assert postgres_backend.scalar("select count(*) from raw.telemetry_pieces where device_id = %s", [unlisted]) == 0
    assert postgres_backend.scalar("select count(distinct device_id) from raw.telemetry_pieces") == 3
