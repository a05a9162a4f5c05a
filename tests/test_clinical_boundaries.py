"""Clinical boundaries pinned where mutation testing found them unguarded: the 20 h line
between intensive outpatient (2.1) and partial hospitalization (2.5), a 9 h minimum missed by
half an hour, H0015's full days, moved sessions, and the screening periods and draws (stored
draws are append-only, so their keyed rounding must never change)."""

from __future__ import annotations

import math
from datetime import date, time, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from iopcore import (
    AttendanceRecord,
    Closure,
    Phase,
    Program,
    SessionKind,
    SessionType,
    Severity,
    Slot,
    Track,
    ValidationError,
    check_program,
    expand,
    load_program,
    loads_program,
)
from iopcore.core.care import (
    H0015_RULE,
    IntensityRule,
    LevelOfCare,
    Measure,
    Population,
    asam_rule,
    check_week,
)
from iopcore.core.dose import weekly_dose
from iopcore.core.policies import Period
from iopcore.core.screening import FORTNIGHT_EPOCH, Secret, periods, screening_draws

IOP = asam_rule(LevelOfCare.IOP, Population.ADULT)
PHP = asam_rule(LevelOfCare.PARTIAL_HOSPITALIZATION, Population.ADULT)
ADOLESCENT_IOP = asam_rule(LevelOfCare.IOP, Population.ADOLESCENT)
OUTPATIENT = asam_rule(LevelOfCare.OUTPATIENT, Population.ADULT)


def measures(hours: list[float], rule: IntensityRule = IOP) -> list[str]:
    return [m.measure.value for m in check_week(rule, hours).misses]


# -- the intensity rule, one function ---------------------------------------------------------


def test_twenty_hours_is_partial_hospitalization_not_iop() -> None:
    assert measures([4, 4, 4, 4, 3.99]) == []
    assert measures([4, 4, 4, 4, 4]) == ["weekly-ceiling"]
    assert measures([4, 4, 4, 4, 4], PHP) == []
    assert measures([4, 4, 4, 4, 3.99], PHP) == ["weekly-minimum"]
    over = check_week(IOP, [5, 5, 5, 5, 1])
    assert over.misses[0].by == pytest.approx(1.0)
    assert check_week(IOP, [20]).misses[0].by == 0.0


def test_eight_and_a_half_hours_misses_a_nine_hour_minimum_by_half_an_hour() -> None:
    short = check_week(IOP, [3, 3, 2.5])
    assert [(m.measure, m.by) for m in short.misses] == [(Measure.WEEKLY_MINIMUM, 0.5)]
    assert (short.hours, short.met) == (8.5, False)
    assert check_week(IOP, [3, 3, 3]).met
    assert check_week(IOP, [1 / 60] * 540).met  # 540 one-minute sums: within the tolerance
    assert not check_week(IOP, [8.99]).met


def test_lower_levels_and_adolescents() -> None:
    assert measures([2, 2, 1.99], ADOLESCENT_IOP) == ["weekly-minimum"]
    assert measures([2, 2, 2], ADOLESCENT_IOP) == []
    assert measures([9], OUTPATIENT) == ["weekly-ceiling"]
    assert measures([8.99], OUTPATIENT) == []
    assert measures([], OUTPATIENT) == []


def test_h0015_needs_three_days_of_three_hours() -> None:
    assert measures([3, 3, 3], H0015_RULE) == []
    assert check_week(H0015_RULE, [3, 3, 3, 0.5]).full_days == 3
    assert check_week(H0015_RULE, [3, 3, 2.99, 6]).met  # any three days will do
    two = check_week(H0015_RULE, [3, 3, 2.99])
    assert (two.full_days, [(m.measure, m.by) for m in two.misses]) == (
        2,
        [(Measure.FULL_DAYS, 1.0)],
    )
    assert check_week(H0015_RULE, []).misses[0].by == 3.0
    assert check_week(IOP, [3, 3, 3]).full_days == 0  # no daily part in the ASAM rule


hours = st.lists(st.integers(0, 600).map(lambda m: m / 60), max_size=7)


