"""Accountability: every built-in rule, checked against an independent statement of its condition.

The property tests generate attendance histories for a participant enrolled on a fixed Monday
(every session of 12 weeks gets a status or stays unrecorded, sessions after ``as_of``
included: rules must ignore them), pick ``as_of`` in weeks 2-12 (1-12 for the involvement
rules), and assert that each rule fires exactly when its condition, computed here in the
plainest way, holds, with exactly the records involved as evidence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iopcore import (
    Assessment,
    AttendanceRecord,
    AttendanceStatus,
    Enrollment,
    LevelOfCareChange,
    MeasureKind,
    Occurrence,
    Participant,
    PluginError,
    Program,
    ScreeningOrder,
    ScreeningResult,
    SubstanceOutcome,
    SubstanceResult,
    create_plugin_host,
    load_program,
    open_storage,
)
from iopcore.clinic import census
from iopcore.core.accountability import (
    Concern,
    Evidence,
    Finding,
    ParticipantRecords,
    evaluate,
    evaluate_census,
    planned_schedule,
)
from iopcore.core.attendance import PRESENT
from iopcore.core.course import course
from iopcore.core.enrollment import FamilyContact
from iopcore.core.policies import MeasureSchedule
from iopcore.plugins import AccountabilityRule, hookimpl

EVENING = load_program("examples/programs/adult-evening.toml")  # Mon/Tue/Thu, 9 h a week
DAY = load_program("examples/programs/adult-day.toml")  # family and medication sessions
#: A Monday; no closures in the 12 weeks after it, and the Thursday 18:00 group of week 2
#: (2027-03-11) moves to Wednesday 2027-03-10.
START = date(2027, 3, 1)
WEEKS = 12
PID = "P-1"
UNEXCUSED = AttendanceStatus.UNEXCUSED
#: Statuses in which someone received the session, written out here rather than imported.

NOT_EXPECTED = {"excused-absence", "cancelled-by-program"}
RULE_NAMES = {
    "consecutive-absences",
    "attendance-rate",
    "weekly-hours",
    "screen-not-completed",
    "screen-review",
    "measures",
    "co-occurring-care",
    "family-involvement",
    "records-missing",
}
RULES = create_plugin_host().accountability_rules()


def enrollment(program: Program, start: date = START, pid: str = PID) -> Enrollment:
    return Enrollment(
        id=f"E-{pid}-{start.isoformat()}",
        participant_id=pid,
        program=program.name,
        track=program.tracks[0].name,
        start=start,
    )


EVENING_SCHEDULE = planned_schedule(EVENING, enrollment(EVENING))
DAY_SCHEDULE = planned_schedule(DAY, enrollment(DAY))


@attrs.frozen
class Entry:
    """One session of a generated history: its status (None: nothing recorded) and minutes."""

    occurrence: Occurrence
    status: AttendanceStatus | None
    minutes: int = 0

    @property
    def day(self) -> date:
        return self.occurrence.start.date()

    @property
    def key(self) -> str:
        return f"{PID}/{self.occurrence.id}"


def attend(
    o: Occurrence, status: str, pid: str = PID, minutes: int | None = None
) -> AttendanceRecord:
    if minutes is None:
        minutes = o.minutes if status in PRESENT else 0
    return AttendanceRecord(
        participant_id=pid,
        occurrence_id=o.id,
        session_date=o.start.date(),
        status=status,
        minutes_attended=minutes,
    )


def to_records(history: Iterable[Entry]) -> tuple[AttendanceRecord, ...]:
    return tuple(
        attend(e.occurrence, e.status, minutes=e.minutes) for e in history if e.status is not None
    )


def participant_records(
    *,
    as_of: date,
    program: Program = EVENING,
    schedule: Sequence[Occurrence] = EVENING_SCHEDULE,
    attendance: Iterable[AttendanceRecord] = (),
    participant: Participant | None = None,
    results: Iterable[ScreeningResult] = (),
    assessments: Iterable[Assessment] = (),
    start: date = START,
) -> ParticipantRecords:
    return ParticipantRecords(
        participant=participant or Participant(id=PID),
        enrollment=enrollment(program, start),
        program=program,
        occurrences=tuple(schedule),
        attendance=tuple(attendance),
        results=tuple(results),
        assessments=tuple(assessments),
        as_of=as_of,
    )


def run(rule: str, records: ParticipantRecords) -> list[Finding]:
    return list(RULES[rule].evaluate(records))


def with_settings(program: Program, **changes: Any) -> Program:
    return attrs.evolve(program, accountability=attrs.evolve(program.accountability, **changes))


def evidence_set(finding: Finding) -> set[tuple[str, str, date]]:
    return {(e.kind, e.id, e.on) for e in finding.evidence}


def sessions_on(schedule: Sequence[Occurrence], day: date) -> list[Occurrence]:
    return [o for o in schedule if o.start.date() == day]


def week_of(schedule: Sequence[Occurrence], monday: date) -> list[Occurrence]:
    return [o for o in schedule if monday <= o.start.date() < monday + timedelta(days=7)]


# -- generated histories ---------------------------------------------------------------------

STATUSES: tuple[AttendanceStatus | None, ...] = (None, *AttendanceStatus)


def minutes_for(
    draw: Callable[[st.SearchStrategy[int]], int], o: Occurrence, status: AttendanceStatus | None
) -> int:
    if status in (AttendanceStatus.LATE, AttendanceStatus.LEFT_EARLY):
        return draw(st.integers(1, o.minutes - 1))
    return o.minutes if status is not None and status.value in PRESENT else 0


@st.composite
def histories(
    draw: st.DrawFn,
    schedule: Sequence[Occurrence] = EVENING_SCHEDULE,
    first_week: int = 2,
    last_week: int = WEEKS,
    skip_kind: str | None = None,
) -> tuple[date, list[Entry]]:
    """``as_of`` in weeks ``first_week``-``last_week``, and every session of the 12 weeks.

    Statuses come from a small palette (1-3 statuses, "unrecorded" among the choices) and
    often cover a whole session day, so long runs of one status are common. The last few
    session days up to ``as_of`` often share one status (mostly unexcused absences), and
    sessions of kind ``skip_kind`` are often all missed or unrecorded.
    """
    as_of = draw(
        st.dates(
            START + timedelta(weeks=first_week - 1),
            START + timedelta(weeks=last_week) - timedelta(days=1),
        )
    )
    palette = draw(st.lists(st.sampled_from(STATUSES), min_size=1, max_size=3, unique=True))
    tail_days = draw(st.integers(0, 5))
    tail = draw(st.sampled_from([UNEXCUSED, UNEXCUSED, UNEXCUSED, None, *AttendanceStatus]))
    skipped = skip_kind is not None and draw(st.booleans())
    days: dict[date, list[Occurrence]] = {}
    for o in schedule:
        if o.start.date() < START + timedelta(weeks=WEEKS):
            days.setdefault(o.start.date(), []).append(o)
    recent = sorted(d for d in days if d <= as_of)[-tail_days:] if tail_days else []
    history = []
    for day, sessions in days.items():
        if day in recent and draw(st.integers(0, 3)):
            statuses = [tail] * len(sessions)
        elif draw(st.booleans()):
            statuses = [draw(st.sampled_from(palette))] * len(sessions)
        else:
            statuses = [draw(st.sampled_from(palette)) for _ in sessions]
        for o, status in zip(sessions, statuses, strict=True):
            if skipped and DAY.session_type(o.session_type).kind == skip_kind:
                status = draw(st.sampled_from([None, UNEXCUSED, AttendanceStatus.EXCUSED]))
            history.append(Entry(o, status, minutes_for(draw, o, status)))
    return as_of, history


PROPERTY = settings(max_examples=75, deadline=None)


# -- consecutive-absences --------------------------------------------------------------------


def trailing_unexcused_days(history: Sequence[Entry], as_of: date) -> list[date]:
    """The latest recorded session days, newest first, on which every record is unexcused;
    days the program cancelled are skipped."""
    recorded_days = sorted({e.day for e in history if e.status is not None and e.day <= as_of})
    run_days = []
    for day in reversed(recorded_days):
        statuses = {e.status for e in history if e.day == day and e.status is not None}
        if statuses == {"cancelled-by-program"}:
            continue
        if statuses != {UNEXCUSED}:
            break
        run_days.append(day)
    return run_days


@PROPERTY
@given(histories(), st.integers(1, 4))
def test_consecutive_absences_fires_exactly_when_the_latest_session_days_were_missed(
    generated: tuple[date, list[Entry]], needed: int
) -> None:
    as_of, history = generated
    program = with_settings(EVENING, consecutive_unexcused=needed)
    findings = run(
        "consecutive-absences",
        participant_records(as_of=as_of, program=program, attendance=to_records(history)),
    )
    run_days = trailing_unexcused_days(history, as_of)
    if len(run_days) < needed:
        assert findings == []
        return
    (finding,) = findings
    assert finding.rule == "consecutive-absences"
    assert finding.concern is (Concern.HIGH if len(run_days) > needed else Concern.MEDIUM)
    assert finding.summary.startswith(f"{len(run_days)} session days in a row")
    assert evidence_set(finding) == {
        ("attendance", e.key, e.day) for e in history if e.day in run_days and e.status
    }
    assert [e.on for e in finding.evidence] == sorted(e.on for e in finding.evidence)


def test_consecutive_absences_examples() -> None:
    week1 = [o for o in EVENING_SCHEDULE if o.start.date() < START + timedelta(days=7)]
    mon, tue, thu = (sessions_on(week1, START + timedelta(days=d)) for d in (0, 1, 3))
    attended_monday = [attend(o, "attended") for o in mon]
    missed_tuesday = [attend(o, "unexcused-absence") for o in tue]
    missed_thursday = [attend(o, "unexcused-absence") for o in thu]

    def fire(records: Iterable[AttendanceRecord], as_of: date) -> list[Finding]:
        return run("consecutive-absences", participant_records(as_of=as_of, attendance=records))

    tuesday, thursday = START + timedelta(days=1), START + timedelta(days=3)
    assert fire(attended_monday + missed_tuesday, tuesday) == []  # one day is not a run
    (two,) = fire(attended_monday + missed_tuesday + missed_thursday, thursday)
    assert two.concern is Concern.MEDIUM
    assert len(two.evidence) == 4  # both sessions of both days
    # Thursday not recorded yet: unknown, neither counted nor breaking the run
    assert fire(attended_monday + missed_tuesday, thursday) == []
    # an excused day (notice was given) ends the run
    excused = [attend(o, "excused-absence") for o in thu]
    assert fire(attended_monday + missed_tuesday + excused, thursday) == []
    # one session attended on a day means the day was not missed
    half = [attend(thu[0], "attended"), attend(thu[1], "unexcused-absence")]
    assert fire(missed_tuesday + half, thursday) == []
    # three days in a row is more than the threshold of 2: high concern
    missed_monday = [attend(o, "unexcused-absence") for o in mon]
    (three,) = fire(missed_monday + missed_tuesday + missed_thursday, thursday)
    assert three.concern is Concern.HIGH
    assert three.summary.startswith("3 session days in a row")


def test_a_finding_keeps_its_id_while_nothing_new_is_recorded() -> None:
    """Tuesday's finding is the same finding on Wednesday (no sessions) and on Thursday
    before Thursday's attendance is recorded: clinic software can deduplicate by id."""
    mon_tue = [o for o in EVENING_SCHEDULE if o.start.date() < START + timedelta(days=2)]
    missed = [attend(o, "unexcused-absence") for o in mon_tue]
    ids = {
        run("consecutive-absences", participant_records(as_of=day, attendance=missed))[0].id
        for day in (START + timedelta(days=n) for n in (1, 2, 3))
    }
    assert len(ids) == 1


