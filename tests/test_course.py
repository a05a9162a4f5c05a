"""A participant's course follows their level-of-care history, never the plan alone."""

from __future__ import annotations

from datetime import UTC, date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from iopcore import Enrollment, LevelOfCareChange, expand, load_program
from iopcore.core.course import course, segments

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
