"""A participant's timeline: one ordered view of everything scheduled for them.

Sessions (by phase), screenings they were selected for (staff view only), check-ins and
assessments due, the dates of their step-down stages, and aftercare items. Calendar export
and simulation consume it. Every item appears exactly once, ordered by when it starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from attrs import frozen

from iopcore.core.aftercare import AftercarePlan
from iopcore.core.decisions import Decision
from iopcore.core.errors import Choice
from iopcore.core.measures import Due
from iopcore.core.schedule import Occurrence
from iopcore.core.screening import ScreeningDraw, ScreeningOrder
from iopcore.core.stepdown import StepDownPlan

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ItemKind(Choice):
    SESSION = "session"
    SCREENING = "screening"
    MEASURE_DUE = "measure-due"
    STAGE = "stage"
    AFTERCARE = "aftercare"
    DECISION = "decision"


@frozen(kw_only=True)
class TimelineItem:
    """``start`` is an aware datetime for timed items; all-day items carry a date."""

    kind: ItemKind
    ref: str
    day: date
    start: datetime | None = None
    end: datetime | None = None
    #: Staff-facing words (session type, instrument, stage); never shown by default exports.
    detail: str = ""
    occurrence: Occurrence | None = None

    def sort_key(self) -> tuple[date, int, datetime, int, str]:
        """By local day; a day's all-day items first, then its timed items by instant."""
        timed = self.start is not None
        instant = self.start.astimezone(UTC) if self.start is not None else _EPOCH
        return (self.day, int(timed), instant, list(ItemKind).index(self.kind), self.ref)


@frozen(kw_only=True)
class Timeline:
    """A participant's timeline: every scheduled item, ordered, each once."""

    participant_id: str
    staff_view: bool
    items: tuple[TimelineItem, ...]

    def sessions(self) -> tuple[Occurrence, ...]:
        return tuple(i.occurrence for i in self.items if i.occurrence is not None)


def build_timeline(
    participant_id: str,
    occurrences: Sequence[Occurrence],
    *,
    dues: Sequence[Due] = (),
    draws: Sequence[ScreeningDraw] = (),
    plan: StepDownPlan | None = None,
    aftercare: AftercarePlan | None = None,
    until: date | None = None,
    staff_view: bool = False,
    decisions: Sequence[Decision] = (),
    orders: Sequence[ScreeningOrder] = (),
) -> Timeline:
    """Merge everything scheduled for a participant into one ordered timeline.

    Screening selections appear only in the staff view: a participant must not learn in
    advance which days they will be screened. Recurring aftercare items are expanded
    through ``until`` (default: the last session). Screens ordered (``orders``, staff view)
    replace the draw's selection of the same day; stages after the current one are marked
    projected; recorded decisions appear on their day.
    """
    items = [
        TimelineItem(
            kind=ItemKind.SESSION,
            ref=o.id,
            day=o.start.date(),
            start=o.start,
            end=o.end,
            detail=f"{o.phase}: {o.session_type}",
            occurrence=o,
        )
        for o in occurrences
    ]
    known = [o.start.date() for o in occurrences] + [d.due_on for d in dues]
    if plan is not None:
        known += [s.starts for s in plan.stages]
    first = min((i.starts for i in aftercare.items), default=None) if aftercare else None
    last = until or (max(known) if known else (first or date.min) + timedelta(weeks=52))
    if staff_view:
        ordered = {o.ordered_for for o in orders}
        items += [
            TimelineItem(
                kind=ItemKind.SCREENING,
                ref=f"{d.key}/{day.isoformat()}",
                day=day,
                detail="random screen",
            )
            for d in draws
            for day in d.selected
            if day not in ordered
        ]
        items += [
            TimelineItem(
                kind=ItemKind.SCREENING,
                ref=o.id,
                day=o.ordered_for,
                detail=f"screen ordered ({o.reason.value})",
            )
            for o in orders
        ]
    items += [
        TimelineItem(
            kind=ItemKind.DECISION,
            ref=d.id,
            day=d.decided_on,
            detail=f"decided: {d.decided.value} (recommended {d.recommended.value})",
        )
        for d in decisions
    ]
    items += [
        TimelineItem(
            kind=ItemKind.MEASURE_DUE,
            ref=f"{d.instrument}/{d.due_on.isoformat()}",
            day=d.due_on,
            detail=f"{d.kind.value}: {d.instrument}",
        )
        for d in dues
    ]
    if plan is not None:
        items += [
            TimelineItem(
                kind=ItemKind.STAGE,
                ref=f"stage/{s.name}",
                day=s.starts,
                detail=f"{s.name} ({s.hours_per_week:g} h/week)"
                + (", projected" if s.projected else ""),
            )
            for s in plan.stages
        ]
    if aftercare is not None:
        for item in aftercare.items:
            meetings = item.meetings(last)
            if meetings:
                items += [
                    TimelineItem(
                        kind=ItemKind.AFTERCARE,
                        ref=f"{item.id}/{b.date()}",
                        day=b.date(),
                        start=b,
                        end=e,
                        detail=item.kind.value,
                    )
                    for b, e in meetings
                ]
            else:
                items.append(
                    TimelineItem(
                        kind=ItemKind.AFTERCARE,
                        ref=item.id,
                        day=item.due or item.starts,
                        detail=item.kind.value,
                    )
                )
    items.sort(key=TimelineItem.sort_key)
    return Timeline(participant_id=participant_id, staff_view=staff_view, items=tuple(items))
