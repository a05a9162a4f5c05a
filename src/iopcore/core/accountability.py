"""Accountability: rules read a participant's records and raise findings, with evidence.

Findings are worded for care, not punishment: each names what was noticed, the evidence
(record ids and dates) and a suggested supportive action ("offer a make-up session").
Rules are plugins (``iopcore_accountability_rules``); the built-ins live in
:mod:`iopcore_plugins.rules`. Evaluating a whole census is one call.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import attrs
from attrs import frozen

from iopcore.core.assessments import Assessment
from iopcore.core.attendance import AttendanceRecord
from iopcore.core.course import course
from iopcore.core.enrollment import Enrollment, LevelOfCareChange, Participant
from iopcore.core.errors import Choice, ValidationError
from iopcore.core.measures import Due, measures_due
from iopcore.core.program import Program
from iopcore.core.records import aware, record_id, text
from iopcore.core.schedule import Occurrence, Status
from iopcore.core.screening import ScreeningOrder, ScreeningResult, is_negative, result_day


class Concern(Choice):
    """How soon a finding wants a clinician's attention."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@frozen(kw_only=True)
class Evidence:
    """A record a finding rests on: its kind, id and date."""

    kind: str
    id: str
    on: date


def _evidence(values: Iterable[Evidence]) -> tuple[Evidence, ...]:
    return tuple(values)


@frozen(kw_only=True)
class Finding:
    """Something a clinician should look at. Its repr shows only who and when: the rule,
    concern, summary and evidence can say what a screen showed or hint at a diagnosis."""

    participant_id: str
    #: The rule and concern level stay out of reprs too: "screen-review, high" says what a
    #: screen showed.
    rule: str = attrs.field(repr=False)
    concern: Concern = attrs.field(converter=Concern, repr=False)
    as_of: date
    summary: str = attrs.field(repr=False)
    action: str = attrs.field(repr=False)
    evidence: tuple[Evidence, ...] = attrs.field(converter=_evidence, repr=False)

    @property
    def id(self) -> str:
        """Stable id: the same rule on the same evidence is the same finding."""
        key = "|".join(
            [self.participant_id, self.rule, *(f"{e.kind}:{e.id}" for e in self.evidence)]
        )
        return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


@frozen(kw_only=True)
class ParticipantRecords:
    """Everything the rules may read about one enrollment, as of a date."""

    participant: Participant
    enrollment: Enrollment
    program: Program
    #: The enrollment's whole planned schedule (cancelled sessions included).
    occurrences: tuple[Occurrence, ...]
    attendance: tuple[AttendanceRecord, ...]
    orders: tuple[ScreeningOrder, ...] = ()
    results: tuple[ScreeningResult, ...] = ()
    assessments: tuple[Assessment, ...] = ()
    #: The enrollment's level-of-care history (admission, step-downs, transfers, ...).
    history: tuple[LevelOfCareChange, ...] = ()
    as_of: date

    @functools.cached_property
    def past(self) -> tuple[Occurrence, ...]:
        """Sessions that have happened by ``as_of`` (not cancelled), in order."""
        return tuple(
            o
            for o in self.occurrences
            if o.status is not Status.CANCELLED and o.start.date() <= self.as_of
        )

    @functools.cached_property
    def recorded(self) -> dict[str, AttendanceRecord]:
        """Attendance by occurrence id (read-only: shared by every rule)."""
        return {r.occurrence_id: r for r in self.attendance}

    def expected_attendance(self, weeks: int) -> tuple[AttendanceRecord, ...]:
        """Records of the sessions of the last ``weeks`` weeks the participant was expected
        at: recorded, and neither excused nor cancelled by the program (unrecorded sessions
        are unknown and count neither way)."""
        since = self.as_of - timedelta(weeks=weeks)
        return tuple(
            self.recorded[o.id]
            for o in self.past
            if o.start.date() > since
            and o.id in self.recorded
            and not self.recorded[o.id].status.excused
        )

    @functools.cached_property
    def _dues(self) -> tuple[Due, ...]:
        return measures_due(
            self.program,
            self.occurrences,
            self.assessments,
            as_of=self.as_of,
            attendance=self.attendance,
        )

    def dues(self) -> tuple[Due, ...]:
        """Check-ins and assessments due by ``as_of`` (none on excused or cancelled days)."""
        return self._dues

    def finding(
        self, rule: str, concern: Concern, summary: str, action: str, evidence: Iterable[Evidence]
    ) -> Finding:
        return Finding(
            participant_id=self.participant.id,
            rule=rule,
            concern=concern,
            as_of=self.as_of,
            summary=summary,
            action=action,
            evidence=evidence,
        )


