"""docs/analyst-guide.md works as written: its worked example is the model in the project, and its
template, copied and filled in the way the guide says, builds, documents and tests a new model."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from harness.dbt import BIN_DIR, PROJECT_ROOT, copy_dbt_project, run_dbt
from loader.generate import FleetSpec, generate_fleet
from tests.conftest import Backend
from tests.helpers import invoke, load_args

GUIDE = PROJECT_ROOT / "docs" / "analyst-guide.md"
TEMPLATES = PROJECT_ROOT / "docs" / "templates"
DEGRADATION = Path("dbt_project") / "models" / "marts" / "degradation"


def test_guide_shows_the_worked_example_exactly_as_it_is_in_the_project() -> None:
    [example] = re.findall(r"```sql\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    assert example in (PROJECT_ROOT / DEGRADATION / "fct_weekly_idle_high_soc.sql").read_text()


def test_guide_names_files_and_commands_that_exist() -> None:
    guide = GUIDE.read_text()
    for path in re.findall(r"`((?:docs|dbt_project)/[\w./-]+\.(?:sql|yml|csv|md))`", guide):
        assert (PROJECT_ROOT / path).exists(), path
    for model in re.findall(r"ref\('(\w+)'\)", guide) + re.findall(r"^\| `(\w+)`", guide, flags=re.MULTILINE):
        assert list(PROJECT_ROOT.glob(f"dbt_project/**/{model}.*")), model


@pytest.mark.integration
def test_template_filled_in_as_the_guide_says_builds_a_tested_documented_model(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    fleet = tmp_path / "fleet"
    generate_fleet(FleetSpec(devices=2, days=3, interval_s=300, seed=3), fleet)
    invoke(load_args(postgres_backend.settings, str(fleet)))

    project = copy_dbt_project(tmp_path / "project")
    model = project / DEGRADATION / "fct_daily_hours_high_soc.sql"
    model.write_text((TEMPLATES / "fct_degradation_model.sql").read_text())
    filled = (
        (TEMPLATES / "fct_degradation_model.yml")
        .read_text()
        .replace("fct_WHAT_IT_HOLDS", "fct_daily_hours_high_soc")
        .replace("WHAT_THE_TEST_PROVES_IN_WORDS", "daily_hours_high_soc_counts_time_at_high_soc")
    )
    models, unit_tests = filled.split("# under unit_tests:")
    (project / DEGRADATION / "_daily_hours_high_soc.yml").write_text(
        f"version: 2\nmodels:\n{models}\nunit_tests:\n{unit_tests}"
    )

    lint = subprocess.run(
        [str(BIN_DIR / "sqlfluff"), "lint", "--config", str(PROJECT_ROOT / ".sqlfluff"), str(model)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
    run_dbt(
        postgres_backend.settings, tmp_path / "dbt", "build", "-s", "+fct_daily_hours_high_soc", project_dir=project
    )
    results = json.loads((tmp_path / "dbt" / "target" / "run_results.json").read_text())["results"]
    status = {result["unique_id"]: result["status"] for result in results}
    assert status["model.battery_telemetry.fct_daily_hours_high_soc"] == "success"
    unit_test = "unit_test.battery_telemetry.fct_daily_hours_high_soc.daily_hours_high_soc_counts_time_at_high_soc"
    assert status[unit_test] == "pass"
    data_tests = [uid for uid in status if uid.startswith("test.") and "fct_daily_hours_high_soc" in uid]
    assert len(data_tests) == 4
    assert all(status[uid] == "pass" for uid in data_tests)
    hours = postgres_backend.scalar("select sum(hours_observed) from analytics.fct_daily_hours_high_soc")
    assert hours > 2 * 2 * 24