# -- attendance-rate -------------------------------------------------------------------------


@PROPERTY
@given(
    histories(),
    st.integers(1, 4),
    st.sampled_from(["0", "0.1", "0.5", "0.6", "0.75", "0.8", "0.9", "1"]),
)
def test_attendance_rate_fires_exactly_when_the_rate_is_below_the_threshold(
    generated: tuple[date, list[Entry]], weeks: int, below: str
) -> None:
    as_of, history = generated
    program = with_settings(EVENING, rate_weeks=weeks, attendance_rate_below=float(below))
    findings = run(
        "attendance-rate",
        participant_records(as_of=as_of, program=program, attendance=to_records(history)),
    )
    since = as_of - timedelta(weeks=weeks)
    window = [e for e in history if e.status is not None and since < e.day <= as_of]
    expected = [e for e in window if e.status not in NOT_EXPECTED]
    attended = [e for e in expected if e.status in PRESENT]
    fires = bool(expected) and Fraction(len(attended), len(expected)) < Fraction(below)
    if not fires:
        assert findings == []
        return
    (finding,) = findings
    assert finding.concern is Concern.MEDIUM
    assert finding.summary.startswith(f"attended {len(attended) / len(expected):.0%} of sessions")
    assert evidence_set(finding) == {
        ("attendance", e.key, e.day) for e in expected if e.status not in PRESENT
    }


