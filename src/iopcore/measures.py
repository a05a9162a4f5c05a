"""Check-ins and assessments due: computed from the participant's own schedule.

A session-day measure (``every_weeks`` omitted) is due on every day the participant has a
session. An every-N-weeks measure is due on the first session day and every N weeks after;
one taken from 3 days before its due date until the next due date counts for it. A due
measure not taken ``overdue_after_days`` after its date is overdue.

    >>> from datetime import date
    >>> from iopcore.files import load_program
    >>> from iopcore.schedule import expand
    >>> program = load_program("examples/programs/adult-evening.toml")
    >>> sessions = expand(program, "evening", start=date(2027, 3, 1), weeks=8)
    >>> [(d.instrument, d.due_on.isoformat()) for d in measures_due(program, sessions, [],
    ...     as_of=date(2027, 3, 31)) if d.instrument == "PHQ-9"]
    [('PHQ-9', '2027-03-01'), ('PHQ-9', '2027-03-29')]
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from attrs import frozen

from iopcore.assessments import Assessment, MeasureKind
from iopcore.policies import MeasureSchedule
from iopcore.program import Program
from iopcore.schedule import Occurrence, Status

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
) -> tuple[Due, ...]:
    """Every measure due on or before ``as_of`` for this schedule, ordered by date."""
    days = sorted({o.start.date() for o in occurrences if o.status is not Status.CANCELLED})
    days = [d for d in days if d <= as_of]
    if not days:
        return ()
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
        for due_on, window_end in _due_dates(measure, days):
            window_start = due_on - timedelta(days=0 if measure.every_weeks is None else EARLY_DAYS)
            match = next((a for a in taken if window_start <= a.taken_on < window_end), None)
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


def _due_dates(measure: MeasureSchedule, days: list[date]) -> list[tuple[date, date]]:
    """(due date, end of the window in which a measure counts for it)."""
    if measure.every_weeks is None:
        return [(d, d + timedelta(days=1)) for d in days]
    step = timedelta(weeks=measure.every_weeks)
    dues = []
    due = days[0]
    while due <= days[-1]:
        dues.append((due, due + step - timedelta(days=EARLY_DAYS)))
        due += step
    return dues