def planned_schedule(program: Program, enrollment: Enrollment) -> tuple[Occurrence, ...]:
    """The enrollment's schedule as planned at admission (no history): phases at their
    planned lengths. See :func:`iopcore.core.course.course` for the course a history gives."""
    return course(program, enrollment, (), as_of=enrollment.start)


def evaluate(records: ParticipantRecords, rules: Mapping[str, Any]) -> tuple[Finding, ...]:
    """Run every rule (``AccountabilityRule`` records by name) over one participant."""
    findings: list[Finding] = []
    for rule in rules.values():
        findings.extend(rule.evaluate(records))
    findings.sort(key=lambda f: (_ORDER[f.concern], f.rule, f.id))
    return tuple(findings)


_ORDER = {Concern.HIGH: 0, Concern.MEDIUM: 1, Concern.LOW: 2}


def evaluate_census(
    census: Sequence[ParticipantRecords], rules: Mapping[str, Any]
) -> tuple[Finding, ...]:
    """Findings for every participant of a census, in census order."""
    return tuple(f for records in census for f in evaluate(records, rules))


# -- records missing ---------------------------------------------------------------------------


def records_missing(records: ParticipantRecords) -> tuple[Finding, ...]:
    """Fires when past sessions have no attendance recorded: missing data is not good news.

    A session counts once ``overdue_after_days`` have passed since it (time to chart it).
    The evidence is the first such session, so the finding keeps its id while that gap
    stays open; the summary gives the count.
    """
    grace = records.program.accountability.overdue_after_days
    cutoff = records.as_of - timedelta(days=grace)
    recorded = records.recorded
    missing = [o for o in records.past if o.start.date() <= cutoff and o.id not in recorded]
    if not missing:
        return ()
    first = missing[0]
    return (
        records.finding(
            "records-missing",
            Concern.MEDIUM,
            f"{len(missing)} past session(s) have no attendance recorded",
            "record attendance for these sessions (attended, excused or not); until then "
            "criteria that depend on attendance are unknown",
            [Evidence(kind="session", id=first.id, on=first.start.date())],
        ),
    )


def unrecorded_sessions(records: ParticipantRecords) -> int:
    """Past sessions (beyond the charting grace) without an attendance record."""
    cutoff = records.as_of - timedelta(days=records.program.accountability.overdue_after_days)
    recorded = records.recorded
    return sum(1 for o in records.past if o.start.date() <= cutoff and o.id not in recorded)


# -- the review lifecycle: open -> acknowledged -> resolved ------------------------------------


