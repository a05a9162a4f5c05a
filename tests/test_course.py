"""A participant's course follows their level-of-care history, never the plan alone."""

from __future__ import annotations

from datetime import UTC, date, timedelta

import attrs
from hypothesis import given
from hypothesis import strategies as st

from iopcore import Enrollment, LevelOfCareChange, expand, load_program, loads_program
from iopcore.core.course import Position, course, position, segments

DAY = load_program("examples/programs/adult-day.toml")
START = date(2027, 8, 2)
ENROLLMENT = Enrollment(id="E-1", participant_id="P-1", program=DAY.name, track="day", start=START)


def _change(seq: int, kind: str, on: date, phase: str | None = None) -> LevelOfCareChange:
    return LevelOfCareChange(
        enrollment_id="E-1",
        seq=seq,
        kind=kind,
        effective=on,
        level_of_care="2.1",
        track="day",
        phase=phase,
    )


def test_without_history_the_course_is_the_plan() -> None:
    planned = expand(DAY, "day", start=START, weeks=12, include_cancelled=True)
    assert course(DAY, ENROLLMENT, [], as_of=START) == planned


@given(st.integers(0, 120))
def test_a_phase_is_held_until_a_decision(days: int) -> None:
    as_of = START + timedelta(days=days)
    sessions = course(DAY, ENROLLMENT, [], as_of=as_of)
    assert {o.phase for o in sessions if o.start.date() <= as_of} == {"intensive"}
    instants = [o.start.astimezone(UTC) for o in sessions]
    assert instants == sorted(instants)
    assert len({o.id for o in sessions}) == len(sessions)


@given(st.integers(7, 70), st.integers(0, 60))
def test_a_step_down_changes_the_phase_from_its_date(step: int, later: int) -> None:
    on = START + timedelta(days=step)
    as_of = on + timedelta(days=later)
    history = [_change(1, "step-down", on, "step-down")]
    sessions = course(DAY, ENROLLMENT, history, as_of=as_of)
    assert all(o.phase == "intensive" for o in sessions if o.slot_start.date() < on)
    assert all(o.phase == "step-down" for o in sessions if o.slot_start.date() >= on)
    assert len({o.id for o in sessions}) == len(sessions)
    assert [s.phase for s in segments(DAY, ENROLLMENT, history)] == ["intensive", "step-down"]


@given(st.integers(7, 70))
def test_nothing_after_a_discharge(days: int) -> None:
    on = START + timedelta(days=days)
    sessions = course(DAY, ENROLLMENT, [_change(1, "discharge", on)], as_of=on + timedelta(30))
    assert sessions
    assert max(o.slot_start.date() for o in sessions) < on


def test_a_step_up_returns_to_the_earlier_phase() -> None:
    history = [
        _change(1, "step-down", START + timedelta(weeks=4), "step-down"),
        _change(2, "step-up", START + timedelta(weeks=6), "intensive"),
    ]
    sessions = course(DAY, ENROLLMENT, history, as_of=START + timedelta(weeks=7))
    phases = [o.phase for o in sessions if o.start.date() < START + timedelta(weeks=7)]
    assert phases[0] == "intensive"
    assert "step-down" in phases
    assert phases[-1] == "intensive"


# -- position: the one place that says where an enrollment stands ------------------------------


def test_position_without_history_is_the_first_phase_since_admission() -> None:
    assert position(DAY, ENROLLMENT, [], as_of=START + timedelta(weeks=9)) == Position(
        track="day", phase="intensive", since=START
    )


@given(st.integers(1, 70), st.integers(-10, 60))
def test_position_follows_the_history_in_effect_on_the_day(step: int, later: int) -> None:
    on = START + timedelta(days=step)
    as_of = on + timedelta(days=later)
    history = [_change(0, "admission", START), _change(1, "step-down", on, "step-down")]
    where = position(DAY, ENROLLMENT, history, as_of=as_of)
    if as_of >= on:  # in effect from its own date on
        assert where == Position(track="day", phase="step-down", since=on)
    else:
        assert where == Position(track="day", phase="intensive", since=START)
    sessions = course(DAY, ENROLLMENT, history, as_of=as_of)
    today = {o.phase for o in sessions if o.slot_start.date() == as_of}
    assert today <= {where.phase}  # the course and the position agree


def test_position_ignores_what_is_not_a_phase_of_the_track_and_stays_after_discharge() -> None:
    down = START + timedelta(weeks=5)
    history = [
        _change(1, "step-down", down, "step-down"),
        _change(2, "step-down", down + timedelta(weeks=4), "continuing-care"),  # a stage
        _change(3, "discharge", down + timedelta(weeks=6)),
    ]
    expected = Position(track="day", phase="step-down", since=down)
    for weeks in (5, 9, 11, 30):
        assert position(DAY, ENROLLMENT, history, as_of=START + timedelta(weeks=weeks)) == (
            expected
        )


def test_a_step_up_returns_to_the_earlier_phase_from_its_date() -> None:
    up = START + timedelta(weeks=6)
    history = [
        _change(1, "step-down", START + timedelta(weeks=4), "step-down"),
        _change(2, "step-up", up, "intensive"),
    ]
    assert position(DAY, ENROLLMENT, history, as_of=up) == Position(
        track="day", phase="intensive", since=up
    )
    assert position(DAY, ENROLLMENT, history, as_of=up - timedelta(days=1)).phase == "step-down"


def test_a_transfer_starts_the_new_tracks_first_phase() -> None:
    two = loads_program(
        """
name = "two"
[session_types.group]
kind = "group"
minutes = 180
[tracks.day]
time_zone = "America/Chicago"
[[tracks.day.phases]]
name = "core"
slots = [{ day = "mon", start = "09:00", session_type = "group" }]
[tracks.evening]
time_zone = "America/Chicago"
[[tracks.evening.phases]]
name = "first"
slots = [{ day = "mon", start = "18:00", session_type = "group" }]
[[tracks.evening.phases]]
name = "second"
slots = [{ day = "tue", start = "18:00", session_type = "group" }]
"""
    )
    moved = LevelOfCareChange(
        enrollment_id="E-1",
        seq=1,
        kind="transfer",
        effective=START + timedelta(weeks=2),
        level_of_care="2.1",
        track="evening",
    )
    enrollment = attrs.evolve(ENROLLMENT, program="two")
    where = position(two, enrollment, [moved], as_of=START + timedelta(weeks=3))
    assert where == Position(track="evening", phase="first", since=START + timedelta(weeks=2))
    assert position(two, enrollment, [moved], as_of=START).phase == "core"
