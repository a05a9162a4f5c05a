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
from datetime import date, timedelta
from typing import Any

import attrs
from attrs import frozen

from iopcore.core.assessments import Assessment
from iopcore.core.attendance import AttendanceRecord
from iopcore.core.course import course
from iopcore.core.enrollment import Enrollment, LevelOfCareChange, Participant
from iopcore.core.errors import Choice
from iopcore.core.measures import Due, measures_due
from iopcore.core.program import Program
from iopcore.core.schedule import Occurrence, Status
from iopcore.core.screening import ScreeningOrder, ScreeningResult


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