def test_attendance_rate_examples() -> None:
    as_of = START + timedelta(days=13)  # Sunday of week 2: the window is weeks 1 and 2
    two_weeks = [o for o in EVENING_SCHEDULE if o.start.date() <= as_of]
    assert len(two_weeks) == 12

    def fire(statuses: Sequence[str]) -> list[Finding]:
        records = [attend(o, s) for o, s in zip(two_weeks, statuses, strict=False)]
        return run("attendance-rate", participant_records(as_of=as_of, attendance=records))

    assert fire(["attended"] * 9 + ["unexcused-absence"] * 3) == []  # exactly 75%: not below
    (finding,) = fire(["attended"] * 8 + ["unexcused-absence"] * 4)  # 67%
    assert "67%" in finding.summary
    assert len(finding.evidence) == 4
    # excused absences and sessions the program cancelled are not expected of anyone
    assert fire(["attended"] * 3 + ["excused-absence"] * 5 + ["cancelled-by-program"] * 4) == []
    # unrecorded sessions are unknown: 3 attended of 3 recorded
    assert fire(["attended"] * 3) == []
    assert run("attendance-rate", participant_records(as_of=as_of)) == []  # nothing recorded


# -- weekly-hours ----------------------------------------------------------------------------


@PROPERTY
@given(histories(), st.data())
def test_weekly_hours_fires_exactly_when_last_weeks_delivered_hours_are_below_9(
    generated: tuple[date, list[Entry]], data: st.DataObject
) -> None:
    as_of, history = generated
    monday = as_of - timedelta(days=as_of.weekday() + 7)
    last_week = {o.id for o in week_of(EVENING_SCHEDULE, monday)}

    # every session of the week judged is recorded (a week with unrecorded sessions is not judged)
    def complete(e: Entry) -> Entry:
        if e.occurrence.id not in last_week or e.status is not None:
            return e
        status = data.draw(st.sampled_from(list(AttendanceStatus)))
        return Entry(e.occurrence, status, minutes_for(data.draw, e.occurrence, status))

    history = [complete(e) for e in history]
    findings = run("weekly-hours", participant_records(as_of=as_of, attendance=to_records(history)))
    involved = [e for e in history if e.occurrence.id in last_week]
    minutes = sum(e.minutes for e in involved if e.status in PRESENT)
    if minutes >= 9 * 60:  # ASAM 2.1 adult: >= 9 h a week
        assert findings == []
        return
    (finding,) = findings
    assert finding.concern is Concern.MEDIUM
    hours = re.fullmatch(
        rf"week of {monday}: (\d+(?:\.\d+)?) h delivered of 9 h expected \(ASAM 2\.1 adult\)",
        finding.summary,
    )
    assert hours is not None, finding.summary
    assert abs(float(hours[1]) - minutes / 60) <= 0.05 + 1e-9
    assert evidence_set(finding) == {("attendance", e.key, e.day) for e in involved}


def test_weekly_hours_examples() -> None:
    as_of = START + timedelta(days=9)  # Wednesday of week 2: week 1 is judged
    week1 = week_of(EVENING_SCHEDULE, START)
    assert sum(o.minutes for o in week1) == 540
    full = [attend(o, "attended") for o in week1]
    assert run("weekly-hours", participant_records(as_of=as_of, attendance=full)) == []
    short = [*full[:-1], attend(week1[-1], "left-early", minutes=59)]  # 539 minutes
    (finding,) = run("weekly-hours", participant_records(as_of=as_of, attendance=short))
    assert finding.summary.startswith("week of 2027-03-01: ")
    assert finding.summary.endswith(" h delivered of 9 h expected (ASAM 2.1 adult)")
    assert len(finding.evidence) == 6  # every record of the week
    excused = [*full[:-2], *(attend(o, "excused-absence") for o in week1[-2:])]
    (finding,) = run("weekly-hours", participant_records(as_of=as_of, attendance=excused))
    assert "6.00 h delivered" in finding.summary  # dose is dose, whatever the reason
    # as_of in week 1: no week is complete yet, nothing is judged
    assert run("weekly-hours", participant_records(as_of=START + timedelta(days=3))) == []


def test_weekly_hours_does_not_judge_a_week_nobody_recorded() -> None:
    records = participant_records(as_of=START + timedelta(days=9))
    assert run("weekly-hours", records) == []


# -- screen-not-completed and screen-review --------------------------------------------------


