"""One call each for what clinic software asks of a store: the census as of a date, open
findings, a participant's step-down plan, and a participant's calendar.

These read a :class:`~iopcore.io.storage.Store` and use a
:class:`~iopcore.plugins.PluginHost` for rules, exporters and events; the rules, plans and
schedules themselves are pure functions of the records.
"""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Any

from attrs import frozen

from iopcore.core.accountability import Finding, ParticipantRecords
from iopcore.core.aftercare import aftercare_sessions
from iopcore.core.course import course, held_course
from iopcore.core.enrollment import TransitionKind
from iopcore.core.errors import StorageError
from iopcore.core.program import Program
from iopcore.core.schedule import Occurrence
from iopcore.core.stepdown import Evaluation, StepDownPlan, evaluate_transition, step_down_plan
from iopcore.io.storage import Store
from iopcore.plugins import PluginHost, default_host


def records_of(
    store: Store, participant_id: str, as_of: date, programs: dict[str, Program]
) -> ParticipantRecords | None:
    """The participant's latest enrollment started by ``as_of`` with its records (None if
    there is none, or they were discharged by then)."""
    enrollments = [e for e in store.enrollments(participant_id) if e.start <= as_of]
    if not enrollments:
        return None
    enrollment = enrollments[-1]
    history = store.history(enrollment.id)
    if any(h.kind is TransitionKind.DISCHARGE and h.effective <= as_of for h in history):
        return None
    if enrollment.program not in programs:
        programs[enrollment.program] = store.program(enrollment.program)
    program = programs[enrollment.program]
    return ParticipantRecords(
        participant=store.participant(participant_id),
        enrollment=enrollment,
        program=program,
        occurrences=course(program, enrollment, history, as_of=as_of),
        attendance=store.attendance(participant_id),
        orders=store.screening_orders(participant_id),
        results=store.screening_results(participant_id),
        assessments=store.assessments(participant_id),
        history=history,
        as_of=as_of,
    )


def census(store: Store, *, as_of: date) -> tuple[ParticipantRecords, ...]:
    """Every participant in treatment on ``as_of``: their latest enrollment started by then,
    unless discharged, with its records and the course its history gave it."""
    programs: dict[str, Program] = {}
    out = []
    for participant in store.participants():
        records = records_of(store, participant.id, as_of, programs)
        if records is not None:
            out.append(records)
    return tuple(out)


def open_findings(
    store: Store, *, as_of: date, host: PluginHost | None = None, purpose: str = "treatment"
) -> tuple[Finding, ...]:
    """Every finding not yet resolved as of a date: raised by the host's rules (built-in and
    plugins') now or before, and kept until a person resolves it or newer evidence does
    (see :func:`iopcore.clinic.findings.review_findings` for their review status). A
    finding raised for the first time is stored and announced to the
    ``iopcore_finding_raised`` event hook."""
    from iopcore.clinic.findings import review_findings

    found = review_findings(store, as_of=as_of, host=host, purpose=purpose)
    return tuple(r.finding for r in found)


@frozen(kw_only=True)
class ParticipantPlan:
    """The recommendation for a participant and the dated plan of stages to aftercare."""

    evaluation: Evaluation
    plan: StepDownPlan


def plan_for(
    store: Store,
    participant_id: str,
    *,
    as_of: date,
    host: PluginHost | None = None,
    purpose: str = "treatment",
) -> ParticipantPlan:
    """Evaluate one participant's latest enrollment and plan their step-down.

    A recommendation to move is announced to the ``iopcore_stepdown_recommended`` hook.
    The read is audited (the store's actor, ``purpose``, the time; never the data).
    """
    host = host or default_host()
    store.participant(participant_id)  # a StorageError naming the store if unknown
    records = records_of(store, participant_id, as_of, {})
    if records is None:
        starts = [e.start for e in store.enrollments(participant_id)]
        raise StorageError(
            f"participant {participant_id!r} is not in treatment on {as_of}: "
            + (
                f"enrolled from {min(starts)}; choose a later --as-of date, or they were discharged"
                if starts
                else "no enrollment; enroll them first"
            )
        )
    from iopcore.clinic.findings import review_findings

    unresolved = review_findings(
        store, as_of=as_of, host=host, participant_id=participant_id, purpose=None
    )
    skipped = sorted(host.rules_skipped) + [f"{f.name} (not loaded)" for f in host.failures]
    evaluation = evaluate_transition(
        records, records.history, [r.finding for r in unresolved], rules_skipped=skipped
    )
    if evaluation.target is not None:
        host.emit("stepdown_recommended", {"recommendation": evaluation})
    store.record_reads("plan", [participant_id], purpose=purpose)
    return ParticipantPlan(
        evaluation=evaluation,
        plan=step_down_plan(records.program, evaluation.position, as_of=as_of),
    )


