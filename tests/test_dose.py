"""Dose: treatment hours delivered per day and week, billable days, and the rules they meet.

The properties restate the definition in whole minutes: delivered = the minutes attended at
sessions that count toward hours, by participants who were present; a day is billable
(H0015) with >= 180 minutes delivered; weeks are keyed by their Monday.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from iopcore import (
    AttendanceRecord,
    AttendanceStatus,
    Occurrence,
    Program,
    Status,
    expand,
    load_program,
    loads_program,
)
from iopcore.core.attendance import PRESENT
from iopcore.core.dose import H0015_DAY_HOURS, WeekDose, attended_minutes, weekly_dose
from tests.strategies import programs, start_dates

EVENING = load_program("examples/programs/adult-evening.toml")  # Mon/Tue/Thu 3 h, 9 h a week
ADOLESCENT = load_program("examples/programs/adolescent-afterschool.toml")
START = date(2027, 3, 1)  # a Monday
WEEK = expand(EVENING, "evening", start=START, weeks=1)


#: Two 90-minute groups on Monday and Wednesday, and a 30-minute check-in (not treatment
#: hours: DOMAIN.md, H0015 counts direct service only) before each.
WITH_CHECK_IN = loads_program(
    """
name = "with-check-in"
level_of_care = "2.1"
rule_sets = ["asam", "h0015"]

[session_types.group]
kind = "group"
minutes = 90

[session_types.check-in]
kind = "check-in"
minutes = 30

[tracks.t]
time_zone = "America/Chicago"

