"""The vendor API's metric (series) names.

The four the pipeline gives a role (state of charge, battery power, the battery's import and export
counters) are dbt vars in dbt_project.yml, their one home: dbt's models and the loader read the same
names. The others are names the vendor's API serves, which the simulator (loader/generate.py) emits.
"""

from __future__ import annotations

from loader.settings import dbt_project_var

SOC: str = dbt_project_var("soc_metric_name")
BATTERY_POWER: str = dbt_project_var("battery_power_metric_name")
BATTERY_IMPORT: str = dbt_project_var("battery_import_metric_name")
BATTERY_EXPORT: str = dbt_project_var("battery_export_metric_name")
GRID_POWER = "GridPowerW-mainmeter"
GRID_IMPORT = "GridImportKwh-mainmeter"
GRID_EXPORT = "GridExportKwh-mainmeter"
SUB_POWER = "GridPowerW-submeter"
SUB_IMPORT = "GridImportKwh-submeter"
SUB_EXPORT = "GridExportKwh-submeter"
SOLAR_POWER = "GeneratedPowerW"
SOLAR_EXPORT = "GeneratedExportKwh"
SETPOINT = "PowerSetpointW"
SETPOINT_EXTERNAL = "PowerSetpointExternalW"
ALL_METRICS = [
    SOC, BATTERY_POWER, BATTERY_IMPORT, BATTERY_EXPORT, GRID_POWER, GRID_IMPORT, GRID_EXPORT,
    SUB_POWER, SUB_IMPORT, SUB_EXPORT, SOLAR_POWER, SOLAR_EXPORT, SETPOINT, SETPOINT_EXTERNAL,
]  # fmt: skip