@given(hours, st.sampled_from([IOP, PHP, ADOLESCENT_IOP, OUTPATIENT, H0015_RULE]))
def test_a_week_meets_a_rule_exactly_when_its_thresholds_say_so(
    days: list[float], rule: IntensityRule
) -> None:
    check = check_week(rule, days)
    total = math.fsum(days)
    assert check.hours == total
    assert check_week(rule, list(reversed(days))).misses == check.misses
    low, high = check.rule.min_hours_week, check.rule.below_hours_week
    assert check.meets(Measure.WEEKLY_MINIMUM) == (low is None or total >= low - 1e-9)
    assert check.meets(Measure.WEEKLY_CEILING) == (high is None or total < high - 1e-9)
    if check.rule.min_hours_day is not None:
        assert check.full_days == sum(d >= check.rule.min_hours_day - 1e-9 for d in days)
    assert check.met == (not check.misses)


# -- whole programs and doses -------------------------------------------------------------------

GROUP = SessionType(name="group", kind=SessionKind.GROUP, minutes=60)


def _weekly(minutes: list[int], level: str = "2.1") -> Program:
    """A program meeting Monday to Friday at 09:00 for ``minutes`` each day."""
    return Program(
        name="p",
        level_of_care=level,
        session_types=(GROUP,),
        tracks=(
            Track(
                name="day",
                time_zone="America/Chicago",
                phases=(
                    Phase(
                        name="core",
                        slots=tuple(
                            Slot(day=d, start=time(9), session_type="group", minutes=m)
                            for d, m in enumerate(minutes)
                        ),
                    ),
                ),
            ),
        ),
    )


def _errors(program: Program) -> list[tuple[str, float]]:
    return [
        (f.message, f.shortfall) for f in check_program(program) if f.severity is Severity.ERROR
    ]


def test_a_program_of_twenty_hours_is_not_intensive_outpatient() -> None:
    twenty = _weekly([240] * 5)
    assert _errors(twenty) == [
        (
            "day track, regular week: 20.0 h scheduled, ASAM 2.1 adult must stay below 20 h "
            "(intensive outpatient ends there)",
            0.0,
        )
    ]
    assert _errors(_weekly([240] * 4 + [239])) == []
    assert _errors(_weekly([240] * 5, level="2.5")) == []
    assert _errors(_weekly([240] * 4 + [239], level="2.5")) == [
        ("day track, regular week: 20.0 h scheduled, ASAM 2.5 adult needs >= 20 h", 0.02)
    ]


def test_a_program_of_eight_and_a_half_hours_misses_nine() -> None:
    assert _errors(_weekly([180, 180, 150])) == [
        ("day track, regular week: 8.5 h scheduled, ASAM 2.1 adult needs >= 9 h", 0.5)
    ]
    assert _errors(_weekly([180, 180, 180])) == []


EVENING = load_program("examples/programs/adult-evening.toml")  # Mon/Tue/Thu, 9 h a week


def test_a_dose_of_eight_and_a_half_hours_misses_nine() -> None:
    start = date(2027, 3, 1)
    sessions = expand(EVENING, "evening", start=start, weeks=1)
    for short_by, met in ((0, True), (30, False), (1, False)):
        records = [
            AttendanceRecord(
                participant_id="P-1",
                occurrence_id=o.id,
                session_date=o.start.date(),
                status="attended",
                minutes_attended=o.minutes - (short_by if i == 0 else 0),
            )
            for i, o in enumerate(sessions)
        ]
        (week,) = weekly_dose(EVENING, sessions, records)
        asam = next(c for c in week.checks if c.rule == "ASAM 2.1 adult")
        assert week.delivered_hours == pytest.approx(9 - short_by / 60, abs=1e-4)
        assert asam.met is met
        assert asam.detail == f"{week.delivered_hours:.2f} h delivered, needs >= 9 h"


