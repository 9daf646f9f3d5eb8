"""Every kind of malformed input the README's "Bad input" lists: a clear message naming the file and the reason,
a quarantine record, and the valid input of the same run still lands."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.dbt import run_dbt
from tests.conftest import FIXTURES, SAMPLE_DATA, Backend
from tests.helpers import invoke, load_args

pytestmark = pytest.mark.integration

BAD = FIXTURES / "bad_input"
ODD_DEVICE = "0a0a0a0a-0000-4000-8000-000000000001"
SAMPLE_PIECES = 25


def source_with(tmp_path: Path, fixture: str, device_id: str = ODD_DEVICE) -> tuple[Path, Path]:
    """The sample data plus one fixture as the telemetry response of `device_id`."""
    source = tmp_path / "source"
    shutil.copytree(SAMPLE_DATA, source)
    target = source / "telemetry" / f"{device_id}.json"
    shutil.copyfile(BAD / fixture, target)
    return source, target


def quarantine_rows(backend: Backend) -> list[tuple]:
    with backend.connect() as connection:
        return connection.execute(
            "select source_uri, series_index, disposition, reason, content from raw.quarantine order by quarantine_id"
        ).fetchall()


def pieces_of(backend: Backend, device_id: str) -> int:
    return backend.scalar("select count(*) from raw.telemetry_pieces where device_id = %s", [device_id])


WHOLE_RESPONSE_REJECTED = [
    ("truncated.json", "telemetry response ends early (truncated)"),
    ("not_json.json", "telemetry response is not a JSON object"),
    ("empty_body.json", "telemetry response is empty"),
    ("invalid_utf8.json", "telemetry response is not valid UTF-8 text"),
    ("empty_series.json", "telemetry response has an empty 'series' list"),
    ("no_series_key.json", "telemetry response has no 'series' list"),
]


@pytest.mark.parametrize(("fixture", "reason"), WHOLE_RESPONSE_REJECTED)
def test_unreadable_response_is_quarantined_whole_and_the_rest_lands(
    postgres_backend: Backend, tmp_path: Path, fixture: str, reason: str
) -> None:
    source, bad_file = source_with(tmp_path, fixture)

    result = invoke(load_args(postgres_backend.settings, str(source)), expected_exit=3)

    assert f"quarantined: {bad_file}: {reason}" in result.output
    assert "Traceback" not in result.output
    [(uri, series_index, disposition, stored_reason, content)] = quarantine_rows(postgres_backend)
    assert (uri, series_index, disposition) == (str(bad_file), None, "rejected")
    assert stored_reason.startswith(reason)
    assert bytes(content) == bad_file.read_bytes()
    assert pieces_of(postgres_backend, ODD_DEVICE) == 0
    assert postgres_backend.scalar("select count(*) from raw.telemetry_pieces") == SAMPLE_PIECES
    assert postgres_backend.scalar("select status from raw.load_log") == "finished_with_rejects"


@pytest.mark.parametrize(
    ("fixture", "reason", "good_series"),
    [
        ("series_without_name.json", "series 1 has no 'name'", 2),
        ("series_data_not_a_list.json", "series 1 (GridPowerW-mainmeter) has 'data' that is not a list", 1),
    ],
)
def test_a_broken_series_is_quarantined_and_the_other_series_of_the_response_land(
    postgres_backend: Backend, tmp_path: Path, fixture: str, reason: str, good_series: int
) -> None:
    source, bad_file = source_with(tmp_path, fixture)

    result = invoke(load_args(postgres_backend.settings, str(source)), expected_exit=3)

    assert f"quarantined: {bad_file}: {reason}" in result.output
    [(uri, series_index, disposition, stored_reason, content)] = quarantine_rows(postgres_backend)
    assert (uri, series_index, disposition) == (str(bad_file), 1, "rejected")
    assert stored_reason.startswith(reason)
    assert json.loads(bytes(content))["data"] == json.loads(bad_file.read_text())["series"][1]["data"]
    assert pieces_of(postgres_backend, ODD_DEVICE) == good_series


@pytest.mark.parametrize(
    ("fixture", "note", "stored_values"),
    [
        (
            "nan_and_infinity.json",
            "NaN/Infinity tokens stored as strings",
            [10, "NaN", "Infinity", "-Infinity", 12],
        ),
        ("nul_in_strings.json", "\\u0000 in strings replaced by U+FFFD", [10, "n/a\ufffd", 12]),
    ],
)
def test_values_jsonb_cannot_store_land_as_strings_with_a_quarantine_note(
    postgres_backend: Backend, tmp_path: Path, fixture: str, note: str, stored_values: list
) -> None:
    source, bad_file = source_with(tmp_path, fixture)

    result = invoke(load_args(postgres_backend.settings, str(source)), expected_exit=0)

    assert f"landed sanitized: {bad_file}: series 0 (BatteryPowerW): {note}" in result.output
    [(_, series_index, disposition, stored_reason, _)] = quarantine_rows(postgres_backend)
    assert (series_index, disposition) == (0, "landed_sanitized")
    assert note in stored_reason
    values = postgres_backend.scalar(
        "select jsonb_path_query_array(payload, '$.data[*][1]') from raw.telemetry_pieces where device_id = %s",
        [ODD_DEVICE],
    )
    assert values == stored_values


@pytest.mark.parametrize(
    "fixture",
    [
        "null_and_string_values.json",
        "timestamps_in_seconds.json",
        "duplicates_gaps_out_of_order.json",
        "counter_reset_and_jitter.json",
    ],
)
def test_point_level_oddities_land_raw_for_dbt_to_judge(
    postgres_backend: Backend, tmp_path: Path, fixture: str
) -> None:
    source, bad_file = source_with(tmp_path, fixture)

    invoke(load_args(postgres_backend.settings, str(source)), expected_exit=0)

    assert quarantine_rows(postgres_backend) == []
    received = json.loads(bad_file.read_text())["series"][0]["data"]
    landed = postgres_backend.scalar(
        "select payload -> 'data' from raw.telemetry_pieces where device_id = %s", [ODD_DEVICE]
    )
    assert landed == received


def test_telemetry_of_a_device_missing_from_assets_lands_with_a_warning(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    source, _ = source_with(tmp_path, "duplicates_gaps_out_of_order.json")
    result = invoke(load_args(postgres_backend.settings, str(source)))
    assert f"warning: telemetry for device {ODD_DEVICE}, which the assets list lacks" in result.output
    assert pieces_of(postgres_backend, ODD_DEVICE) == 1


def test_an_asset_without_telemetry_is_reported(postgres_backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(SAMPLE_DATA, source)
    (source / "telemetry" / "499eba1c-bd0b-46db-a861-f8795fcbf02e.json").unlink()
    result = invoke(load_args(postgres_backend.settings, str(source)))
    assert "warning: asset 499eba1c-bd0b-46db-a861-f8795fcbf02e has no telemetry" in result.output


def test_a_file_name_that_is_not_a_device_id_is_quarantined(postgres_backend: Backend, tmp_path: Path) -> None:
    source, bad_file = source_with(tmp_path, "nan_and_infinity.json", device_id="site-utrecht")
    result = invoke(load_args(postgres_backend.settings, str(source)), expected_exit=3)
    assert f"quarantined: {bad_file}: file name 'site-utrecht' is not a device id (a UUID)" in result.output
    assert postgres_backend.scalar("select count(*) from raw.telemetry_pieces") == SAMPLE_PIECES


def test_a_truncated_assets_response_is_quarantined_and_telemetry_still_lands(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    shutil.copytree(SAMPLE_DATA, source)
    shutil.copyfile(BAD / "assets_truncated.json", source / "assets" / "assets.json")
    result = invoke(load_args(postgres_backend.settings, str(source)), expected_exit=3)
    assert f"quarantined: {source / 'assets' / 'assets.json'}: assets response ends early (truncated)" in result.output
    assert postgres_backend.scalar("select count(*) from raw.assets_responses") == 0
    assert postgres_backend.scalar("select count(*) from raw.telemetry_pieces") == SAMPLE_PIECES


def test_point_level_problems_reach_data_quality_with_reasons_on_both_backends(
    backend: Backend, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    shutil.copytree(SAMPLE_DATA, source)
    odd = {
        "0a0a0a0a-0000-4000-8000-000000000001": "null_and_string_values.json",
        "0a0a0a0a-0000-4000-8000-000000000002": "timestamps_in_seconds.json",
        "0a0a0a0a-0000-4000-8000-000000000003": "duplicates_gaps_out_of_order.json",
        "0a0a0a0a-0000-4000-8000-000000000004": "nan_and_infinity.json",
    }
    for device_id, fixture in odd.items():
        shutil.copyfile(BAD / fixture, source / "telemetry" / f"{device_id}.json")
    invoke(load_args(backend.settings, str(source)))

    run_dbt(backend.settings, tmp_path, "build")

    with backend.connect() as connection:
        reasons = dict(
            connection.execute(
                "select invalid_reason, count(*) from analytics.dq_telemetry_rejected_points group by 1"
            ).fetchall()
        )
        duplicates = connection.execute(
            "select extract(epoch from recorded_at) * 1000 - 1738850562000, value from analytics.battery_telemetry"
            " where device_id = '0a0a0a0a-0000-4000-8000-000000000003' order by recorded_at"
        ).fetchall()
    assert reasons == {
        "value is null": 1,
        "value is not a number (string)": 2,
        "timestamp looks like epoch seconds, not milliseconds": 5,
        "value is not finite (NaN)": 1,
        "value is not finite (Infinity)": 1,
        "value is not finite (-Infinity)": 1,
    }
    # Duplicates inside one response: the later position wins; out-of-order and gaps are kept as they are.
    assert [(int(offset), value) for offset, value in duplicates] == [
        (0, 50),
        (4000, 52),
        (8000, 53),
        (3_600_000, 60),
    ]
    assert backend.scalar("select count(*) from analytics.battery_telemetry") == 375 + 1 + 4 + 2


def test_an_unchanged_bad_file_is_still_quarantined_not_quarantined_again(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    source, bad_file = source_with(tmp_path, "truncated.json")
    invoke(load_args(postgres_backend.settings, str(source)), expected_exit=3)

    for _ in range(3):
        rerun = invoke(load_args(postgres_backend.settings, str(source)), expected_exit=0)
        assert f"still quarantined (unchanged since rejected): {bad_file}: telemetry response ends early" in (
            rerun.output
        )
        assert "0 files quarantined, 1 still quarantined" in rerun.output

    assert len(quarantine_rows(postgres_backend)) == 1
    statuses = postgres_backend.scalar(
        "select array_agg(status || ':' || files_quarantined || ':' || files_still_quarantined order by started_at)"
        " from raw.load_log"
    )
    assert statuses == ["finished_with_rejects:1:0"] + ["succeeded:0:1"] * 3

    # A changed file is new input again: judged, and quarantined anew if still bad.
    bad_file.write_bytes(bad_file.read_bytes()[:-10])
    invoke(load_args(postgres_backend.settings, str(source)), expected_exit=3)
    assert len(quarantine_rows(postgres_backend)) == 2


def test_files_that_are_not_responses_are_reported_once_each(postgres_backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(SAMPLE_DATA, source)
    (source / "telemetry" / "notes.txt").write_text("not a response")
    (source / "telemetry" / ".hidden").write_text("editor state")
    (source / "telemetry" / "export.json").write_text("not json either")

    result = invoke(load_args(postgres_backend.settings, str(source)), expected_exit=3)

    assert result.output.count("notes.txt") == 1
    assert f"skipped {source / 'telemetry' / 'notes.txt'}: not a .json response" in result.output
    assert ".hidden" not in result.output
    assert result.output.count("export.json") == 1
    assert "assets list lacks" not in result.output
    assert "file name 'export' is not a device id (a UUID)" in result.output
