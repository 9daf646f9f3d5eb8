"""dbt core on both backends: three load-and-build rounds with duplicates, corrected re-sends, late
points into compressed chunks and invalid points; exact row counts, rollups checked against values
computed here from the same input, TimescaleDB objects and policies, alerting, and the guards."""

from __future__ import annotations

import json
import math
import shutil
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from harness.background_jobs import compressed_chunk_count
from harness.dbt import run_dbt
from loader.generate import FleetSpec
from loader.metrics import BATTERY_POWER, SOC
from loader.settings import dbt_project_var
from tests.conftest import Backend, FleetCache
from tests.helpers import invoke, load_args

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SOC_LOW_PCT = 12
TEST_VARS = (
    "{telemetry_chunk_interval: '1 day', telemetry_compress_after: '6 hours', derived_compress_after: '6 hours', "
    "low_soc_max_age: '15 minutes'}"
)
Key = tuple[str, str, int]


class Expected:
    """What battery_telemetry must hold: the latest loaded valid value per (device, metric, ms)."""

    def __init__(self) -> None:
        self.values: dict[Key, float] = {}

    def land(self, folder: Path) -> None:
        for path in sorted((folder / "telemetry").glob("*.json")):
            body = json.loads(path.read_text(), parse_constant=lambda token: token)
            for series in body["series"]:
                for point in series["data"]:
                    if self.is_valid(series["name"], point):
                        self.values[(path.stem, series["name"], point[0])] = float(point[1])

    @staticmethod
    def is_valid(metric: str, point: list) -> bool:
        """The point rules of dbt_project.yml's vars, which the loader and dbt read too."""
        timestamp, value = point
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        if timestamp < dbt_project_var("min_valid_epoch_ms"):
            return False
        low, high = dbt_project_var("soc_valid_range_pct")
        return metric != SOC or low <= value <= high

    def hourly(self) -> dict[tuple[str, str, int], tuple[float, float, int]]:
        buckets: dict[tuple[str, str, int], list[float]] = defaultdict(list)
        for (device, metric, ms), value in self.values.items():
            buckets[(device, metric, ms // 3_600_000)].append(value)
        return {key: (min(values), max(values), len(values)) for key, values in buckets.items()}

    def daily_energy(self, tolerance: float = 1.0) -> dict[tuple[str, str, int], float]:
        series: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
        for (device, metric, ms), value in self.values.items():
            if "kwh" in metric.lower():
                series[(device, metric)].append((ms, value))
        energy: dict[tuple[str, str, int], float] = defaultdict(float)
        for (device, metric), readings in series.items():
            readings.sort()
            for (_, previous), (ms, value) in pairwise(readings):
                delta = value - previous if value >= previous else (0.0 if previous - value <= tolerance else value)
                energy[(device, metric, ms // 86_400_000)] += delta
        return energy

    def low_soc_devices(self, now_ms: int, threshold: float = 20, max_age_ms: int = 15 * 60_000) -> set[str]:
        latest: dict[str, tuple[int, float]] = {}
        for (device, metric, ms), value in self.values.items():
            if metric == SOC and ms > now_ms - max_age_ms and ms > latest.get(device, (0, 0.0))[0]:
                latest[device] = (ms, value)
        return {device for device, (_, value) in latest.items() if value < threshold}


def write_round(folder: Path, assets: Path, responses: dict[str, dict[str, list]]) -> Path:
    (folder / "telemetry").mkdir(parents=True)
    shutil.copytree(assets, folder / "assets")
    for device_id, series in responses.items():
        body = {"series": [{"name": name, "data": data} for name, data in series.items()]}
        text = json.dumps(body).replace('"__NaN__"', "NaN")
        (folder / "telemetry" / f"{device_id}.json").write_text(text)
    return folder


def load_and_build(backend: Backend, source: Path, work: Path) -> None:
    """One round: land, build, then what a real server's background worker does before the next round."""
    invoke(load_args(backend.settings, str(source)))
    run_dbt(backend.settings, work, "build", "--vars", TEST_VARS)
    backend.run_policy_jobs()


def rows(backend: Backend, query: str) -> list[tuple]:
    with backend.connect() as connection:
        return connection.execute(query).fetchall()


@pytest.fixture(scope="module")
def base_fleet(fleets: FleetCache) -> tuple[Path, datetime]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return fleets.get(FleetSpec(devices=3, days=2, interval_s=60, seed=4, start=now - timedelta(days=2))), now


def test_three_rounds_give_exactly_the_distinct_valid_points_and_matching_rollups(
    backend: Backend, base_fleet: tuple[Path, datetime], tmp_path: Path
) -> None:
    base, now = base_fleet
    devices = sorted(path.stem for path in (base / "telemetry").glob("*.json"))
    series = {}
    for device in devices:
        body = json.loads((base / "telemetry" / f"{device}.json").read_text())
        series[device] = {entry["name"]: entry["data"] for entry in body["series"]}
    expected = Expected()

    # Round 1: the generated fleet.
    load_and_build(backend, base, tmp_path / "dbt")
    expected.land(base)
    assert backend.scalar("select count(*) from analytics.battery_telemetry") == len(expected.values)
    if backend.is_timescaledb:
        assert compressed_chunk_count(backend.settings, "battery_telemetry") >= 1

    # Round 2: overlapping window with new data, a corrected re-send into a compressed chunk, late
    # points into a compressed chunk, and invalid points.
    old_hour_start = int((now - timedelta(hours=36)).timestamp() * 1000)
    old_hour = range(old_hour_start, old_hour_start + 3_600_000)
    first, second, third = devices
    overlap = {name: [p for p in data if p[0] >= data[-1][0] - 6 * 3_600_000] for name, data in series[first].items()}
    for data in overlap.values():
        data += [[data[-1][0] + minute * 60_000, data[-1][1]] for minute in range(1, 3)]
    corrected = [[ms, value - 1 if value >= 1 else value + 1] for ms, value in series[second][SOC] if ms in old_hour]
    late = [[ms + 30_000, value + 7] for ms, value in series[third][BATTERY_POWER] if ms in old_hour]
    invalid = [[now_ms(now) - 120_000, None], [now_ms(now) - 110_000, "abc"], [now_ms(now) - 100_000, "__NaN__"],
               [now_ms(now) // 1000, 5], [now_ms(now) - 90_000, 140]]  # fmt: skip
    round_two = write_round(tmp_path / "round2", base / "assets", {
        first: overlap, second: {SOC: corrected}, third: {BATTERY_POWER: late, SOC: invalid},
    })  # fmt: skip
    load_and_build(backend, round_two, tmp_path / "dbt")
    expected.land(round_two)
    assert backend.scalar("select count(*) from analytics.battery_telemetry") == len(expected.values)
    corrected_now = rows(backend, f"select (extract(epoch from recorded_at) * 1000)::bigint, value from analytics."
                                  f"battery_telemetry where device_id = '{second}' and metric_name = '{SOC}' and "
                                  f"recorded_at >= to_timestamp({old_hour_start} / 1000.0) and recorded_at < "
                                  f"to_timestamp({old_hour_start + 3_600_000} / 1000.0) order by 1")  # fmt: skip
    assert corrected_now == [(ms, float(value)) for ms, value in corrected]
    assert backend.scalar("select count(*) from analytics.dq_telemetry_rejected_points") == len(invalid)

    # Round 3: one device drops below 20 %, plus a response repeated from round 2 (nothing new).
    round_three = write_round(tmp_path / "round3", base / "assets", {
        first: {SOC: [[now_ms(now) + 300_000, SOC_LOW_PCT]]}, third: {BATTERY_POWER: late, SOC: invalid},
    })  # fmt: skip
    load_and_build(backend, round_three, tmp_path / "dbt")
    expected.land(round_three)
    assert backend.scalar("select count(*) from analytics.battery_telemetry") == len(expected.values)

    # Rollups equal what the same input gives here, on both backends.
    hourly = {(device, metric, int(hour)): (low, high, count) for device, metric, hour, low, high, count in rows(
        backend, "select device_id::text, metric_name, extract(epoch from hour_start) / 3600, value_min, value_max,"
                 " reading_count from analytics.battery_telemetry_hourly")}  # fmt: skip
    assert hourly == expected.hourly()
    energy = {(device, metric, int(day)): kwh for device, metric, day, kwh in rows(
        backend, "select device_id::text, metric_name, extract(epoch from day_start) / 86400, energy_kwh"
                 " from analytics.battery_energy_daily where energy_kwh is not null")}  # fmt: skip
    wanted = expected.daily_energy()
    assert energy.keys() == wanted.keys()
    assert all(math.isclose(energy[key], wanted[key], rel_tol=1e-9, abs_tol=1e-6) for key in energy)

    # Every incremental model derived from battery_telemetry, built incrementally over the three
    # rounds (late and corrected points into old hours included), equals one built from scratch.
    assert_incremental_models_equal_a_rebuild(backend, tmp_path / "dbt", min_samples=3 * 1440)

    # The alert view names exactly the devices whose latest recent SoC is below 20 %.
    low = {row[0] for row in rows(backend, "select device_id::text from analytics.alert_low_soc")}
    assert first in low
    assert low == expected.low_soc_devices(now_ms(now) + 60_000)
    assert invoke(["check-soc", "--database-url", backend.settings.conninfo], expected_exit=4).output.count(
        "LOW SOC"
    ) == len(low)


def assert_incremental_models_equal_a_rebuild(
    backend: Backend, work: Path, min_samples: int, test_vars: str = TEST_VARS
) -> None:
    """Rebuild every incremental model and rollup downstream of battery_telemetry from scratch and compare rows
    (doubles to 9 significant digits: running sums started at a window differ in the last bits)."""
    manifest = json.loads((work / "target" / "manifest.json").read_text())
    # Rollups too: on plain PostgreSQL they are refreshed in place for the buckets a batch touched.
    incremental_models = sorted(
        node["name"] for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and node["config"]["materialized"] in ("incremental", "continuous_aggregate")
        and node["name"] not in {"battery_telemetry", "stg_raw__telemetry_pieces", "dq_telemetry_rejected_points"}
    )  # fmt: skip
    assert {"battery_energy_daily", "int_battery_samples", "int_battery_events"} <= set(incremental_models)

    lineage = "('recomputed_from', 'batch_id')"  # which build wrote a row, not what it holds

    def contents(model: str) -> list[tuple]:
        columns = rows(backend, "select column_name, data_type from information_schema.columns where table_schema ="
                                f" 'analytics' and table_name = '{model}' and column_name not in {lineage}"
                                " order by ordinal_position")  # fmt: skip
        select = ", ".join(
            f"round({name}::numeric, 9 - ceil(log(greatest(abs({name}), 1e-9)))::int)"
            if kind == "double precision" else name for name, kind in columns
        )  # fmt: skip
        return rows(backend, f"select {select} from analytics.{model} order by {', '.join(n for n, _ in columns)}")

    built_incrementally = {model: contents(model) for model in incremental_models}
    assert len(built_incrementally["int_battery_samples"]) > min_samples
    rebuild_vars = test_vars.replace("{", "{allow_full_refresh_of_history: true, ", 1)
    # With everything downstream: a full refresh drops a table with the views built on it.
    downstream = [f"{model}+" for model in incremental_models]
    run_dbt(backend.settings, work, "run", "--full-refresh", "-s", *downstream, "--vars", rebuild_vars)
    for model in incremental_models:
        rebuilt = contents(model)
        only_rebuilt = sorted(set(rebuilt) - set(built_incrementally[model]))[:5]
        only_incremental = sorted(set(built_incrementally[model]) - set(rebuilt))[:5]
        assert rebuilt == built_incrementally[model], (
            f"{model}: incremental rounds differ from a rebuild ({len(rebuilt)} vs "
            f"{len(built_incrementally[model])} rows);\nonly in the rebuild: {only_rebuilt}\n"
            f"only built incrementally: {only_incremental}"
        )


def now_ms(now: datetime) -> int:
    return int(now.timestamp() * 1000)


def test_timescaledb_objects_and_policies_are_in_place_after_a_build(
    timescaledb_backend: Backend, tmp_path: Path
) -> None:
    backend = timescaledb_backend
    invoke(load_args(backend.settings, str(Path(__file__).parents[1] / "data")))
    run_dbt(backend.settings, tmp_path, "build")
    run_dbt(backend.settings, tmp_path, "build")  # settings re-applied: still one job of each kind
    # The embedded database's one shared session never ends: dbt's temporary tables must be dropped
    # by the build itself, or they pile up with every build.
    assert rows(backend, "select relname from pg_class where relpersistence = 't' and relkind = 'r'") == []

    hypertables = {row[0]: row[1] for row in rows(
        backend, "select hypertable_name, compression_enabled from timescaledb_information.hypertables")}  # fmt: skip
    assert hypertables == {
        "battery_telemetry": True,
        "int_battery_samples": True,
    }
    jobs = sorted(rows(backend, "select proc_name, hypertable_name from timescaledb_information.jobs"
                                " where proc_name like 'policy\\_%'"
                                " and proc_name <> 'policy_job_stat_history_retention'"))  # fmt: skip
    assert jobs == [
        ("policy_compression", "battery_cycling_hourly"),
        ("policy_compression", "battery_soc_daily"),
        ("policy_compression", "battery_telemetry"),
        ("policy_compression", "battery_telemetry_hourly"),
        ("policy_compression", "int_battery_samples"),
        ("policy_refresh_continuous_aggregate", "battery_cycling_hourly"),
        ("policy_refresh_continuous_aggregate", "battery_soc_daily"),
        ("policy_refresh_continuous_aggregate", "battery_telemetry_hourly"),
    ]
    aggregates = dict(
        rows(backend, "select view_name, materialized_only from timescaledb_information.continuous_aggregates")
    )
    assert aggregates == dict.fromkeys(
        ["battery_cycling_hourly", "battery_soc_daily", "battery_telemetry_hourly"], False
    )
    # History was backfilled into the materialization, not only computed in real time.
    assert backend.scalar("select count(*) from analytics.battery_telemetry_hourly") == 25
    [(schema, table)] = rows(backend, "select materialization_hypertable_schema, materialization_hypertable_name"
                                      " from timescaledb_information.continuous_aggregates"
                                      " where view_name = 'battery_telemetry_hourly'")  # fmt: skip
    assert backend.scalar(f'select count(*) from "{schema}"."{table}"') == 25

    # Rollups are compressed like the core once past rollup_compress_after (the sample is older),
    # and a late reading into that compressed past still reaches them at the next build.
    backend.run_policy_jobs()
    assert compressed_chunk_count(backend.settings, "battery_telemetry_hourly") >= 1
    [(device, hour, readings)] = rows(backend, "select device_id::text, hour_start, reading_count"
                                               " from analytics.battery_telemetry_hourly"
                                               " where metric_name = 'StateOfChargePercentage'"
                                               " order by hour_start, device_id limit 1")  # fmt: skip
    late = tmp_path / "late"
    shutil.copytree(Path(__file__).parents[1] / "data" / "assets", late / "assets")
    (late / "telemetry").mkdir()
    late_ms = int(hour.timestamp() * 1000) + 59 * 60_000 + 59_000
    body = {"series": [{"name": "StateOfChargePercentage", "data": [[late_ms, 50]]}]}
    (late / "telemetry" / f"{device}.json").write_text(json.dumps(body))
    invoke(load_args(backend.settings, str(late)))
    run_dbt(backend.settings, tmp_path, "build")
    assert (
        backend.scalar(
            "select reading_count from analytics.battery_telemetry_hourly where device_id = %s"
            " and metric_name = 'StateOfChargePercentage' and hour_start = %s",
            [device, hour],
        )
        == readings + 1
    )


def test_full_refresh_is_refused_unless_asked_for_and_history_survives(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    invoke(load_args(postgres_backend.settings, str(Path(__file__).parents[1] / "data")))
    run_dbt(postgres_backend.settings, tmp_path, "build")
    refused = run_dbt(postgres_backend.settings, tmp_path, "build", "--full-refresh", check=False)
    assert refused.returncode != 0
    assert "Refusing --full-refresh" in refused.stdout
    assert postgres_backend.scalar("select count(*) from analytics.battery_telemetry") == 375


def test_a_failed_build_and_a_late_commit_are_caught_up_by_the_next_build(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    data = Path(__file__).parents[1] / "data"
    invoke(load_args(postgres_backend.settings, str(data)))
    # A build that stops after admitting the batch and before closing it (as a failure would).
    run_dbt(postgres_backend.settings, tmp_path, "run", "-s", "stg_raw__telemetry_pieces")
    assert (
        postgres_backend.scalar(
            "select count(*) from analytics_staging.stg_raw__telemetry_pieces where transformed_at is null"
        )
        == 25
    )
    run_dbt(postgres_backend.settings, tmp_path, "build")
    assert postgres_backend.scalar("select count(*) from analytics.battery_telemetry") == 375
    pending = "select count(*) from analytics_staging.stg_raw__telemetry_pieces where transformed_at is null"
    assert postgres_backend.scalar(pending) == 0

    # A load whose transaction started before the last admitted piece was landed, and committed after.
    with postgres_backend.connect() as connection:
        connection.execute(
            "insert into raw.telemetry_pieces (load_id, loaded_at, source_uri, device_id, metric_name, series_index,"
            " chunk_index, point_count, content_hash, payload) select load_id, loaded_at - interval '1 minute',"
            " 'late://commit', device_id, 'LateMetric', 0, 0, 1, 'late-commit', '{\"name\": \"LateMetric\","
            ' "data": [[1738850562000, 1]]}\' from raw.telemetry_pieces order by loaded_at desc limit 1'
        )
    run_dbt(postgres_backend.settings, tmp_path, "build")
    assert (
        postgres_backend.scalar("select count(*) from analytics.battery_telemetry where metric_name = 'LateMetric'")
        == 1
    )


def test_docs_generate_shows_lineage_from_sources_to_every_model_and_exposure(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    invoke(load_args(postgres_backend.settings, str(Path(__file__).parents[1] / "data")))
    run_dbt(postgres_backend.settings, tmp_path, "build")
    run_dbt(postgres_backend.settings, tmp_path, "docs", "generate")
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    parents = manifest["parent_map"]

    def reaches_a_source(node: str, seen: set[str] | None = None) -> bool:
        seen = seen or set()
        if node.startswith("source."):
            return True
        return any(reaches_a_source(parent, seen | {node}) for parent in parents.get(node, []) if parent not in seen)

    models = [node for node in manifest["nodes"] if node.startswith(("model.", "snapshot."))]
    assert models and all(reaches_a_source(node) for node in models)
    assert all(manifest["nodes"][node]["description"] for node in models)
    undocumented = [
        f"{node}.{column}"
        for node in models
        for column, spec in manifest["nodes"][node]["columns"].items()
        if not spec["description"]
    ]
    assert undocumented == []
    catalog = json.loads((tmp_path / "target" / "catalog.json").read_text())["nodes"]
    built_but_not_described = [
        f"{node}.{column}"
        for node in models
        if node in catalog
        for column in catalog[node]["columns"]
        if column not in manifest["nodes"][node]["columns"]
    ]
    assert built_but_not_described == []
    assert "model.battery_telemetry.fct_device_health" in catalog
    assert sorted(parents["exposure.battery_telemetry.low_soc_alerting"]) == [
        "model.battery_telemetry.alert_low_soc",
        "model.battery_telemetry.alert_soc_no_data",
    ]
    assert parents["exposure.battery_telemetry.pipeline_monitoring"] == ["model.battery_telemetry.pipeline_health"]
    # The report site's pages end the lineage too, one dashboard exposure per page.
    dashboards = {node: spec for node, spec in manifest["exposures"].items() if spec["type"] == "dashboard"}
    assert sorted(dashboards) == [
        f"exposure.battery_telemetry.report_{page}" for page in ("data_quality", "device", "fleet", "pipeline")
    ]
    assert "model.battery_telemetry.fct_capacity_monthly" in parents["exposure.battery_telemetry.report_device"]
    # What the loader's own commands read of dbt's, so that a rename fails at parse time.
    assert "model.battery_telemetry.battery_telemetry" in parents["exposure.battery_telemetry.loader_commands"]
    assert (tmp_path / "target" / "catalog.json").exists()


def test_the_first_build_after_the_ledger_moved_to_raw_keeps_what_the_old_ledger_knew(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    """Before the admission ledger lived in raw (loader migration 11), dbt kept it as the table of
    stg_raw__telemetry_pieces. A deployment upgraded from then has that table and an empty raw ledger:
    its first build copies the table over, and transforms nothing again."""
    invoke(load_args(postgres_backend.settings, str(Path(__file__).parents[1] / "data")))
    run_dbt(postgres_backend.settings, tmp_path, "build")
    with postgres_backend.connect() as connection:
        connection.execute("drop view analytics_staging.stg_raw__telemetry_pieces cascade")
        connection.execute(
            "create table analytics_staging.stg_raw__telemetry_pieces as select * from raw.admission_ledger"
        )
        connection.execute("delete from raw.admission_ledger")
    run_dbt(postgres_backend.settings, tmp_path, "build")
    transformed = "select count(*) from raw.admission_ledger where transformed_at is not null"
    assert postgres_backend.scalar(transformed) == 25
    changed = "select count(*) from analytics.int_telemetry_batch_changes"
    assert postgres_backend.scalar(changed) == 0  # the second build's batch was empty
    kind = "select table_type from information_schema.tables where table_name = 'stg_raw__telemetry_pieces'"
    assert postgres_backend.scalar(kind) == "VIEW"
