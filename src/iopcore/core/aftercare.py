"""Aftercare plans: what continues after the program, as structured items with owners and
dates (ongoing therapy, support groups with their own times and places, skill building,
community resources such as housing, employment and transport)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs
from attrs import frozen

from iopcore.core.cadence import Weekday, localize, zone
from iopcore.core.errors import Choice, ValidationError
from iopcore.core.records import calendar_date, optional_date, record_id, text
from iopcore.core.schedule import Occurrence


class AftercareKind(Choice):
    """What an aftercare item is: therapy, a support group, skills, or a community resource."""

    THERAPY = "therapy"
    SUPPORT_GROUP = "support-group"
    SKILLS = "skills"
    HOUSING = "housing"
    EMPLOYMENT = "employment"
    TRANSPORT = "transport"
    OTHER = "other"


def _weekday(value: Weekday | int | str | None) -> Weekday | None:
    return None if value is None else Weekday.parse(value)


@frozen(kw_only=True)
class AftercareItem:
    """One item of the plan. A recurring item (a weekly support group) has ``weekday``,
    ``at`` and ``time_zone``; a one-off task (apply for housing) has ``due``."""

    id: str = attrs.field(validator=record_id)
    kind: AftercareKind = attrs.field(converter=AftercareKind)
    #: Staff-facing description; kept out of reprs and of participant calendars by default.
    title: str = attrs.field(validator=text, repr=False)
    owner: str = attrs.field(validator=text, repr=False)
    starts: date = attrs.field(validator=calendar_date)
    due: date | None = attrs.field(default=None, validator=optional_date)
    weekday: Weekday | None = attrs.field(default=None, converter=_weekday)
    at: time | None = None
    minutes: int = 60
    time_zone: str | None = None
    place: str = attrs.field(default="", validator=text, repr=False)

    def __attrs_post_init__(self) -> None:
        recurring = (self.weekday, self.at, self.time_zone)
        if any(v is not None for v in recurring) and not all(v is not None for v in recurring):
            raise ValidationError(
                f"aftercare item {self.id}: a recurring item needs weekday, at and time_zone "
                "together"
            )
        if self.time_zone is not None:
            zone(self.time_zone)
        if self.due is not None and self.due < self.starts:
            raise ValidationError(f"aftercare item {self.id}: due {self.due} is before starts")

    @property
    def recurring(self) -> bool:
        return self.weekday is not None

    def meetings(self, until: date) -> list[tuple[datetime, datetime]]:
        """Each weekly meeting from ``starts`` through ``until`` (aware, in its zone)."""
        if self.weekday is None or self.at is None or self.time_zone is None:
            return []
        tz: ZoneInfo = zone(self.time_zone)
        day = self.starts + timedelta(days=(self.weekday - self.starts.weekday()) % 7)
        out = []
        while day <= until:
            begin = localize(day, self.at, tz)
            out.append((begin, begin + timedelta(minutes=self.minutes)))
            day += timedelta(weeks=1)
        return out


def _items(values: Iterable[AftercareItem]) -> tuple[AftercareItem, ...]:
    return tuple(values)


@frozen(kw_only=True)
class AftercarePlan:
    """An enrollment's aftercare plan (items have unique ids)."""

    enrollment_id: str = attrs.field(validator=record_id)
    items: tuple[AftercareItem, ...] = attrs.field(converter=_items)

    def __attrs_post_init__(self) -> None:
        ids = [i.id for i in self.items]
        if len(set(ids)) != len(ids):
            raise ValidationError(f"aftercare plan {self.enrollment_id}: item ids must be unique")


def aftercare_sessions(plan: AftercarePlan, *, until: date) -> tuple[Occurrence, ...]:
    """The plan's recurring meetings through ``until`` as occurrences, so calendars can
    carry them next to the program's sessions (they count toward no treatment hours)."""
    out = []
    for item in plan.items:
        for begin, end in item.meetings(until):
            key = f"aftercare\x1f{plan.enrollment_id}\x1f{item.id}\x1f{begin.date().isoformat()}"
            out.append(
                Occurrence(
                    id=hashlib.blake2b(key.encode(), digest_size=8).hexdigest(),
                    program="aftercare",
                    track=f"aftercare-{item.id}",
                    phase="aftercare",
                    session_type=item.kind.value,
                    start=begin,
                    end=end,
                    slot_start=begin,
                    minutes=item.minutes,
                    counts_toward_hours=False,
                )
            )
    out.sort(key=lambda o: (o.start.astimezone(UTC), o.id))
    return tuple(out)
