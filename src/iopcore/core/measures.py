"""Check-ins and assessments due: computed from the participant's own schedule.

A session-day measure (``every_weeks`` omitted) is due on every day the participant has a
session. An every-N-weeks measure is due on the first session day and every N weeks after; one
taken from 3 days before its due date until 3 days before the next counts for it. A due
measure not taken ``overdue_after_days`` after its date is overdue.

    >>> from datetime import date
    >>> from iopcore.io.files import load_program
    >>> from iopcore.core.schedule import expand
    >>> program = load_program("examples/programs/adult-evening.toml")
    >>> sessions = expand(program, "evening", start=date(2027, 3, 1), weeks=8)
    >>> [(d.instrument, d.due_on.isoformat()) for d in measures_due(program, sessions, [],
    ...     as_of=date(2027, 3, 31)) if d.instrument == "PHQ-9"]
    [('PHQ-9', '2027-03-01'), ('PHQ-9', '2027-03-29')]
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import date, timedelta

from attrs import frozen

from iopcore.core.assessments import Assessment, MeasureKind
from iopcore.core.attendance import AttendanceRecord, AttendanceStatus
from iopcore.core.program import Program
from iopcore.core.schedule import Occurrence, Status

#: A weekly-cadence measure taken up to this many days early still counts.
EARLY_DAYS = 3


@frozen(kw_only=True)
class Due:
    """One check-in or assessment due on ``due_on``; ``taken`` is the id that satisfied it."""

    kind: MeasureKind
    instrument: str
    due_on: date
    taken: str | None
    overdue: bool


def measures_due(
    program: Program,
    occurrences: Sequence[Occurrence],
    assessments: Sequence[Assessment],
    *,
    as_of: date,
    attendance: Sequence[AttendanceRecord] = (),
) -> tuple[Due, ...]:
    """Every measure due on or before ``as_of`` for this schedule, ordered by date.

    With ``attendance``, session-day measures are not due on days the participant was
    excused or the program cancelled (there was no session to check in at).
    """
    scheduled = sorted({o.start.date() for o in occurrences if o.status is not Status.CANCELLED})
    if not scheduled or scheduled[0] > as_of:
        return ()
    off = _days_off(occurrences, attendance)
    session_days = [d for d in scheduled if d <= as_of and d not in off]
    last = min(as_of, scheduled[-1])
    grace = timedelta(days=program.accountability.overdue_after_days)
    out: list[Due] = []
    for measure in program.measures:
        taken = sorted(
            (
                a
                for a in assessments
                if a.instrument == measure.instrument and a.kind == measure.kind
            ),
            key=lambda a: (a.taken_on, a.id),
        )
        taken_days = [a.taken_on for a in taken]
        dues = (
            [(d, d + timedelta(days=1)) for d in session_days]
            if measure.every_weeks is None
            else _every(measure.every_weeks, scheduled[0], last)
        )
        early = timedelta(days=0 if measure.every_weeks is None else EARLY_DAYS)
        for due_on, window_end in dues:
            index = bisect.bisect_left(taken_days, due_on - early)
            match = taken[index] if index < len(taken) and taken_days[index] < window_end else None
            out.append(
                Due(
                    kind=measure.kind,
                    instrument=measure.instrument,
                    due_on=due_on,
                    taken=None if match is None else match.id,
                    overdue=match is None and as_of > due_on + grace,
                )
            )
    out.sort(key=lambda d: (d.due_on, d.instrument))
    return tuple(out)


def _days_off(
    occurrences: Sequence[Occurrence], attendance: Sequence[AttendanceRecord]
) -> set[date]:
    """Days whose every recorded session was an excused absence or cancelled by the program."""
    day_of = {o.id: o.start.date() for o in occurrences}
    statuses: dict[date, set[AttendanceStatus]] = {}
    for r in attendance:
        statuses.setdefault(day_of.get(r.occurrence_id, r.session_date), set()).add(r.status)
    return {day for day, seen in statuses.items() if all(s.excused for s in seen)}


def _every(weeks: int, first: date, last: date) -> list[tuple[date, date]]:
    """Due every ``weeks`` weeks from ``first`` through ``last``, each with its window end
    (3 days before the next due date, so a measure taken early counts for the next one)."""
    step = timedelta(weeks=weeks)
    dues = []
    due = first
    while due <= last:
        dues.append((due, due + step - timedelta(days=EARLY_DAYS)))
        due += step
    return dues