#: How far after the last session an aftercare plan's meetings go into a calendar.
AFTERCARE_WEEKS = 12


def _sessions_by_enrollment(
    store: Store,
    participant_id: str,
    *,
    as_of: date,
    aftercare_weeks: int = AFTERCARE_WEEKS,
    programs: dict[str, Program] | None = None,
) -> list[tuple[str, list[Occurrence]]]:
    """(enrollment id, its sessions and aftercare meetings) for each enrollment; the
    programs read on the way are left in ``programs``."""
    store.participant(participant_id)
    programs = {} if programs is None else programs
    out: list[tuple[str, list[Occurrence]]] = []
    for enrollment in store.enrollments(participant_id):
        if enrollment.program not in programs:
            programs[enrollment.program] = store.program(enrollment.program)
        sessions = list(
            held_course(
                programs[enrollment.program],
                enrollment,
                store.history(enrollment.id),
                as_of=max(as_of, enrollment.start),
            )
        )
        out.append((enrollment.id, sessions))
        try:
            plan = store.aftercare(enrollment.id)
        except StorageError:
            continue  # no aftercare plan yet
        last = max((o.start.date() for o in sessions), default=enrollment.start)
        sessions += aftercare_sessions(plan, until=last + timedelta(weeks=aftercare_weeks))
    return out


def participant_sessions(
    store: Store,
    participant_id: str,
    *,
    as_of: date,
    aftercare_weeks: int = AFTERCARE_WEEKS,
) -> tuple[Occurrence, ...]:
    """Every session of each of the participant's enrollments: as its history went up to
    ``as_of``, then the current phase held until a decision is recorded (up to its
    ``max_weeks``; see :func:`~iopcore.core.course.held_course`), nothing of a projected
    step-down and nothing after a discharge; then the recurring meetings of each
    enrollment's aftercare plan (if one is stored), for ``aftercare_weeks`` weeks after the
    enrollment's last session."""

    groups = _sessions_by_enrollment(
        store, participant_id, as_of=as_of, aftercare_weeks=aftercare_weeks
    )
    out = [o for _, sessions in groups for o in sessions]
    return tuple(sorted(out, key=lambda o: (o.start.astimezone(UTC), o.id)))


def session_scopes(
    store: Store, participant_id: str, *, as_of: date, aftercare_weeks: int = AFTERCARE_WEEKS
) -> dict[str, str]:
    """For each of the participant's sessions (as :func:`participant_sessions` gives them),
    the scope of its calendar identity: the participant and the enrollment it belongs to.

    Passed to an exporter as ``uid_scope``, it makes UIDs unique per participant and
    enrollment (two people's calendars in one shared calendar never replace each other's
    events) and stable across re-exports. The exporter only hashes it (with the clinic's
    UID secret); nothing of it is written in the clear.
    """
    groups = _sessions_by_enrollment(
        store, participant_id, as_of=as_of, aftercare_weeks=aftercare_weeks
    )
    return {o.id: _scope(participant_id, e) for e, sessions in groups for o in sessions}


def _scope(participant_id: str, enrollment_id: str) -> str:
    return f"{participant_id}\x1f{enrollment_id}"


def export_calendar(
    store: Store,
    participant_id: str,
    *,
    as_of: date,
    host: PluginHost | None = None,
    exporter: str = "ics",
    **options: Any,
) -> bytes:
    """A participant's calendar file. The export is written to the audit log first, so a
    disclosure is never made without its record."""
    host = host or default_host()
    read: dict[str, Program] = {}
    groups = _sessions_by_enrollment(store, participant_id, as_of=as_of, programs=read)
    sessions = [o for _, members in groups for o in members]
    if not sessions:
        raise StorageError(
            f"participant {participant_id!r} has no sessions in {store.url}; enroll them first"
        )
    export = host.calendar_exporter(exporter)
    options.setdefault("programs", tuple(read[name] for name in sorted(read)))
    # UIDs unique per participant and enrollment (see session_scopes)
    scopes = {o.id: _scope(participant_id, e) for e, members in groups for o in members}
    options.setdefault("uid_scope", scopes)
    store.record_export("calendar", participant_id)
    return export.export(sessions, **options)
