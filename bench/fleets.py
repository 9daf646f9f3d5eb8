"""Shared benchmark helpers: fleets cut into time slices, landed one slice at a time."""

from __future__ import annotations

import json
from pathlib import Path


def split_by_time(whole: Path, cuts_ms: list[int], names: list[str]) -> list[Path]:
    """Cut a generated fleet into len(cuts_ms) + 1 folders beside it, one per time slice ([.., cut0),
    [cut0, cut1), ..., [cutN, ..)), each with the whole assets list. Reuses slices already cut."""
    if len(names) != len(cuts_ms) + 1:
        raise ValueError("one name per slice: len(names) must be len(cuts_ms) + 1")
    slices = [whole.with_name(f"{whole.name}-{name}") for name in names]
    if all((part / "assets").exists() for part in slices):
        return slices
    bounds = [None, *cuts_ms, None]
    for part in slices:
        (part / "telemetry").mkdir(parents=True, exist_ok=True)
        (part / "assets").mkdir(exist_ok=True)
    for path in (whole / "telemetry").glob("*.json"):
        body = json.loads(path.read_text())
        for part, low, high in zip(slices, bounds, bounds[1:], strict=False):
            series = [
                {"name": s["name"], "data": [p for p in s["data"]
                                             if (low is None or p[0] >= low) and (high is None or p[0] < high)]}
                for s in body["series"]
            ]  # fmt: skip
            (part / "telemetry" / path.name).write_text(json.dumps({"series": series}))
    # The assets list last: its presence marks a slice as complete.
    for part in slices:
        (part / "assets" / "assets.json").write_bytes((whole / "assets" / "assets.json").read_bytes())
    return slices


def count_points(fleet: Path) -> int:
    return sum(
        len(series["data"])
        for path in (fleet / "telemetry").glob("*.json")
        for series in json.loads(path.read_text())["series"]
    )


def withhold_backlogs(part: Path, devices: list[str], start_ms: int, end_ms: int) -> list[Path]:
    """Take each of `devices`' readings in [start_ms, end_ms) out of slice `part` into a folder of its own
    beside it (a device's backlog, to land late), one per device, each with the whole assets list.
    Reuses backlogs already taken."""
    backlogs = [part.with_name(f"{part.name}-backlog-{device}") for device in devices]
    if all((backlog / "assets").exists() for backlog in backlogs):
        return backlogs
    for device, backlog in zip(devices, backlogs, strict=True):
        path = part / "telemetry" / f"{device}.json"
        body = json.loads(path.read_text())
        kept, held = [], []
        for series in body["series"]:
            inside = [point for point in series["data"] if start_ms <= point[0] < end_ms]
            outside = [point for point in series["data"] if not start_ms <= point[0] < end_ms]
            kept.append({"name": series["name"], "data": outside})
            held.append({"name": series["name"], "data": inside})
        (backlog / "telemetry").mkdir(parents=True, exist_ok=True)
        (backlog / "telemetry" / path.name).write_text(json.dumps({"series": held}))
        path.write_text(json.dumps({"series": kept}))
        (backlog / "assets").mkdir(exist_ok=True)
        (backlog / "assets" / "assets.json").write_bytes((part / "assets" / "assets.json").read_bytes())
    return backlogs