def test_hours_of_a_moved_session_count_on_the_occurrences_date_not_the_records() -> None:
    """A Friday session moved to the next Monday delivers its hours in the next week, even
    when the attendance record still carries the Friday."""
    program = loads_program(
        """
name = "moved"
[session_types.group]
kind = "group"
minutes = 180
[tracks.evening]
time_zone = "America/New_York"
[[tracks.evening.phases]]
name = "core"
slots = [{ day = "mon", start = "18:00", session_type = "group" },
         { day = "wed", start = "18:00", session_type = "group" },
         { day = "fri", start = "18:00", session_type = "group" }]
[[tracks.evening.changes]]
date = 2027-03-05
start = "18:00"
new_date = 2027-03-09
"""
    )
    sessions = expand(program, "evening", start=date(2027, 3, 1), weeks=2)
    moved = next(o for o in sessions if o.start.date() == date(2027, 3, 9))
    records = [
        AttendanceRecord(
            participant_id="P-1",
            occurrence_id=o.id,
            session_date=date(2027, 3, 5) if o is moved else o.start.date(),
            status="attended",
        )
        for o in sessions
    ]
    first, second = weekly_dose(program, sessions, records)
    assert (first.delivered_hours, second.delivered_hours) == (6.0, 12.0)
    assert [d.day.day for d in second.days] == [8, 9, 10, 12]
    assert [d.delivered_hours for d in second.days] == [3.0, 3.0, 3.0, 3.0]


# -- screening periods and draws ----------------------------------------------------------------

SECRET = Secret(b"synthetic-test-secret-0123456789")


@given(st.dates(date(2020, 1, 1), date(2035, 12, 31)), st.integers(0, 120))
def test_fortnights_cover_every_day_once_whatever_the_start_weekday(first: date, days: int) -> None:
    last = first + timedelta(days=days)
    spans = list(periods(first, last, Period.FORTNIGHT))
    covered = [s + timedelta(days=i) for s, e in spans for i in range((e - s).days + 1)]
    assert len(covered) == len(set(covered))
    assert spans[0][0] <= first <= spans[0][1]
    assert spans[-1][0] <= last <= spans[-1][1]
    for s, e in spans:
        assert s.weekday() == 0
        assert (e - s).days == 13
        assert (s - FORTNIGHT_EPOCH).days % 14 == 0


@pytest.mark.parametrize("offset", range(14))
def test_fortnightly_screens_leave_no_week_without_a_draw(offset: int) -> None:
    """Whatever weekday (and fortnight half) the participant starts on, every week of their
    schedule lies in exactly one drawn period, every full fortnight draws the full count, and
    a stub of a week or so draws at least one."""
    program = loads_program(
        """
name = "fortnightly"
[session_types.group]
kind = "group"
minutes = 180
[tracks.evening]
time_zone = "America/New_York"
[[tracks.evening.phases]]
name = "core"
slots = [{ day = "mon", start = "18:00", session_type = "group" },
         { day = "tue", start = "18:00", session_type = "group" },
         { day = "wed", start = "18:00", session_type = "group" },
         { day = "thu", start = "18:00", session_type = "group" },
         { day = "fri", start = "18:00", session_type = "group" },
         { day = "sat", start = "18:00", session_type = "group" },
         { day = "sun", start = "18:00", session_type = "group" }]
[[screening]]
count = 3
period = "fortnight"
days = "attendance"
"""
    )
    start = date(2027, 3, 1) + timedelta(days=offset)
    sessions = expand(program, "evening", start=start, weeks=8)
    draws = screening_draws(SECRET, "P-1", program, sessions, through=date(2028, 1, 1))
    days = sorted({o.start.date() for o in sessions})
    for day in days:
        assert sum(d.period_start <= day <= d.period_end for d in draws) == 1, day
    for d in draws:
        if len(d.eligible) == 14:
            assert d.count == 3
        if len(d.eligible) >= 5:
            assert d.count >= 1  # 3 a fortnight: a stub of 5 days or more draws >= 1
        assert d.count <= 3


