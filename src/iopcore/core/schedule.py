"""Expansion: a track over a date range -> the occurrences a participant would attend.

Pure and deterministic: the same program, track and range give equal occurrences with equal
ids on every call. An occurrence id is derived from (program, track, session type, original
local date and start), so moving a session keeps its id and a re-export updates rather than
duplicates. Closure dates are skipped; cancelled sessions are left out unless asked for.

    >>> from datetime import date
    >>> from iopcore.io.files import load_program
    >>> program = load_program("examples/programs/adult-evening.toml")
    >>> first = expand(program, "evening", start=date(2027, 1, 4), weeks=1)[0]
    >>> first.start.isoformat(), first.phase, first.session_type
    ('2027-01-04T18:00:00-05:00', 'core', 'group')
"""

from __future__ import annotations

import bisect
import functools
import hashlib
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from attrs import frozen

from iopcore.core.cadence import Change, localize, regular_day
from iopcore.core.errors import Choice, ScheduleError
from iopcore.core.program import Phase, Program, Track


class Status(Choice):
    """Whether an occurrence happens as the cadence says, was moved, or was cancelled."""

    SCHEDULED = "scheduled"
    MOVED = "moved"
    CANCELLED = "cancelled"


@frozen(kw_only=True)
class Occurrence:
    """One session on one date: aware start and end in the track's zone, and a stable id."""

    id: str
    program: str
    track: str
    phase: str
    session_type: str
    start: datetime
    end: datetime
    #: Where the cadence put it; differs from ``start`` only for a moved session.
    slot_start: datetime
    minutes: int
    counts_toward_hours: bool
    status: Status = Status.SCHEDULED

    @property
    def hours(self) -> float:
        """Treatment hours this occurrence contributes (0 if its type does not count)."""
        return self.minutes / 60 if self.counts_toward_hours else 0.0


def occurrence_id(program: str, track: str, session_type: str, day: date, start: time) -> str:
    """The stable, opaque id of the session a cadence places at local ``day`` ``start``.

    >>> occurrence_id("p", "evening", "group", date(2027, 1, 4), time(18))
    'e148b5382d6be69c'
    """
    key = f"{program}\x1f{track}\x1f{session_type}\x1f{day.isoformat()}\x1f{start:%H:%M}"
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def expand(
    program: Program,
    track: str,
    *,
    start: date,
    weeks: int | None = None,
    until: date | None = None,
    phase_weeks: Mapping[str, int] | None = None,
    first_phase: str | None = None,
    include_cancelled: bool = False,
) -> tuple[Occurrence, ...]:
    """Occurrences of ``track`` from ``start`` (its first day) for ``weeks`` or ``until``.

    ``until`` is inclusive. Phases follow :meth:`Track.phase_plan` (from ``first_phase``).
    Results are ordered by start; a moved session belongs to the range of the date its
    cadence gave it (its identity), wherever it moved. Each phase's calendar is computed
    once per month and cached, so expanding many participants' schedules costs little
    more than slicing.
    """
    if (weeks is None) == (until is None):
        raise ScheduleError("expand needs exactly one of weeks= or until=")
    for name, value in (("start", start), ("until", until)):
        if value is not None and type(value) is not date:
            raise ScheduleError(
                f"{name} must be a date (e.g. date(2027, 1, 4)), got {type(value).__name__} "
                f"{value!r}"
            )
    try:
        if weeks is not None:
            if type(weeks) is not int or weeks < 1:
                raise ScheduleError(f"weeks must be a whole number >= 1, got {weeks!r}")
            stop = start + timedelta(weeks=weeks)
        else:
            assert until is not None
            if until < start:
                raise ScheduleError(f"until ({until}) is before start ({start})")
            stop = until + timedelta(days=1)
    except OverflowError:
        raise ScheduleError(f"the range from {start} runs past the year 9999") from None
    plan = program.track(track).phase_plan(start, phase_weeks, first_phase=first_phase)
    return _expand(program, program.track(track), plan, stop, include_cancelled)


def _expand(
    program: Program,
    track: Track,
    plan: tuple[tuple[Phase, date, date | None], ...],
    stop: date,
    include_cancelled: bool,
) -> tuple[Occurrence, ...]:
    """Slice each phase's cached calendar: occurrences depend on the date, not the person."""
    out: list[Occurrence] = []
    for phase, first, end in plan:
        last = stop if end is None else min(end, stop)
        if first >= last:
            break
        index = track.phases.index(phase)
        final = last - timedelta(days=1)
        begin = len(out)
        for month in range(first.year * 12 + first.month - 1, final.year * 12 + final.month):
            days, occurrences = _phase_calendar(program, track, index, month)
            out += occurrences[bisect.bisect_left(days, first) : bisect.bisect_left(days, last)]
        if any(slot.every_weeks > 1 for slot in phase.slots):
            out[begin:] = every_nth_week(phase, first, out[begin:])
    if any(c.cancelled for c in track.changes) and not include_cancelled:
        out = [o for o in out if o.status is not Status.CANCELLED]
    if any(not c.cancelled for c in track.changes):  # a move can change the order
        out.sort(key=lambda o: (o.start, o.id))
    return tuple(out)


