"""`loader archive`: transformed raw moves to compressed files the loader reads back, verified, and losing
nothing however it stops; re-landed and rebuilt, the archive gives the same telemetry and marts."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from harness.dbt import run_dbt
from harness.object_storage import s3_client, s3_environment, s3_server
from harness.points import landed_points
from loader.generate import FleetSpec
from tests.conftest import SAMPLE_DATA, UTRECHT, Backend, FleetCache
from tests.helpers import invoke, load_args

pytestmark = pytest.mark.integration

CORE_CHECKSUM = (
    "select count(*), md5(string_agg(device_id::text || metric_name || recorded_at::text || value::text, ','"
    " order by device_id, metric_name, recorded_at)) from analytics.battery_telemetry"
)
# Marts whose rows a rebuild from the re-landed archive must give again, row for row.
MARTS = ("fct_battery_daily", "fct_battery_events", "fct_capacity_monthly", "fct_telemetry_anomalies",
         "battery_energy_daily", "battery_telemetry_hourly")  # fmt: skip
REBUILD = ("build", "--full-refresh", "--vars", "{allow_full_refresh_of_history: true}")
# The raw pieces an archive may not take: a latest reading points at them.
PINNED = "select count(distinct piece_id) from raw.latest_readings"


def mart_checksums(backend: Backend) -> dict[str, tuple]:
    checksum = "select count(*), md5(string_agg(mart::text, ',' order by mart::text)) from analytics.{} as mart"
    return {mart: backend.row(checksum.format(mart)) for mart in MARTS}


def invoke_json(args: list[str]) -> dict:
    return json.loads(invoke([*args, "--format", "json"]).output)


def correction_of_first_power_reading(backend: Backend, folder: Path) -> Path:
    """A folder re-sending a device's first battery-power reading with another value (a vendor's correction)."""
    device, metric, recorded_ms = backend.row(
        "select device_id::text, metric_name, (extract(epoch from recorded_at) * 1000)::bigint"
        " from analytics.battery_telemetry where metric_name = 'BatteryPowerW' order by recorded_at limit 1"
    )
    (folder / "telemetry").mkdir(parents=True)
    # With a point dbt rejects: an odd piece travels through the archive as it is.
    body = {"series": [{"name": metric, "data": [[recorded_ms, 4321.5], [recorded_ms + 1, None]]}]}
    (folder / "telemetry" / f"{device}.json").write_text(json.dumps(body))
    return folder


def test_an_archive_relanded_and_rebuilt_gives_the_same_telemetry_and_marts(
    timescaledb_backend: Backend, fleets: FleetCache, tmp_path: Path
) -> None:
    backend = timescaledb_backend
    url = ["--database-url", backend.settings.conninfo]
    work = tmp_path / "dbt"
    fleet = fleets.get(FleetSpec(devices=2, days=4, interval_s=300, seed=31, profile="field"))
    invoke(load_args(backend.settings, str(fleet), "--max-points", "500"))
    run_dbt(backend.settings, work, "build")
    invoke(load_args(backend.settings, str(correction_of_first_power_reading(backend, tmp_path / "correction"))))
    run_dbt(backend.settings, work, "build")
    backend.run_policy_jobs()  # history compressed, as the server's worker leaves it
    built, marts = backend.row(CORE_CHECKSUM), mart_checksums(backend)
    pieces = backend.scalar("select count(*) from raw.telemetry_pieces")
    landed = landed_points(backend.settings)

    archive = tmp_path / "archive"
    dry = invoke(["archive", str(archive), "--older-than", "0s", "--dry-run", *url])
    assert dry.output.startswith(f"Would archive {pieces - backend.scalar(PINNED)} raw pieces")
    assert not archive.exists()
    done = invoke_json(["archive", str(archive), "--older-than", "0s", "--max-points-per-file", "3000", *url])
    assert done["pieces"] == pieces - backend.scalar(PINNED)
    assert backend.scalar("select count(*) from raw.telemetry_pieces") == backend.scalar(PINNED)
    files = sorted(archive.glob("telemetry/*/*.json.gz"))
    assert len(files) == done["files"] > 2 * 2  # several files per device
    assert done["file_bytes"] == sum(path.stat().st_size for path in files)
    assert backend.scalar("select count(*) from raw.admission_ledger") == backend.scalar(PINNED)
    assert (archive / "assets" / "page-1.json.gz").is_file()
    again = invoke(["archive", str(archive), "--older-than", "0s", *url])
    assert again.output.startswith("Archived 0 raw pieces")

    # A routine build after the archive run still works, and finds nothing new.
    run_dbt(backend.settings, work, "build")
    assert backend.row(CORE_CHECKSUM) == built

    # Re-processing: land the archive again, then rebuild from raw.
    relanded = invoke_json(load_args(backend.settings, str(archive), "--no-archive"))
    assert relanded["points_landed"] == done["points"]
    assert relanded["files_quarantined"] == 0
    assert landed_points(backend.settings) == landed
    run_dbt(backend.settings, work, *REBUILD)
    assert backend.row(CORE_CHECKSUM) == built
    assert mart_checksums(backend) == marts


def test_an_archive_run_killed_midway_loses_nothing_and_the_next_run_finishes(
    postgres_backend: Backend, second_postgres_backend: Backend, fleets: FleetCache, tmp_path: Path
) -> None:
    backend = postgres_backend
    url = ["--database-url", backend.settings.conninfo]
    fleet = fleets.get(FleetSpec(devices=2, days=3, interval_s=300, seed=32, profile="field"))
    # Small pieces, one file each: a run long enough to be killed in the middle.
    invoke(load_args(backend.settings, str(fleet), "--max-points", "10"))
    run_dbt(backend.settings, tmp_path / "dbt", "build")
    landed = landed_points(backend.settings)
    archive = tmp_path / "archive"
    command = [sys.executable, "-m", "loader", "archive", str(archive), "--older-than", "0s",
               "--max-points-per-file", "1", *url]  # fmt: skip

    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    archived = "select count(*) from raw.archive_files where archived_at is not null"
    deadline = time.monotonic() + 60
    while backend.scalar(archived) < 20 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    left = backend.scalar("select count(*) from raw.telemetry_pieces") - backend.scalar(PINNED)
    assert left > 100, "the run was not killed midway: nothing left to prove"

    # Nothing lost: what left raw is in verified files, each holding what its row says.
    for path, points in backend.rows("select file_path, points from raw.archive_files where archived_at is not null"):
        series = json.loads(gzip.decompress((archive / path).read_bytes()))["series"]
        assert sum(len(one["data"]) for one in series) == points

    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert (
        "left unfinished by an earlier run" in finished.stdout
        or backend.scalar("select count(*) from raw.archive_files where archived_at is null") == 0
    )
    assert backend.scalar("select count(*) from raw.telemetry_pieces") == backend.scalar(PINNED)
    assert backend.scalar("select count(*) from raw.archive_files where archived_at is null") == 0
    files = sorted(archive.glob("telemetry/*/*.json.gz"))
    assert len(files) == backend.scalar("select count(*) from raw.archive_files")
    assert not list(archive.rglob(".*.partial"))

    # Every reading is in the archive or still in raw, none twice.
    elsewhere = second_postgres_backend
    invoke(load_args(elsewhere.settings, str(archive), "--no-archive"))
    assert landed_points(elsewhere.settings) + landed_points(backend.settings) == landed


def test_an_archive_on_object_storage_lands_again_from_there(
    sample_built_postgres: Backend, second_postgres_backend: Backend
) -> None:
    backend = sample_built_postgres
    landed = landed_points(backend.settings)
    with s3_server() as endpoint:
        s3_client(endpoint).create_bucket(Bucket="archive")
        environment = s3_environment(endpoint)
        result = invoke(["archive", "s3://archive/battery", "--older-than", "0s",
                         "--database-url", backend.settings.conninfo], env=environment)  # fmt: skip
        assert result.output.startswith(f"Archived {25 - backend.scalar(PINNED)} raw pieces")
        assert "s3://archive/battery" in result.output
        keys = [item["Key"] for item in s3_client(endpoint).list_objects_v2(Bucket="archive")["Contents"]]
        assert "battery/assets/page-1.json.gz" in keys
        assert all(key.endswith(".json.gz") for key in keys)
        elsewhere = second_postgres_backend
        invoke(load_args(elsewhere.settings, "s3://archive/battery", "--no-archive"), env=environment)
        second = invoke(load_args(elsewhere.settings, "s3://archive/battery", "--no-archive", "--format", "json"),
                        env=environment)  # fmt: skip
    assert json.loads(second.output)["pieces_landed"] == 0
    assert landed_points(elsewhere.settings) + landed_points(backend.settings) == landed


def test_every_load_archives_what_is_due_unless_told_not_to(sample_built_postgres: Backend, tmp_path: Path) -> None:
    backend = sample_built_postgres
    archive = tmp_path / "archive"
    to_archive = ["--archive-to", str(archive)]
    kept = invoke_json(load_args(backend.settings, str(SAMPLE_DATA), "--no-archive", *to_archive,
                                 "--archive-older-than", "0s"))  # fmt: skip
    assert "archive" not in kept and not archive.exists()
    not_yet = invoke_json(load_args(backend.settings, str(SAMPLE_DATA), *to_archive))
    assert not_yet["archive"]["files"] == 0  # nothing is older than the default 7 days
    due = invoke_json(load_args(backend.settings, str(SAMPLE_DATA), *to_archive, "--archive-older-than", "0s"))
    assert due["archive"]["pieces"] == 25 - backend.scalar(PINNED)
    assert len(list(archive.glob("telemetry/*/*.json.gz"))) == due["archive"]["files"] == 3


def test_a_damaged_compressed_response_is_quarantined_and_the_rest_lands(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    shutil.copytree(SAMPLE_DATA / "assets", source / "assets")
    (source / "telemetry" / UTRECHT).mkdir(parents=True)
    whole = gzip.compress((SAMPLE_DATA / "telemetry" / f"{UTRECHT}.json").read_bytes())
    (source / "telemetry" / UTRECHT / "1-good.json.gz").write_bytes(whole)
    (source / "telemetry" / UTRECHT / "2-cut.json.gz").write_bytes(whole[: len(whole) // 2])
    result = invoke(load_args(postgres_backend.settings, str(source)), expected_exit=3)
    assert "2-cut.json.gz" in result.output and "is not a readable gzip file" in result.output
    assert postgres_backend.scalar("select count(*) from raw.telemetry_pieces") == 14
    reason = postgres_backend.scalar("select reason from raw.quarantine")
    assert reason.startswith("telemetry response is not a readable gzip file")
    with psycopg.connect(postgres_backend.settings.conninfo) as connection:
        stored = connection.execute("select content from raw.quarantine").fetchone()
    assert stored is not None and bytes(stored[0]) == whole[: len(whole) // 2]