class FindingStatus(Choice):
    """Where a finding is in its review: findings never expire on their own."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


def _review_status(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is FindingStatus.OPEN:
        raise ValidationError(
            "a review acknowledges or resolves a finding; status must be 'acknowledged' or "
            "'resolved'"
        )


def _instant(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        raise ValidationError("FindingReview.at must be an aware datetime, got None")
    aware(instance, attribute, value)


@frozen(kw_only=True)
class FindingReview:
    """A person's review of a finding: who, when, and to what status (append-only, audited).

    The note may carry clinical detail, so it stays out of reprs."""

    finding_id: str = attrs.field(validator=record_id)
    participant_id: str = attrs.field(validator=record_id)
    seq: int = attrs.field(validator=attrs.validators.ge(1))
    status: FindingStatus = attrs.field(converter=FindingStatus, validator=_review_status)
    actor: str = attrs.field(validator=record_id)
    at: datetime = attrs.field(validator=_instant)
    note: str = attrs.field(default="", repr=False, validator=text)

    @property
    def key(self) -> str:
        return f"{self.finding_id}/{self.seq:06d}"


@frozen(kw_only=True)
class ReviewedFinding:
    """A finding with its review status and, when resolved, by whom or by which evidence."""

    finding: Finding
    status: FindingStatus
    reviews: tuple[FindingReview, ...] = attrs.field(repr=False)
    #: Who resolved it, or the evidence rule that did (e.g. a later negative screen).
    resolved_by: str = attrs.field(default="", repr=False)


def next_review(
    finding: Finding,
    reviews: Sequence[FindingReview],
    *,
    status: FindingStatus | str,
    actor: str,
    at: datetime,
    note: str = "",
) -> FindingReview:
    """The review that moves ``finding`` on (open -> acknowledged -> resolved); a resolved
    finding takes no more reviews, and acknowledging twice is refused."""
    status = FindingStatus(status)
    current = review_state(reviews)
    if current is FindingStatus.RESOLVED:
        raise ValidationError(
            f"finding {finding.id} is already resolved; a new concern raises a new finding"
        )
    if current is status:
        raise ValidationError(f"finding {finding.id} is already {status.value}; resolve it instead")
    return FindingReview(
        finding_id=finding.id,
        participant_id=finding.participant_id,
        seq=len(reviews) + 1,
        status=status,
        actor=actor,
        at=at,
        note=note,
    )


def review_state(reviews: Sequence[FindingReview]) -> FindingStatus:
    """The status the reviews give (open without any)."""
    latest = max(reviews, key=lambda r: r.seq, default=None)
    return FindingStatus.OPEN if latest is None else latest.status


def resolved_by_evidence(
    finding: Finding,
    *,
    results: Sequence[ScreeningResult],
    orders: Sequence[ScreeningOrder],
    attendance: Sequence[AttendanceRecord],
    as_of: date,
) -> str:
    """The documented rules by which newer evidence resolves a finding ("" if none does):

    - a screen finding (``screen-review``, ``screen-not-completed``) is resolved by a
      negative screen on a later day than every screen it rests on;
    - ``records-missing`` is resolved once the session it names has attendance recorded.

    Every other finding stays open until a person resolves it.
    """
    if finding.rule in ("screen-review", "screen-not-completed"):
        after = max((e.on for e in finding.evidence), default=finding.as_of)
        later = sorted(
            (day, r.order_id)
            for r in results
            if (day := result_day(r, orders)) is not None
            and after < day <= as_of
            and is_negative(r)
        )
        if later:
            day, order = later[0]
            return f"newer evidence: negative screen {order} on {day}"
    if finding.rule == "records-missing":
        sessions = {e.id for e in finding.evidence if e.kind == "session"}
        charted = {
            r.occurrence_id for r in attendance if r.participant_id == finding.participant_id
        }
        if sessions and sessions <= charted:
            return "newer evidence: attendance recorded for the session"
    return ""


def reviewed(
    finding: Finding,
    reviews: Sequence[FindingReview],
    *,
    evidence: str = "",
    as_of: date,
) -> ReviewedFinding:
    """The finding's status as of a day: reviews made by then decide it, and ``evidence``
    (from :func:`resolved_by_evidence`) resolves one no person has resolved."""
    mine = tuple(
        sorted(
            (r for r in reviews if r.finding_id == finding.id and r.at.date() <= as_of),
            key=lambda r: r.seq,
        )
    )
    status = review_state(mine)
    if status is FindingStatus.RESOLVED:
        return ReviewedFinding(
            finding=finding, status=status, reviews=mine, resolved_by=mine[-1].actor
        )
    if evidence:
        return ReviewedFinding(
            finding=finding, status=FindingStatus.RESOLVED, reviews=mine, resolved_by=evidence
        )
    return ReviewedFinding(finding=finding, status=status, reviews=mine)
