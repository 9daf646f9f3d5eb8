"""The dbt project's structure rules, checked over dbt's manifest (what dbt_project_evaluator would check,
written out for the few rules this project keeps): the DAG flows one way, only staging reads sources,
every declared source is read, every model states its grain, marts read their refs through import CTEs
at the top, every macro is documented with its arguments and lives in a file named for it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.dbt import copy_dbt_project, run_dbt
from loader.settings import ConnectionSettings

# Each model folder's place in the flow: a model may read its own rank or an earlier one. The build's
# batch and the per-reading timelines come before the rollups, which the daily and per-event
# intermediate models read; nothing but a mart reads a mart.
LAYER_RANKS = {
    "staging": 0,
    "core": 1,
    "intermediate/batch": 2,
    "intermediate/per_reading": 2,
    "data_quality": 2,
    "aggregates": 3,
    "intermediate": 4,
    "marts": 5,
}
GRAIN_TESTS = {"unique", "unique_combination_of_columns", "one_row"}
# dbt parse needs a profile, not a connection.
NO_DATABASE = ConnectionSettings(
    host="127.0.0.1", port=1, dbname="none", user="none", password="none", sslmode="disable"
)


def parse_manifest(project_dir: Path, work: Path) -> dict:
    run_dbt(NO_DATABASE, work, "parse", project_dir=project_dir)
    return json.loads((work / "target" / "manifest.json").read_text())


def layer_of(node: dict) -> str:
    """The model's folder as LAYER_RANKS names it: its sub-folder where that has a rank of its own."""
    parts = Path(node["original_file_path"]).parts
    sub_folder = "/".join(parts[2:4])
    return sub_folder if sub_folder in LAYER_RANKS else parts[2]


def refs_outside_import_ctes(sql: str) -> list[str]:
    """The refs a model reads outside its leading import CTEs (the CTEs at the top that each read one ref),
    other than inside a lateral subquery (a per-row index lookup, which an import CTE read twice would
    turn into a scan: PostgreSQL materializes such a CTE)."""
    sql = re.sub(r"\{#.*?#\}", "", sql, flags=re.DOTALL)
    sql = re.sub(r"--[^\n]*", "", sql)
    ctes = [(match.start(), match.group(1)) for match in re.finditer(r"^ {0,4}(\w+) as \($", sql, flags=re.MULTILINE)]
    late, in_imports = [], True
    for number, (start, name) in enumerate(ctes):
        body = sql[start : ctes[number + 1][0] if number + 1 < len(ctes) else len(sql)]
        refs = list(re.finditer(r"\{\{\s*ref\('(\w+)'\)\s*\}\}", body))
        if in_imports and len(refs) == 1 and not re.search(r"\bjoin\b", body):
            continue
        in_imports = False
        for ref in refs:
            before = body[: ref.start()]
            lateral = before.rfind("lateral (")
            inside_lateral = lateral >= 0 and before.count("(", lateral) > before.count(")", lateral)
            if not inside_lateral:
                late.append(f"{name} reads {ref.group(1)}")
    return late


