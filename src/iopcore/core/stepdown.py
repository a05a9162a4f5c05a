"""Step-down, step-up and transfer: recommendations with every criterion and its evidence,
recorded decisions that append to the level-of-care history, and dated step-down plans.

Placement follows reassessment (ASAM 4th ed. "Transition and Continued Service Criteria"):
a minimum number of weeks is never enough on its own. Criteria are met, unmet, or unknown
(no data yet); a step-down is recommended only when every criterion is met.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date, timedelta

import attrs
from attrs import frozen

from iopcore.core.accountability import (
    Concern,
    Finding,
    ParticipantRecords,
    unrecorded_sessions,
)
from iopcore.core.attendance import AttendanceStatus
from iopcore.core.care import LevelOfCare
from iopcore.core.course import Position as Position
from iopcore.core.course import position as course_position
from iopcore.core.decisions import Decision, Recommendation
from iopcore.core.enrollment import LevelOfCareChange, TransitionKind
from iopcore.core.errors import Choice, ValidationError
from iopcore.core.fit import Obligation, fit_tracks
from iopcore.core.policies import AFTERCARE, StepDownPolicy, StepUpPolicy
from iopcore.core.program import Program
from iopcore.core.screening import SubstanceOutcome, is_negative, result_day


class CriterionStatus(Choice):
    """Whether a criterion is met, unmet, or unknown (no data yet)."""

    MET = "met"
    UNMET = "unmet"
    UNKNOWN = "unknown"


@frozen(kw_only=True)
class Criterion:
    """One criterion of a recommendation: its name, whether it is met, and the evidence."""

    name: str
    status: CriterionStatus
    evidence: str


@frozen(kw_only=True)
class Evaluation:
    """A recommendation for one enrollment as of a date, with every criterion considered."""

    participant_id: str
    enrollment_id: str
    as_of: date
    position: Position
    recommendation: Recommendation
    #: The phase, stage or track the recommendation moves to (None for stay).
    target: str | None
    criteria: tuple[Criterion, ...] = attrs.field(repr=False)
    needs_signoff: bool = True

    def explain(self) -> str:
        lines = [f"{self.recommendation.value}" + (f" -> {self.target}" if self.target else "")]
        lines += [f"  [{c.status.value}] {c.name}: {c.evidence}" for c in self.criteria]
        return "\n".join(lines)


def position(records: ParticipantRecords, history: Sequence[LevelOfCareChange]) -> Position:
    """The current track and phase from the history (:func:`iopcore.core.course.position`)."""
    return course_position(records.program, records.enrollment, history, as_of=records.as_of)


def evaluate_transition(
    records: ParticipantRecords,
    history: Sequence[LevelOfCareChange],
    findings: Sequence[Finding],
    *,
    obligations: Sequence[Obligation] = (),
    rules_skipped: Sequence[str] = (),
) -> Evaluation:
    """Recommend stay, step down, step up, discharge to aftercare, or transfer.

    ``rules_skipped`` names accountability rules that did not run (a plugin failed): the
    findings are then incomplete, so "no open high-concern findings" is unknown, not met."""
    where = position(records, history)
    program = records.program
    make = functools.partial(
        Evaluation,
        participant_id=records.participant.id,
        enrollment_id=records.enrollment.id,
        as_of=records.as_of,
        position=where,
    )
    for up in (p for p in program.step_up if p.from_phase == where.phase):
        triggers = _step_up_criteria(records, up)
        if any(c.status is CriterionStatus.MET for c in triggers):
            return make(
                recommendation=Recommendation.STEP_UP,
                target=up.to,
                criteria=triggers,
                needs_signoff=True,
            )
    down = next((p for p in program.step_down if p.from_phase == where.phase), None)
    criteria: tuple[Criterion, ...] = ()
    if down is not None:
        criteria = _step_down_criteria(records, where, down, findings, rules_skipped)
        if all(c.status is CriterionStatus.MET for c in criteria):
            kind = (
                Recommendation.DISCHARGE_TO_AFTERCARE
                if down.to == AFTERCARE or down.to in {s.name for s in program.continuing_care}
                else Recommendation.STEP_DOWN
            )
            return make(
                recommendation=kind,
                target=down.to,
                criteria=criteria,
                needs_signoff=down.signoff,
            )
    if obligations:
        transfer = _transfer(program, where, obligations)
        if transfer is not None:
            target, criterion = transfer
            return make(
                recommendation=Recommendation.TRANSFER,
                target=target,
                criteria=(*criteria, criterion),
                needs_signoff=True,
            )
    return make(
        recommendation=Recommendation.STAY,
        target=None,
        criteria=criteria,
        needs_signoff=False,
    )


def _step_down_criteria(
    records: ParticipantRecords,
    where: Position,
    policy: StepDownPolicy,
    findings: Sequence[Finding],
    rules_skipped: Sequence[str] = (),
) -> tuple[Criterion, ...]:
    weeks = (records.as_of - where.since).days // 7
    out = [
        Criterion(
            name=f"at least {policy.min_weeks} weeks in {where.phase}",
            status=CriterionStatus.MET if weeks >= policy.min_weeks else CriterionStatus.UNMET,
            evidence=f"{weeks} week(s) since {where.since}",
        )
    ]
    if policy.attendance_rate_at_least is not None:
        rate, n = _attendance_rate(records, policy.rate_weeks)
        name = f"attendance >= {policy.attendance_rate_at_least:.0%} over {policy.rate_weeks} weeks"
        if rate is None:
            out.append(
                Criterion(
                    name=name, status=CriterionStatus.UNKNOWN, evidence="no attendance recorded"
                )
            )
        else:
            out.append(
                Criterion(
                    name=name,
                    evidence=f"{rate:.0%} of {n} session(s)",
                    status=CriterionStatus.MET
                    if rate >= policy.attendance_rate_at_least - 1e-9
                    else CriterionStatus.UNMET,
                )
            )
    if policy.negative_screens_in_a_row is not None:
        out.append(_negative_screens(records, policy.negative_screens_in_a_row))
    if policy.no_open_high_findings:
        high = sorted(
            {
                f.rule
                for f in findings
                if f.concern is Concern.HIGH and f.participant_id == records.participant.id
            }
        )
        # Missing data is not good news: with sessions uncharted, or rules that did not run,
        # "none open" is unknown.
        unrecorded = unrecorded_sessions(records)
        if high:
            status, evidence = CriterionStatus.UNMET, ", ".join(high)
        elif rules_skipped:
            status = CriterionStatus.UNKNOWN
            evidence = f"rule(s) not run (a plugin failed): {', '.join(sorted(rules_skipped))}"
        elif unrecorded:
            status = CriterionStatus.UNKNOWN
            evidence = f"{unrecorded} past session(s) without attendance recorded"
        else:
            status, evidence = CriterionStatus.MET, "none open"
        out.append(
            Criterion(name="no open high-concern findings", status=status, evidence=evidence)
        )
    for limit in policy.assessments:
        taken = sorted(
            (
                a
                for a in records.assessments
                if a.instrument == limit.instrument
                and a.score is not None
                and a.taken_on <= records.as_of
            ),
            key=lambda a: (a.taken_on, a.id),
        )
        name = f"latest {limit.instrument} <= {limit.at_most:g}"
        if not taken:
            out.append(
                Criterion(name=name, status=CriterionStatus.UNKNOWN, evidence="not yet taken")
            )
        else:
            last = taken[-1]
            assert last.score is not None
            out.append(
                Criterion(
                    name=name,
                    evidence=f"{last.score:g} on {last.taken_on} ({last.id})",
                    status=CriterionStatus.MET
                    if last.score <= limit.at_most
                    else CriterionStatus.UNMET,
                )
            )
    return tuple(out)


def _attendance_rate(records: ParticipantRecords, weeks: int) -> tuple[float | None, int]:
    expected = records.expected_attendance(weeks)
    if not expected:
        return None, 0
    return sum(r.present for r in expected) / len(expected), len(expected)


def _negative_screens(records: ParticipantRecords, needed: int) -> Criterion:
    dated = sorted(
        (day, r.order_id, r)
        for r in records.results
        if (day := result_day(r, records.orders)) is not None and day <= records.as_of
    )
    name = f"last {needed} screens negative"
    recent = [r for _, _, r in dated[-needed:]]
    if len(recent) < needed:
        return Criterion(
            name=name,
            status=CriterionStatus.UNKNOWN,
            evidence=f"{len(recent)} screen(s) resulted so far",
        )
    return Criterion(
        name=name,
        status=CriterionStatus.MET
        if all(is_negative(r) for r in recent)
        else CriterionStatus.UNMET,
        evidence=", ".join(r.order_id for r in recent),
    )


def _step_up_criteria(records: ParticipantRecords, policy: StepUpPolicy) -> tuple[Criterion, ...]:
    since = records.as_of - timedelta(weeks=policy.within_weeks)
    out = []
    if policy.positive_screens is not None:
        positives = [
            r.order_id
            for r in records.results
            if (day := result_day(r, records.orders)) is not None
            and since < day <= records.as_of
            and any(s.result is SubstanceOutcome.POSITIVE for s in r.results)
        ]
        out.append(
            _at_least(
                f">= {policy.positive_screens} positive screen(s) in {policy.within_weeks} weeks",
                len(positives),
                policy.positive_screens,
                ", ".join(positives) or "none",
            )
        )
    if policy.missed_sessions is not None:
        missed = [
            r.key
            for r in records.attendance
            if since < r.session_date <= records.as_of and r.status is AttendanceStatus.UNEXCUSED
        ]
        out.append(
            _at_least(
                f">= {policy.missed_sessions} missed session(s) in {policy.within_weeks} weeks",
                len(missed),
                policy.missed_sessions,
                f"{len(missed)} missed",
            )
        )
    return tuple(out)


def _at_least(name: str, found: int, needed: int, evidence: str) -> Criterion:
    """A step-up trigger: met when ``found`` reaches ``needed``."""
    met = CriterionStatus.MET if found >= needed else CriterionStatus.UNMET
    return Criterion(name=name, status=met, evidence=evidence)


def _transfer(
    program: Program, where: Position, obligations: Sequence[Obligation]
) -> tuple[str, Criterion] | None:
    fits = {f.track: f for f in fit_tracks(program, obligations)}
    if fits[where.track].fits:
        return None
    for move in program.transfers:
        if move.from_track == where.track and fits[move.to_track].fits:
            return move.to_track, Criterion(
                name=f"{where.track} track conflicts with obligations; {move.to_track} fits",
                status=CriterionStatus.MET,
                evidence="; ".join(fits[where.track].conflicts),
            )
    return None


# -- decisions -------------------------------------------------------------------------------


def decide(
    evaluation: Evaluation,
    history: Sequence[LevelOfCareChange],
    *,
    program: Program,
    decision_id: str,
    decided: Recommendation | str,
    decided_by: str,
    reason: str = "",
) -> tuple[Decision, LevelOfCareChange | None]:
    """The decision record and, unless it is to stay, the history entry it appends."""
    decided = Recommendation(decided)
    decision = Decision(
        id=decision_id,
        enrollment_id=evaluation.enrollment_id,
        decided_on=evaluation.as_of,
        decided_by=decided_by,
        recommended=evaluation.recommendation,
        decided=decided,
        reason=reason,
    )
    if decided is Recommendation.STAY:
        return decision, None
    if decided is not evaluation.recommendation or evaluation.target is None:
        raise ValidationError(
            f"decision {decision_id}: can only record {evaluation.recommendation.value!r} "
            f"(recommended) or 'stay' for this evaluation; evaluate again for another move"
        )
    where = evaluation.position
    stage_levels = {s.name: s.level_of_care for s in program.continuing_care}
    kind = {
        Recommendation.STEP_DOWN: TransitionKind.STEP_DOWN,
        Recommendation.STEP_UP: TransitionKind.STEP_UP,
        Recommendation.TRANSFER: TransitionKind.TRANSFER,
        Recommendation.DISCHARGE_TO_AFTERCARE: TransitionKind.DISCHARGE,
    }[decided]
    level = LevelOfCare(stage_levels.get(evaluation.target, program.level_of_care.value))
    change = LevelOfCareChange(
        enrollment_id=evaluation.enrollment_id,
        seq=max((h.seq for h in history), default=-1) + 1,
        kind=kind,
        effective=evaluation.as_of,
        level_of_care=level,
        track=evaluation.target if decided is Recommendation.TRANSFER else where.track,
        # A discharge to a continuing-care stage names the stage, so its sessions follow.
        phase=None
        if decided is Recommendation.TRANSFER or evaluation.target == AFTERCARE
        else evaluation.target,
        reason=reason,
    )
    return decision, change


# -- plans -----------------------------------------------------------------------------------


@frozen(kw_only=True)
class Stage:
    """One stage of a step-down plan: when it begins if criteria are met on time."""

    name: str
    level_of_care: str
    hours_per_week: float
    starts: date
    #: The earliest date of the next step (None for aftercare, which has no end).
    ends: date | None
    #: A stage not yet decided (every stage after the current one): shown in the plan,
    #: never on a calendar, until a decision is recorded.
    projected: bool = False


@frozen(kw_only=True)
class StepDownPlan:
    """Dated stages from the current phase to aftercare, each at its earliest date."""

    stages: tuple[Stage, ...]


def step_down_plan(program: Program, where: Position, *, as_of: date) -> StepDownPlan:
    """Dated stages from the current phase to aftercare, each at its earliest date.

    The chain follows the step-down policies (a phase without one steps to the next phase
    of its track, the last phase to the first continuing-care stage); each phase lasts its
    policy's (or its own) minimum weeks, counted from when it began, never ending before
    ``as_of``.
    """
    levels = {s.name: s.level_of_care for s in program.continuing_care}
    out: list[Stage] = []
    begins = where.since
    for name, hours, weeks in program.step_chain(where.track, where.phase):
        ends = max(begins + timedelta(weeks=weeks), as_of)
        out.append(
            Stage(
                name=name,
                level_of_care=levels.get(name, program.level_of_care.value),
                hours_per_week=round(hours, 4),
                starts=begins,
                ends=ends,
                projected=bool(out),
            )
        )
        begins = ends
    out.append(
        Stage(
            name=AFTERCARE,
            level_of_care="aftercare",
            hours_per_week=0.0,
            starts=begins,
            ends=None,
            projected=True,
        )
    )
    return StepDownPlan(stages=tuple(out))
