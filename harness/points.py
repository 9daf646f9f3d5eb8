"""What landed, point by point, against what the files hold: for checks that nothing was lost or landed twice."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import psycopg

from loader.settings import ConnectionSettings

LANDED_POINTS = (
    "select piece.device_id::text, piece.metric_name, (point ->> 0)::bigint, point -> 1"
    " from raw.telemetry_pieces as piece cross join lateral jsonb_array_elements(piece.payload -> 'data') as point"
)


def points_in_files(folder: Path) -> Counter[tuple]:
    """Every (device, metric, time, value) in an API-shaped folder, with how often it occurs."""
    points: Counter[tuple] = Counter()
    for path in (folder / "telemetry").glob("*.json"):
        for series in json.loads(path.read_bytes())["series"]:
            points.update((path.stem, series["name"], point[0], point[1]) for point in series["data"])
    return points


def landed_points(settings: ConnectionSettings) -> Counter[tuple]:
    """Every (device, metric, time, value) in the raw pieces, with how often it landed."""
    with psycopg.connect(settings.conninfo, prepare_threshold=None) as connection:
        return Counter(tuple(row) for row in connection.execute(LANDED_POINTS))
