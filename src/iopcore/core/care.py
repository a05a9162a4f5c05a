"""Levels of care and the intensity rules a program is checked against.

Sources: ASAM Criteria 3rd ed. (Mee-Lee et al. 2013) as quoted in SAMHSA
Advisory (2021) for the weekly hours of levels 1, 2.1 and 2.5; HCPCS H0015 for the day rule
(>= 3 h/day on >= 3 days/week); the Medicare IOP benefit (CMS-1786-FC, from 2024-01-01) for
>= 9 h/week.

    >>> [r.name for r in intensity_rules(LevelOfCare.IOP, Population.ADULT, [RuleSet.ASAM])]
    ['ASAM 2.1 adult']
    >>> rule = intensity_rules(LevelOfCare.IOP, Population.ADULT, [RuleSet.ASAM])[0]
    >>> rule.min_hours_week, rule.below_hours_week
    (9.0, 20.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from attrs import frozen

from iopcore.core.errors import Choice


class Population(Choice):
    """Who a program serves; ASAM minimums differ for adolescents."""

    ADULT = "adult"
    ADOLESCENT = "adolescent"


class LevelOfCare(Choice):
    """ASAM levels of care that iopcore schedules (3rd ed. numbering)."""

    OUTPATIENT = "1"
    IOP = "2.1"
    PARTIAL_HOSPITALIZATION = "2.5"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    LevelOfCare.OUTPATIENT: "outpatient",
    LevelOfCare.IOP: "intensive outpatient",
    LevelOfCare.PARTIAL_HOSPITALIZATION: "partial hospitalization",
}


class RuleSet(Choice):
    """Named sets of intensity rules a program selects (``rule_sets`` in a program file)."""

    ASAM = "asam"
    H0015 = "h0015"
    MEDICARE_IOP = "medicare-iop"


@frozen(kw_only=True)
class IntensityRule:
    """Scheduled-intensity thresholds; ``None`` means the rule says nothing about that measure.

    ``below_hours_week`` is an exclusive upper bound (level 2.1 stays below partial
    hospitalization's 20 h). ``min_hours_day`` with ``min_days_week`` means "at least that many
    days with at least that many hours" (H0015).
    """

    name: str
    rule_set: RuleSet
    min_hours_week: float | None = None
    below_hours_week: float | None = None
    min_hours_day: float | None = None
    min_days_week: int | None = None

    def describe(self) -> str:
        """Human words for the requirement, e.g. ``>= 9 h/week``."""
        parts = []
        if self.min_hours_week is not None:
            parts.append(f">= {self.min_hours_week:g} h/week")
        if self.below_hours_week is not None:
            parts.append(f"< {self.below_hours_week:g} h/week")
        if self.min_hours_day is not None and self.min_days_week is not None:
            parts.append(f">= {self.min_hours_day:g} h/day on >= {self.min_days_week} days/week")
        return ", ".join(parts)


class Measure(Choice):
    """What part of an intensity rule a week misses."""

    #: Fewer hours in the week than the rule's minimum.
    WEEKLY_MINIMUM = "weekly-minimum"
    #: As many hours as the next level of care or more (``below_hours_week``).
    WEEKLY_CEILING = "weekly-ceiling"
    #: Too few days with the rule's daily hours (H0015's >= 3 h on >= 3 days).
    FULL_DAYS = "full-days"


#: Hours within this of a threshold count as on it (sums of minutes / 60 are inexact).
TOLERANCE = 1e-9


@frozen(kw_only=True)
class Miss:
    """How a week misses one part of a rule, and by how much (hours, or days for
    :attr:`Measure.FULL_DAYS`)."""

    measure: Measure
    by: float


@frozen(kw_only=True)
class WeekCheck:
    """One week against one rule: its hours, its full days and what it misses."""

    rule: IntensityRule
    hours: float
    #: Days with at least the rule's daily hours (0 when the rule has no daily part).
    full_days: int
    misses: tuple[Miss, ...]

    @property
    def met(self) -> bool:
        return not self.misses

    def meets(self, measure: Measure) -> bool:
        """Whether the week meets the rule's ``measure`` (True when the rule has none)."""
        return all(m.measure is not measure for m in self.misses)


def check_week(rule: IntensityRule, hours_by_day: Iterable[float]) -> WeekCheck:
    """Whether a week, given as its hours on each day, meets ``rule``: the one place the
    thresholds are compared (scheduled weeks, delivered doses and accountability alike).

        >>> check = check_week(asam_rule(LevelOfCare.IOP, Population.ADULT), [3, 3, 2.5])
        >>> check.met, check.misses[0].measure.value, check.misses[0].by
        (False, 'weekly-minimum', 0.5)
    """
    days = list(hours_by_day)
    total = math.fsum(days)  # correctly rounded: the order of the days cannot matter
    misses: list[Miss] = []
    if rule.min_hours_week is not None and total < rule.min_hours_week - TOLERANCE:
        misses.append(Miss(measure=Measure.WEEKLY_MINIMUM, by=rule.min_hours_week - total))
    if rule.below_hours_week is not None and total >= rule.below_hours_week - TOLERANCE:
        misses.append(Miss(measure=Measure.WEEKLY_CEILING, by=total - rule.below_hours_week))
    full = 0
    if rule.min_hours_day is not None and rule.min_days_week is not None:
        full = sum(h >= rule.min_hours_day - TOLERANCE for h in days)
        if full < rule.min_days_week:
            misses.append(Miss(measure=Measure.FULL_DAYS, by=float(rule.min_days_week - full)))
    return WeekCheck(rule=rule, hours=total, full_days=full, misses=tuple(misses))


# ASAM weekly hours by (level, population): (minimum, exclusive upper bound).
_ASAM_WEEKLY: dict[tuple[LevelOfCare, Population], tuple[float | None, float | None]] = {
    (LevelOfCare.OUTPATIENT, Population.ADULT): (None, 9.0),
    (LevelOfCare.OUTPATIENT, Population.ADOLESCENT): (None, 6.0),
    (LevelOfCare.IOP, Population.ADULT): (9.0, 20.0),
    (LevelOfCare.IOP, Population.ADOLESCENT): (6.0, 20.0),
    (LevelOfCare.PARTIAL_HOSPITALIZATION, Population.ADULT): (20.0, None),
    (LevelOfCare.PARTIAL_HOSPITALIZATION, Population.ADOLESCENT): (20.0, None),
}

#: HCPCS H0015: the program operates >= 3 h/day on >= 3 days/week.
H0015_RULE = IntensityRule(name="H0015", rule_set=RuleSet.H0015, min_hours_day=3.0, min_days_week=3)
#: Medicare IOP benefit (CMS-1786-FC): certified need for >= 9 h/week.
MEDICARE_IOP_RULE = IntensityRule(
    name="Medicare IOP", rule_set=RuleSet.MEDICARE_IOP, min_hours_week=9.0
)


def asam_rule(level: LevelOfCare, population: Population) -> IntensityRule:
    """The ASAM weekly-hours rule for a level and population."""
    minimum, below = _ASAM_WEEKLY[(level, population)]
    return IntensityRule(
        name=f"ASAM {level.value} {population.value}",
        rule_set=RuleSet.ASAM,
        min_hours_week=minimum,
        below_hours_week=below,
    )


def intensity_rules(
    level: LevelOfCare, population: Population, rule_sets: Iterable[RuleSet]
) -> tuple[IntensityRule, ...]:
    """The rules a program at ``level`` serving ``population`` is checked against."""
    rules: list[IntensityRule] = []
    for rule_set in rule_sets:
        if rule_set is RuleSet.ASAM:
            rules.append(asam_rule(level, population))
        elif rule_set is RuleSet.H0015:
            rules.append(H0015_RULE)
        else:
            rules.append(MEDICARE_IOP_RULE)
    return tuple(rules)
