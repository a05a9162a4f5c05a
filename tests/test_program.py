from __future__ import annotations

from datetime import date, time, timedelta

import attrs
import pytest

from iopcore import (
    Phase,
    Program,
    ScheduleError,
    SessionKind,
    SessionType,
    Slot,
    Track,
    ValidationError,
)

GROUP = SessionType(name="group", kind=SessionKind.GROUP, minutes=180)


def _program(*slots: Slot, **phase: int) -> Program:
    return Program(
        name="p",
        session_types=(GROUP,),
        tracks=(Track(name="t", time_zone="UTC", phases=(Phase(name="a", slots=slots, **phase),)),),
    )


def test_session_type_defaults() -> None:
    screen = SessionType(name="uds", kind="screening", minutes=10)
    assert not screen.counts_toward_hours
    assert SessionType(name="g", kind="group", minutes=60).modality == "other"
    with pytest.raises(ValidationError, match=r"SessionType\.capacity must be a whole number >= 1"):
        SessionType(name="g", kind="group", minutes=60, capacity=0)
    with pytest.raises(
        ValidationError, match=r"SessionType\.minutes must be a whole number of min"
    ):
        SessionType(name="g", kind="group", minutes=0)
    with pytest.raises(ValidationError, match="'bowling' is not a valid session kind; one of: "):
        SessionType(name="g", kind="bowling", minutes=60)


def test_overlapping_slots_are_rejected_with_both_named() -> None:
    with pytest.raises(ValidationError, match="Monday 19:00 group session overlaps the Monday"):
        _program(
            Slot(day="mon", start=time(18), session_type="group"),
            Slot(day="mon", start=time(19), session_type="group"),
        )


def test_unknown_session_type_suggests() -> None:
    with pytest.raises(ValidationError, match='did you mean "group"'):
        _program(Slot(day="mon", start=time(18), session_type="gruop"))


def test_phase_weeks_are_validated() -> None:
    slot = Slot(day="mon", start=time(18), session_type="group")
    with pytest.raises(ValidationError, match="max_weeks \\(2\\) is less than min_weeks \\(4\\)"):
        _program(slot, min_weeks=4, max_weeks=2)
    with pytest.raises(
        ValidationError, match=r"Phase\.min_weeks must be a whole number of weeks from 1 to 520"
    ):
        _program(slot, min_weeks=0)
    with pytest.raises(ValidationError, match="has no slots"):
        _program()


def test_names_must_be_ids_and_unique() -> None:
    slot = Slot(day="mon", start=time(18), session_type="group")
    with pytest.raises(ValidationError, match="must be a short id"):
        Phase(name="a b", slots=(slot,))
    phase = Phase(name="a", slots=(slot,))
    with pytest.raises(ValidationError, match="repeated: a"):
        Track(name="t", time_zone="UTC", phases=(phase, phase))
    track = Track(name="t", time_zone="UTC", phases=(phase,))
    with pytest.raises(ValidationError, match="repeated: t"):
        Program(name="p", session_types=(GROUP,), tracks=(track, track))
    with pytest.raises(ValidationError, match="is not an IANA time zone"):
        Track(name="t", time_zone="Mars/Olympus", phases=(phase,))


def test_values_are_frozen_and_hashable() -> None:
    program = _program(Slot(day="mon", start=time(18), session_type="group"))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        program.name = "x"  # type: ignore[misc]
    assert hash(program) == hash(attrs.evolve(program))


def test_lookup_errors_list_the_choices() -> None:
    program = _program(Slot(day="mon", start=time(18), session_type="group"))
    with pytest.raises(ScheduleError, match="no track 'x'; one of: t"):
        program.track("x")
    with pytest.raises(ScheduleError, match="no phase 'b'; one of: a"):
        program.track("t").phase("b")


def test_phase_plan_uses_min_weeks_then_the_last_phase_max() -> None:
    slot = Slot(day="mon", start=time(9), session_type="group")
    track = Track(
        name="t",
        time_zone="UTC",
        phases=(
            Phase(name="a", slots=(slot,), min_weeks=4, max_weeks=6),
            Phase(name="b", slots=(slot,), min_weeks=2, max_weeks=8),
        ),
    )
    start = date(2027, 1, 4)
    plan = [(p.name, first, end) for p, first, end in track.phase_plan(start)]
    assert plan == [("a", start, date(2027, 2, 1)), ("b", date(2027, 2, 1), date(2027, 3, 29))]
    plan = [(p.name, first, end) for p, first, end in track.phase_plan(start, {"a": 6})]
    assert plan[1][1] == date(2027, 2, 15)
    with pytest.raises(ScheduleError, match="no phase 'c'"):
        track.phase_plan(start, {"c": 1})


def test_a_change_must_name_a_session_on_a_day_the_program_meets() -> None:
    from iopcore import Change, Closure

    slot = Slot(day="mon", start=time(18), session_type="group")
    phase = Phase(name="a", slots=(slot,))

    def program(change: Change, closures: tuple[Closure, ...] = ()) -> Program:
        return Program(
            name="p",
            session_types=(GROUP,),
            closures=closures,
            tracks=(Track(name="t", time_zone="UTC", phases=(phase,), changes=(change,)),),
        )

    monday = date(2027, 1, 4)
    assert program(Change(date=monday, start=time(18), cancelled=True))
    with pytest.raises(
        ValidationError,
        match="no session of this track starts then on a Monday; sessions that day: 18:00 group",
    ):
        program(Change(date=monday, start=time(19), cancelled=True))
    with pytest.raises(ValidationError, match="it has no sessions that day"):
        program(Change(date=monday + timedelta(days=1), start=time(18), cancelled=True))
    with pytest.raises(ValidationError, match="falls on a closure"):
        program(
            Change(date=monday, start=time(18), cancelled=True),
            (Closure(date=monday, reason="holiday"),),
        )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Slot(day="mon", start="18:00", session_type="group"), "must be a time"),  # type: ignore[arg-type]
        (lambda: Slot(day="mon", start=time(18), session_type="g", minutes=90.5), "whole number"),  # type: ignore[arg-type]
        (lambda: Phase(name="a", slots=(), min_weeks="2"), "whole number of weeks"),  # type: ignore[arg-type]
        (lambda: Track(name="t", time_zone=None, phases=()), "IANA name"),  # type: ignore[arg-type]
    ],
)
def test_wrong_types_are_validation_errors(build: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build()  # type: ignore[operator]
