"""Built-in accountability rules. Thresholds come from the program's ``[accountability]``.

Sessions with no attendance record yet are unknown, never counted against anyone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import attrs

from iopcore.core.accountability import (
    Concern,
    Evidence,
    Finding,
    ParticipantRecords,
    records_missing,
)
from iopcore.core.assessments import Assessment
from iopcore.core.attendance import AttendanceRecord, AttendanceStatus
from iopcore.core.care import Measure, RuleSet, check_week, intensity_rules
from iopcore.core.dose import weekly_dose
from iopcore.core.schedule import Status
from iopcore.core.screening import ScreeningResult, SubstanceOutcome, result_day
from iopcore.core.sessions import SessionKind
from iopcore.plugins.hookspecs import hookimpl
from iopcore.plugins.records import AccountabilityRule


def _evidence(record: AttendanceRecord) -> Evidence:
    return Evidence(kind="attendance", id=record.key, on=record.session_date)


def consecutive_absences(records: ParticipantRecords) -> Iterator[Finding]:
    """Fires when the latest N session days in a row were unexcused absences.

    Days the program cancelled neither count nor break a run; an excused absence (notice
    was given) ends it.
    """
    needed = records.program.accountability.consecutive_unexcused
    recorded = records.recorded
    days: dict[date, list[tuple[AttendanceRecord, date]]] = {}
    for o in records.past:
        if o.id in recorded:
            days.setdefault(o.start.date(), []).append((recorded[o.id], o.start.date()))
    streak: list[tuple[AttendanceRecord, date]] = []
    streak_days = 0
    for day in sorted(days, reverse=True):
        statuses = {r.status for r, _ in days[day]}
        if statuses == {AttendanceStatus.CANCELLED_BY_PROGRAM}:
            continue
        if statuses == {AttendanceStatus.UNEXCUSED}:
            streak.extend(days[day])
            streak_days += 1
        else:
            break
    if streak_days >= needed:
        yield records.finding(
            "consecutive-absences",
            Concern.HIGH if streak_days > needed else Concern.MEDIUM,
            f"{streak_days} session days in a row missed without notice",
            "reach out today; offer a make-up session and ask about barriers such as "
            "transportation, work hours or child care",
            sorted(
                (Evidence(kind="attendance", id=r.key, on=on) for r, on in streak),
                key=lambda e: (e.on, e.id),
            ),
        )


def attendance_rate(records: ParticipantRecords) -> Iterator[Finding]:
    """Fires when sessions attended / sessions expected over the last K weeks is below X."""
    settings = records.program.accountability
    expected = records.expected_attendance(settings.rate_weeks)
    if not expected:
        return
    rate = sum(r.present for r in expected) / len(expected)
    if rate < settings.attendance_rate_below:
        yield records.finding(
            "attendance-rate",
            Concern.MEDIUM,
            f"attended {rate:.0%} of sessions in the last {settings.rate_weeks} weeks "
            f"(below {settings.attendance_rate_below:.0%})",
            "review with the participant whether the track and times still fit; offer the "
            "other track or make-up sessions",
            [_evidence(r) for r in expected if not r.present],
        )


def weekly_hours(records: ParticipantRecords) -> Iterator[Finding]:
    """Fires when last complete week's delivered hours are below the level-of-care minimum.

    Judged only once every session of that week is recorded, and against what the program
    scheduled when a closure made the week shorter (a short week is the program's doing).
    """
    monday = records.as_of - timedelta(days=records.as_of.weekday() + 7)
    sunday = monday + timedelta(days=7)
    week = [
        o
        for o in records.occurrences
        if monday <= o.start.date() < sunday and o.status is not Status.CANCELLED
    ]
    recorded = records.recorded
    if not week or any(o.counts_toward_hours and o.id not in recorded for o in week):
        return
    ids = {o.id for o in week}
    mine = [
        r for r in records.attendance if r.occurrence_id in ids or monday <= r.session_date < sunday
    ]
    dose = next((d for d in weekly_dose(records.program, week, mine) if d.week == monday), None)
    if dose is None or dose.scheduled_hours <= 0:
        return
    for rule in intensity_rules(
        records.program.level_of_care, records.program.population, [RuleSet.ASAM]
    ):
        if rule.min_hours_week is None:
            continue
        needed = min(rule.min_hours_week, dose.scheduled_hours)
        delivered = (d.delivered_hours for d in dose.days)
        if not check_week(attrs.evolve(rule, min_hours_week=needed), delivered).meets(
            Measure.WEEKLY_MINIMUM
        ):
            yield records.finding(
                "weekly-hours",
                Concern.MEDIUM,
                f"week of {monday}: {dose.delivered_hours:.2f} h delivered of {needed:g} h "
                f"expected ({rule.name})",
                "offer make-up hours; check whether the schedule still fits the participant's week",
                [_evidence(recorded[o.id]) for o in week if o.id in recorded],
            )


def _known_results(records: ParticipantRecords) -> Iterator[tuple[ScreeningResult, date]]:
    """Results of the review window (the last ``review_weeks`` up to ``as_of``), with their
    dates (``as_of`` when nothing dates them)."""
    since = records.as_of - timedelta(weeks=records.program.accountability.review_weeks)
    for result in records.results:
        day = result_day(result, records.orders) or records.as_of
        if since < day <= records.as_of:
            yield result, day


def screen_missed(records: ParticipantRecords) -> Iterator[Finding]:
    """Fires for each screen that was missed, refused or invalid (by ``as_of``)."""
    for result, on in _known_results(records):
        outcomes = {r.result for r in result.results}
        if outcomes & {SubstanceOutcome.MISSED, SubstanceOutcome.REFUSED, SubstanceOutcome.INVALID}:
            yield records.finding(
                "screen-not-completed",
                Concern.MEDIUM,
                "a requested screen was not completed",
                "talk with the participant about the missed screen and collect again soon; "
                "treat it as information for care, not a sanction",
                [Evidence(kind="screening-result", id=result.order_id, on=on)],
            )


def screen_result(records: ParticipantRecords) -> Iterator[Finding]:
    """Fires for each screen with a positive or dilute result (by ``as_of``)."""
    for result, on in _known_results(records):
        outcomes = {r.result for r in result.results}
        if outcomes & {SubstanceOutcome.POSITIVE, SubstanceOutcome.DILUTE}:
            positive = SubstanceOutcome.POSITIVE in outcomes
            yield records.finding(
                "screen-review",
                Concern.HIGH if positive else Concern.MEDIUM,
                "a screen result needs review" + ("" if positive else " (dilute specimen)"),
                "review the result with the participant in a supportive conversation; "
                "consider more contact or a treatment-plan change rather than sanctions",
                [Evidence(kind="screening-result", id=result.order_id, on=on)],
            )


def measures_overdue(records: ParticipantRecords) -> Iterator[Finding]:
    """Fires for overdue check-ins and assessments, and when an instrument's latest score
    (within the review window) is at its alert level."""
    overdue = [d for d in records.dues() if d.overdue]
    for kind in sorted({d.kind for d in overdue}):
        missing = [d for d in overdue if d.kind == kind]
        yield records.finding(
            f"{kind.value}-overdue",
            Concern.LOW if kind.value == "check-in" else Concern.MEDIUM,
            f"{len(missing)} {kind.value}(s) overdue",
            "complete the missing check-in or assessment at the next session",
            [
                Evidence(kind=kind.value, id=f"{d.instrument}@{d.due_on.isoformat()}", on=d.due_on)
                for d in missing
            ],
        )
    alerts = {m.instrument: m.alert_at for m in records.program.measures if m.alert_at is not None}
    since = records.as_of - timedelta(weeks=records.program.accountability.review_weeks)
    latest: dict[str, Assessment] = {}
    for a in sorted(records.assessments, key=lambda a: (a.taken_on, a.id)):
        if a.taken_on <= records.as_of and a.score is not None:
            latest[a.instrument] = a  # a newer score replaces an older one
    for a in latest.values():
        limit = alerts.get(a.instrument)
        if limit is not None and a.score is not None and a.score >= limit and a.taken_on > since:
            yield records.finding(
                "assessment-alert",
                Concern.HIGH,
                f"{a.instrument} score at or above {limit:g}",
                "review with the clinician this week",
                [Evidence(kind="assessment", id=a.id, on=a.taken_on)],
            )


def _attended_kind(records: ParticipantRecords, kind: SessionKind, weeks: int) -> bool:
    since = records.as_of - timedelta(weeks=weeks)
    recorded = records.recorded
    return any(
        o.id in recorded
        and recorded[o.id].present
        and records.program.session_type(o.session_type).kind is kind
        for o in records.past
        if o.start.date() > since
    )


def co_occurring_care(records: ParticipantRecords) -> Iterator[Finding]:
    """Fires when a co-occurring disorder had no medication-management session in N weeks."""
    weeks = records.program.accountability.involvement_weeks
    started = records.enrollment.start <= records.as_of - timedelta(weeks=weeks)
    offered = any(
        t.kind is SessionKind.MEDICATION_MANAGEMENT for t in records.program.session_types
    )
    if (
        records.participant.co_occurring
        and started
        and not _attended_kind(records, SessionKind.MEDICATION_MANAGEMENT, weeks)
    ):
        yield records.finding(
            "co-occurring-care",
            Concern.LOW,
            f"no medication-management session in {weeks} weeks",
            "consider a medication-management review for the co-occurring condition"
            if offered
            else "this program offers no medication-management sessions: consider a referral "
            "for the co-occurring condition",
            [],
        )


def family_involvement(records: ParticipantRecords) -> Iterator[Finding]:
    """Fires when a consenting family contact had no family session in N weeks."""
    weeks = records.program.accountability.involvement_weeks
    consented = [f for f in records.participant.family if f.consent_to_contact]
    offered = any(t.kind is SessionKind.FAMILY for t in records.program.session_types)
    started = records.enrollment.start <= records.as_of - timedelta(weeks=weeks)
    if consented and offered and started and not _attended_kind(records, SessionKind.FAMILY, weeks):
        yield records.finding(
            "family-involvement",
            Concern.LOW,
            f"no family session in {weeks} weeks",
            "invite the consenting family member to a family session",
            [Evidence(kind="family-contact", id=f.id, on=records.as_of) for f in consented],
        )


RULES = (
    AccountabilityRule(
        name="consecutive-absences",
        evaluate=consecutive_absences,
        description=consecutive_absences.__doc__ or "",
    ),
    AccountabilityRule(
        name="attendance-rate", evaluate=attendance_rate, description=attendance_rate.__doc__ or ""
    ),
    AccountabilityRule(
        name="weekly-hours", evaluate=weekly_hours, description=weekly_hours.__doc__ or ""
    ),
    AccountabilityRule(
        name="screen-not-completed", evaluate=screen_missed, description=screen_missed.__doc__ or ""
    ),
    AccountabilityRule(
        name="screen-review", evaluate=screen_result, description=screen_result.__doc__ or ""
    ),
    AccountabilityRule(
        name="measures", evaluate=measures_overdue, description=measures_overdue.__doc__ or ""
    ),
    AccountabilityRule(
        name="co-occurring-care",
        evaluate=co_occurring_care,
        description=co_occurring_care.__doc__ or "",
    ),
    AccountabilityRule(
        name="family-involvement",
        evaluate=family_involvement,
        description=family_involvement.__doc__ or "",
    ),
    AccountabilityRule(
        name="records-missing",
        evaluate=records_missing,
        description=records_missing.__doc__ or "",
    ),
)


@hookimpl
def iopcore_accountability_rules() -> tuple[AccountabilityRule, ...]:
    return RULES