@st.composite
def screening_results(draw: st.DrawFn, as_of: date) -> list[ScreeningResult]:
    out = []
    for n in range(draw(st.integers(0, 5))):
        day = draw(st.dates(START, as_of))
        collected = draw(
            st.none() | st.just(datetime(day.year, day.month, day.day, 18, 30, tzinfo=UTC))
        )
        outcomes = draw(st.lists(st.sampled_from(list(SubstanceOutcome)), min_size=1, max_size=4))
        out.append(
            ScreeningResult(
                order_id=f"S-{n}",
                participant_id=PID,
                results=[
                    SubstanceResult(substance=f"substance-{i}", result=outcome)
                    for i, outcome in enumerate(outcomes)
                ],
                collected_at=collected,
            )
        )
    return out


@PROPERTY
@given(st.dates(START + timedelta(weeks=1), START + timedelta(weeks=WEEKS, days=-1)), st.data())
def test_screen_rules_fire_exactly_for_the_results_that_need_them(
    as_of: date, data: st.DataObject
) -> None:
    results = data.draw(screening_results(as_of))
    records = participant_records(as_of=as_of, results=results)
    missed = {"missed", "refused", "invalid"}
    for rule, wanted in (
        ("screen-not-completed", missed),
        ("screen-review", {"positive", "dilute"}),
    ):
        findings = run(rule, records)
        window = as_of - timedelta(weeks=2)  # the default review window
        needing = [
            r
            for r in results
            if {s.result.value for s in r.results} & wanted
            and window < (r.collected_at.date() if r.collected_at else as_of) <= as_of
        ]
        assert len(findings) == len(needing)
        for finding, result in zip(findings, needing, strict=True):
            on = result.collected_at.date() if result.collected_at else as_of
            assert evidence_set(finding) == {("screening-result", result.order_id, on)}
            outcomes = {s.result for s in result.results}
            if rule == "screen-review":
                positive = SubstanceOutcome.POSITIVE in outcomes
                assert finding.concern is (Concern.HIGH if positive else Concern.MEDIUM)
            else:
                assert finding.concern is Concern.MEDIUM


def test_screen_examples() -> None:
    as_of = START + timedelta(days=9)

    def result(order_id: str, *outcomes: str) -> ScreeningResult:
        return ScreeningResult(
            order_id=order_id,
            participant_id=PID,
            results=[SubstanceResult(substance="cocaine", result=o) for o in outcomes],
        )

    records = participant_records(
        as_of=as_of,
        results=[
            result("S-neg", "negative", "negative"),
            result("S-pos", "negative", "positive"),
            result("S-dil", "dilute"),
            result("S-ref", "refused"),
            result("S-inv", "invalid"),
        ],
    )
    review = run("screen-review", records)
    assert [(f.evidence[0].id, f.concern) for f in review] == [
        ("S-pos", Concern.HIGH),
        ("S-dil", Concern.MEDIUM),
    ]
    assert "dilute" in review[1].summary
    missed = run("screen-not-completed", records)
    assert [f.evidence[0].id for f in missed] == ["S-ref", "S-inv"]
    assert missed[0].evidence[0].on == as_of  # no collection time and no order: as of the day


def test_records_after_as_of_raise_nothing() -> None:
    later = datetime(2027, 4, 5, 18, 30, tzinfo=UTC)
    records = participant_records(
        as_of=START + timedelta(days=9),
        results=[
            ScreeningResult(
                order_id="S-later",
                participant_id=PID,
                results=[SubstanceResult(substance="cocaine", result="positive")],
                collected_at=later,
            )
        ],
        assessments=[
            Assessment(
                id="A-later",
                participant_id=PID,
                kind="assessment",
                instrument="PHQ-9",
                taken_on=later.date(),
                score=27,
            )
        ],
    )
    assert run("screen-review", records) == []
    assert [f for f in run("measures", records) if f.rule == "assessment-alert"] == []


# -- measures: overdue check-ins and assessments, alerts ------------------------------------


@st.composite
def assessment_histories(draw: st.DrawFn, as_of: date) -> list[Assessment]:
    """Check-ins on most session days (and some other days), PHQ-9s near their due dates
    or on random days, some recorded under the wrong kind."""
    session_days = sorted({o.start.date() for o in EVENING_SCHEDULE if o.start.date() <= as_of})
    missing = draw(st.lists(st.sampled_from(session_days), unique=True, max_size=3))
    if draw(st.booleans()):
        missing = draw(st.lists(st.sampled_from(session_days), unique=True))
    days = [d for d in session_days if d not in missing]
    days += draw(st.lists(st.dates(START - timedelta(days=7), as_of), max_size=3))
    out = [
        Assessment(
            id=f"C-{i}", participant_id=PID, kind="check-in", instrument="check-in", taken_on=day
        )
        for i, day in enumerate(days)
    ]
    phq_days = draw(st.lists(st.dates(START - timedelta(days=7), as_of), max_size=4))
    if draw(st.booleans()):  # near each due date, from 5 days early to 27 days late
        phq_days += [
            START + timedelta(weeks=4 * k, days=draw(st.integers(-5, 27)))
            for k in range(3)
            if START + timedelta(weeks=4 * k) <= as_of
        ]
    for i, day in enumerate(phq_days):
        out.append(
            Assessment(
                id=f"A-{i}",
                participant_id=PID,
                kind=draw(st.sampled_from([*MeasureKind, MeasureKind.ASSESSMENT])),
                instrument="PHQ-9",
                taken_on=min(day, as_of),
                score=draw(st.none() | st.integers(0, 27).map(float)),
            )
        )
    return out


