"""Weekly time spans and their overlap: the one place iopcore decides whether two weekly
things (two sessions, a session and a work shift) collide.

A week is a circle of 10,080 minutes (Monday 00:00 is minute 0), so a span may run past
Sunday midnight into Monday: a Sunday 23:00 two-hour session overlaps a Monday 00:30 one.

    >>> from datetime import time
    >>> late = WeekSpan.at(6, time(23), minutes=120)   # Sunday 23:00-01:00
    >>> early = WeekSpan.at(0, time(0, 30), minutes=60)  # Monday 00:30-01:30
    >>> late.overlaps(early), early.overlaps(late)
    (True, True)
    >>> [str(s) for s in daily((0, 4), time(22), time(6))]  # overnight shifts
    ['Mon 22:00-06:00', 'Fri 22:00-06:00']
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import time

import attrs
from attrs import frozen

from iopcore.core.errors import ValidationError

DAY_MINUTES = 24 * 60
WEEK_MINUTES = 7 * DAY_MINUTES
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _minute_of_week(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or not 0 <= value < WEEK_MINUTES:
        raise ValidationError(
            f"WeekSpan.{attribute.name} must be a whole minute of the week from 0 (Monday "
            f"00:00) to {WEEK_MINUTES - 1}, got {value!r}; build spans with WeekSpan.at"
        )


def _length(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or not 0 < value <= WEEK_MINUTES:
        raise ValidationError(
            f"WeekSpan.{attribute.name} must be a whole number of minutes from 1 to "
            f"{WEEK_MINUTES}, got {value!r}"
        )


@frozen(kw_only=True, order=True)
class WeekSpan:
    """``minutes`` long from minute ``start`` of the week (Monday 00:00 = 0), wrapping the
    week: a span that starts Sunday evening ends on Monday."""

    start: int = attrs.field(validator=_minute_of_week)
    minutes: int = attrs.field(validator=_length)

    @classmethod
    def at(cls, day: int, at: time, *, minutes: int) -> WeekSpan:
        """The span from weekday ``day`` (Monday 0) at local wall time ``at``."""
        return cls(start=int(day) * DAY_MINUTES + at.hour * 60 + at.minute, minutes=minutes)

    @property
    def end(self) -> int:
        """The minute after the span, counted from this week's Monday (may pass the week)."""
        return self.start + self.minutes

    def widened(self, minutes: int) -> WeekSpan:
        """The span with ``minutes`` more on each side (travel time), at most a whole week."""
        length = min(self.minutes + 2 * minutes, WEEK_MINUTES)
        return WeekSpan(start=(self.start - minutes) % WEEK_MINUTES, minutes=length)

    def overlaps(self, other: WeekSpan) -> bool:
        """True when the two spans share a minute of the week (touching ends do not)."""
        return (other.start - self.start) % WEEK_MINUTES < self.minutes or (
            self.start - other.start
        ) % WEEK_MINUTES < other.minutes

    def __str__(self) -> str:
        day, minute = divmod(self.start, DAY_MINUTES)
        end = self.end % DAY_MINUTES
        return f"{_DAYS[day]} {minute // 60:02d}:{minute % 60:02d}-{end // 60:02d}:{end % 60:02d}"


def daily(days: Iterable[int], start: time, end: time) -> tuple[WeekSpan, ...]:
    """The span from ``start`` to ``end`` wall time on each of ``days`` (the day it begins);
    an ``end`` at or before ``start`` is overnight, ending the next day."""
    minutes = (end.hour * 60 + end.minute - start.hour * 60 - start.minute) % DAY_MINUTES
    return tuple(WeekSpan.at(d, start, minutes=minutes or DAY_MINUTES) for d in days)


def first_overlap(spans: Iterable[WeekSpan]) -> tuple[int, int] | None:
    """Indexes ``(i, j)``, ``i < j``, of the first two of ``spans`` that overlap, or None."""
    listed = list(spans)
    for j, later in enumerate(listed):
        for i in range(j):
            if listed[i].overlaps(later):
                return i, j
    return None
