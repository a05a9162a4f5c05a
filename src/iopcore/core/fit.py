"""Admission fit: which tracks a person can attend around their work, school and child care.

"Structured flexibility": therapy in the morning, work in the afternoon. A track fits when
none of its sessions, widened by travel time on both sides, overlaps an obligation.

    >>> from datetime import time
    >>> from iopcore.io.files import load_program
    >>> program = load_program("examples/programs/adult-evening.toml")
    >>> work = Obligation(days=("mon", "tue", "wed", "thu", "fri"), start=time(9), end=time(17))
    >>> [(f.track, f.fits) for f in fit_tracks(program, [work], travel_minutes=45)]
    [('evening', True)]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import time

import attrs
from attrs import frozen

from iopcore.core.cadence import Weekday
from iopcore.core.errors import ValidationError
from iopcore.core.program import Program
from iopcore.core.weekspan import WeekSpan, daily


def _days(values: Iterable[Weekday | int | str]) -> tuple[Weekday, ...]:
    return tuple(Weekday.parse(v) for v in values)


@frozen(kw_only=True)
class Obligation:
    """A weekly commitment (a work shift, school, a child-care pick-up), local wall times on
    ``days`` (the day it begins); an ``end`` before ``start`` runs overnight."""

    days: tuple[Weekday, ...] = attrs.field(converter=_days)
    start: time
    end: time
    label: str = attrs.field(default="obligation", repr=False)

    def __attrs_post_init__(self) -> None:
        if self.end == self.start:
            raise ValidationError(
                f"Obligation {self.start:%H:%M}-{self.end:%H:%M}: end must differ from start "
                "(an end before the start runs overnight)"
            )

    def spans(self) -> tuple[WeekSpan, ...]:
        """The stretches of the week the obligation takes."""
        return daily(self.days, self.start, self.end)


@frozen(kw_only=True)
class TrackFit:
    """Whether a track fits a person's obligations, the conflicts if not, and its hours."""

    track: str
    fits: bool
    #: Human-readable conflicts, e.g. "Mon 09:00 group overlaps obligation 08:00-16:00".
    conflicts: tuple[str, ...]
    #: Scheduled treatment hours in a regular week of each phase, in order.
    weekly_hours: tuple[tuple[str, float], ...]


def fit_tracks(
    program: Program, obligations: Sequence[Obligation], *, travel_minutes: int = 0
) -> tuple[TrackFit, ...]:
    """Each track of ``program``: whether it fits the obligations, and its weekly hours."""
    busy = [(span, ob) for ob in obligations for span in ob.spans()]
    fits = []
    for track in program.tracks:
        conflicts: list[str] = []
        for phase in track.phases:
            for slot in phase.slots:
                session = WeekSpan.at(
                    slot.day, slot.start, minutes=phase.slot_minutes(slot, program)
                ).widened(travel_minutes)
                for span, ob in busy:
                    if session.overlaps(span):
                        text = (
                            f"{slot.day.label[:3]} {slot.start:%H:%M} {slot.session_type} "
                            f"({phase.name}) overlaps an obligation "
                            f"{ob.start:%H:%M}-{ob.end:%H:%M}"
                        )
                        if text not in conflicts:
                            conflicts.append(text)
        fits.append(
            TrackFit(
                track=track.name,
                fits=not conflicts,
                conflicts=tuple(conflicts),
                weekly_hours=tuple((p.name, p.weekly_minutes(program) / 60) for p in track.phases),
            )
        )
    return tuple(fits)
