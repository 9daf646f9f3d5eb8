"""Scale benchmark: does a routine build cost what the new data costs, and what does each layer store?

Generates a fleet of 4 x H1 + 1 days ending at today's midnight (UTC), then per database:
land and build the first H1 days, land one more day and time the build (T1); land up to 4 x H1 days and
build, land one more day and time the build again (T2). Prints T2/T1, the models and tests whose time
grew most, and the storage of each layer in bytes per point of battery_telemetry. On TimescaleDB every
policy job (refresh, compression, retention) runs after each untimed build, as a real server's
background worker would, so the timed builds and the storage table see compressed history.

Late data: two devices' readings of the last BACKLOG_DAYS days before H2 are held back. The first
device's backlog lands and is built right after the H2 build, before the policies run (on time: its
chunks are not compressed yet); the second one's at the end, after the storage tables, once every
chunk is compressed (late: a device's backlog after an outage). Both builds are timed: their ratio is
what lateness costs. Two more storage tables follow on TimescaleDB: with every
chunk compressed (as every chunk will be once it is older than its table's compression age: the state a
deployment's history tends to), and then with raw archived (`loader archive --older-than 0s`, what every
load does once pieces are a week old, then VACUUM FULL of the raw pieces so the table's size shows what
an archiving deployment keeps), with the archive's own size.

    .venv/bin/python -m bench.scale_bench [--devices 10 --h1 30 --interval 300 --profile field]
                                          [--only postgres|embedded|native]

`native` (and, without --only, a third run) needs NATIVE_TSDB_BIN: a native TimescaleDB server built
by ../shared/tools/build-native-timescaledb.sh, its background worker on.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.dbt_bench import _Embedded
from bench.fleets import count_points, split_by_time, withhold_backlogs
from bench.loader_bench import LOADER, OUT, land
from harness.background_jobs import is_timescaledb, run_policy_jobs
from harness.databases import native_timescaledb_bin, throwaway_native_timescaledb, throwaway_postgres
from harness.dbt import run_dbt
from loader.generate import FleetSpec, generate_fleet
from loader.settings import ConnectionSettings

# A late device's backlog: more than a chunk interval plus compress_after of the core (7 + 7 days).
BACKLOG_DAYS = 15
# Hypertables other than the core, reported one by one.
DERIVED_HYPERTABLES = ("int_battery_samples",)
STORAGE_QUERY = """
select
    namespace.nspname as schema_name,
    relation.relname as relation_name,
    {size} as total_bytes
from pg_class as relation
inner join pg_namespace as namespace on relation.relnamespace = namespace.oid
{timescaledb_joins}
where
    (namespace.nspname = 'raw' or namespace.nspname like 'analytics%' or namespace.nspname = 'snapshots')
    and relation.relkind in ('r', 'm', 'v', 'p')
"""
TIMESCALEDB_SIZE = """
    case
        when hypertables.hypertable_name is not null then hypertable_size(relation.oid)
        when aggregates.view_name is not null then hypertable_size(
            format('%I.%I', aggregates.materialization_hypertable_schema,
                   aggregates.materialization_hypertable_name)::regclass)
        else pg_total_relation_size(relation.oid)
    end
"""
TIMESCALEDB_JOINS = """
left join timescaledb_information.hypertables as hypertables
    on hypertables.hypertable_schema = namespace.nspname and hypertables.hypertable_name = relation.relname
left join timescaledb_information.continuous_aggregates as aggregates
    on aggregates.view_schema = namespace.nspname and aggregates.view_name = relation.relname
