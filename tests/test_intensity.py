from __future__ import annotations

from datetime import date, time

import pytest

from iopcore import (
    Change,
    Closure,
    Phase,
    Program,
    RuleSet,
    SessionKind,
    SessionType,
    Severity,
    Slot,
    Track,
    check_program,
    load_program,
    loads_program,
    meets_level_of_care,
)

TYPES = (
    SessionType(name="group", kind=SessionKind.GROUP, minutes=180),
    SessionType(name="short", kind=SessionKind.GROUP, minutes=120),
    SessionType(name="uds", kind=SessionKind.SCREENING, minutes=60),
)


def _program(
    slots: list[tuple[str, str]],
    *,
    population: str = "adult",
    level: str = "2.1",
    rule_sets: tuple[str, ...] = ("asam",),
    closures: tuple[Closure, ...] = (),
    changes: tuple[Change, ...] = (),
) -> Program:
    return Program(
        name="p",
        population=population,
        level_of_care=level,
        rule_sets=rule_sets,
        session_types=TYPES,
        closures=closures,
        tracks=(
            Track(
                name="evening",
                time_zone="America/New_York",
                changes=changes,
                phases=(
                    Phase(
                        name="core",
                        slots=tuple(Slot(day=d, start=time(18), session_type=t) for d, t in slots),
                    ),
                ),
            ),
        ),
    )


def test_three_by_three_meets_adult_iop() -> None:
    program = _program(
        [("mon", "group"), ("tue", "group"), ("thu", "group")],
        rule_sets=("asam", "h0015", "medicare-iop"),
    )
    assert check_program(program) == ()


def test_a_cadence_that_never_reaches_the_minimum_is_an_error() -> None:
    program = _program([("mon", "group"), ("thu", "group")], rule_sets=("asam", "medicare-iop"))
    findings = check_program(program)
    assert not meets_level_of_care(findings)
    assert [(f.severity, f.rule, f.shortfall, f.week) for f in findings] == [
        (Severity.ERROR, "ASAM 2.1 adult", 3.0, None),
        (Severity.ERROR, "Medicare IOP", 3.0, None),
    ]
    assert findings[0].message == (
        "evening track, regular week: 6.0 h scheduled, ASAM 2.1 adult needs >= 9 h"
    )


def test_screening_time_does_not_count_toward_hours() -> None:
    program = _program([("mon", "group"), ("tue", "group"), ("thu", "uds")])
    (finding,) = check_program(program)
    assert finding.scheduled_hours == 6.0


def test_adolescent_minimum_is_six_hours() -> None:
    slots = [("mon", "short"), ("wed", "short"), ("thu", "short")]
    assert check_program(_program(slots, population="adolescent")) == ()
    assert not meets_level_of_care(check_program(_program(slots)))


def test_iop_must_stay_below_partial_hospitalization() -> None:
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    (finding,) = check_program(_program([(d, "group") for d in days]))
    assert finding.severity is Severity.ERROR
    assert "must stay below 20 h" in finding.message
    assert finding.shortfall == 1.0
    assert check_program(_program([(d, "group") for d in days], level="2.5")) == ()


def test_h0015_needs_three_full_days() -> None:
    program = _program(
        [("mon", "short"), ("tue", "short"), ("wed", "short"), ("thu", "short"), ("fri", "short")],
        rule_sets=("asam", RuleSet.H0015),
    )
    (finding,) = check_program(program)
    assert finding.rule == "H0015"
    assert finding.shortfall == 3.0
    assert "0 day(s) with >= 3 h scheduled" in finding.message


def test_closure_week_below_the_minimum_is_a_warning_naming_the_closure() -> None:
    program = _program(
        [("mon", "group"), ("tue", "group"), ("thu", "group")],
        closures=(Closure(date=date(2027, 5, 31), reason="Memorial Day"),),
    )
    (finding,) = check_program(program)
    assert meets_level_of_care([finding])
    assert finding.severity is Severity.WARNING
    assert finding.week == date(2027, 5, 31)
    assert finding.message == (
        "evening track, week of 2027-05-31: 6.0 h scheduled, "
        "ASAM 2.1 adult needs >= 9 h (closure: Memorial Day)"
    )


def test_closure_on_a_day_without_sessions_is_not_a_finding() -> None:
    program = _program(
        [("mon", "group"), ("tue", "group"), ("thu", "group")],
        closures=(Closure(date=date(2027, 6, 2), reason="staff day"),),
    )
    assert check_program(program) == ()