@PROPERTY
@given(st.dates(START + timedelta(weeks=1), START + timedelta(weeks=WEEKS, days=-1)), st.data())
def test_measures_fires_exactly_for_overdue_measures_and_alert_scores(
    as_of: date, data: st.DataObject
) -> None:
    grace = data.draw(st.integers(0, 4))
    program = with_settings(EVENING, overdue_after_days=grace)
    assessments = data.draw(assessment_histories(as_of))
    findings = run(
        "measures", participant_records(as_of=as_of, program=program, assessments=assessments)
    )

    session_days = sorted({o.start.date() for o in EVENING_SCHEDULE if o.start.date() <= as_of})
    check_ins = {
        a.taken_on for a in assessments if a.kind == "check-in" and a.instrument == "check-in"
    }
    overdue_check_ins = [
        d for d in session_days if d not in check_ins and as_of > d + timedelta(days=grace)
    ]
    phq = [a for a in assessments if a.kind == "assessment" and a.instrument == "PHQ-9"]
    phq_dues = []
    due = session_days[0]
    while due <= session_days[-1]:  # every 4 weeks from the first session day
        phq_dues.append(due)
        due += timedelta(weeks=4)
    overdue_phq = [
        d
        for d in phq_dues
        if not any(d - timedelta(days=3) <= a.taken_on < d + timedelta(days=25) for a in phq)
        and as_of > d + timedelta(days=grace)
    ]
    scored = sorted(
        (a for a in assessments if a.instrument == "PHQ-9" and a.score is not None),
        key=lambda a: (a.taken_on, a.id),
    )
    latest = scored[-1:] if scored else []  # only the latest score counts, while recent
    alerts = [a for a in latest if (a.score or 0) >= 15 and a.taken_on > as_of - timedelta(weeks=2)]

    by_rule: dict[str, list[Finding]] = {}
    for f in findings:
        by_rule.setdefault(f.rule, []).append(f)
    assert set(by_rule) <= {"check-in-overdue", "assessment-overdue", "assessment-alert"}
    for rule, dues, concern in (
        ("check-in-overdue", overdue_check_ins, Concern.LOW),
        ("assessment-overdue", overdue_phq, Concern.MEDIUM),
    ):
        if not dues:
            assert rule not in by_rule
            continue
        (finding,) = by_rule[rule]
        assert finding.concern is concern
        assert finding.summary.startswith(f"{len(dues)} ")
        assert sorted(e.on for e in finding.evidence) == dues
    assert sorted(e.id for f in by_rule.get("assessment-alert", []) for e in f.evidence) == sorted(
        a.id for a in alerts
    )
    assert all(f.concern is Concern.HIGH for f in by_rule.get("assessment-alert", []))


def test_measures_examples() -> None:
    as_of = START + timedelta(days=4)  # Friday of week 1: check-ins due Mon, Tue, Thu
    mon, tue = START, START + timedelta(days=1)
    check_in = [
        Assessment(
            id=f"C-{d}", participant_id=PID, kind="check-in", instrument="check-in", taken_on=d
        )
        for d in (mon, tue)
    ]
    phq = Assessment(
        id="A-1",
        participant_id=PID,
        kind="assessment",
        instrument="PHQ-9",
        taken_on=START - timedelta(days=2),
        score=16,
    )  # 2 days early: counts
    findings = run("measures", participant_records(as_of=as_of, assessments=[*check_in, phq]))
    assert [f.rule for f in findings] == ["assessment-alert"]  # Thursday is within 2 days
    assert findings[0].summary == "PHQ-9 score at or above 15"
    later = run(
        "measures", participant_records(as_of=as_of + timedelta(days=3), assessments=check_in)
    )
    assert sorted(f.rule for f in later) == ["assessment-overdue", "check-in-overdue"]


def test_different_overdue_episodes_are_different_findings() -> None:
    program = attrs.evolve(
        EVENING, measures=(MeasureSchedule(kind="assessment", instrument="PHQ-9", every_weeks=4),)
    )
    first = run("measures", participant_records(as_of=START + timedelta(days=10), program=program))
    taken = Assessment(
        id="A-1",
        participant_id=PID,
        kind="assessment",
        instrument="PHQ-9",
        taken_on=START + timedelta(days=10),
    )
    second = run(
        "measures",
        participant_records(
            as_of=START + timedelta(weeks=4, days=10), program=program, assessments=[taken]
        ),
    )
    assert [e.on for e in first[0].evidence] != [e.on for e in second[0].evidence]
    assert first[0].id != second[0].id


# -- co-occurring-care and family-involvement ------------------------------------------------

DIAGNOSES = ["F10.20", "F11.20", "F14.10", "F33.1", "F41.1", "F20.9", "F43.10", "Z63.0", "F90.0"]
MEDICATION = "medication-management"


def attended_kind(
    program: Program, history: Sequence[Entry], kind: str, as_of: date, weeks: int
) -> bool:
    since = as_of - timedelta(weeks=weeks)
    return any(
        e.status in PRESENT
        and since < e.day <= as_of
        and program.session_type(e.occurrence.session_type).kind == kind
        for e in history
    )


@PROPERTY
@given(
    histories(DAY_SCHEDULE, first_week=1, skip_kind=MEDICATION),
    st.lists(st.sampled_from(DIAGNOSES), max_size=3, unique=True),
    st.integers(1, 6),
)
def test_co_occurring_care_fires_exactly_without_recent_medication_management(
    generated: tuple[date, list[Entry]], diagnoses: list[str], weeks: int
) -> None:
    as_of, history = generated
    program = with_settings(DAY, involvement_weeks=weeks)
    findings = run(
        "co-occurring-care",
        participant_records(
            as_of=as_of,
            program=program,
            schedule=DAY_SCHEDULE,
            attendance=to_records(history),
            participant=Participant(id=PID, diagnoses=diagnoses),
        ),
    )
    psychiatric = any(d.startswith("F") and 20 <= int(d[1:3]) <= 69 for d in diagnoses)
    fires = (
        psychiatric
        and as_of - timedelta(weeks=weeks) >= START
        and not attended_kind(DAY, history, MEDICATION, as_of, weeks)
    )
    assert [(f.rule, f.concern, f.evidence) for f in findings] == (
        [("co-occurring-care", Concern.LOW, ())] if fires else []
    )


