"""Accountability policies a program declares: measures, random screening, rule settings.

They live in the program file (``[accountability]``, ``[[measures]]``, ``[[screening]]``)
as well as in Python. Defaults are documented; none is a hidden constant.

    >>> ScreeningPolicy(count=2, period="week").describe()
    '2 per week on attendance days, all phases'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
from attrs import frozen

from iopcore.core.assessments import MeasureKind
from iopcore.core.cadence import Slot
from iopcore.core.errors import Choice, ValidationError
from iopcore.core.records import MAX_WEEKS, number, whole

if TYPE_CHECKING:
    from iopcore.core.program import Program

_positive = whole(at_least=1, at_most=10_000)
_weeks = whole(at_least=1, at_most=MAX_WEEKS, unit="weeks")
_days = whole(at_least=0, at_most=7 * MAX_WEEKS, unit="days")
_fraction = number(at_least=0, at_most=1)


def _names(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise ValidationError(
            f'phases must be a list of phase names, got the string {values!r}; write ["{values}"]',
            key_path="phases",
        )
    out = tuple(values)
    for i, name in enumerate(out):
        if not isinstance(name, str):
            raise ValidationError(
                f"phases[{i}] must be a phase name (a string), got {name!r}",
                key_path=f"phases[{i}]",
            )
    return out


@frozen(kw_only=True)
class AccountabilitySettings:
    """Thresholds of the built-in accountability rules (each documented, none hidden)."""

    #: Consecutive unexcused absences that raise a finding (``consecutive_unexcused``).
    consecutive_unexcused: int = attrs.field(default=2, validator=_positive)
    #: Attendance rate below which a finding is raised, over the last ``rate_weeks`` weeks.
    attendance_rate_below: float = attrs.field(default=0.75, validator=_fraction)
    rate_weeks: int = attrs.field(default=2, validator=_weeks)
    #: Days after a due date before a check-in or assessment counts as overdue (also the
    #: grace before a session without attendance recorded raises ``records-missing``).
    overdue_after_days: int = attrs.field(default=2, validator=_days)
    #: Weeks without a medication-management or family session before a prompt.
    involvement_weeks: int = attrs.field(default=4, validator=_weeks)
    #: Weeks a screen result or an assessment alert raises a finding after it: a raised
    #: finding then stays listed until it is reviewed (see ``review_findings``).
    review_weeks: int = attrs.field(default=2, validator=_weeks)


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
    every_weeks: int | None = attrs.field(default=None, validator=attrs.validators.optional(_weeks))
    alert_at: float | None = None

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


class Design(Choice):
    """How a period's random screens are drawn (both re-derivable from the secret alone).

    ``fixed-count``: exactly the policy's count each full period, on the eligible days with
    the lowest keyed scores. The rate holds every period, but once a period's last screen
    has happened the days left in it are known to be screen-free (about a third of eligible
    days at 2 of 5 a week).

    ``per-day``: each eligible day is drawn independently (Bernoulli) with probability
    count / eligible days of a full period, so the expected count is the policy's. No day is
    ever known to be screen-free, whatever happened earlier in the period; the count varies
    from period to period (some weeks none, some more), so a minimum rate such as NADCP's
    "twice weekly" holds only on average.
    """

    FIXED_COUNT = "fixed-count"
    PER_DAY = "per-day"


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
    #: How the screens are drawn (see :class:`Design` for the trade-off).
    design: Design = attrs.field(default=Design.FIXED_COUNT, converter=Design)

    def applies_to(self, phase: str) -> bool:
        return not self.phases or phase in self.phases

    def describe(self) -> str:
        where = ", ".join(self.phases) if self.phases else "all phases"
        how = "" if self.design is Design.FIXED_COUNT else " (each day drawn independently)"
        return f"{self.count} per {self.period.value} on {self.days.value} days, {where}{how}"


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
    min_weeks: int = attrs.field(default=1, validator=_weeks)
    attendance_rate_at_least: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(_fraction)
    )
    rate_weeks: int = attrs.field(default=2, validator=_weeks)
    negative_screens_in_a_row: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(_positive)
    )
    no_open_high_findings: bool = True
    assessments: tuple[ScoreLimit, ...] = attrs.field(default=(), converter=_limits)
    signoff: bool = True

    def __attrs_post_init__(self) -> None:
        # "No open findings" is the absence of a concern, not evidence of progress: with no
        # attendance and no screens it would hold, and weeks alone would move people. So is an
        # attendance rate of at least 0%: anyone meets it.
        if self.attendance_rate_at_least == 0:
            raise ValidationError(
                f"step-down policy {self.from_phase} -> {self.to}: attendance_rate_at_least = 0 "
                "is met by anyone, so it is no evidence; give the rate a participant must reach "
                "(e.g. 0.8) or leave the key out",
                key_path="attendance_rate_at_least",
            )
        evidence = (
            self.attendance_rate_at_least is not None
            or self.negative_screens_in_a_row is not None
            or self.assessments
        )
        if not evidence:
            raise ValidationError(
                f"step-down policy {self.from_phase} -> {self.to} has no evidence criterion "
                "besides weeks; add attendance_rate_at_least, negative_screens_in_a_row or an "
                "[[step_down.assessments]] limit: a fixed length of stay alone is not a reason to "
                "step down"
            )


@frozen(kw_only=True)
class StepUpPolicy:
    """When a participant in ``from_phase`` should move back to ``to``: any trigger counts."""

    from_phase: str
    to: str
    positive_screens: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(_positive)
    )
    missed_sessions: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(_positive)
    )
    within_weeks: int = attrs.field(default=2, validator=_weeks)

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


def _stage_slots(values: tuple[Slot, ...] | list[Slot]) -> tuple[Slot, ...]:
    return tuple(values)


@frozen(kw_only=True)
class CareStage:
    """A stage after the program's own phases: e.g. outpatient 2x/week for 5 weeks."""

    name: str
    level_of_care: str = "1"
    sessions_per_week: int = attrs.field(default=1, validator=_positive)
    hours_per_week: float = 1.5
    weeks: int = attrs.field(default=4, validator=_weeks)
    #: The stage's own weekly sessions (optional), held from the day a participant is
    #: discharged to it for ``weeks`` weeks, so they reach calendars and the dose.
    slots: tuple[Slot, ...] = attrs.field(default=(), converter=_stage_slots)


def check_policies(program: Program) -> None:
    """What a program's policies mean, beyond their shape: a step-down criterion on an
    instrument the program never measures can never be met (it would stay unknown)."""
    types = {t.name for t in program.session_types}
    for i, stage in enumerate(program.continuing_care):
        for j, slot in enumerate(stage.slots):
            if slot.session_type not in types:
                raise ValidationError(
                    f"continuing-care stage {stage.name!r} has a slot of session type "
                    f"{slot.session_type!r}, which this program does not define; one of: "
                    + ", ".join(sorted(types)),
                    key_path=f"continuing_care[{i}].slots[{j}].session_type",
                )
    measured = {m.instrument for m in program.measures}
    for i, down in enumerate(program.step_down):
        for j, limit in enumerate(down.assessments):
            if limit.instrument not in measured:
                raise ValidationError(
                    f"step-down policy {down.from_phase} -> {down.to} reads "
                    f"{limit.instrument!r}, which the program never measures; add a "
                    f'[[measures]] entry with instrument = "{limit.instrument}"'
                    + (f" or use one of: {', '.join(sorted(measured))}" if measured else ""),
                    key_path=f"step_down[{i}].assessments[{j}].instrument",
                )