def test_a_cancelled_session_week_is_a_warning() -> None:
    cancel = Change(date=date(2027, 3, 9), start=time(18), cancelled=True, reason="snow")
    program = _program([("mon", "group"), ("tue", "group"), ("thu", "group")], changes=(cancel,))
    (finding,) = check_program(program)
    assert finding.week == date(2027, 3, 8)
    assert finding.message.endswith("(cancelled: 2027-03-09 18:00 (snow))")


@pytest.mark.parametrize("name", ["adult-evening", "adult-day", "adolescent-afterschool"])
def test_examples_meet_their_level_of_care(name: str) -> None:
    findings = check_program(load_program(f"examples/programs/{name}.toml"))
    assert meets_level_of_care(findings)
    assert all(f.week is not None for f in findings)  # only closure-week warnings


TWO_PHASES = loads_program(
    """
name = "two-phase"
rule_sets = ["h0015", "asam"]
[session_types.group]
kind = "group"
minutes = 100
[[closures]]
date = 2027-05-31
reason = "Memorial Day"
[tracks.evening]
time_zone = "America/New_York"
[[tracks.evening.phases]]
name = "core"
min_weeks = 2
slots = [{ day = "mon", start = "18:00", session_type = "group" },
         { day = "mon", start = "19:40", session_type = "group" },
         { day = "tue", start = "18:00", session_type = "group" },
         { day = "tue", start = "19:40", session_type = "group" },
         { day = "thu", start = "18:00", session_type = "group" },
         { day = "thu", start = "19:40", session_type = "group" }]
[[tracks.evening.phases]]
name = "late"
slots = [{ day = "mon", start = "18:00", session_type = "group" },
         { day = "mon", start = "19:40", session_type = "group" },
         { day = "tue", start = "18:00", session_type = "group" },
         { day = "tue", start = "19:40", session_type = "group" },
         { day = "wed", start = "18:00", session_type = "group" },
         { day = "thu", start = "18:00", session_type = "group" }]
[[tracks.evening.changes]]
date = 2027-06-08
start = "18:00"
new_date = 2027-06-09
reason = "room"
[[tracks.evening.changes]]
date = 2027-06-17
start = "19:40"
new_date = 2027-06-21
new_start = "21:30"
"""
)


def test_every_finding_of_a_two_phase_program_with_closures_and_moves() -> None:
    """Pins each field: the phase in the words, per-day hours with two sessions a day, a
    move within a week and into the next, the reason, rounding to 0.01 h, and a rule failed
    by the regular week (H0015, listed first) not hiding the next rule's calendar warnings."""
    w, e = Severity.WARNING, Severity.ERROR
    closure, room, later = (
        ("closure: Memorial Day",),
        ("moved: 2027-06-08 18:00 (room)",),
        ("moved: 2027-06-17 19:40",),
    )
    h0015 = "2 day(s) with >= 3 h scheduled, H0015 needs >= 3 h/day on >= 3 days"
    found = [
        (f.severity, f.phase, f.rule, f.week, f.scheduled_hours, f.shortfall, f.message, f.causes)
        for f in check_program(TWO_PHASES)
    ]
    assert {f.track for f in check_program(TWO_PHASES)} == {"evening"}
    core, late = "evening track, phase core", "evening track, phase late"
    assert found == [
        (w, "core", "H0015", date(2027, 5, 31), 6.67, 1.0,
         f"{core}, week of 2027-05-31: {h0015} (closure: Memorial Day)", closure),
        (w, "core", "ASAM 2.1 adult", date(2027, 5, 31), 6.67, 2.33,
         f"{core}, week of 2027-05-31: 6.7 h scheduled, ASAM 2.1 adult needs >= 9 h "
         "(closure: Memorial Day)", closure),
        (w, "core", "H0015", date(2027, 6, 7), 10.0, 1.0,
         f"{core}, week of 2027-06-07: {h0015} (moved: 2027-06-08 18:00 (room))", room),
        (w, "core", "H0015", date(2027, 6, 14), 8.33, 1.0,
         f"{core}, week of 2027-06-14: {h0015} (moved: 2027-06-17 19:40)", later),
        (w, "core", "ASAM 2.1 adult", date(2027, 6, 14), 8.33, 0.67,
         f"{core}, week of 2027-06-14: 8.3 h scheduled, ASAM 2.1 adult needs >= 9 h "
         "(moved: 2027-06-17 19:40)", later),
        (e, "late", "H0015", None, 10.0, 1.0, f"{late}, regular week: {h0015}", ()),
        (w, "late", "ASAM 2.1 adult", date(2027, 5, 31), 6.67, 2.33,
         f"{late}, week of 2027-05-31: 6.7 h scheduled, ASAM 2.1 adult needs >= 9 h "
         "(closure: Memorial Day)", closure),
    ]  # fmt: skip