contacts = st.lists(
    st.builds(
        FamilyContact,
        id=st.sampled_from(["F-1", "F-2", "F-3"]),
        relationship=st.just("support person"),
        consent_to_contact=st.booleans(),
    ),
    max_size=3,
    unique_by=lambda c: c.id,
)


@PROPERTY
@given(histories(DAY_SCHEDULE, first_week=1, skip_kind="family"), contacts, st.integers(1, 6))
def test_family_involvement_fires_exactly_for_consenting_family_without_a_recent_session(
    generated: tuple[date, list[Entry]], family: list[FamilyContact], weeks: int
) -> None:
    as_of, history = generated
    program = with_settings(DAY, involvement_weeks=weeks)
    participant = Participant(id=PID, family=family)
    findings = run(
        "family-involvement",
        participant_records(
            as_of=as_of,
            program=program,
            schedule=DAY_SCHEDULE,
            attendance=to_records(history),
            participant=participant,
        ),
    )
    consenting = [c.id for c in family if c.consent_to_contact]
    fires = (
        bool(consenting)
        and as_of - timedelta(weeks=weeks) >= START
        and not attended_kind(DAY, history, "family", as_of, weeks)
    )
    if not fires:
        assert findings == []
        return
    (finding,) = findings
    assert finding.concern is Concern.LOW
    assert evidence_set(finding) == {("family-contact", c, as_of) for c in consenting}


def test_involvement_examples() -> None:
    family = [FamilyContact(id="F-1", relationship="sister", consent_to_contact=True)]
    person = Participant(id=PID, diagnoses=["F10.20", "F33.1"], family=family)
    as_of = START + timedelta(weeks=5)
    # the evening program offers no family session: nobody to invite to
    evening = participant_records(as_of=as_of, participant=person)
    assert run("family-involvement", evening) == []
    # ... and no medication management either; the prompt still appears (a referral)
    assert [f.rule for f in run("co-occurring-care", evening)] == ["co-occurring-care"]
    # substance-use diagnoses alone are not co-occurring
    sud_only = Participant(id=PID, diagnoses=["F10.20", "F14.10"])
    assert run("co-occurring-care", participant_records(as_of=as_of, participant=sud_only)) == []
    # no consent, no contact (42 CFR Part 2)
    unconsented = Participant(
        id=PID, family=[FamilyContact(id="F-1", relationship="sister", consent_to_contact=False)]
    )
    day = participant_records(
        as_of=as_of, program=DAY, schedule=DAY_SCHEDULE, participant=unconsented
    )
    assert run("family-involvement", day) == []
    # a family session attended in the last 4 weeks
    session = next(
        o
        for o in DAY_SCHEDULE
        if o.session_type == "family" and o.start.date() > as_of - timedelta(weeks=4)
    )
    with_session = attrs.evolve(day, participant=person, attendance=(attend(session, "attended"),))
    assert run("family-involvement", with_session) == []
    assert len(run("family-involvement", attrs.evolve(with_session, attendance=()))) == 1
    # too early in treatment to expect either
    early = attrs.evolve(with_session, attendance=(), as_of=START + timedelta(weeks=4, days=-1))
    assert run("family-involvement", early) == []
    assert run("co-occurring-care", early) == []


# -- all rules together ----------------------------------------------------------------------

#: The adult day program with an alert level on its BAM, so every rule can fire.
DAY_ALERT = attrs.evolve(
    DAY,
    measures=(
        MeasureSchedule(kind="check-in", instrument="check-in"),
        MeasureSchedule(kind="assessment", instrument="BAM", every_weeks=2, alert_at=20),
    ),
)
SECRET_CODES = ["F10.20", "F33.1"]


def troubled(pid: str = PID, start: date = START) -> ParticipantRecords:
    """A participant for whom every built-in rule has something to say."""
    schedule = planned_schedule(DAY_ALERT, enrollment(DAY_ALERT, start, pid))
    as_of = start + timedelta(weeks=5, days=2)
    attendance = []
    for o in schedule:
        if o.start.date() > as_of:
            break
        kind = DAY_ALERT.session_type(o.session_type).kind
        fine = o.start.date() < start + timedelta(weeks=4) and kind not in ("family", MEDICATION)
        attendance.append(attend(o, "attended" if fine else "unexcused-absence", pid))

    def result(n: int, outcome: str) -> ScreeningResult:
        day = start + timedelta(days=n)
        return ScreeningResult(
            order_id=f"S-{pid}-{day.isoformat()}",
            participant_id=pid,
            results=[SubstanceResult(substance="cocaine", result=outcome, loinc="19359-9")],
            collected_at=datetime(day.year, day.month, day.day, 15, tzinfo=UTC),
        )

    return ParticipantRecords(
        participant=Participant(
            id=pid,
            diagnoses=SECRET_CODES,
            family=[FamilyContact(id=f"F-{pid}", relationship="spouse", consent_to_contact=True)],
        ),
        enrollment=enrollment(DAY_ALERT, start, pid),
        program=DAY_ALERT,
        occurrences=schedule,
        attendance=tuple(attendance),
        results=(  # within the two-week review window before as_of (day 37)
            result(24, "negative"),
            result(27, "missed"),
            result(30, "positive"),
            result(33, "dilute"),
        ),
        assessments=(
            Assessment(
                id=f"A-{pid}-1",
                participant_id=pid,
                kind="assessment",
                instrument="BAM",
                taken_on=start + timedelta(days=33),
                score=24,
            ),
        ),
        as_of=as_of,
    )


ALL_FINDINGS = {
    "consecutive-absences",
    "attendance-rate",
    "weekly-hours",
    "screen-not-completed",
    "screen-review",
    "check-in-overdue",
    "assessment-overdue",
    "assessment-alert",
    "co-occurring-care",
    "family-involvement",
}