def test_a_closed_week_does_not_stop_later_draws() -> None:
    evening = load_program("examples/programs/adult-evening.toml")
    start = date(2027, 4, 5)
    closed = tuple(Closure(date=start + timedelta(days=7 + i)) for i in range(7))
    program = attrs.evolve(evening, closures=(*evening.closures, *closed))
    sessions = expand(program, "evening", start=start, weeks=4)
    draws = screening_draws(SECRET, "P-1", program, sessions, through=date(2028, 1, 1))
    assert [d.period_start for d in draws] == [
        start,
        start + timedelta(weeks=2),
        start + timedelta(weeks=3),
    ]
    assert all(d.count == 2 for d in draws)


def test_keyed_rounding_of_draw_counts_is_fixed() -> None:
    """Stored draws are append-only: the keyed coin and the selection must never change."""
    assert SECRET.uniform("P-1", date(2027, 3, 1)) == pytest.approx(PINNED_UNIFORM, abs=0)
    assert SECRET.score("P-1", date(2027, 3, 1)).hex()[:16] == PINNED_SCORE
    day = load_program("examples/programs/adult-day.toml")
    sessions = expand(day, "day", start=date(2027, 8, 4), weeks=6)
    draws = screening_draws(SECRET, "P-7", day, sessions, through=date(2028, 1, 1))
    assert [(d.period_start.isoformat(), d.count, len(d.eligible)) for d in draws] == PINNED_DRAWS
    assert [d.selected for d in draws][:2] == PINNED_SELECTED

    first_weeks = "".join(
        str(screening_draws(SECRET, f"P-{i}", day, sessions, through=date(2027, 8, 8))[0].count)
        for i in range(20)
    )
    assert first_weeks == "11121211111211211222"  # 2 a week x 5/7 of a week: 1 or 2, keyed


PINNED_UNIFORM = 0.48257622674121875
PINNED_SCORE = "c69613c6e7efb0db"
PINNED_DRAWS = [
    ("2027-08-04", 1, 5),
    ("2027-08-09", 2, 7),
    ("2027-08-16", 2, 7),
    ("2027-08-23", 2, 7),
    ("2027-08-30", 2, 7),
    ("2027-09-06", 1, 7),
    ("2027-09-13", 0, 1),
]
PINNED_SELECTED = [(date(2027, 8, 5),), (date(2027, 8, 11), date(2027, 8, 12))]


def test_a_week_with_a_moved_session_on_an_extra_day_draws_the_full_count_not_more() -> None:
    """The Thursday 18:00 group of 2027-03-11 moves to Wednesday: four attendance days that
    week against three in the cadence. The share is capped at a full week: exactly 2."""
    sessions = expand(EVENING, "evening", start=date(2027, 3, 8), weeks=1)
    for i in range(40):
        (week,) = screening_draws(SECRET, f"P-{i}", EVENING, sessions, through=date(2028, 1, 1))
        assert [d.weekday() for d in week.eligible] == [0, 1, 2, 3]
        assert week.count == 2


def test_a_period_takes_the_policy_of_its_first_scheduled_day() -> None:
    """Admitted on a Tuesday, one week in phase a (3 screens a week), then phase b (1 a
    week): the second Monday-to-Sunday week begins in a, so it draws at a's rate."""
    program = loads_program(
        """
name = "phased"
[session_types.group]
kind = "group"
minutes = 180
[[screening]]
count = 3
period = "week"
phases = ["a"]
[[screening]]
count = 1
period = "week"
phases = ["b"]
[tracks.day]
time_zone = "America/Chicago"
[[tracks.day.phases]]
name = "a"
min_weeks = 1
slots = [{ day = "mon", start = "09:00", session_type = "group" },
         { day = "tue", start = "09:00", session_type = "group" },
         { day = "wed", start = "09:00", session_type = "group" }]
[[tracks.day.phases]]
name = "b"
max_weeks = 2
slots = [{ day = "mon", start = "09:00", session_type = "group" },
         { day = "tue", start = "09:00", session_type = "group" },
         { day = "wed", start = "09:00", session_type = "group" }]
"""
    )
    sessions = expand(program, "day", start=date(2027, 3, 2), weeks=3)
    draws = screening_draws(SECRET, "P-1", program, sessions, through=date(2027, 3, 8))
    assert [(d.period_start, d.count, d.policy_count, len(d.eligible)) for d in draws] == [
        (date(2027, 3, 2), 2, 3, 2),  # Tue, Wed of a's week: 3 x 2/3 = 2
        (date(2027, 3, 8), 3, 3, 3),  # Mon (a), Tue, Wed (b): a's rate; starts on `through`
    ]