[[tracks.t.phases]]
name = "core"
slots = [
  { day = "mon", start = "17:30", session_type = "check-in" },
  { day = "mon", start = "18:00", session_type = "group" },
  { day = "mon", start = "19:30", session_type = "group" },
  { day = "wed", start = "17:30", session_type = "check-in" },
  { day = "wed", start = "18:00", session_type = "group" },
  { day = "wed", start = "19:30", session_type = "group" },
]
""",
    file="with-check-in.toml",
)


def attend(o: Occurrence, status: str, minutes: int | None = None) -> AttendanceRecord:
    if minutes is None:
        minutes = o.minutes if status in PRESENT else 0
    return AttendanceRecord(
        participant_id="P-1",
        occurrence_id=o.id,
        session_date=o.start.date(),
        status=status,
        minutes_attended=minutes,
    )


def checks(week: WeekDose) -> dict[str, list[bool]]:
    out: dict[str, list[bool]] = {}
    for c in week.checks:
        out.setdefault(c.rule, []).append(c.met)
    return out


# -- examples --------------------------------------------------------------------------------


def test_a_full_week_delivers_the_scheduled_nine_hours() -> None:
    (week,) = weekly_dose(EVENING, WEEK, [attend(o, "attended") for o in WEEK])
    assert week.week == START
    assert (week.scheduled_hours, week.delivered_hours) == (9.0, 9.0)
    assert [d.day.weekday() for d in week.billable_days] == [0, 1, 3]
    assert all(d.delivered_hours == 3.0 for d in week.days)
    assert checks(week) == {"ASAM 2.1 adult": [True], "H0015": [True], "Medicare IOP": [True]}
    assert week.unmet == ()


def test_a_missed_day_leaves_two_billable_days_and_every_rule_unmet() -> None:
    records = [
        attend(o, "unexcused-absence" if o.start.weekday() == 1 else "attended") for o in WEEK
    ]
    (week,) = weekly_dose(EVENING, WEEK, records)
    assert (week.scheduled_hours, week.delivered_hours) == (9.0, 6.0)
    assert [d.day.weekday() for d in week.billable_days] == [0, 3]
    assert [c.rule for c in week.unmet] == ["ASAM 2.1 adult", "H0015", "Medicare IOP"]
    assert [c.detail for c in week.unmet] == [
        "6.00 h delivered, needs >= 9 h",
        "2 day(s) with >= 3 h, needs 3",
        "6.00 h delivered, needs >= 9 h",
    ]


def test_minutes_attended_count_not_sessions() -> None:
    monday_group = WEEK[0]
    records = [attend(o, "attended") for o in WEEK[1:]]
    records.append(attend(monday_group, "left-early", minutes=60))  # 60 of 90 minutes
    (week,) = weekly_dose(EVENING, WEEK, records)
    monday = week.days[0]
    assert (monday.scheduled_hours, monday.delivered_hours, monday.billable) == (3.0, 2.5, False)
    assert week.delivered_hours == 8.5
    assert H0015_DAY_HOURS == 3.0


def test_late_and_telehealth_are_present() -> None:
    records = [attend(o, "late" if i % 2 else "telehealth") for i, o in enumerate(WEEK)]
    (week,) = weekly_dose(EVENING, WEEK, records)
    assert week.delivered_hours == 9.0
    assert len(week.billable_days) == 3


def test_absences_deliver_nothing_even_when_minutes_were_entered() -> None:
    statuses = ["unexcused-absence", "excused-absence", "cancelled-by-program"]
    records = [attend(o, statuses[i % 3], minutes=o.minutes) for i, o in enumerate(WEEK)]
    (week,) = weekly_dose(EVENING, WEEK, records)
    assert week.delivered_hours == 0.0
    assert week.scheduled_hours == 9.0
    assert week.billable_days == ()
    assert all(not c.met for c in week.checks)


def test_unrecorded_sessions_deliver_nothing() -> None:
    (week,) = weekly_dose(EVENING, WEEK, [])
    assert (week.scheduled_hours, week.delivered_hours) == (9.0, 0.0)


def test_sessions_that_do_not_count_toward_hours_are_ignored() -> None:
    sessions = expand(WITH_CHECK_IN, "t", start=START, weeks=1)
    assert [o.session_type for o in sessions].count("check-in") == 2
    (week,) = weekly_dose(WITH_CHECK_IN, sessions, [attend(o, "attended") for o in sessions])
    assert (week.scheduled_hours, week.delivered_hours) == (6.0, 6.0)
    assert len(week.billable_days) == 2
    only_check_ins = [attend(o, "attended") for o in sessions if o.session_type == "check-in"]
    (week,) = weekly_dose(WITH_CHECK_IN, sessions, only_check_ins)
    assert week.delivered_hours == 0.0


def test_weeks_are_keyed_by_their_monday() -> None:
    wednesday = START + timedelta(days=2)
    sessions = expand(EVENING, "evening", start=wednesday, weeks=3)
    weeks = weekly_dose(EVENING, sessions, [attend(o, "attended") for o in sessions])
    assert [w.week for w in weeks] == [START + timedelta(weeks=n) for n in range(4)]
    for w in weeks:
        assert w.week.weekday() == 0
        assert all(w.week <= d.day < w.week + timedelta(days=7) for d in w.days)
    # the first week starts on Wednesday: only Thursday is in it
    assert [d.day for d in weeks[0].days] == [START + timedelta(days=3)]
    # the moved group (Thursday 2027-03-11 -> Wednesday 2027-03-10) counts on its new day
    assert [d.day.weekday() for d in weeks[1].days] == [0, 1, 2, 3]
    assert [d.delivered_hours for d in weeks[1].days] == [3.0, 3.0, 2.0, 1.0]


def test_a_holiday_week_schedules_and_delivers_less() -> None:
    mlk = date(2027, 1, 18)  # closed: Martin Luther King Jr. Day
    sessions = expand(EVENING, "evening", start=mlk, weeks=1)
    (week,) = weekly_dose(EVENING, sessions, [attend(o, "attended") for o in sessions])
    assert (week.scheduled_hours, week.delivered_hours) == (6.0, 6.0)
    assert {c.rule for c in week.unmet} == {"ASAM 2.1 adult", "H0015", "Medicare IOP"}


def test_a_session_outside_the_schedule_counts_on_its_date_capped() -> None:
    """A make-up session that is not in the participant's schedule still delivers hours, at
    most the program's longest session type (120 min here), so a typo cannot bill a day."""
    longest = max(t.minutes for t in EVENING.session_types)
    assert longest == 120

    def makeup(minutes: int) -> AttendanceRecord:
        return AttendanceRecord(
            participant_id="P-1",
            occurrence_id="make-up-1",
            session_date=START + timedelta(days=5),
            status="attended",
            minutes_attended=minutes,
        )

    monday = [attend(o, "attended") for o in WEEK[:2]]  # 3 h
    (week,) = weekly_dose(EVENING, WEEK, [*monday, makeup(90)])
    assert week.delivered_hours == 4.5
    (typo,) = weekly_dose(EVENING, WEEK, [*monday, makeup(1800)])
    assert typo.delivered_hours == 5.0
    assert [d.day.weekday() for d in typo.billable_days] == [0]