"""


def fleet(devices: int, days: int, interval: float, profile: str) -> tuple[Path, datetime]:
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)
    folder = OUT / f"scale-{profile}-{devices}x{days}d-{interval:g}s-from-{start:%Y%m%d}"
    if not (folder / "assets").exists():
        started = time.monotonic()
        generate_fleet(FleetSpec(devices=devices, days=days, interval_s=interval, seed=3, start=start,
                                 profile=profile), folder)  # fmt: skip
        print(f"generated {folder.name} in {time.monotonic() - started:.0f} s")
    return folder, start


def compress_every_chunk(settings: ConnectionSettings) -> int:
    """Compress every chunk of every table with a compression policy (continuous aggregates included),
    whatever its age. Returns the chunks compressed."""
    with psycopg.connect(settings.conninfo, autocommit=True, prepare_threshold=None) as connection:
        row = connection.execute("""
            select count(*) filter (where not chunks.is_compressed)
            from timescaledb_information.jobs as jobs
            cross join lateral show_chunks(format('%I.%I', jobs.hypertable_schema, jobs.hypertable_name)) as chunk
            inner join timescaledb_information.chunks as chunks
                on format('%I.%I', chunks.chunk_schema, chunks.chunk_name)::regclass = chunk
            cross join lateral compress_chunk(chunk, if_not_compressed => true)
            where jobs.proc_name = 'policy_compression'
        """).fetchone()  # fmt: skip
    return int(row[0]) if row else 0


def archive_raw(settings: ConnectionSettings, archive: Path) -> tuple[str, int]:
    """`loader archive DIR --older-than 0s` as a user would run it (what every load does with the pieces
    older than its age), then VACUUM FULL so the raw table's size shows what is kept (a plain VACUUM
    leaves the space to later loads). Returns what the loader said and the archive's bytes."""
    completed = subprocess.run([str(LOADER), "archive", str(archive), "--older-than", "0s", "--database-url",
                                settings.conninfo], capture_output=True, text=True, check=True)  # fmt: skip
    with psycopg.connect(settings.conninfo, autocommit=True, prepare_threshold=None) as connection:
        connection.execute("vacuum full raw.telemetry_pieces")
    return completed.stdout.strip(), sum(path.stat().st_size for path in archive.rglob("*") if path.is_file())


def timed_build(settings: ConnectionSettings, work: Path, label: str) -> tuple[float, dict[str, float]]:
    started = time.monotonic()
    run_dbt(settings, work, "build")
    wall = time.monotonic() - started
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    print(f"{label}: dbt build {wall:.1f} s")
    return wall, {result["unique_id"]: result["execution_time"] for result in results}