def test_every_built_in_rule_has_something_to_say_about_a_troubled_history() -> None:
    findings = evaluate(troubled(), RULES)
    assert {f.rule for f in findings} == ALL_FINDINGS
    order = {Concern.HIGH: 0, Concern.MEDIUM: 1, Concern.LOW: 2}
    assert [order[f.concern] for f in findings] == sorted(order[f.concern] for f in findings)
    assert all(f.participant_id == PID and f.as_of == troubled().as_of for f in findings)


@PROPERTY
@given(histories(), st.data())
def test_findings_are_deterministic_and_independent_of_record_order(
    generated: tuple[date, list[Entry]], data: st.DataObject
) -> None:
    as_of, history = generated
    results = data.draw(screening_results(as_of))
    assessments = data.draw(assessment_histories(as_of))
    records = participant_records(
        as_of=as_of, attendance=to_records(history), results=results, assessments=assessments
    )
    first = evaluate(records, RULES)
    assert evaluate(records, RULES) == first
    shuffled = attrs.evolve(
        records,
        attendance=tuple(data.draw(st.permutations(records.attendance))),
        results=tuple(data.draw(st.permutations(records.results))),
        assessments=tuple(data.draw(st.permutations(records.assessments))),
    )
    assert evaluate(shuffled, RULES) == first
    assert [f.id for f in evaluate(shuffled, RULES)] == [f.id for f in first]


def test_finding_ids_are_stable() -> None:
    evidence = [Evidence(kind="attendance", id="P-1/e148b5382d6be69c", on=date(2027, 1, 4))]

    def finding(**changes: object) -> Finding:
        values: dict[str, object] = {
            "participant_id": "P-1",
            "rule": "attendance-rate",
            "concern": "medium",
            "as_of": date(2027, 1, 5),
            "summary": "attended 50% of sessions",
            "action": "review",
            "evidence": evidence,
        }
        values.update(changes)
        return Finding(**values)  # type: ignore[arg-type]

    base = finding()
    assert base.id == "13695693ac67f986"  # pinned: ids are stored by clinic software
    # the same rule on the same evidence is the same finding, whenever and however worded
    assert finding(as_of=date(2027, 2, 1), summary="x", action="y", concern="high").id == base.id
    assert finding(rule="weekly-hours").id != base.id
    assert finding(participant_id="P-2").id != base.id
    assert finding(evidence=[*evidence, evidence[0]]).id != base.id
    assert finding(evidence=[]).id != base.id
    assert all(re.fullmatch(r"[0-9a-f]{16}", f.id) for f in evaluate(troubled(), RULES))


OUTCOME_WORDS = [o.value for o in SubstanceOutcome] + ["cocaine", "19359-9", "LA6576-8"]


def test_reprs_show_no_screen_outcomes_diagnoses_or_family() -> None:
    records = troubled()
    findings = evaluate(records, RULES)
    # the program's own repr may name policies ("negative_screens_in_a_row"): leave it out
    texts = [repr(f) for f in findings] + [str(f) for f in findings]
    texts.append(repr(records).replace(repr(records.program), "<program>"))
    for text in texts:
        for secret in [*OUTCOME_WORDS, *SECRET_CODES, "spouse"]:
            assert secret not in text, (secret, text[:200])
    review = next(f for f in findings if f.rule == "screen-review")
    assert "review" in review.summary  # the summary is there, just not in reprs


#: Words that blame or punish. Wording is for care: DOMAIN.md "screening is for monitoring
#: and treatment decisions, not punishment"; person-first language (no "addict", "clean").
PUNITIVE = re.compile(
    r"\b(violat\w*|non-?complian\w*|fail\w*|dirty|clean|punish\w*|sanction\w*|penal\w*|"
    r"consequences?|discharg\w*|terminat\w*|expel\w*|dismiss\w*|warning|offender|addicts?|"
    r"abuser|junkie|refus\w*|lied|lying|cheat\w*|suspicious)\b",
    re.IGNORECASE,
)
#: "Not a sanction", "rather than sanctions": saying what a finding is not is allowed.
DISCLAIMER = re.compile(
    r"\b(rather than|not an?|instead of|never an?)\s+(sanctions?|punishment)\b", re.IGNORECASE
)


def punitive_words(text: str) -> list[str]:
    return PUNITIVE.findall(DISCLAIMER.sub("", text))


def test_the_wording_scan_catches_punitive_text() -> None:
    assert punitive_words("participant failed a screen: dirty UA, sanction applied") == [
        "failed",
        "dirty",
        "sanction",
    ]
    assert punitive_words("talk it over; treat it as care, not a sanction") == []
    assert punitive_words("consider a plan change rather than sanctions") == []
    assert punitive_words("non-compliant with attendance: violation") == [
        "non-compliant",
        "violation",
    ]


def test_findings_are_worded_for_care_not_punishment() -> None:
    findings = evaluate(troubled(), RULES)
    assert {f.rule for f in findings} == ALL_FINDINGS
    for f in findings:
        assert f.summary.strip()
        assert f.action.strip()
        assert punitive_words(f.summary) == [], (f.rule, f.summary)
        assert punitive_words(f.action) == [], (f.rule, f.action)
    screen_actions = " ".join(f.action for f in findings if f.rule.startswith("screen"))
    assert "rather than sanctions" in screen_actions  # deliberately says what it is not


# -- a census from a real store --------------------------------------------------------------