def every_nth_week(phase: Phase, first: date, occurrences: list[Occurrence]) -> list[Occurrence]:
    """Keep a slot with ``every_weeks`` = N only in weeks 1, N+1, 2N+1, ... of the phase
    (counted from ``first``, the day the participant's phase began)."""
    every = {(int(s.day), s.start, s.session_type): s.every_weeks for s in phase.slots}
    out = []
    for o in occurrences:
        local = o.slot_start
        n = every.get((local.weekday(), local.time().replace(tzinfo=None), o.session_type), 1)
        if n == 1 or ((local.date() - first).days // 7) % n == 0:
            out.append(o)
    return out


@functools.lru_cache(maxsize=4096)
def _phase_calendar(
    program: Program, track: Track, phase_index: int, month: int
) -> tuple[list[date], tuple[Occurrence, ...]]:
    """One phase's occurrences in a month (``year * 12 + month - 1``), with their dates."""
    year, zero_based = divmod(month, 12)
    first = date(year, zero_based + 1, 1)
    stop = date(year + (zero_based == 11), (zero_based + 1) % 12 + 1, 1)
    out: list[Occurrence] = []
    expand_phase(program, track, track.phases[phase_index], first, stop, out)
    return [o.slot_start.date() for o in out], tuple(out)


def expand_phase(
    program: Program, track: Track, phase: Phase, first: date, stop: date, out: list[Occurrence]
) -> None:
    """Append ``phase``'s occurrences with cadence dates in ``[first, stop)`` to ``out``."""
    tz = track.tz
    closed = program.closed
    by_day: dict[int, list[tuple[time, str, int, bool]]] = {}
    for slot in phase.slots:
        kind = program.session_type(slot.session_type)
        by_day.setdefault(slot.day, []).append(
            (
                slot.start,
                slot.session_type,
                phase.slot_minutes(slot, program),
                kind.counts_toward_hours,
            )
        )
    for sessions in by_day.values():
        sessions.sort()
    changes: dict[date, list[Change]] = {}
    for change in track.changes:
        changes.setdefault(change.date, []).append(change)
    make = functools.partial(Occurrence, program=program.name, track=track.name, phase=phase.name)
    day = first
    one_day = timedelta(days=1)
    while day < stop:
        todays = by_day.get(day.weekday())
        if todays and day not in closed:
            for at, type_name, minutes, counts in todays:
                begin = localize(day, at, tz)
                status = Status.SCHEDULED
                slot_start = begin
                length = minutes
                for change in changes.get(day, ()):
                    if change.matches(day, at, type_name):
                        if change.cancelled:
                            status = Status.CANCELLED
                        else:
                            status = Status.MOVED
                            length = change.minutes or minutes
                            begin = localize(change.new_date or day, change.new_start or at, tz)
                        break
                out.append(
                    make(
                        id=occurrence_id(program.name, track.name, type_name, day, at),
                        session_type=type_name,
                        start=begin,
                        end=_wall_end(begin, length, tz),
                        slot_start=slot_start,
                        minutes=length,
                        counts_toward_hours=counts,
                        status=status,
                    )
                )
        day += one_day


def _wall_end(begin: datetime, minutes: int, tz: ZoneInfo) -> datetime:
    """End ``minutes`` of wall-clock time after ``begin``, under the same local-time rule."""
    end = begin + timedelta(minutes=minutes)  # aware + timedelta is wall-clock arithmetic
    if end.date() == begin.date() and regular_day(tz, end.date()):
        return end
    return localize(end.date(), end.time(), tz)


def weekly_hours(occurrences: tuple[Occurrence, ...] | list[Occurrence]) -> dict[date, float]:
    """Treatment hours per calendar week (keyed by the week's Monday, local dates).

    >>> weekly_hours([])
    {}
    """
    weeks: dict[date, float] = {}
    for o in occurrences:
        if o.status is Status.CANCELLED:
            continue
        local = o.start.date()
        monday = local - timedelta(days=local.weekday())
        weeks[monday] = weeks.get(monday, 0.0) + o.hours
    return weeks


__all__ = ["Occurrence", "Status", "expand", "occurrence_id", "weekly_hours"]