def storage_by_layer(settings: ConnectionSettings) -> tuple[int, list[tuple[str, int]]]:
    """Points in battery_telemetry, and bytes per layer (tables, their indexes, TOAST, compressed chunks)."""
    timescaledb = is_timescaledb(settings)
    query = STORAGE_QUERY.format(
        size=TIMESCALEDB_SIZE if timescaledb else "pg_total_relation_size(relation.oid)",
        timescaledb_joins=TIMESCALEDB_JOINS if timescaledb else "",
    )
    layers: dict[str, int] = {}
    with psycopg.connect(settings.conninfo, autocommit=True, prepare_threshold=None) as connection:
        points = connection.execute("select count(*) from analytics.battery_telemetry").fetchone()[0]  # type: ignore[index]
        for schema, name, size in connection.execute(query):
            if schema == "raw" and name == "admission_ledger":
                layer = "admission ledger"
            elif schema == "raw":
                layer = "raw landing (raw.*)"
            elif name == "battery_telemetry":
                layer = "core: battery_telemetry"
            elif name in DERIVED_HYPERTABLES:
                layer = f"derived: {name}"
            elif name.startswith("battery_") and name != "battery_telemetry":
                layer = "aggregates"
            else:
                layer = "marts, intermediate tables, data quality, snapshots"
            layers[layer] = layers.get(layer, 0) + int(size or 0)
        database = connection.execute("select pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
    return points, [*sorted(layers.items()), ("whole database", int(database))]


def print_storage(name: str, points: int, layers: list[tuple[str, int]], empty_database: int) -> None:
    print(f"{name}: storage per layer, {points} points in battery_telemetry")
    core = dict(layers)["core: battery_telemetry"]
    for layer, size in layers:
        print(f"  {layer:<55} {size / 1e6:9.1f} MB {size / points:8.2f} bytes/point {size / core:6.2f} x core")
    database = dict(layers)["whole database"] - empty_database
    print(f"  {'whole database minus an empty one (' + f'{empty_database / 1e6:.1f} MB)':<55} {database / 1e6:9.1f} MB "
          f"{database / points:8.2f} bytes/point {database / core:6.2f} x core")  # fmt: skip


def run_backend(name: str, settings_factory: Callable[[], Any], slices: list[Path], backlogs: list[Path]) -> None:
    first, plus_one, to_h2, plus_one_more = slices
    on_time_backlog, late_backlog = backlogs
    with settings_factory() as settings, tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        with psycopg.connect(settings.conninfo, autocommit=True, prepare_threshold=None) as connection:
            empty_database = connection.execute("select pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
        land(settings, first, f"{name}: land H1")
        timed_build(settings, work, f"{name}: first build of H1")
        run_policy_jobs(settings)
        land(settings, plus_one, f"{name}: land one more day")
        t1, nodes_t1 = timed_build(settings, work, f"{name}: T1, build after one more day on H1")
        land(settings, to_h2, f"{name}: land up to H2")
        timed_build(settings, work, f"{name}: build up to H2")
        land(settings, on_time_backlog, f"{name}: land one device's {BACKLOG_DAYS}-day backlog before the policies run")
        on_time, _ = timed_build(settings, work, f"{name}: build of a backlog on time (chunks not compressed yet)")
        run_policy_jobs(settings)
        land(settings, plus_one_more, f"{name}: land one more day")
        t2, nodes_t2 = timed_build(settings, work, f"{name}: T2, build after one more day on H2")
        print(f"{name}: T2/T1 = {t2 / t1:.2f} (T1 {t1:.1f} s, T2 {t2:.1f} s)")
        growth = sorted(((nodes_t2[node] - nodes_t1.get(node, 0.0), node) for node in nodes_t2), reverse=True)
        for grown, node in growth[:10]:
            print(f"  {node.split('.', 2)[-1]:<90} {nodes_t1.get(node, 0.0):6.2f} s -> {nodes_t2[node]:6.2f} s "
                  f"(+{grown:.2f})")  # fmt: skip
        run_policy_jobs(settings)
        points, layers = storage_by_layer(settings)
        print_storage(name, points, layers, empty_database)
        if is_timescaledb(settings):
            compressed = compress_every_chunk(settings)
            print(f"{name}: compressed {compressed} more chunks, as if every chunk were past its compression age")
            points, layers = storage_by_layer(settings)
            print_storage(f"{name}, every chunk compressed", points, layers, empty_database)
            said, archive_bytes = archive_raw(settings, work / "archive")
            print(f"{name}: {said}")
            points, layers = storage_by_layer(settings)
            print_storage(f"{name}, every chunk compressed and raw archived", points, layers, empty_database)
            core = dict(layers)["core: battery_telemetry"]
            print(f"  {'archive (gzip files, outside the database)':<55} {archive_bytes / 1e6:9.1f} MB "
                  f"{archive_bytes / points:8.2f} bytes/point {archive_bytes / core:6.2f} x core")  # fmt: skip
        # Last, so that the storage tables above show history as the policies leave it, not a backlog's
        # rows still waiting in partly compressed chunks for the policy's next run.
        run_policy_jobs(settings)
        land(settings, late_backlog, f"{name}: land another device's {BACKLOG_DAYS}-day backlog, its chunks compressed")
        late, _ = timed_build(settings, work, f"{name}: build of a backlog late (into compressed chunks)")
        print(
            f"{name}: late/on-time backlog build = {late / on_time:.2f} (on time {on_time:.1f} s, "
            f"late {late:.1f} s; {count_points(on_time_backlog)} and {count_points(late_backlog)} points)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--h1", type=int, default=30, help="days of history at T1; T2 has 4 x as many")
    parser.add_argument("--interval", type=float, default=300, help="battery power's reporting interval, s")
    parser.add_argument("--profile", choices=["lab", "field"], default="field")
    parser.add_argument("--only", choices=["postgres", "embedded", "native"])
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    h2 = 4 * args.h1
    whole, start = fleet(args.devices, h2 + 1, args.interval, args.profile)
    cuts = [int((start + timedelta(days=days)).timestamp() * 1000) for days in (args.h1, args.h1 + 1, h2)]
    names = ["h1", "h1-plus-one", "to-h2", "h2-plus-one"]
    slices = split_by_time(whole, cuts, names)
    devices = sorted(path.stem for path in (slices[2] / "telemetry").glob("*.json"))[:2]
    backlog_from = int((start + timedelta(days=h2 - BACKLOG_DAYS)).timestamp() * 1000)
    backlogs = withhold_backlogs(slices[2], devices, backlog_from, cuts[2])
    print(
        f"fleet: {args.devices} devices, {args.profile} profile, power every {args.interval:g} s, "
        f"H1 {args.h1} days, H2 {h2} days; points per slice: "
        + ", ".join(f"{name} {count_points(part)}" for name, part in zip(names, slices, strict=True))
    )
    if args.only in (None, "postgres"):
        run_backend("plain PostgreSQL 15", throwaway_postgres, slices, backlogs)
    if args.only in (None, "embedded"):
        run_backend("embedded TimescaleDB", _Embedded, slices, backlogs)
    if args.only == "native" or (args.only is None and native_timescaledb_bin() is not None):
        run_backend("native TimescaleDB", throwaway_native_timescaledb, slices, backlogs)


if __name__ == "__main__":
    main()