def test_evaluate_census_over_a_sqlite_store_matches_records_built_by_hand(tmp_path: Path) -> None:
    as_of = START + timedelta(weeks=5, days=2)
    quiet = planned_schedule(EVENING, enrollment(EVENING, START, "P-2"))
    hand = [
        troubled("P-1"),
        participant_records(
            as_of=as_of,
            participant=Participant(id="P-2", diagnoses=["F41.1"]),
            schedule=quiet,
            attendance=[attend(o, "attended", "P-2") for o in quiet if o.start.date() <= as_of],
            results=[
                ScreeningResult(
                    order_id="S-P-2-1",
                    participant_id="P-2",
                    results=[SubstanceResult(substance="opiates", result="positive")],
                )
            ],
        ),
        troubled("P-3", START + timedelta(weeks=1)),
    ]
    hand[1] = attrs.evolve(hand[1], enrollment=enrollment(EVENING, START, "P-2"))
    hand[2] = attrs.evolve(hand[2], as_of=as_of)
    hand = [
        attrs.evolve(
            records,
            orders=tuple(
                ScreeningOrder(
                    id=result.order_id,
                    participant_id=result.participant_id,
                    ordered_for=(result.collected_at or datetime(2027, 3, 2, tzinfo=UTC)).date(),
                )
                for result in records.results
            ),
        )
        for records in hand
    ]
    with open_storage(f"sqlite:///{tmp_path / 'clinic.db'}", actor="test") as store:
        for program in (DAY_ALERT, EVENING):
            store.save_program(program)
        for records in hand:
            store.add_participant(records.participant)
            store.enroll(records.enrollment)
            if records.program is DAY_ALERT:  # stepped down on time, as the plan assumed
                store.append_level_of_care(
                    LevelOfCareChange(
                        enrollment_id=records.enrollment.id,
                        seq=1,
                        kind="step-down",
                        effective=records.enrollment.start + timedelta(weeks=4),
                        level_of_care="2.1",
                        track="day",
                        phase="step-down",
                    )
                )
            store.record_attendance(records.attendance)
            for order in records.orders:
                store.order_screening(order)
            for result in records.results:
                store.record_screening_result(result)
            for assessment in records.assessments:
                store.record_assessment(assessment)
        # P-1 also had an earlier enrollment: the latest one started by as_of is evaluated
        store.enroll(enrollment(EVENING, START - timedelta(weeks=20), "P-1"))
        # P-4 starts after as_of: not in the census yet
        store.add_participant(Participant(id="P-4"))
        store.enroll(enrollment(EVENING, as_of + timedelta(days=5), "P-4"))
        loaded = census(store, as_of=as_of)
        # the store's census follows each enrollment's history (a phase is held until a
        # recorded step-down); give the hand-built records the same history and course
        hand = [
            attrs.evolve(
                r,
                history=store.history(r.enrollment.id),
                occurrences=course(
                    r.program, r.enrollment, store.history(r.enrollment.id), as_of=as_of
                ),
            )
            for r in hand
        ]
    assert [r.participant.id for r in loaded] == ["P-1", "P-2", "P-3"]
    assert [r.enrollment for r in loaded] == [r.enrollment for r in hand]
    from_store = evaluate_census(loaded, RULES)
    by_hand = evaluate_census(hand, RULES)
    assert from_store == by_hand
    assert {f.participant_id for f in from_store} == {"P-1", "P-2", "P-3"}
    assert {f.rule for f in from_store} >= ALL_FINDINGS
    assert [f.participant_id for f in from_store] == sorted(f.participant_id for f in from_store)


# -- rules are plugins -----------------------------------------------------------------------


def test_the_built_in_rules_are_discovered_through_the_plugin_host() -> None:
    rules = create_plugin_host().accountability_rules()
    assert set(rules) == RULE_NAMES
    assert all(isinstance(r, AccountabilityRule) and r.description for r in rules.values())
    assert create_plugin_host(blocked=["rules"]).accountability_rules() == {}


def third_party_plugin(name: str = "reminder-optin") -> SimpleNamespace:
    def reminder(records: ParticipantRecords) -> Iterable[Finding]:
        if not records.attendance:
            yield records.finding(
                "reminder-optin",
                Concern.LOW,
                "no sessions recorded yet",
                "offer appointment reminders on the participant's chosen channel",
                [],
            )

    @hookimpl
    def iopcore_accountability_rules() -> list[AccountabilityRule]:
        return [AccountabilityRule(name=name, evaluate=reminder, description="reminders")]

    return SimpleNamespace(iopcore_accountability_rules=iopcore_accountability_rules)


def test_a_third_party_rule_runs_in_evaluate() -> None:
    host = create_plugin_host(plugins=[("mine", third_party_plugin())])
    rules = host.accountability_rules()
    assert set(rules) == RULE_NAMES | {"reminder-optin"}
    findings = evaluate(participant_records(as_of=START + timedelta(days=9)), rules)
    assert "reminder-optin" in {f.rule for f in findings}
    assert findings[-1].concern is Concern.LOW
    assert evaluate(troubled(), rules) == evaluate(troubled(), RULES)  # silent when recorded


def test_a_third_party_rule_cannot_take_a_built_in_name() -> None:
    host = create_plugin_host(plugins=[("mine", third_party_plugin("attendance-rate"))])
    with pytest.raises(PluginError, match="'attendance-rate'") as excinfo:
        host.accountability_rules()
    assert "'rules'" in str(excinfo.value)
    assert "'mine'" in str(excinfo.value)


def test_findings_close_when_the_review_window_passes_or_a_newer_score_is_fine() -> None:
    positive = ScreeningResult(
        order_id="S-old",
        participant_id=PID,
        results=[SubstanceResult(substance="cocaine", result="positive")],
        collected_at=datetime(2027, 3, 2, 15, tzinfo=UTC),
    )

    def phq(day: int, score: float) -> Assessment:
        return Assessment(
            id=f"A-{day}",
            participant_id=PID,
            kind="assessment",
            instrument="PHQ-9",
            taken_on=START + timedelta(days=day),
            score=score,
        )

    soon, later = START + timedelta(days=5), START + timedelta(days=20)
    assert run("screen-review", participant_records(as_of=soon, results=[positive]))
    assert run("screen-review", participant_records(as_of=later, results=[positive])) == []
    high = [
        f
        for f in run("measures", participant_records(as_of=soon, assessments=[phq(1, 20)]))
        if f.rule == "assessment-alert"
    ]
    assert len(high) == 1
    closed = run("measures", participant_records(as_of=soon, assessments=[phq(1, 20), phq(3, 6)]))
    assert [f for f in closed if f.rule == "assessment-alert"] == []