def structure_violations(manifest: dict) -> list[str]:
    """Every broken rule, as a sentence naming the node."""
    nodes = manifest["nodes"]
    models = {key: node for key, node in nodes.items() if node["resource_type"] == "model"}
    violations = []
    for key, model in models.items():
        layer = layer_of(model)
        if layer not in LAYER_RANKS:
            violations.append(f"{key} lives in {layer}/, not in one of {sorted(LAYER_RANKS)}")
            continue
        for parent in model["depends_on"]["nodes"]:
            if parent.startswith("source.") and layer != "staging":
                violations.append(f"{key} reads {parent}: only staging models read sources")
            if parent in models and LAYER_RANKS[layer_of(models[parent])] > LAYER_RANKS[layer]:
                violations.append(f"{key} ({layer}) reads {parent} ({layer_of(models[parent])}): the DAG flows one way")
        if layer == "marts" and not model["name"].startswith(("fct_", "dim_", "alert_", "pipeline_")):
            violations.append(f"{key} is a mart named neither fct_, dim_ nor for its consumer (alert_, pipeline_)")
        if layer == "marts":
            for late in refs_outside_import_ctes(model["raw_code"]):
                violations.append(f"{key}: {late} outside the import CTEs at the top")
        has_grain_test = any(
            test["test_metadata"]["name"] in GRAIN_TESTS
            for test in nodes.values()
            if test["resource_type"] == "test"
            and test.get("test_metadata")
            and key in test["depends_on"]["nodes"]
            and test.get("attached_node") == key
        )
        has_grain_constraint = any(
            constraint["type"] in ("unique", "primary_key") for constraint in model.get("constraints", [])
        ) or any(
            constraint["type"] in ("unique", "primary_key")
            for column in model["columns"].values()
            for constraint in column.get("constraints", [])
        )
        # An ephemeral model has no relation to test: its grain is tested where it is materialized.
        if not (has_grain_test or has_grain_constraint or model["config"]["materialized"] == "ephemeral"):
            violations.append(f"{key} has no grain: no unique test and no unique constraint")
    for key in manifest["sources"]:
        if not any(child.startswith("model.") for child in manifest["child_map"].get(key, [])):
            violations.append(f"{key} is declared but no model reads it")
    for key, macro in manifest["macros"].items():
        if macro["package_name"] != manifest["metadata"]["project_name"] or "materialization" in key:
            continue
        if not macro["description"]:
            violations.append(f"{key} has no description in a _<folder>__macros.yml")
        file_name = Path(macro["original_file_path"]).stem
        if file_name not in (macro["name"], macro["name"].removeprefix("test_")):
            violations.append(f"{key} lives in {file_name}.sql: a macro file holds one macro, named for it")
        signature = re.search(r"(?:macro|test)\s+\w+\((.*?)\)\s*-?%}", macro["macro_sql"], re.DOTALL)
        arguments = (
            {part.split("=")[0].strip() for part in signature.group(1).split(",") if part.strip()}
            if signature
            else set()
        )
        documented = {argument["name"] for argument in macro["arguments"]}
        if arguments != documented:
            violations.append(f"{key} takes {sorted(arguments)} but its YAML documents {sorted(documented)}")
    return violations


def test_the_project_keeps_its_structure_rules(tmp_path: Path) -> None:
    manifest = parse_manifest(Path(__file__).resolve().parents[1], tmp_path)
    assert structure_violations(manifest) == []


@pytest.mark.parametrize(
    ("planted_file", "planted_sql", "expected"),
    [
        ("intermediate/int_reads_a_mart.sql", "select * from {{ ref('fct_device_health') }}", "the DAG flows one way"),
        (
            "aggregates/hourly/agg_reads_a_daily_intermediate.sql",
            "select * from {{ ref('int_battery_daily') }}",
            "the DAG flows one way",
        ),
        (
            "marts/fct_reads_raw.sql",
            "select * from {{ source('raw', 'load_log') }}",
            "only staging models read sources",
        ),
        (
            "marts/fct_reads_late.sql",
            "with\n\ndevices as (\n    select * from {{ ref('dim_devices') }}\n),\n\n"
            "final as (\n    select * from devices\n"
            "    inner join {{ ref('fct_device_health') }} using (device_id)\n)\n\n"
            "select * from final",
            "final reads fct_device_health outside the import CTEs",
        ),
    ],
)
def test_a_planted_violation_is_reported(tmp_path: Path, planted_file: str, planted_sql: str, expected: str) -> None:
    project = copy_dbt_project(tmp_path / "project")
    (project / "dbt_project" / "models" / planted_file).write_text(planted_sql + "\n")
    violations = structure_violations(parse_manifest(project, tmp_path / "work"))
    planted = Path(planted_file).stem
    assert any(planted in violation and expected in violation for violation in violations), violations
    assert any(planted in violation and "has no grain" in violation for violation in violations), violations


def test_an_undocumented_macro_argument_is_reported(tmp_path: Path) -> None:
    project = copy_dbt_project(tmp_path / "project")
    macro = project / "dbt_project" / "macros" / "timescaledb" / "bucket_start.sql"
    macro.write_text(
        macro.read_text().replace(
            "bucket_start(bucket_width, time_column)", "bucket_start(bucket_width, time_column, origin=none)"
        )
    )
    violations = structure_violations(parse_manifest(project, tmp_path / "work"))
    assert any("bucket_start takes" in violation and "origin" in violation for violation in violations), violations


def test_a_macro_in_a_file_named_otherwise_is_reported(tmp_path: Path) -> None:
    project = copy_dbt_project(tmp_path / "project")
    macros = project / "dbt_project" / "macros" / "timescaledb"
    (macros / "first_by.sql").write_text(
        (macros / "first_by.sql").read_text() + "\n" + (macros / "last_by.sql").read_text()
    )
    (macros / "last_by.sql").unlink()
    violations = structure_violations(parse_manifest(project, tmp_path / "work"))
    assert violations == [
        "macro.battery_telemetry.last_by lives in first_by.sql: a macro file holds one macro, named for it"
    ]