def test_a_record_given_twice_counts_once_and_cancelled_sessions_deliver_nothing() -> None:
    records = [attend(o, "attended") for o in WEEK]
    (once,) = weekly_dose(EVENING, WEEK, records)
    (twice,) = weekly_dose(EVENING, WEEK, records + records)
    assert twice.delivered_hours == once.delivered_hours == 9.0
    cancelled = [
        attrs.evolve(o, status=Status.CANCELLED) if i == 0 else o for i, o in enumerate(WEEK)
    ]
    (week,) = weekly_dose(EVENING, cancelled, records)
    assert week.delivered_hours == 9.0 - WEEK[0].minutes / 60


def test_adolescent_programs_are_held_to_six_hours() -> None:
    sessions = expand(ADOLESCENT, "afterschool", start=START, weeks=1)
    (week,) = weekly_dose(ADOLESCENT, sessions, [attend(o, "attended") for o in sessions])
    asam = [c for c in week.checks if c.rule.startswith("ASAM")]
    assert [c.rule for c in asam] == ["ASAM 2.1 adolescent"]
    assert asam[0].met == (week.delivered_hours >= 6.0)
    assert "needs >= 6 h" in asam[0].detail


def test_no_sessions_no_weeks() -> None:
    assert weekly_dose(EVENING, [], []) == ()


# -- properties ------------------------------------------------------------------------------


@st.composite
def attendance(draw: st.DrawFn, occurrences: Sequence[Occurrence]) -> list[AttendanceRecord]:
    """A record (any status; minutes not entered, 0 to full, or a typo past the end) for some
    of the sessions."""
    out = []
    for o in occurrences:
        status = draw(st.none() | st.sampled_from(list(AttendanceStatus)))
        if status is not None:
            full = o.minutes if status.value in PRESENT else 0
            minutes = draw(
                st.sampled_from([full, full]) | st.integers(0, o.minutes * 10) | st.none()
            )
            out.append(attend(o, status, minutes=minutes))
    return out


def minutes_by_day(
    occurrences: Sequence[Occurrence], records: Iterable[AttendanceRecord]
) -> tuple[dict[date, int], dict[date, int]]:
    """(scheduled, delivered) counting minutes per local day, straight from the definition."""
    scheduled: dict[date, int] = {}
    delivered: dict[date, int] = {}
    by_id = {o.id: o for o in occurrences}
    for o in occurrences:
        if o.status is not Status.CANCELLED:
            day = o.start.date()
            scheduled[day] = scheduled.get(day, 0) + (o.minutes if o.counts_toward_hours else 0)
    for r in records:
        o = by_id[r.occurrence_id]
        if r.status.value in PRESENT and o.counts_toward_hours and o.status is not Status.CANCELLED:
            # minutes not entered mean the whole session; never more than the session
            minutes = (
                o.minutes if r.minutes_attended is None else min(r.minutes_attended, o.minutes)
            )
            delivered[o.start.date()] = delivered.get(o.start.date(), 0) + minutes
    return scheduled, delivered


def check_against_definition(
    program: Program, occurrences: Sequence[Occurrence], records: Sequence[AttendanceRecord]
) -> None:
    weeks = weekly_dose(program, occurrences, records)
    scheduled, delivered = minutes_by_day(occurrences, records)
    days = sorted(set(scheduled) | set(delivered))
    mondays = sorted({d - timedelta(days=d.weekday()) for d in days})
    assert [w.week for w in weeks] == mondays
    minimum = 6 * 60 if program.population == "adolescent" else 9 * 60
    for w in weeks:
        in_week = [d for d in days if w.week <= d < w.week + timedelta(days=7)]
        assert [d.day for d in w.days] == in_week
        for d in w.days:
            assert abs(d.delivered_hours - delivered.get(d.day, 0) / 60) < 1e-4
            assert abs(d.scheduled_hours - scheduled.get(d.day, 0) / 60) < 1e-4
            assert d.billable == (delivered.get(d.day, 0) >= 180)
        total = sum(delivered.get(d, 0) for d in in_week)
        assert abs(w.delivered_hours - total / 60) < 1e-3
        assert abs(w.scheduled_hours - sum(scheduled.get(d, 0) for d in in_week) / 60) < 1e-3
        billable = sum(delivered.get(d, 0) >= 180 for d in in_week)
        for c in w.checks:
            if c.rule == "H0015":
                assert c.met == (billable >= 3)
            else:  # ASAM and Medicare IOP: weekly hours
                assert c.met == (total >= minimum)
        assert {c.rule for c in w.checks} == {
            {"asam": f"ASAM 2.1 {program.population}", "h0015": "H0015"}.get(r, "Medicare IOP")
            for r in program.rule_sets
        }


