"""Test helpers: run the `loader` CLI in-process the way a user does, and compare what landed with the files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from click.testing import CliRunner, Result

from loader.cli import cli
from loader.settings import ConnectionSettings

if TYPE_CHECKING:
    from tests.conftest import Backend

LANDED_POINTS = (
    "select piece.device_id::text, piece.metric_name, (point ->> 0)::bigint, point -> 1"
    " from raw.telemetry_pieces as piece cross join lateral jsonb_array_elements(piece.payload -> 'data') as point"
)


def invoke(args: list[str], expected_exit: int = 0, env: dict[str, str] | None = None) -> Result:
    """Run `loader ARGS` in-process and check its exit code, showing the output when it differs."""
    result = CliRunner().invoke(cli, args, catch_exceptions=False, env=env)
    assert result.exit_code == expected_exit, (
        f"loader {' '.join(args)} exited {result.exit_code}, expected {expected_exit}:\n{result.output}"
    )
    return result


def load_args(settings: ConnectionSettings, *args: str) -> list[str]:
    return ["load", "--database-url", settings.conninfo, "--no-progress", *args]


def points_in_files(folder: Path) -> Counter[tuple]:
    """Every (device, metric, time, value) in an API-shaped folder, with how often it occurs."""
    points: Counter[tuple] = Counter()
    for path in (folder / "telemetry").glob("*.json"):
        for series in json.loads(path.read_bytes())["series"]:
            points.update((path.stem, series["name"], point[0], point[1]) for point in series["data"])
    return points


def landed_points(backend: Backend) -> Counter[tuple]:
    """Every (device, metric, time, value) in the raw pieces, with how often it landed."""
    with backend.connect() as connection:
        return Counter(tuple(row) for row in connection.execute(LANDED_POINTS))
