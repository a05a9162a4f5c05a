"""Accountability policies a program declares: measures, random screening, rule settings.

They live in the program file (``[accountability]``, ``[[measures]]``, ``[[screening]]``)
as well as in Python. Defaults are documented; none is a hidden constant.

    >>> ScreeningPolicy(count=2, period="week").describe()
    '2 per week on attendance days, all phases'
"""

from __future__ import annotations

import attrs
from attrs import frozen

from iopcore.core.assessments import MeasureKind
from iopcore.core.errors import Choice, ValidationError
from iopcore.core.records import number, whole

_positive = whole(at_least=1)
_fraction = number(at_least=0, at_most=1)


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
    overdue_after_days: int = attrs.field(default=2, validator=whole(at_least=0))
    #: Weeks without a medication-management or family session before a prompt.
    involvement_weeks: int = attrs.field(default=4, validator=_positive)
    #: Weeks a screen result or an assessment alert stays open: older ones have been seen at
    #: the reviews since, and a newer score below the alert level closes an alert at once.
    review_weeks: int = attrs.field(default=2, validator=_positive)


class Cadence(Choice):
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


class Period(Choice):
    """Calendar periods a screening rate is counted in (weeks start on Monday)."""

    WEEK = "week"
    FORTNIGHT = "fortnight"
    MONTH = "month"


class EligibleDays(Choice):
    """Which days a random screen may fall on."""

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


@frozen(kw_only=True)
class ScoreLimit:
    """An assessment criterion: the latest ``instrument`` score must be at most ``at_most``."""

    instrument: str
    at_most: float


def _limits(values: tuple[ScoreLimit, ...] | list[ScoreLimit]) -> tuple[ScoreLimit, ...]:
    return tuple(values)


#: Where a step-down from the last phase goes when it leaves the track.
AFTERCARE = "aftercare"


@frozen(kw_only=True)
class StepDownPolicy:
    """When a participant may move from phase ``from_phase`` to ``to`` (a later phase, a
    continuing-care stage, or ``aftercare``). Every criterion set must be met; placement
    follows reassessment (ASAM 4th ed.), so weeks in phase alone never suffice."""

    from_phase: str
    to: str
    min_weeks: int = attrs.field(default=1, validator=_positive)
    attendance_rate_at_least: float | None = None
    rate_weeks: int = attrs.field(default=2, validator=_positive)
    negative_screens_in_a_row: int | None = None
    no_open_high_findings: bool = True
    assessments: tuple[ScoreLimit, ...] = attrs.field(default=(), converter=_limits)
    signoff: bool = True

    def __attrs_post_init__(self) -> None:
        clinical = (
            self.attendance_rate_at_least is not None
            or self.negative_screens_in_a_row is not None
            or self.no_open_high_findings
            or self.assessments
        )
        if not clinical:
            raise ValidationError(
                f"step-down policy {self.from_phase} -> {self.to} has only a minimum length; "
                "add a clinical criterion (attendance, screens, findings or an assessment): "
                "a fixed length of stay alone is not a reason to step down"
            )


@frozen(kw_only=True)
class StepUpPolicy:
    """When a participant in ``from_phase`` should move back to ``to``: any trigger counts."""

    from_phase: str
    to: str
    positive_screens: int | None = None
    missed_sessions: int | None = None
    within_weeks: int = attrs.field(default=2, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.positive_screens is None and self.missed_sessions is None:
            raise ValidationError(
                f"step-up policy {self.from_phase} -> {self.to} has no trigger; set "
                "positive_screens or missed_sessions"
            )


@frozen(kw_only=True)
class TransferPolicy:
    """A participant may move from one track to another (e.g. day -> evening for a new job)."""

    from_track: str
    to_track: str


@frozen(kw_only=True)
class CareStage:
    """A stage after the program's own phases: e.g. outpatient 2x/week for 5 weeks."""

    name: str
    level_of_care: str = "1"
    sessions_per_week: int = attrs.field(default=1, validator=_positive)
    hours_per_week: float = 1.5
    weeks: int = attrs.field(default=4, validator=_positive)
