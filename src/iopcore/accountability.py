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

from iopcore.assessments import Assessment
from iopcore.attendance import AttendanceRecord
from iopcore.enrollment import Enrollment, Participant
from iopcore.errors import Choice
from iopcore.measures import Due, measures_due
from iopcore.program import Program
from iopcore.schedule import Occurrence, Status, expand
from iopcore.screening import ScreeningOrder, ScreeningResult


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
    """Something a clinician should look at. The summary stays out of reprs (it may say
    what a screen showed)."""

    participant_id: str
    rule: str
    concern: Concern = attrs.field(converter=Concern)
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

    def attendance_by_occurrence(self) -> dict[str, AttendanceRecord]:
        return dict(self.recorded)

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
    """The enrollment's projected schedule: its track from its start, phases at plan length."""
    track = program.track(enrollment.track)
    plan = track.phase_plan(enrollment.start)
    end = plan[-1][2]
    if end is None:  # open-ended last phase: project a year
        end = plan[-1][1] + timedelta(weeks=52)
    return expand(
        program,
        track.name,
        start=enrollment.start,
        until=end - timedelta(days=1),
        include_cancelled=True,
    )


RuleFunction = Any  # Callable[[ParticipantRecords], Iterable[Finding]]


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


def census_from_store(store: Any, *, as_of: date) -> tuple[ParticipantRecords, ...]:
    """Every participant's latest enrollment that started by ``as_of``, with its records.

    ``store`` is an :class:`iopcore.storage.Store`; programs are read once each.
    """
    programs: dict[str, Program] = {}
    schedules: dict[tuple[str, str, date], tuple[Occurrence, ...]] = {}
    census = []
    for participant in store.participants():
        enrollments = [e for e in store.enrollments(participant.id) if e.start <= as_of]
        if not enrollments:
            continue
        enrollment = enrollments[-1]
        history = store.history(enrollment.id)
        if any(h.kind == "discharge" and h.effective <= as_of for h in history):
            continue  # discharged to aftercare: no longer held to the program's schedule
        if enrollment.program not in programs:
            programs[enrollment.program] = store.program(enrollment.program)
        program = programs[enrollment.program]
        key = (program.name, enrollment.track, enrollment.start)
        if key not in schedules:
            schedules[key] = planned_schedule(program, enrollment)
        census.append(
            ParticipantRecords(
                participant=participant,
                enrollment=enrollment,
                program=program,
                occurrences=schedules[key],
                attendance=store.attendance(participant.id),
                orders=store.screening_orders(participant.id),
                results=store.screening_results(participant.id),
                assessments=store.assessments(participant.id),
                as_of=as_of,
            )
        )
    return tuple(census)


def open_findings(store: Any, *, as_of: date, host: Any = None) -> tuple[Finding, ...]:
    """Every finding for a store's census as of a date, using the host's rules.

    ``host`` defaults to a new :func:`iopcore.create_plugin_host`; each finding is also
    announced to the ``iopcore_finding_raised`` event hook.
    """
    if host is None:
        from iopcore.plugins import create_plugin_host

        host = create_plugin_host()
    findings = evaluate_census(census_from_store(store, as_of=as_of), host.accountability_rules())
    for finding in findings:
        host.emit("finding_raised", {"finding": finding})
    return findings
