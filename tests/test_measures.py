"""Check-ins and assessments due, from the participant's own schedule.

Restated here: a session-day measure is due on every (not cancelled) session day up to
``as_of``; an every-N-weeks measure on the first session day and every N weeks after (up to
the last session day on or before ``as_of``); a measure taken in its window satisfies it
(session day: that day; every N weeks: from 3 days before the due date to 3 days before the
next); a due measure is overdue exactly when nothing satisfied it and ``as_of`` is more than
``overdue_after_days`` past its date.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from iopcore import Assessment, MeasureKind, Occurrence, Program, Status, expand, load_program
from iopcore.core.measures import EARLY_DAYS, Due, measures_due
from iopcore.core.policies import AccountabilitySettings, MeasureSchedule
from tests.strategies import programs, start_dates

EVENING = load_program("examples/programs/adult-evening.toml")  # check-in + PHQ-9 every 4 w
START = date(2027, 3, 1)  # a Monday; the Thursday 18:00 group on 2027-03-11 moves to Wed
SESSIONS = expand(EVENING, "evening", start=START, weeks=12)
CHECK_IN = MeasureSchedule(kind="check-in", instrument="check-in")
PHQ9 = MeasureSchedule(kind="assessment", instrument="PHQ-9", every_weeks=4, alert_at=15)


def taken(
    instrument: str, day: date, kind: str = "assessment", id: str | None = None
) -> Assessment:
    return Assessment(
        id=id or f"{instrument}-{day.isoformat()}",
        participant_id="P-1",
        kind=kind,
        instrument=instrument,
        taken_on=day,
    )


def dues(
    as_of: date,
    assessments: Sequence[Assessment] = (),
    program: Program = EVENING,
    sessions: Sequence[Occurrence] = SESSIONS,
    instrument: str | None = None,
) -> list[Due]:
    out = measures_due(program, sessions, assessments, as_of=as_of)
    return [d for d in out if instrument is None or d.instrument == instrument]


def with_grace(days: int, program: Program = EVENING) -> Program:
    return attrs.evolve(program, accountability=AccountabilitySettings(overdue_after_days=days))


# -- examples --------------------------------------------------------------------------------


def test_check_ins_are_due_on_every_session_day_up_to_as_of() -> None:
    as_of = date(2027, 3, 11)
    got = [d.due_on for d in dues(as_of, instrument="check-in")]
    assert got == [
        date(2027, 3, 1),
        date(2027, 3, 2),
        date(2027, 3, 4),
        date(2027, 3, 8),
        date(2027, 3, 9),
        date(2027, 3, 10),  # the moved group makes Wednesday a session day
        date(2027, 3, 11),  # the 20:00 individual session stays on Thursday
    ]
    assert all(d.kind is MeasureKind.CHECK_IN for d in dues(as_of, instrument="check-in"))


def test_the_phq9_is_due_every_four_weeks_from_the_first_session() -> None:
    got = [d.due_on for d in dues(date(2027, 4, 26), instrument="PHQ-9")]
    assert got == [date(2027, 3, 1), date(2027, 3, 29), date(2027, 4, 26)]
    assert [d.due_on for d in dues(date(2027, 4, 25), instrument="PHQ-9")] == got[:2]


def test_nothing_is_due_before_the_first_session() -> None:
    assert dues(START - timedelta(days=1)) == []
    assert dues(START + timedelta(weeks=2), sessions=()) == []


def test_a_check_in_counts_only_on_its_session_day() -> None:
    monday = START
    on_the_day = dues(
        START + timedelta(days=1), [taken("check-in", monday, "check-in")], instrument="check-in"
    )
    assert on_the_day[0].taken == "check-in-2027-03-01"
    late = dues(
        START + timedelta(days=1),
        [taken("check-in", monday + timedelta(1), "check-in")],
        instrument="check-in",
    )
    assert late[0].due_on == monday
    assert late[0].taken is None
    assert late[1].taken == "check-in-2027-03-02"  # it counts for Tuesday instead


def test_an_assessment_counts_from_three_days_early_until_three_days_before_the_next() -> None:
    as_of = date(2027, 4, 26)
    due = date(2027, 3, 29)
    window = [due - timedelta(days=EARLY_DAYS), due + timedelta(weeks=4, days=-EARLY_DAYS - 1)]
    for day in window:
        (_, second, _) = dues(as_of, [taken("PHQ-9", day)], instrument="PHQ-9")
        assert second.taken == f"PHQ-9-{day.isoformat()}", day
    for day in (window[0] - timedelta(days=1), window[1] + timedelta(days=1)):
        (_, second, _) = dues(as_of, [taken("PHQ-9", day)], instrument="PHQ-9")
        assert second.taken is None, day


def test_the_earliest_assessment_in_the_window_satisfies_it() -> None:
    both = [taken("PHQ-9", START, id="A-2"), taken("PHQ-9", START - timedelta(days=2), id="A-1")]
    assert dues(START, both, instrument="PHQ-9")[0].taken == "A-1"


def test_the_kind_and_the_instrument_must_both_match() -> None:
    wrong_kind = taken("PHQ-9", START, kind="check-in")
    wrong_instrument = taken("GAD-7", START)
    (due,) = dues(START, [wrong_kind, wrong_instrument], instrument="PHQ-9")
    assert due.taken is None


def test_overdue_exactly_after_the_grace_days() -> None:
    due = START
    for grace in (0, 2, 5):
        program = with_grace(grace)
        on_time = dues(due + timedelta(days=grace), program=program, instrument="PHQ-9")
        assert on_time[0].overdue is False
        late = dues(due + timedelta(days=grace + 1), program=program, instrument="PHQ-9")
        assert late[0].overdue is True
        done = dues(due + timedelta(days=grace + 1), [taken("PHQ-9", due)], program, SESSIONS)
        assert not any(d.overdue for d in done if d.instrument == "PHQ-9")


def test_cancelled_sessions_make_no_check_in_due() -> None:
    tuesday = START + timedelta(days=1)
    sessions = [
        attrs.evolve(o, status=Status.CANCELLED) if o.start.date() == tuesday else o
        for o in SESSIONS
    ]
    got = [
        d.due_on for d in dues(START + timedelta(days=3), sessions=sessions, instrument="check-in")
    ]
    assert got == [START, START + timedelta(days=3)]


def test_dues_are_ordered_by_date_then_instrument() -> None:
    out = dues(date(2027, 4, 1))
    assert out == sorted(out, key=lambda d: (d.due_on, d.instrument))
    assert [d.instrument for d in out[:2]] == ["PHQ-9", "check-in"]


def test_a_program_without_measures_has_nothing_due() -> None:
    # (its step-down criteria read an instrument, so they go too: nothing would measure it)
    bare = attrs.evolve(EVENING, measures=(), step_down=())
    assert dues(date(2027, 4, 1), program=bare) == []


# -- properties ------------------------------------------------------------------------------

measures_lists = st.lists(
    st.builds(
        MeasureSchedule,
        kind=st.sampled_from(list(MeasureKind)),
        instrument=st.sampled_from(["check-in", "PHQ-9", "BAM"]),
        every_weeks=st.none() | st.integers(1, 5),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda m: (m.kind, m.instrument),
)


def window(measure: MeasureSchedule, due: date) -> tuple[date, date]:
    """[first, last] day on which taking ``measure`` satisfies the one due on ``due``."""
    if measure.every_weeks is None:
        return due, due
    return due - timedelta(days=3), due + timedelta(weeks=measure.every_weeks, days=-4)


def expected_dues(
    program: Program,
    sessions: Sequence[Occurrence],
    assessments: Sequence[Assessment],
    as_of: date,
) -> list[tuple[str, str, date, str | None, bool]]:
    """(kind, instrument, due date, id that satisfied it, overdue) from the definition."""
    scheduled = sorted({o.start.date() for o in sessions if o.status is not Status.CANCELLED})
    days = [d for d in scheduled if d <= as_of]
    # every-N-weeks measures fall due by the calendar (a closed day too) until as_of or the
    # last session, whichever comes first
    final = min(as_of, scheduled[-1]) if scheduled else as_of
    grace = timedelta(days=program.accountability.overdue_after_days)
    out = []
    for m in program.measures:
        if m.every_weeks is None:
            due_dates = days
        else:
            due_dates = [
                days[0] + timedelta(weeks=m.every_weeks * k)
                for k in range(60)
                if days and days[0] + timedelta(weeks=m.every_weeks * k) <= final
            ]
        mine = sorted(
            (a for a in assessments if (a.kind, a.instrument) == (m.kind, m.instrument)),
            key=lambda a: (a.taken_on, a.id),
        )
        for due in due_dates:
            first, last = window(m, due)
            satisfied = [a.id for a in mine if first <= a.taken_on <= last]
            found = satisfied[0] if satisfied else None
            out.append((m.kind, m.instrument, due, found, found is None and as_of > due + grace))
    return sorted(out, key=lambda t: (t[2], t[1]))


@st.composite
def assessments_for(
    draw: st.DrawFn, program: Program, sessions: Sequence[Occurrence], as_of: date
) -> list[Assessment]:
    """Assessments of the program's measures on session days and on days nearby."""
    session_days = sorted({o.start.date() for o in sessions})
    near = st.sampled_from(session_days) if session_days else st.just(as_of)
    days = st.one_of(
        near,
        st.builds(lambda d, n: d + timedelta(days=n), near, st.integers(-5, 5)),
    )
    kinds = [(m.kind, m.instrument) for m in program.measures] + [("check-in", "GAD-7")]
    out = []
    for i in range(draw(st.integers(0, 25))):
        kind, instrument = draw(st.sampled_from(kinds))
        if draw(st.integers(0, 9)) == 0:  # now and then recorded under the other kind
            kind = "assessment" if kind == "check-in" else "check-in"
        out.append(taken(instrument, draw(days), kind=kind, id=f"A-{i:02d}"))
    return out


