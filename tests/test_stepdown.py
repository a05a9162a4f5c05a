"""Step-down, step-up and transfer evaluation, decisions, plans, timeline and admission fit."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from iopcore import (
    AttendanceRecord,
    Enrollment,
    LevelOfCareChange,
    Participant,
    ProgramFileError,
    ScreeningResult,
    SubstanceResult,
    ValidationError,
    load_program,
    loads_program,
    open_storage,
)
from iopcore import expand as iopcore_expand
from iopcore.core.accountability import Concern, Finding, ParticipantRecords, planned_schedule
from iopcore.core.aftercare import AftercareItem, AftercarePlan
from iopcore.core.assessments import Assessment
from iopcore.core.decisions import Recommendation
from iopcore.core.fit import Obligation, fit_tracks
from iopcore.core.measures import measures_due
from iopcore.core.stepdown import (
    CriterionStatus,
    Position,
    decide,
    evaluate_transition,
    position,
    step_down_plan,
)
from iopcore.core.timeline import ItemKind, build_timeline

DAY = load_program("examples/programs/adult-day.toml")
START = date(2027, 8, 2)
ENROLLMENT = Enrollment(id="E-1", participant_id="P-1", program=DAY.name, track="day", start=START)
SCHEDULE = planned_schedule(DAY, ENROLLMENT)


def _negative(n: int, on: date) -> ScreeningResult:
    return ScreeningResult(
        order_id=f"S-{n}",
        participant_id="P-1",
        results=(SubstanceResult(substance="cocaine", result="negative"),),
        collected_at=datetime.combine(on, time(15), tzinfo=UTC),
    )


def _records(
    as_of: date,
    *,
    status: str = "attended",
    results: tuple[ScreeningResult, ...] = (),
    assessments: tuple[Assessment, ...] = (),
) -> ParticipantRecords:
    attendance = tuple(
        AttendanceRecord(
            participant_id="P-1",
            occurrence_id=o.id,
            session_date=o.start.date(),
            status=status,
            minutes_attended=o.minutes if status == "attended" else 0,
        )
        for o in SCHEDULE
        if o.start.date() <= as_of
    )
    return ParticipantRecords(
        participant=Participant(id="P-1"),
        enrollment=ENROLLMENT,
        program=DAY,
        occurrences=SCHEDULE,
        attendance=attendance,
        results=results,
        assessments=assessments,
        as_of=as_of,
    )


AS_OF = START + timedelta(weeks=4, days=2)
CLEAN = (_negative(1, AS_OF - timedelta(days=6)), _negative(2, AS_OF - timedelta(days=2)))


def test_a_rule_that_did_not_run_leaves_no_open_findings_unknown() -> None:
    """A clinician reading "no open high-concern findings: met" must be able to trust that
    every rule ran: with one skipped (a plugin failed), the criterion is unknown and the
    participant stays until it is resolved."""
    records = _records(AS_OF, results=CLEAN)
    evaluation = evaluate_transition(records, [], [], rules_skipped=["fentanyl-watch"])
    assert evaluation.recommendation is Recommendation.STAY
    (findings,) = [c for c in evaluation.criteria if c.name == "no open high-concern findings"]
    assert findings.status is CriterionStatus.UNKNOWN
    assert "fentanyl-watch" in findings.evidence


def test_step_down_is_recommended_when_every_criterion_is_met() -> None:
    evaluation = evaluate_transition(_records(AS_OF, results=CLEAN), [], [])
    assert evaluation.recommendation is Recommendation.STEP_DOWN
    assert evaluation.target == "step-down"
    assert evaluation.needs_signoff
    assert {c.status for c in evaluation.criteria} == {CriterionStatus.MET}
    assert "[met] last 2 screens negative: S-1, S-2" in evaluation.explain()


def test_length_of_stay_alone_never_steps_down() -> None:
    evaluation = evaluate_transition(_records(AS_OF), [], [])  # no screens yet
    assert evaluation.recommendation is Recommendation.STAY
    unknown = [c for c in evaluation.criteria if c.status is CriterionStatus.UNKNOWN]
    assert [c.name for c in unknown] == ["last 2 screens negative"]
    with pytest.raises(ProgramFileError, match="fixed length of stay alone"):
        loads_program(_with_policy("min_weeks = 4\nno_open_high_findings = false"))


def _with_policy(body: str) -> str:
    base = Path("examples/programs/adult-day.toml").read_text()
    start = base.index("[[step_down]]")
    end = base.index("[[step_up]]")
    return (
        base[:start]
        + '[[step_down]]\nfrom_phase = "intensive"\nto = "step-down"\n'
        + body
        + "\n\n"
        + base[end:]
    )


def test_unmet_criteria_keep_the_participant_and_say_why() -> None:
    early = evaluate_transition(_records(START + timedelta(weeks=2), results=CLEAN), [], [])
    assert early.recommendation is Recommendation.STAY
    weeks = next(c for c in early.criteria if c.name.startswith("at least"))
    assert weeks.status is CriterionStatus.UNMET
    absent = evaluate_transition(_records(AS_OF, status="unexcused-absence", results=CLEAN), [], [])
    rate = next(c for c in absent.criteria if c.name.startswith("attendance"))
    assert (rate.status, absent.recommendation) == (CriterionStatus.UNMET, Recommendation.STAY)
    finding = Finding(
        participant_id="P-1",
        rule="screen-review",
        concern=Concern.HIGH,
        as_of=AS_OF,
        summary="",
        action="",
        evidence=(),
    )
    held = evaluate_transition(_records(AS_OF, results=CLEAN), [], [finding])
    assert held.recommendation is Recommendation.STAY
    assert any(c.evidence == "screen-review" for c in held.criteria)


def test_step_up_on_a_positive_screen_in_the_step_down_phase() -> None:
    history = [_admission(), _entry(1, "step-down", START + timedelta(weeks=5))]
    positive = ScreeningResult(
        order_id="S-9",
        participant_id="P-1",
        results=(SubstanceResult(substance="cocaine", result="positive"),),
        collected_at=datetime(2027, 9, 20, 15, tzinfo=UTC),
    )
    records = _records(date(2027, 9, 22), results=(positive,))
    assert position(records, history) == Position(
        track="day", phase="step-down", since=START + timedelta(weeks=5)
    )
    evaluation = evaluate_transition(records, history, [])
    assert (evaluation.recommendation, evaluation.target) == (Recommendation.STEP_UP, "intensive")


def _admission() -> LevelOfCareChange:
    return LevelOfCareChange(
        enrollment_id="E-1",
        seq=0,
        kind="admission",
        effective=START,
        level_of_care="2.1",
        track="day",
    )


def _entry(seq: int, phase: str, on: date) -> LevelOfCareChange:
    return LevelOfCareChange(
        enrollment_id="E-1",
        seq=seq,
        kind="step-down",
        effective=on,
        level_of_care="2.1",
        track="day",
        phase=phase,
    )


def test_decisions_append_to_history_in_a_real_store(tmp_path: Path) -> None:
    evaluation = evaluate_transition(_records(AS_OF, results=CLEAN), [], [])
    with open_storage(f"sqlite:///{tmp_path}/clinic.db", actor="clinician-app") as store:
        store.add_participant(Participant(id="P-1"))
        store.enroll(ENROLLMENT)
        history = store.history("E-1")
        decision, change = decide(
            evaluation,
            history,
            program=DAY,
            decision_id="D-1",
            decided=Recommendation.STEP_DOWN,
            decided_by="clin-3",
            reason="stable, working days",
        )
        assert change is not None
        store.record_decision(decision, change)
        after = store.history("E-1")
        assert after[: len(history)] == history  # the past is never rewritten
        assert (after[-1].seq, after[-1].phase, after[-1].kind) == (1, "step-down", "step-down")
        assert store.decisions("E-1")[0].recommended is Recommendation.STEP_DOWN
        assert position(_records(AS_OF + timedelta(days=1)), after).phase == "step-down"
    stay, nothing = decide(
        evaluation,
        history,
        program=DAY,
        decision_id="D-2",
        decided="stay",
        decided_by="clin-3",
        reason="wants more time",
    )
    assert nothing is None
    assert stay.recommended != stay.decided
    with pytest.raises(ValidationError, match="can only record"):
        decide(
            evaluation,
            history,
            program=DAY,
            decision_id="D-3",
            decided="step-up",
            decided_by="clin-3",
        )


def test_last_phase_steps_down_to_continuing_care_as_discharge() -> None:
    history = [_admission(), _entry(1, "step-down", START + timedelta(weeks=4))]
    as_of = START + timedelta(weeks=9)
    bam = Assessment(
        id="A-1",
        participant_id="P-1",
        kind="assessment",
        instrument="BAM",
        taken_on=as_of - timedelta(days=3),
        score=12,
    )
    evaluation = evaluate_transition(
        _records(
            as_of,
            results=(
                _negative(1, as_of - timedelta(days=8)),
                _negative(2, as_of - timedelta(days=1)),
            ),
            assessments=(bam,),
        ),
        history,
        [],
    )
    assert evaluation.recommendation is Recommendation.DISCHARGE_TO_AFTERCARE
    assert evaluation.target == "outpatient"
    _, change = decide(
        evaluation,
        history,
        program=DAY,
        decision_id="D-1",
        decided=evaluation.recommendation,
        decided_by="c",
    )
    assert change is not None
    # the discharge names the stage, so a stage with its own slots reaches the calendar
    assert (change.level_of_care, change.phase, change.kind) == ("1", "outpatient", "discharge")


TWO_TRACKS = loads_program("""
name = "two-tracks"
[session_types.group]
kind = "group"
minutes = 180
[tracks.day]
time_zone = "America/Chicago"
[[tracks.day.phases]]
name = "core"
slots = [{ day = "mon", start = "09:00", session_type = "group" },
         { day = "wed", start = "09:00", session_type = "group" },
         { day = "fri", start = "09:00", session_type = "group" }]
