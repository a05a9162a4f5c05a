from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iopcore import (
    Change,
    Program,
    ScheduleError,
    Status,
    Track,
    expand,
    load_program,
    weekly_hours,
)
from iopcore.core.schedule import Occurrence, _phase_calendar, expand_phase
from tests.strategies import programs, start_dates

EVENING = load_program("examples/programs/adult-evening.toml")


def test_evening_session_stays_at_18_local_across_both_dst_changes() -> None:
    occurrences = expand(EVENING, "evening", start=date(2027, 3, 1), weeks=3)
    groups = [o for o in occurrences if o.session_type == "group"]
    assert {o.start.strftime("%H:%M") for o in groups} == {"18:00"}
    assert {o.start.utcoffset() for o in groups} == {timedelta(hours=-5), timedelta(hours=-4)}
    autumn = expand(EVENING, "evening", start=date(2027, 11, 1), weeks=2)
    assert {o.start.strftime("%H:%M") for o in autumn if o.session_type == "group"} == {"18:00"}


def test_closures_are_skipped_and_moves_applied() -> None:
    week = expand(EVENING, "evening", start=date(2027, 5, 31), weeks=1)
    assert all(o.start.date() != date(2027, 5, 31) for o in week)
    assert len(week) == 4  # Monday's two sessions closed for Memorial Day
    moved = [o for o in expand(EVENING, "evening", start=date(2027, 3, 8), weeks=1) if o.status]
    (relapse,) = [o for o in moved if o.status is Status.MOVED]
    assert relapse.start == datetime(2027, 3, 10, 18, tzinfo=relapse.start.tzinfo)
    assert relapse.slot_start.date() == date(2027, 3, 11)


def test_moved_session_keeps_its_id() -> None:
    changed = expand(EVENING, "evening", start=date(2027, 3, 8), weeks=1)
    plain = Program(
        name=EVENING.name,
        session_types=EVENING.session_types,
        closures=EVENING.closures,
        tracks=(
            Track(
                name="evening", time_zone="America/New_York", phases=EVENING.track("evening").phases
            ),
        ),
    )
    unchanged = expand(plain, "evening", start=date(2027, 3, 8), weeks=1)
    assert {o.id for o in changed} == {o.id for o in unchanged}
    assert [o.start for o in changed] != [o.start for o in unchanged]


def test_cancelled_sessions_are_left_out_unless_asked_for() -> None:
    track = EVENING.track("evening")
    cancel = Change(date=date(2027, 3, 9), start=time(18), cancelled=True)
    program = Program(
        name=EVENING.name,
        session_types=EVENING.session_types,
        tracks=(
            Track(
                name="evening", time_zone=track.time_zone, phases=track.phases, changes=(cancel,)
            ),
        ),
    )
    kept = expand(program, "evening", start=date(2027, 3, 8), weeks=1)
    every = expand(program, "evening", start=date(2027, 3, 8), weeks=1, include_cancelled=True)
    assert len(every) == len(kept) + 1
    (cancelled,) = [o for o in every if o.status is Status.CANCELLED]
    assert cancelled.start.date() == date(2027, 3, 9)
    assert weekly_hours(every) == weekly_hours(kept) == {date(2027, 3, 8): 7.5}


def test_phases_follow_the_plan() -> None:
    day = load_program("examples/programs/adult-day.toml")
    occurrences = expand(day, "day", start=date(2027, 8, 2), weeks=8)
    phases = Counter(o.phase for o in occurrences)
    assert set(phases) == {"intensive", "step-down"}
    assert max(o.start for o in occurrences if o.phase == "intensive").date() < date(2027, 8, 30)
    hours = weekly_hours(occurrences)
    assert hours[date(2027, 8, 2)] == 15.0
    assert hours[date(2027, 8, 30)] == 9.0


def test_range_arguments_are_checked() -> None:
    with pytest.raises(ScheduleError, match="exactly one of weeks= or until="):
        expand(EVENING, "evening", start=date(2027, 1, 4))
    with pytest.raises(ScheduleError, match="weeks must be a whole number >= 1"):
        expand(EVENING, "evening", start=date(2027, 1, 4), weeks=0)
    with pytest.raises(ScheduleError, match="is before start"):
        expand(EVENING, "evening", start=date(2027, 1, 4), until=date(2027, 1, 1))
    assert expand(EVENING, "evening", start=date(2027, 1, 4), until=date(2027, 1, 4))


