"""Weekly spans: one overlap rule for sessions, obligations and simulated work shifts, and
it wraps the week (Sunday night runs into Monday)."""

from __future__ import annotations

from datetime import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iopcore.core.cadence import Slot
from iopcore.core.errors import ValidationError
from iopcore.core.program import Phase, check_overlaps
from iopcore.core.weekspan import WEEK_MINUTES, WeekSpan, daily, first_overlap

spans = st.builds(
    WeekSpan,
    start=st.integers(0, WEEK_MINUTES - 1),
    minutes=st.integers(1, WEEK_MINUTES),
)


def minutes_of(span: WeekSpan) -> set[int]:
    return {(span.start + k) % WEEK_MINUTES for k in range(span.minutes)}


@given(spans, spans)
def test_overlap_is_sharing_a_minute_of_the_week(a: WeekSpan, b: WeekSpan) -> None:
    assert a.overlaps(b) == bool(minutes_of(a) & minutes_of(b)) == b.overlaps(a)


@given(spans, spans, st.integers(0, WEEK_MINUTES - 1))
def test_overlap_does_not_depend_on_where_the_week_begins(
    a: WeekSpan, b: WeekSpan, shift: int
) -> None:
    def moved(s: WeekSpan) -> WeekSpan:
        return WeekSpan(start=(s.start + shift) % WEEK_MINUTES, minutes=s.minutes)

    assert moved(a).overlaps(moved(b)) == a.overlaps(b)


@given(spans, st.integers(0, 600))
def test_widening_adds_the_minutes_on_both_sides(span: WeekSpan, extra: int) -> None:
    wide = span.widened(extra)
    assert minutes_of(span) <= minutes_of(wide)
    if span.minutes + 2 * extra <= WEEK_MINUTES:
        assert wide.minutes == span.minutes + 2 * extra
        assert (span.start - wide.start) % WEEK_MINUTES == extra
    else:
        assert wide.minutes == WEEK_MINUTES


def test_sunday_night_overlaps_monday_morning() -> None:
    late = WeekSpan.at(6, time(23), minutes=120)
    assert late.overlaps(WeekSpan.at(0, time(0, 30), minutes=30))
    assert not late.overlaps(WeekSpan.at(0, time(1), minutes=30))  # touching is not overlapping
    assert str(late) == "Sun 23:00-01:00"


def test_overnight_daily_spans() -> None:
    assert daily([6], time(22), time(6)) == (WeekSpan(start=6 * 1440 + 22 * 60, minutes=480),)
    assert daily([0], time(9), time(17)) == (WeekSpan(start=9 * 60, minutes=480),)
    assert daily([2], time(9), time(9)) == (WeekSpan(start=2 * 1440 + 540, minutes=1440),)


@pytest.mark.parametrize(
    ("start", "minutes"), [(-1, 10), (WEEK_MINUTES, 10), (0, 0), (0, WEEK_MINUTES + 1), (0, 1.5)]
)
def test_out_of_range_spans_are_refused(start: int, minutes: int) -> None:
    with pytest.raises(ValidationError, match=r"WeekSpan\.(start|minutes)"):
        WeekSpan(start=start, minutes=minutes)


def test_first_overlap_names_the_earlier_pair() -> None:
    a, b, c = (WeekSpan.at(d, time(9), minutes=60) for d in (0, 1, 2))
    assert first_overlap([a, b, c]) is None
    assert first_overlap([a, b, c, WeekSpan.at(1, time(9, 30), minutes=10)]) == (1, 3)


def test_a_phase_cannot_run_sunday_night_into_monday_morning() -> None:
    phase = Phase(
        name="core",
        slots=(
            Slot(day="mon", start=time(0, 30), session_type="group"),
            Slot(day="sun", start=time(23), session_type="group"),
        ),
    )
    with pytest.raises(ValidationError, match="Sunday 23:00 group session overlaps the Monday"):
        check_overlaps(phase, lambda slot: 120)
    check_overlaps(phase, lambda slot: 90)  # Sunday 23:00-00:30 ends as Monday's begins


@given(st.lists(spans, max_size=6))
def test_first_overlap_finds_one_exactly_when_two_spans_overlap(found: list[WeekSpan]) -> None:
    pairs = [(i, j) for j in range(len(found)) for i in range(j) if found[i].overlaps(found[j])]
    assert first_overlap(found) == (pairs[0] if pairs else None)


def test_the_simulation_conflict_table_wraps_the_week() -> None:
    """A simulated Sunday 23:00-07:00 work shift runs into a Monday 06:00 visit."""
    pytest.importorskip("numpy")
    from iopcore.simulation.calendar import conflict_table
    from iopcore.simulation.population import Shift

    sunday_night = Shift(name="sunday-night", start=time(23), end=time(7), days=("sun",))
    visits = ((0, 6 * 60, 9 * 60), (0, 7 * 60, 10 * 60), (6, 20 * 60, 23 * 60))
    table = conflict_table(visits, (sunday_night,))
    assert table.tolist() == [[True, False, False], [False, False, False]]