[tracks.evening]
time_zone = "America/Chicago"
[[tracks.evening.phases]]
name = "core-evening"
slots = [{ day = "mon", start = "18:00", session_type = "group" },
         { day = "tue", start = "18:00", session_type = "group" },
         { day = "thu", start = "18:00", session_type = "group" }]
[[transfers]]
from_track = "day"
to_track = "evening"
""")


def test_transfer_when_a_new_job_conflicts_with_the_day_track() -> None:
    enrollment = Enrollment(
        id="E-2", participant_id="P-2", program="two-tracks", track="day", start=START
    )
    records = ParticipantRecords(
        participant=Participant(id="P-2"),
        enrollment=enrollment,
        program=TWO_TRACKS,
        occurrences=planned_schedule(TWO_TRACKS, enrollment),
        attendance=(),
        as_of=START + timedelta(weeks=3),
    )
    job = Obligation(days=["mon", "tue", "wed", "thu", "fri"], start=time(8), end=time(16, 30))
    evaluation = evaluate_transition(records, [], [], obligations=[job])
    assert (evaluation.recommendation, evaluation.target) == (Recommendation.TRANSFER, "evening")
    assert "overlaps an obligation 08:00-16:30" in evaluation.criteria[-1].evidence
    assert evaluate_transition(records, [], []).recommendation is Recommendation.STAY


def test_admission_fit_counts_travel_time() -> None:
    late_shift = Obligation(days=["mon"], start=time(13), end=time(17))
    fits = {f.track: f for f in fit_tracks(TWO_TRACKS, [late_shift], travel_minutes=45)}
    assert fits["day"].fits  # 09:00-12:00 then 45 min travel before 13:00
    assert not fit_tracks(TWO_TRACKS, [late_shift], travel_minutes=61)[0].fits
    assert fits["evening"].fits
    assert fits["day"].weekly_hours == (("core", 9.0),)
    with pytest.raises(ValidationError, match="end must differ from start"):
        Obligation(days=["mon"], start=time(22), end=time(22))


def test_an_overnight_obligation_runs_into_the_next_week() -> None:
    """A Sunday night shift to 09:30 collides with the Monday 09:00 session of the day track
    (the week wraps); one that ends at 09:00 sharp does not."""
    night = Obligation(days=["sun"], start=time(22), end=time(9, 30))
    fits = {f.track: f for f in fit_tracks(TWO_TRACKS, [night])}
    assert not fits["day"].fits
    assert fits["evening"].fits
    assert fits["day"].conflicts == ("Mon 09:00 group (core) overlaps an obligation 22:00-09:30",)
    sharp = Obligation(days=["sun"], start=time(22), end=time(9))
    assert fit_tracks(TWO_TRACKS, [sharp])[0].fits
    assert not fit_tracks(TWO_TRACKS, [sharp], travel_minutes=1)[0].fits


@given(
    st.sampled_from([(p.name) for p in DAY.track("day").phases]),
    st.dates(date(2026, 1, 1), date(2028, 12, 31)),
    st.integers(0, 200),
)
def test_plan_stages_never_overlap_go_back_or_add_hours(
    phase: str, since: date, later: int
) -> None:
    as_of = since + timedelta(days=later)
    stages = step_down_plan(
        DAY, Position(track="day", phase=phase, since=since), as_of=as_of
    ).stages
    assert stages[0].starts == since
    assert stages[-1].name == "aftercare"
    for a, b in itertools.pairwise(stages):
        assert a.ends == b.starts
        assert a.starts <= a.ends
        assert b.hours_per_week <= a.hours_per_week
    assert all(s.ends is None or s.ends >= as_of for s in stages[:-1])


def test_a_step_down_that_adds_hours_is_rejected() -> None:
    text = (
        Path("examples/programs/adult-day.toml")
        .read_text()
        .replace("hours_per_week = 3.0", "hours_per_week = 30.0")
    )
    with pytest.raises(ProgramFileError, match="would increase hours"):
        loads_program(text)


@given(st.integers(0, 2**32), st.integers(14, 80))
def test_evaluation_is_deterministic_and_order_free(seed: int, day: int) -> None:
    rng = random.Random(seed)
    as_of = START + timedelta(days=day)
    statuses = ["attended", "late", "unexcused-absence", "excused-absence", "telehealth"]
    attendance = [
        AttendanceRecord(
            participant_id="P-1",
            occurrence_id=o.id,
            session_date=o.start.date(),
            status=rng.choice(statuses),
            minutes_attended=o.minutes,
        )
        for o in SCHEDULE
        if o.start.date() <= as_of
    ]
    results = [
        ScreeningResult(
            order_id=f"S-{i}",
            participant_id="P-1",
            results=(
                SubstanceResult(
                    substance="x", result=rng.choice(["negative", "negative", "positive"])
                ),
            ),
            collected_at=datetime.combine(START + timedelta(days=i * 5), time(12), tzinfo=UTC),
        )
        for i in range(day // 5)
    ]
    base = ParticipantRecords(
        participant=Participant(id="P-1"),
        enrollment=ENROLLMENT,
        program=DAY,
        occurrences=SCHEDULE,
        attendance=tuple(attendance),
        results=tuple(results),
        as_of=as_of,
    )
    first = evaluate_transition(base, [], [])
    rng.shuffle(attendance)
    rng.shuffle(results)
    shuffled = ParticipantRecords(
        participant=base.participant,
        enrollment=ENROLLMENT,
        program=DAY,
        occurrences=SCHEDULE,
        attendance=tuple(attendance),
        results=tuple(results),
        as_of=as_of,
    )
    assert evaluate_transition(shuffled, [], []) == first == evaluate_transition(base, [], [])


GROUP = AftercareItem(
    id="AC-1",
    kind="support-group",
    title="Tuesday SMART Recovery",
    owner="peer lead",
    starts=date(2027, 10, 1),
    weekday="tue",
    at=time(19),
    time_zone="America/Chicago",
    place="Library room 2",
)
HOUSING = AftercareItem(
    id="AC-2",
    kind="housing",
    title="apply for transitional housing",
    owner="case manager",
    starts=date(2027, 9, 1),
    due=date(2027, 9, 15),
)


@given(st.booleans(), st.integers(0, 2**32))
def test_timeline_is_ordered_and_has_every_item_once(staff_view: bool, seed: int) -> None:
    from iopcore.core.screening import Secret, screening_draws

    secret = Secret(seed.to_bytes(8, "big") * 2)
    as_of = date(2027, 10, 20)
    draws = screening_draws(secret, "P-1", DAY, SCHEDULE, through=as_of)
    dues = measures_due(DAY, SCHEDULE, [], as_of=as_of)
    plan = step_down_plan(DAY, Position(track="day", phase="intensive", since=START), as_of=START)
    aftercare = AftercarePlan(enrollment_id="E-1", items=(GROUP, HOUSING))
    timeline = build_timeline(
        "P-1",
        SCHEDULE,
        dues=dues,
        draws=draws,
        plan=plan,
        aftercare=aftercare,
        staff_view=staff_view,
    )
    keys = [i.sort_key() for i in timeline.items]
    assert keys == sorted(keys)
    refs = [(i.kind, i.ref) for i in timeline.items]
    assert len(refs) == len(set(refs))
    screens = sum(len(d.selected) for d in draws)
    horizon = max(
        [o.start.date() for o in SCHEDULE]
        + [d.due_on for d in dues]
        + [s.starts for s in plan.stages]
    )  # recurring items run to the last dated thing on the timeline
    meetings = len(GROUP.meetings(horizon))
    assert len(timeline.items) == (
        len(SCHEDULE) + len(dues) + len(plan.stages) + meetings + 1 + (screens if staff_view else 0)
    )
    assert timeline.sessions() == SCHEDULE
    kinds = {i.kind for i in timeline.items}
    assert (ItemKind.SCREENING in kinds) == (staff_view and screens > 0)


def test_aftercare_items_are_validated_and_private() -> None:
    assert "SMART" not in repr(GROUP)
    assert "Library" not in repr(GROUP)
    with pytest.raises(ValidationError, match="weekday, at and time_zone together"):
        AftercareItem(id="x", kind="therapy", title="t", owner="o", starts=START, weekday="mon")
    with pytest.raises(ValidationError, match="unique"):
        AftercarePlan(enrollment_id="E-1", items=(HOUSING, HOUSING))
    first = GROUP.meetings(date(2027, 11, 30))
    assert first[0][0] == datetime(2027, 10, 5, 19, tzinfo=first[0][0].tzinfo)
    assert {b.strftime("%H:%M") for b, _ in first} == {"19:00"}  # across the November DST change


def test_negative_screens_ignore_later_and_empty_results_and_date_by_the_order() -> None:
    from iopcore import ScreeningOrder

    later = _negative(3, AS_OF + timedelta(days=3))  # collected after as_of: not yet known
    empty = ScreeningResult(
        order_id="S-0",
        participant_id="P-1",
        results=(),
        collected_at=datetime.combine(AS_OF, time(9), tzinfo=UTC),
    )
    records = _records(AS_OF, results=(*CLEAN, later))
    assert evaluate_transition(records, [], []).recommendation is Recommendation.STEP_DOWN
    unmet = evaluate_transition(_records(AS_OF, results=(*CLEAN, empty)), [], [])
    (screens,) = [c for c in unmet.criteria if c.name == "last 2 screens negative"]
    assert screens.status is CriterionStatus.UNMET  # a result with nothing tested is not negative
    undated = ScreeningResult(
        order_id="S-7",
        participant_id="P-1",
        results=(SubstanceResult(substance="x", result="negative"),),
    )
    order = ScreeningOrder(id="S-7", participant_id="P-1", ordered_for=AS_OF - timedelta(days=1))
    dated = attrs.evolve(_records(AS_OF, results=(CLEAN[0], undated)), orders=(order,))
    (screens,) = [
        c
        for c in evaluate_transition(dated, [], []).criteria
        if c.name == "last 2 screens negative"
    ]
    assert (screens.status, screens.evidence) == (CriterionStatus.MET, "S-1, S-7")


def test_timeline_orders_by_local_day_in_western_zones() -> None:
    from iopcore.core.assessments import MeasureKind
    from iopcore.core.measures import Due

    teens = load_program("examples/programs/adolescent-afterschool.toml")  # Los Angeles
    sessions = iopcore_expand(teens, "afterschool", start=date(2027, 1, 4), weeks=1)
    tuesday = Due(
        kind=MeasureKind.CHECK_IN,
        instrument="check-in",
        due_on=date(2027, 1, 5),
        taken=None,
        overdue=False,
    )
    timeline = build_timeline("P-1", sessions, dues=[tuesday])
    days = [i.day for i in timeline.items]
    assert days == sorted(days)
    monday_evening = [i for i in timeline.items if i.day == date(2027, 1, 4)]
    assert timeline.items.index(monday_evening[-1]) < [i.kind for i in timeline.items].index(
        ItemKind.MEASURE_DUE
    )