@settings(max_examples=60, deadline=None)
@given(
    st.dates(date(2027, 1, 4), date(2027, 12, 20)).map(lambda d: d - timedelta(days=d.weekday())),
    st.integers(1, 3),
    st.sampled_from([EVENING, WITH_CHECK_IN, ADOLESCENT]),
    st.data(),
)
def test_dose_matches_its_definition_for_the_example_programs(
    monday: date, weeks: int, program: Program, data: st.DataObject
) -> None:
    occurrences = expand(program, program.tracks[0].name, start=monday, weeks=weeks)
    cancelled = data.draw(st.sets(st.sampled_from([o.id for o in occurrences]), max_size=2))
    occurrences = tuple(
        attrs.evolve(o, status=Status.CANCELLED) if o.id in cancelled else o for o in occurrences
    )
    check_against_definition(program, occurrences, data.draw(attendance(occurrences)))


@settings(max_examples=60, deadline=None)
@given(programs(), start_dates, st.integers(1, 3), st.data())
def test_dose_matches_its_definition_for_generated_programs(
    program: Program, start: date, weeks: int, data: st.DataObject
) -> None:
    """Random zones (DST included), closures, and a 15-minute check-in that does not count."""
    occurrences = expand(program, program.tracks[0].name, start=start, weeks=weeks)
    check_against_definition(program, occurrences, data.draw(attendance(occurrences)))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_dose_does_not_depend_on_record_order(data: st.DataObject) -> None:
    occurrences = expand(EVENING, "evening", start=START, weeks=3)
    records = data.draw(attendance(occurrences))
    shuffled = data.draw(st.permutations(records))
    assert weekly_dose(EVENING, occurrences, shuffled) == weekly_dose(EVENING, occurrences, records)


# -- edges mutation testing found unguarded -------------------------------------------------------


def test_attended_minutes_edges() -> None:
    (o, *_) = WEEK
    assert attended_minutes(attend(o, "unexcused-absence", minutes=45), o) == 0
    assert attended_minutes(attend(o, "attended", minutes=45), o) == 45
    assert attended_minutes(attrs.evolve(attend(o, "late"), minutes_attended=None), o) == o.minutes
    off_schedule = attrs.evolve(attend(o, "attended"), minutes_attended=None)
    assert attended_minutes(off_schedule, None, longest=120) == 0  # nothing entered: nothing
    assert attended_minutes(attend(o, "attended", minutes=200), None) == 0  # no longest: none
    assert attended_minutes(attend(o, "attended", minutes=200), None, longest=120) == 120


def test_a_make_up_day_is_unscheduled_and_hours_keep_four_decimals() -> None:
    """A 50-minute make-up on a Saturday: 0.8333 h delivered, 0.0 scheduled that day."""
    makeup = AttendanceRecord(
        participant_id="P-1",
        occurrence_id="make-up-1",
        session_date=START + timedelta(days=5),
        status="attended",
        minutes_attended=50,
    )
    (week,) = weekly_dose(EVENING, WEEK, [makeup])
    (saturday,) = [d for d in week.days if d.day.weekday() == 5]
    assert (saturday.scheduled_hours, saturday.delivered_hours) == (0.0, 0.8333)
    assert (week.scheduled_hours, week.delivered_hours) == (9.0, 0.8333)
    monday = next(d for d in week.days if d.day.weekday() == 0)
    assert (monday.scheduled_hours, monday.delivered_hours, monday.billable) == (3.0, 0.0, False)


def test_a_program_without_treatment_types_credits_no_make_up() -> None:
    screens = loads_program(
        """
name = "screens-only"
[session_types.uds]
kind = "screening"
minutes = 15
[tracks.t]
time_zone = "UTC"
[[tracks.t.phases]]
name = "core"
slots = [{ day = "mon", start = "09:00", session_type = "uds" }]
"""
    )
    makeup = AttendanceRecord(
        participant_id="P-1",
        occurrence_id="make-up-1",
        session_date=START,
        status="attended",
        minutes_attended=60,
    )
    (week,) = weekly_dose(screens, [], [makeup])
    assert week.delivered_hours == 0.0
