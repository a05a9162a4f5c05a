"""Synthetic participants drawn from declared distributions, as arrays (one row a person).

A :class:`PopulationSpec` declares the shares; :func:`draw_people` draws a :class:`People`
of ``n`` participants from one random stream. Everything is vectorized: no Python object
per participant.

**The default shares are illustrative, not published figures** (we found no published
make-up of an IOP's caseload), with one exception: the employed share, 0.47, is the share at
which the completion rates of employed (47.1%) and unemployed (29.4%) people discharged from
outpatient treatment average to the completion rate of intensive-outpatient discharges
(37.7%), all from TEDS-D 2004 (SAMHSA, *Treatment Episode Data Set (TEDS) 2004: Discharges
from Substance Abuse Treatment Services*, Tables 3.10 and 2.5): 0.47 x 47.1 + 0.53 x 29.4
= 37.7. Set your own shares for your caseload; the calibration (see ``models.py``) holds for
the default population.

>>> import numpy as np
>>> people = draw_people(PopulationSpec(), 1000, np.random.default_rng(1))
>>> people.n, bool(people.shift[~people.employed].max() == -1)
(1000, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import time
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from attrs import frozen

from iopcore.core.cadence import Weekday
from iopcore.core.errors import ValidationError
from iopcore.core.fit import Obligation

Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int8]


def _share(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not 0.0 <= value <= 1.0:
        raise ValidationError(f"{attribute.name} must be a share between 0 and 1, got {value!r}")


def _weights(values: Mapping[str, float]) -> dict[str, float]:
    return {str(k): float(v) for k, v in dict(values).items()}


def _distribution(
    instance: object, attribute: attrs.Attribute[dict[str, float]], value: dict[str, float]
) -> None:
    if not value:
        raise ValidationError(f"{attribute.name} needs at least one category")
    if any(v < 0 for v in value.values()) or abs(sum(value.values()) - 1.0) > 1e-6:
        shown = ", ".join(f"{k} = {v}" for k, v in value.items())
        raise ValidationError(
            f"{attribute.name} shares must be >= 0 and sum to 1, got {shown} "
            f"(sum {sum(value.values()):.6g})"
        )


def _days(values: Sequence[Weekday | int | str]) -> tuple[Weekday, ...]:
    return tuple(Weekday.parse(v) for v in values)


@frozen(kw_only=True)
class Shift:
    """Work hours: from ``start`` to ``end`` local time (``end <= start``: overnight) on
    ``days`` (the day the shift starts)."""

    name: str
    start: time
    end: time
    days: tuple[Weekday, ...] = attrs.field(
        default=(Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI),
        converter=_days,
    )

    def intervals(self) -> list[tuple[int, int]]:
        """Minutes-of-the-week intervals ``[begin, end)`` the shift covers (may pass 10080)."""
        begin = self.start.hour * 60 + self.start.minute
        end = self.end.hour * 60 + self.end.minute
        if end <= begin:
            end += 24 * 60
        return [(int(d) * 1440 + begin, int(d) * 1440 + end) for d in self.days]

    def obligations(self) -> tuple[Obligation, ...]:
        """The shift as the clinic's admission-fit obligations (an overnight shift split at
        midnight into its evening and the next morning)."""
        if self.end > self.start:
            return (Obligation(days=self.days, start=self.start, end=self.end, label=self.name),)
        late = Obligation(days=self.days, start=self.start, end=time(23, 59, 59), label=self.name)
        if self.end == time(0):
            return (late,)
        following = tuple(Weekday((int(d) + 1) % 7) for d in self.days)
        return (late, Obligation(days=following, start=time(0), end=self.end, label=self.name))


#: Illustrative shifts (a day-shift worker cannot make a 09:00-12:00 track on a weekday).
DEFAULT_SHIFTS = (
    Shift(name="day", start=time(8), end=time(17)),
    Shift(name="evening", start=time(15), end=time(23)),
    Shift(name="night", start=time(23), end=time(7)),
)

#: Entry paths, the usual routes into an IOP: stepping down from inpatient or detox, admitted
#: directly, stepping up from outpatient.
ENTRY_PATHS = ("step-down", "direct", "step-up")
AGE_GROUPS = ("18-25", "26-34", "35-49", "50-plus")


def _shifts(values: Sequence[Shift]) -> tuple[Shift, ...]:
    return tuple(values)


@frozen(kw_only=True)
class PopulationSpec:
    """Declared distributions of the synthetic caseload (shares; illustrative defaults)."""

    #: Share employed; 0.47 makes TEDS-D's employed/unemployed completion rates average to
    #: TEDS-D's IOP completion rate (see the module docstring).
    employed: float = attrs.field(default=0.47, validator=_share)
    #: Shift of the employed (keys name entries of ``shift_hours``).
    shifts: dict[str, float] = attrs.field(
        factory=lambda: {"day": 0.70, "evening": 0.15, "night": 0.15},
        converter=_weights,
        validator=_distribution,
    )
    shift_hours: tuple[Shift, ...] = attrs.field(default=DEFAULT_SHIFTS, converter=_shifts)
    #: Share with a transport barrier (among the reasons people give for leaving treatment).
    transport_barrier: float = attrs.field(default=0.20, validator=_share)
    #: Share with a co-occurring psychiatric disorder.
    cooccurring: float = attrs.field(default=0.40, validator=_share)
    entry_path: dict[str, float] = attrs.field(
        factory=lambda: {"step-down": 0.30, "direct": 0.60, "step-up": 0.10},
        converter=_weights,
        validator=_distribution,
    )
    age_group: dict[str, float] = attrs.field(
        factory=lambda: {"18-25": 0.25, "26-34": 0.30, "35-49": 0.30, "50-plus": 0.15},
        converter=_weights,
        validator=_distribution,
    )
    #: Share with family involved in their treatment (who family sessions can reach).
    family_involved: float = attrs.field(default=0.40, validator=_share)

    def __attrs_post_init__(self) -> None:
        known = [s.name for s in self.shift_hours]
        for name in self.shifts:
            if name not in known:
                from iopcore.core.errors import one_of, suggest

                raise ValidationError(
                    f"shifts names {name!r}{suggest(name, known)}, which shift_hours does not "
                    f"define; {one_of(known)}"
                )
        for name in self.entry_path:
            if name not in ENTRY_PATHS:
                from iopcore.core.errors import one_of, suggest

                raise ValidationError(
                    f"entry_path {name!r} is not an entry path{suggest(name, ENTRY_PATHS)}; "
                    f"{one_of(ENTRY_PATHS)}"
                )


@frozen(kw_only=True, eq=False)
class People:
    """``n`` synthetic participants as parallel arrays (category columns hold indexes)."""

    n: int
    employed: Bools
    #: Index into the spec's ``shift_hours`` (-1: not employed).
    shift: Ints
    transport_barrier: Bools
    cooccurring: Bools
    #: Index into the spec's ``entry_path`` keys.
    entry_path: Ints
    #: Index into the spec's ``age_group`` keys.
    age_group: Ints
    family_involved: Bools
    #: Admission week (0 for a closed cohort).
    start_week: npt.NDArray[np.int16]

    def take(self, index: npt.NDArray[np.intp]) -> People:
        """The participants at ``index``."""
        fields: dict[str, Any] = {
            f.name: getattr(self, f.name)[index] for f in attrs.fields(People) if f.name != "n"
        }
        return People(n=len(index), **fields)


def _categorical(
    rng: np.random.Generator, n: int, weights: Mapping[str, float], order: Sequence[str]
) -> Ints:
    """Category indexes (into ``order``) drawn with ``weights`` by inverse CDF.

    The index is the number of cumulative shares at or below the uniform draw (what
    ``np.searchsorted(cdf, u, side="right")`` gives), counted one threshold at a time: a few
    passes over the array cost less than a binary search per participant."""
    p = np.array([weights.get(name, 0.0) for name in order])
    cdf = np.cumsum(p / p.sum())
    u = rng.random(n)
    index = np.zeros(n, np.int8)
    for threshold in cdf[:-1].tolist():  # the last is 1.0, above every draw
        index += u >= threshold
    return index


def draw_people(
    spec: PopulationSpec, n: int, rng: np.random.Generator, *, admission_weeks: int = 1
) -> People:
    """Draw ``n`` participants; admission weeks are uniform over ``admission_weeks`` weeks.

    The draws are in a fixed order from ``rng``, so the same stream gives the same people.
    """
    employed = rng.random(n) < spec.employed
    shift_names = [s.name for s in spec.shift_hours]
    shift = _categorical(rng, n, spec.shifts, shift_names)
    shift += 1  # -1 for the not employed, without a masked assignment
    shift *= employed
    shift -= 1
    transport = rng.random(n) < spec.transport_barrier
    cooccurring = rng.random(n) < spec.cooccurring
    entry = _categorical(rng, n, spec.entry_path, list(spec.entry_path))
    age = _categorical(rng, n, spec.age_group, list(spec.age_group))
    family = rng.random(n) < spec.family_involved
    start = (
        rng.integers(0, admission_weeks, n, dtype=np.int16)
        if admission_weeks > 1
        else np.zeros(n, np.int16)
    )
    return People(
        n=n,
        employed=employed,
        shift=shift,
        transport_barrier=transport,
        cooccurring=cooccurring,
        entry_path=entry,
        age_group=age,
        family_involved=family,
        start_week=start,
    )


__all__ = [
    "AGE_GROUPS",
    "DEFAULT_SHIFTS",
    "ENTRY_PATHS",
    "People",
    "PopulationSpec",
    "Shift",
    "draw_people",
]
