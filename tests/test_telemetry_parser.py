"""The streaming parser gives the same points as json.loads, in bounded pieces, whatever the layout."""

from __future__ import annotations

import io
import json
import random

import pytest

from loader.telemetry_parser import MalformedResponse, Piece, SeriesRejected, iter_telemetry


def parse(body: str | bytes, max_points: int = 20_000) -> list[Piece | SeriesRejected]:
    data = body.encode() if isinstance(body, str) else body
    return list(iter_telemetry(io.BytesIO(data), max_points=max_points))


def points_by_series(items: list[Piece | SeriesRejected]) -> dict[str, list]:
    result: dict[str, list] = {}
    for item in items:
        assert isinstance(item, Piece)
        result.setdefault(item.name, []).extend(json.loads(item.points_json))
    return result


def test_a_multi_megabyte_response_parses_to_exactly_what_json_loads_gives() -> None:
    rng = random.Random(5)
    values = [
        rng.choice([rng.randint(-(10**6), 10**6), round(rng.uniform(0, 1e5), 2), None, "x", True]) for _ in range(5)
    ]
    series = [
        {"name": f"Metric{m}", "data": [[1738850562000 + i * 4000, rng.choice(values)] for i in range(60_000)]}
        for m in range(3)
    ]
    body = json.dumps({"series": series}, indent=rng.choice([None, 1]))

    items = parse(body, max_points=7_000)

    assert points_by_series(items) == {entry["name"]: entry["data"] for entry in series}
    assert max(item.point_count for item in items if isinstance(item, Piece)) == 7_000
    assert [item.chunk_index for item in items if isinstance(item, Piece) and item.name == "Metric0"] == list(range(9))


def test_formatting_does_not_change_the_landed_text() -> None:
    compact = parse('{"series":[{"name":"A","data":[[1,2.50],[2,3]]}]}')
    spaced = parse('{ "series" : [ { "name" : "A" , "data" : [ [ 1 , 2.50 ] ,\n [2,\t3] ] } ] }')
    assert [piece.points_json for piece in compact] == [piece.points_json for piece in spaced] == ["[[1,2.50],[2,3]]"]


def test_data_before_name_and_unknown_keys_are_handled() -> None:
    items = parse('{"meta": {"page": 1}, "series": [{"data": [[1, 2]], "unit": "W", "name": "Late"}], "x": [1]}')
    assert [(item.name, item.points_json) for item in items] == [("Late", "[[1,2]]")]


def test_timestamps_give_the_piece_range_even_out_of_order() -> None:
    [piece] = parse('{"series": [{"name": "A", "data": [[5, 1], [3, 1], [9, 1], ["x", 1]]}]}')
    assert (piece.first_ms, piece.last_ms, piece.point_count) == (3, 9, 4)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"series": [{"name": "A", "data": [[1, 2], [3, 4]', "ends early (truncated)"),
        ('{"series": [{"name": "A", "data": [[1, 2]]}]} trailing', "has extra content after the JSON object"),
        ('[{"name": "A"}]', "is not a JSON object"),
        ('{"series": {"name": "A"}}', "has a 'series' that is not a list"),
        ('{"series": [{"name": "A", "data": [[1, 2] [3, 4]]}]}', "has '[' where ',' or ']' between points"),
        ('{"series": [{"name": "A", "data": [[1, 01]]}]}', "is not valid JSON"),
    ],
)
def test_structural_problems_raise_with_a_reason(body: str, reason: str) -> None:
    with pytest.raises(MalformedResponse) as raised:
        parse(body)
    assert raised.value.reason.startswith(reason)


def test_a_series_that_is_not_an_object_is_rejected_alone() -> None:
    items = parse('{"series": [42, {"name": "A", "data": [[1, 2]]}]}')
    assert isinstance(items[0], SeriesRejected)
    assert items[0].reason == "is not an object with 'name' and 'data'"
    assert isinstance(items[1], Piece)
