"""A cohort's calendar of visits, from the same expansion clinics use (:func:`iopcore.expand`).

A **visit** is the sessions of one track on one local date: people come for the day's
sessions or not (partial days are not modelled), so the engine draws attendance once per
visit and credits every session and treatment hour of the day. Closures, one-off changes and
phases (step-down) come from the program itself.

Two calendars: the **plan** (:func:`build_calendar`), where every participant of a cohort
changes phase on the dates of the phase plan, and **by phase** (``by_phase=True``), where
each phase's visits are laid out for the whole stay, so that the engine can hold each
participant in their own phase until the program's criteria move them (step-down by
criteria); a visit then concerns only those in its phase. A phase with a slot held every N
weeks (``every_weeks``) is laid out once per week of that cycle a participant may have
entered it in, because the clinic counts those weeks from the day the participant's phase
began (:func:`iopcore.core.schedule.every_nth_week`): a visit then concerns those in its
phase who entered it in a week of its ``residue`` (modulo its ``cycle``).

>>> from datetime import date
>>> from iopcore import load_program
>>> program = load_program("examples/programs/adult-evening.toml")
>>> cal = build_calendar(program, "evening", date(2027, 1, 4), weeks=12)
>>> cal.planned_weeks, len(cal.week), int(cal.sessions.sum())
(12, 35, 68)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from datetime import date, timedelta
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from attrs import frozen

from iopcore.core.errors import ScheduleError
from iopcore.core.policies import Period
from iopcore.core.program import Phase, Program, Track
from iopcore.core.schedule import Occurrence, expand
from iopcore.core.weekspan import DAY_MINUTES, WeekSpan, daily

from .population import Shift

#: Weeks per screening period (a month is 365.25 / 12 / 7 weeks).
_PERIOD_WEEKS = {Period.WEEK: 1.0, Period.FORTNIGHT: 2.0, Period.MONTH: 365.25 / 12 / 7}

#: Sessions starting at or after this local hour are "evening" sessions.
EVENING_FROM_HOUR = 17

Signature = tuple[int, int, int]
T = TypeVar("T", bound=np.generic)


@frozen(kw_only=True, eq=False)
class Calendar:
    """Visits of one cohort, in order; every array has one entry per visit."""

    start: date
    #: Program weeks simulated (fewer than ``planned_weeks`` when the horizon cuts it short).
    weeks: int
    #: Weeks from admission to completion under the phase plan.
    planned_weeks: int
    phase_names: tuple[str, ...]
    week: npt.NDArray[np.int16]
    phase: npt.NDArray[np.int8]
    sessions: npt.NDArray[np.int32]
    #: Minutes that count toward treatment hours.
    minutes: npt.NDArray[np.int32]
    #: Wall-clock length from the first start to the last end, in hours.
    length_hours: npt.NDArray[np.float64]
    evening: npt.NDArray[np.bool_]
    #: Index into ``signatures`` ((weekday, start minute, end minute) of the visit).
    signature: npt.NDArray[np.int16]
    signatures: tuple[Signature, ...]
    #: Random screens per week the program's policy asks for in the visit's phase.
    screens: npt.NDArray[np.float64]
    #: Whether the visit is on the phase plan (every visit of a plan calendar; in a calendar
    #: by phase, the visits of the phase the plan has in that week).
    planned: npt.NDArray[np.bool_]
    #: In a calendar by phase, the visit concerns those in its phase who entered it in a
    #: program week ``w`` with ``w % cycle == residue`` (1 and 0 but for phases with slots
    #: held every few weeks).
    cycle: npt.NDArray[np.int16]
    residue: npt.NDArray[np.int16]

    def week_bounds(self) -> npt.NDArray[np.intp]:
        """``bounds[w]:bounds[w + 1]`` are the visits of program week ``w``."""
        return np.searchsorted(self.week, np.arange(self.weeks + 1), side="left")


def planned_weeks(program: Program, track: str, phase_weeks: Mapping[str, int]) -> int:
    """Weeks from admission to completion: the phase plan, the last phase at its maximum."""
    plan = program.track(track).phase_plan(date(2001, 1, 1), phase_weeks)
    _, first, _ = plan[0]
    _, _, end = plan[-1]
    if end is None:
        raise ScheduleError(
            f"track {track!r}: its last phase {plan[-1][0].name!r} has no max_weeks, so nobody "
            "would ever complete; give the phase a max_weeks or set its length in the "
            "scenario's options.phase_weeks"
        )
    return (end - first).days // 7


def longest_stay(program: Program, track: str, phase_weeks: Mapping[str, int]) -> int:
    """Weeks from admission to the latest completion when the program's criteria move people
    between phases: every phase at its ``max_weeks`` (``phase_weeks`` overrides; a phase
    without a maximum counts its plan length), so nobody stays longer than the whole track
    at its longest.

    >>> from iopcore import load_program
    >>> day = load_program("examples/programs/adult-day.toml")
    >>> planned_weeks(day, "day", {}), longest_stay(day, "day", {})
    (12, 14)
    """
    planned_weeks(program, track, phase_weeks)  # the last phase must end
    phases = program.track(track).phases
    return sum(phase_weeks.get(p.name, p.max_weeks or p.min_weeks) for p in phases)


def build_calendar(
    program: Program,
    track: str,
    start: date,
    *,
    weeks: int,
    phase_weeks: Mapping[str, int] | None = None,
    by_phase: bool = False,
) -> Calendar:
    """The visits of a cohort admitted on ``start``, for ``weeks`` weeks at most: on the
    phase plan, or ``by_phase`` (every phase's visits over :func:`longest_stay`)."""
    return _build(
        program, track, start, weeks, tuple(sorted((phase_weeks or {}).items())), by_phase
    )


@functools.lru_cache(maxsize=1024)
def _build(
    program: Program,
    track: str,
    start: date,
    weeks: int,
    phase_weeks: tuple[tuple[str, int], ...],
    by_phase: bool,
) -> Calendar:
    lengths = dict(phase_weeks)
    planned = (longest_stay if by_phase else planned_weeks)(program, track, lengths)
    span = min(weeks, planned)
    if span < 1:
        raise ScheduleError(f"a cohort needs at least one week to simulate, got {span}")
    the_track: Track = program.track(track)
    phase_names = tuple(p.name for p in the_track.phases)
    plan = the_track.phase_plan(start, lengths)
    cycles = [cycle_weeks(p) if by_phase else 1 for p in the_track.phases]
    # (day, phase index, residue of the week the phase began in) -> that day's sessions
    by_day: dict[tuple[date, int, int], list[Occurrence]] = {}
    if by_phase:  # each phase from admission to the end: the clinic's own expansion
        for k, name in enumerate(phase_names):
            for r in range(min(cycles[k], span)):  # entered in week r, r + cycle, ...
                for o in expand(
                    program,
                    track,
                    start=start + timedelta(weeks=r),
                    weeks=span - r,
                    phase_weeks={name: span - r},
                    first_phase=name,
                ):
                    by_day.setdefault((o.start.date(), k, r), []).append(o)
    else:
        for o in expand(program, track, start=start, weeks=span, phase_weeks=lengths):
            by_day.setdefault((o.start.date(), phase_names.index(o.phase), 0), []).append(o)
    days = sorted(by_day)
    signatures: dict[Signature, int] = {}
    columns: dict[str, list[float]] = {
        k: []
        for k in ("week", "phase", "residue", "sessions", "minutes", "length", "evening", "sig")
    }
    for key in days:
        day = key[0]
        items = by_day[key]
        first = min(items, key=lambda o: o.start)
        begin = first.start.hour * 60 + first.start.minute
        end_at = max(o.end for o in items)
        length_minutes = (end_at - first.start).total_seconds() / 60
        sig = (day.weekday(), begin, begin + round(length_minutes))
        columns["week"].append((day - start).days // 7)
        columns["phase"].append(key[1])
        columns["residue"].append(key[2])
        columns["sessions"].append(len(items))
        columns["minutes"].append(sum(o.minutes for o in items if o.counts_toward_hours))
        columns["length"].append(length_minutes / 60)
        columns["evening"].append(first.start.hour >= EVENING_FROM_HOUR)
        columns["sig"].append(signatures.setdefault(sig, len(signatures)))
    rate = np.zeros(len(phase_names))
    for k, name in enumerate(phase_names):
        policy = program.screening_policy(name)
        if policy is not None:
            rate[k] = policy.count / _PERIOD_WEEKS[policy.period]
    on_plan = np.zeros(span, np.int8)  # the plan's phase in each week
    plan_residue = np.zeros(span, np.int16)  # and the residue of the week it began in
    for w in range(span):
        monday = start + timedelta(weeks=w)
        phase, began = next(
            (
                (p, first_day)
                for p, first_day, end in plan
                if first_day <= monday and (end is None or monday < end)
            ),
            plan[-1][:2],
        )
        on_plan[w] = phase_names.index(phase.name)
        plan_residue[w] = ((began - start).days // 7) % cycles[on_plan[w]]
    week = np.asarray(columns["week"], dtype=np.int16)
    phase_of = np.asarray(columns["phase"], dtype=np.int8)
    residue = np.asarray(columns["residue"], dtype=np.int16)

    return Calendar(
        start=start,
        weeks=span,
        planned_weeks=planned,
        phase_names=phase_names,
        week=_read_only(week),
        phase=_read_only(phase_of),
        sessions=_read_only(np.asarray(columns["sessions"], dtype=np.int32)),
        minutes=_read_only(np.asarray(columns["minutes"], dtype=np.int32)),
        length_hours=_read_only(np.asarray(columns["length"], dtype=np.float64)),
        evening=_read_only(np.asarray(columns["evening"], dtype=np.bool_)),
        signature=_read_only(np.asarray(columns["sig"], dtype=np.int16)),
        signatures=tuple(signatures),
        screens=_read_only(rate[phase_of]),
        planned=_read_only((phase_of == on_plan[week]) & (residue == plan_residue[week])),
        cycle=_read_only(np.asarray(cycles, dtype=np.int16)[phase_of]),
        residue=_read_only(residue),
    )


def visit_days(cal: Calendar) -> npt.NDArray[np.float64]:
    """Each visit's day counted from the admission day (day 0)."""
    offset = np.array([sig[0] for sig in cal.signatures], np.int64)[cal.signature]
    return np.asarray(7 * cal.week + (offset - cal.start.weekday()) % 7, dtype=np.float64)


def cycle_weeks(phase: Phase) -> int:
    """Weeks after which the phase's slots repeat (the least common multiple of their
    ``every_weeks``; 1 when every slot is weekly)."""
    return math.lcm(*(slot.every_weeks for slot in phase.slots))


def _read_only(array: npt.NDArray[T]) -> npt.NDArray[T]:
    array.flags.writeable = False
    return array


def conflict_table(
    signatures: tuple[Signature, ...], shifts: tuple[Shift, ...]
) -> npt.NDArray[np.bool_]:
    """``table[s, v]``: a visit of signature ``v`` overlaps the hours of shift ``s``.

    A last row of False stands for "not employed" (shift index -1).
    """
    visits = [
        WeekSpan(start=day * DAY_MINUTES + begin, minutes=end - begin)
        for day, begin, end in signatures
    ]
    table = np.zeros((len(shifts) + 1, len(signatures)), dtype=np.bool_)
    for s, shift in enumerate(shifts):
        hours = daily(shift.days, shift.start, shift.end)
        for v, visit in enumerate(visits):
            table[s, v] = any(visit.overlaps(span) for span in hours)
    return table


__all__ = [
    "Calendar",
    "build_calendar",
    "conflict_table",
    "cycle_weeks",
    "longest_stay",
    "planned_weeks",
    "visit_days",
]