def _track_days(program: Program, start: date, weeks: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(7 * weeks)]


@given(programs(), start_dates, st.integers(1, 20))
def test_count_is_slots_times_weeks_minus_closures(
    program: Program, start: date, weeks: int
) -> None:
    phase = program.tracks[0].phases[0]
    occurrences = expand(program, "t", start=start, weeks=weeks, phase_weeks={"p0": 20})
    expected = sum(
        1
        for day in _track_days(program, start, weeks)
        if day not in program.closed
        for slot in phase.slots
        if slot.day == day.weekday()
    )
    assert len(occurrences) == expected
    assert (
        len(occurrences)
        + sum(
            len([s for s in phase.slots if s.day == d.weekday()])
            for d in _track_days(program, start, weeks)
            if d in program.closed
        )
        == len(phase.slots) * weeks
    )


@given(programs(), start_dates, st.integers(1, 12))
def test_occurrences_are_where_their_slots_say(program: Program, start: date, weeks: int) -> None:
    track = program.tracks[0]
    phase = track.phases[0]
    tz = track.tz
    occurrences = expand(program, "t", start=start, weeks=weeks, phase_weeks={"p0": 12})
    for o in occurrences:
        local = o.start.replace(tzinfo=None)
        assert o.start.tzinfo is tz
        assert local.date() not in program.closed
        matches = [
            s for s in phase.slots if s.day == local.weekday() and s.session_type == o.session_type
        ]
        wall_ok = [s for s in matches if s.start == local.time()]
        if not wall_ok:  # only a nonexistent (DST gap) local time may move, and only forward
            naive = [datetime.combine(local.date(), s.start) for s in matches]
            assert any(timedelta(0) < local - n <= timedelta(hours=2) for n in naive)
            assert o.start.utcoffset() != (o.start - timedelta(days=1)).utcoffset()
        # local wall-clock duration is the scheduled minutes, whatever the offset
        assert o.end.replace(tzinfo=None) - local == timedelta(minutes=o.minutes)


@given(programs(phases=2), start_dates, st.integers(1, 16))
def test_ordered_unique_and_stable_ids(program: Program, start: date, weeks: int) -> None:
    first = expand(program, "t", start=start, weeks=weeks)
    _phase_calendar.cache_clear()  # a fresh computation, not the cached calendar
    again = expand(program, "t", start=start, weeks=weeks)
    assert first == again
    assert first is not again
    instants = [o.start.astimezone(UTC) for o in first]
    assert instants == sorted(instants)
    assert len({o.id for o in first}) == len(first)


@given(programs(), start_dates, st.integers(1, 8), st.integers(1, 8))
def test_ids_do_not_depend_on_the_range(program: Program, start: date, a: int, b: int) -> None:
    """A participant starting later sees the same ids for the sessions both see."""
    early = expand(program, "t", start=start, weeks=a + b, phase_weeks={"p0": a + b})
    late = expand(program, "t", start=start + timedelta(weeks=a), weeks=b, phase_weeks={"p0": b})
    shared = {o.id: o for o in early if o.start.date() >= start + timedelta(weeks=a)}
    assert {o.id: o.start for o in late} == {i: o.start for i, o in shared.items()}


@given(programs(), start_dates, st.integers(1, 60))
def test_sliced_monthly_calendar_equals_a_direct_expansion(
    program: Program, start: date, weeks: int
) -> None:
    """The cached month-by-month calendar gives exactly what one pass over the range gives."""
    track = program.tracks[0]
    direct: list[Occurrence] = []
    expand_phase(program, track, track.phases[0], start, start + timedelta(weeks=weeks), direct)
    sliced = expand(program, "t", start=start, weeks=weeks, phase_weeks={"p0": weeks})
    assert sliced == tuple(direct)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": "2027-01-04", "weeks": 1}, "start must be a date"),
        ({"start": datetime(2027, 1, 4, 9), "weeks": 1}, "start must be a date"),
        ({"start": date(2027, 1, 4), "weeks": 1.5}, "whole number"),
        ({"start": date(9999, 12, 1), "weeks": 12}, "past the year 9999"),
    ],
)
def test_bad_arguments_are_schedule_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        expand(EVENING, "evening", **kwargs)  # type: ignore[arg-type]
