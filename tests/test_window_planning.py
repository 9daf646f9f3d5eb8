"""Window planning and duration parsing as plain functions: no server, no source.

The HTTP tests (tests/test_http_windows.py) prove the same rules end to end against a real API and
database; these pin each rule down on its own, in milliseconds.
"""

from __future__ import annotations

import pytest

from loader.errors import LoaderError
from loader.windows import ROUTINE_SCOPE, Window, WindowPlan, parse_duration, plan_device_windows

HOUR = 3_600_000
DAY = 24 * HOUR


@pytest.mark.parametrize(
    ("text", "ms"),
    [("90s", 90_000), ("5m", 300_000), ("6h", 6 * HOUR), ("1d", DAY), ("1h30m", 90 * 60_000), (" 2D ", 2 * DAY)],
)
def test_durations_are_sums_of_numbers_with_units(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize(
    ("text", "reason"), [("", "is not a duration"), ("5", "is not a duration"), ("1w", "is not a duration"),
                         ("0h", "longer than zero"), ("-1h", "is not a duration")],
)  # fmt: skip
def test_a_duration_without_a_unit_or_of_zero_is_refused_in_one_sentence(text: str, reason: str) -> None:
    with pytest.raises(LoaderError, match=reason):
        parse_duration(text)


def test_a_first_routine_run_asks_for_everything_up_to_now_at_once() -> None:
    assert plan_device_windows(WindowPlan(), cursor_ms=None, now_ms=10 * DAY) == [Window(None, 10 * DAY)]


def test_a_routine_run_asks_from_the_cursor_less_the_lookback_in_windows_of_at_most_a_day() -> None:
    plan = WindowPlan(window_ms=DAY, lookback_ms=5 * 60_000)
    cursor = 10 * DAY
    windows = plan_device_windows(plan, cursor_ms=cursor, now_ms=cursor + 36 * HOUR)
    assert [(w.start_ms, w.end_ms) for w in windows] == [
        (cursor - 300_000, cursor - 300_000 + DAY),
        (cursor - 300_000 + DAY, cursor + 36 * HOUR),
    ]
    # Only the first window reaches back before the cursor: its overlap is landed only where new.
    assert [w.overlap_until_ms for w in windows] == [cursor, None]
    assert {w.scope for w in windows} == {ROUTINE_SCOPE}
    assert not any(w.moves_routine_cursor for w in windows)


def test_a_routine_run_with_the_cursor_at_now_asks_only_for_the_lookback() -> None:
    windows = plan_device_windows(WindowPlan(lookback_ms=60_000), cursor_ms=DAY, now_ms=DAY)
    assert [(w.start_ms, w.end_ms, w.overlap_until_ms) for w in windows] == [(DAY - 60_000, DAY, DAY)]


def test_a_bounded_backfill_resumes_at_its_own_cursor_and_leaves_the_routine_cursor_alone() -> None:
    plan = WindowPlan(window_ms=DAY, since_ms=0, until_ms=3 * DAY)
    assert plan.scope == "backfill 1970-01-01T00:00:00Z..1970-01-04T00:00:00Z"
    fresh = plan_device_windows(plan, cursor_ms=None, now_ms=100 * DAY)
    assert [(w.start_ms, w.end_ms) for w in fresh] == [(0, DAY), (DAY, 2 * DAY), (2 * DAY, 3 * DAY)]
    resumed = plan_device_windows(plan, cursor_ms=2 * DAY, now_ms=100 * DAY)
    assert [(w.start_ms, w.end_ms) for w in resumed] == [(2 * DAY, 3 * DAY)]
    assert not any(w.moves_routine_cursor or w.overlap_until_ms for w in fresh + resumed)
    assert plan_device_windows(plan, cursor_ms=3 * DAY, now_ms=100 * DAY) == []


def test_a_backfill_up_to_now_moves_the_routine_cursor_with_its_last_window_only() -> None:
    plan = WindowPlan(window_ms=DAY, since_ms=0)
    assert plan.scope.endswith("..now")
    windows = plan_device_windows(plan, cursor_ms=None, now_ms=2 * DAY + HOUR)
    assert [w.moves_routine_cursor for w in windows] == [False, False, True]
    assert windows[-1].end_ms == 2 * DAY + HOUR