def test_results_are_dated_by_collection_then_result_then_order() -> None:
    from datetime import UTC, datetime

    from iopcore.core.screening import (
        ScreeningOrder,
        ScreeningResult,
        SubstanceResult,
        is_negative,
        result_day,
    )

    order = ScreeningOrder(id="S-1", participant_id="P-1", ordered_for=date(2027, 3, 1))
    other = ScreeningOrder(id="S-2", participant_id="P-1", ordered_for=date(2027, 3, 9))
    collected, resulted = datetime(2027, 3, 2, 15, tzinfo=UTC), datetime(2027, 3, 4, tzinfo=UTC)
    negative = (SubstanceResult(substance="cocaine", result="negative"),)

    def result(**when: datetime) -> ScreeningResult:
        return ScreeningResult(order_id="S-1", participant_id="P-1", results=negative, **when)

    assert result_day(result(collected_at=collected, resulted_at=resulted)) == date(2027, 3, 2)
    assert result_day(result(resulted_at=resulted), [order]) == date(2027, 3, 4)
    assert result_day(result(), [other, order]) == date(2027, 3, 1)
    assert result_day(result(), [other]) is None
    assert result_day(result()) is None
    assert is_negative(result())
    mixed = (*negative, SubstanceResult(substance="thc", result="positive"))
    assert not is_negative(ScreeningResult(order_id="S-1", participant_id="P-1", results=mixed))
    assert not is_negative(ScreeningResult(order_id="S-1", participant_id="P-1", results=[]))


def test_the_secret_needs_sixteen_bytes_and_never_shows() -> None:
    assert repr(Secret(b"k" * 16)) == "Secret(<hidden>)"
    with pytest.raises(ValidationError) as caught:
        Secret(b"k" * 15)
    assert str(caught.value) == (
        "the screening secret must be at least 16 random bytes (e.g. secrets.token_bytes(32)); "
        "keep it out of program files and version control"
    )


def test_a_phase_without_a_policy_does_not_stop_later_draws() -> None:
    program = loads_program(
        """
name = "later"
[session_types.group]
kind = "group"
minutes = 180
[[screening]]
count = 1
period = "week"
phases = ["b"]
[tracks.day]
time_zone = "America/Chicago"
[[tracks.day.phases]]
name = "a"
min_weeks = 1
slots = [{ day = "mon", start = "09:00", session_type = "group" }]
[[tracks.day.phases]]
name = "b"
max_weeks = 2
slots = [{ day = "mon", start = "09:00", session_type = "group" }]
"""
    )
    sessions = expand(program, "day", start=date(2027, 3, 1), weeks=3)
    draws = screening_draws(SECRET, "P-1", program, sessions, through=date(2028, 1, 1))
    assert [(d.period_start, d.count) for d in draws] == [
        (date(2027, 3, 8), 1),
        (date(2027, 3, 15), 1),
    ]


def test_orders_follow_the_selected_days_with_their_defaults() -> None:
    from iopcore.core.screening import Specimen, orders_for

    sessions = expand(EVENING, "evening", start=date(2027, 3, 1), weeks=1)
    draws = screening_draws(SECRET, "P-1", EVENING, sessions, through=date(2028, 1, 1))
    (first, second) = orders_for(draws)
    assert (first.id, first.provider, first.panel, first.specimen) == (
        f"S-P-1-{first.ordered_for.isoformat()}",
        "manual",
        "5-panel",
        Specimen.URINE,
    )
    assert [first.ordered_for, second.ordered_for] == list(draws[0].selected)
    (lab, _) = orders_for(draws, provider="lab-x", specimen=Specimen.ORAL_FLUID, panel="10-panel")
    assert (lab.provider, lab.panel, lab.specimen) == ("lab-x", "10-panel", Specimen.ORAL_FLUID)
