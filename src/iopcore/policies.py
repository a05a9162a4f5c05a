"""Accountability policies a program declares: measures, random screening, rule settings.

They live in the program file (``[accountability]``, ``[[measures]]``, ``[[screening]]``)
as well as in Python. Defaults are documented; none is a hidden constant.

>>> ScreeningPolicy(count=2, period="week").describe()
'2 per week on attendance days, all phases'
"""

from __future__ import annotations

import enum

import attrs
from attrs import frozen

from iopcore.assessments import MeasureKind
from iopcore.errors import ValidationError


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{attribute.name} must be a whole number >= 1, got {value!r}")


def _fraction(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValidationError(f"{attribute.name} must be between 0 and 1, got {value!r}")


def _names(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(values)


@frozen(kw_only=True)
class AccountabilitySettings:
    """Thresholds of the built-in accountability rules (each documented, none hidden)."""

    #: Consecutive unexcused absences that raise a finding (``consecutive_unexcused``).
    consecutive_unexcused: int = attrs.field(default=2, validator=_positive)
    #: Attendance rate below which a finding is raised, over the last ``rate_weeks`` weeks.
    attendance_rate_below: float = attrs.field(default=0.75, validator=_fraction)
    rate_weeks: int = attrs.field(default=2, validator=_positive)
    #: Days after a due date before a check-in or assessment counts as overdue.
    overdue_after_days: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    #: Weeks without a medication-management or family session before a prompt.
    involvement_weeks: int = attrs.field(default=4, validator=_positive)


class Cadence(enum.StrEnum):
    SESSION_DAY = "session-day"
    WEEKS = "weeks"


@frozen(kw_only=True)
class MeasureSchedule:
    """A check-in or assessment due on every session day, or every ``every_weeks`` weeks.

    ``alert_at`` (optional): a score at or above it raises a finding for clinical review.
    """

    kind: MeasureKind = attrs.field(converter=MeasureKind)
    instrument: str
    every_weeks: int | None = attrs.field(default=None)
    alert_at: float | None = None

    def __attrs_post_init__(self) -> None:
        if self.every_weeks is not None and self.every_weeks < 1:
            raise ValidationError(
                f"measure {self.instrument!r}: every_weeks must be >= 1 (or omitted for every "
                f"session day), got {self.every_weeks}"
            )

    @property
    def cadence(self) -> Cadence:
        return Cadence.SESSION_DAY if self.every_weeks is None else Cadence.WEEKS


class Period(enum.StrEnum):
    """Calendar periods a screening rate is counted in (weeks start on Monday)."""

    WEEK = "week"
    FORTNIGHT = "fortnight"
    MONTH = "month"


class EligibleDays(enum.StrEnum):
    #: Only days the participant is scheduled to attend.
    ATTENDANCE = "attendance"
    #: Any day, weekends and holidays included (NADCP: as likely as other days).
    ANY = "any"


@frozen(kw_only=True)
class ScreeningPolicy:
    """Random screens: ``count`` per ``period`` on eligible days, in the named phases.

    ASAM 2017: at least weekly early in treatment, at least monthly in stable recovery,
    random when possible. NADCP: at least twice weekly until the last phase.
    """

    count: int = attrs.field(validator=_positive)
    period: Period = attrs.field(default=Period.WEEK, converter=Period)
    days: EligibleDays = attrs.field(default=EligibleDays.ATTENDANCE, converter=EligibleDays)
    #: Phases (of any track) the policy applies in; empty means every phase.
    phases: tuple[str, ...] = attrs.field(default=(), converter=_names)

    def applies_to(self, phase: str) -> bool:
        return not self.phases or phase in self.phases

    def describe(self) -> str:
        where = ", ".join(self.phases) if self.phases else "all phases"
        return f"{self.count} per {self.period.value} on {self.days.value} days, {where}"