def check(
    program: Program, sessions: Sequence[Occurrence], assessments: Sequence[Assessment], as_of: date
) -> None:
    got = measures_due(program, sessions, assessments, as_of=as_of)
    assert [(d.kind, d.instrument, d.due_on, d.taken, d.overdue) for d in got] == expected_dues(
        program, sessions, assessments, as_of
    )


@settings(max_examples=75, deadline=None)
@given(
    st.dates(date(2027, 1, 4), date(2027, 10, 4)).map(lambda d: d - timedelta(days=d.weekday())),
    st.integers(0, 13 * 7),
    measures_lists,
    st.integers(0, 5),
    st.data(),
)
def test_measures_due_match_their_definition_on_the_evening_program(
    monday: date, days: int, measures: list[MeasureSchedule], grace: int, data: st.DataObject
) -> None:
    """Any 12-week enrollment of 2027 (holiday closures, the moved group, DST changes)."""
    program = attrs.evolve(
        EVENING,
        measures=tuple(measures),
        step_down=(),  # its criteria may read an instrument these measures leave out
        accountability=AccountabilitySettings(overdue_after_days=grace),
    )
    sessions = expand(program, "evening", start=monday, weeks=12)
    as_of = monday + timedelta(days=days - 7)  # from a week before the first session
    check(program, sessions, data.draw(assessments_for(program, sessions, as_of)), as_of)


@settings(max_examples=50, deadline=None)
@given(programs(), start_dates, st.integers(1, 8), st.integers(0, 70), st.data())
def test_measures_due_match_their_definition_on_generated_programs(
    program: Program, start: date, weeks: int, days: int, data: st.DataObject
) -> None:
    sessions = expand(program, program.tracks[0].name, start=start, weeks=weeks)
    as_of = start + timedelta(days=days)
    check(program, sessions, data.draw(assessments_for(program, sessions, as_of)), as_of)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 8 * 7), st.data())
def test_taking_every_measure_on_its_due_date_leaves_nothing_overdue(
    days: int, data: st.DataObject
) -> None:
    as_of = START + timedelta(days=days)
    satisfied = [
        taken(d.instrument, d.due_on, kind=d.kind, id=f"A-{i}") for i, d in enumerate(dues(as_of))
    ]
    after = dues(as_of, data.draw(st.permutations(satisfied)))
    assert [d.due_on for d in after] == [d.due_on for d in dues(as_of)]
    assert all(d.taken is not None and not d.overdue for d in after)
