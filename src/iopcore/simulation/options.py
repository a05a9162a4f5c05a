"""Scenario options (what the program offers, how people are admitted) and other exits.

>>> Options(reminders=True).reminders
True
>>> Exits(transferred=0.5, terminated=0.4, other=0.2)
Traceback (most recent call last):
iopcore.ValidationError: weekly exit hazards must sum to at most 1, got 1.1
"""

from __future__ import annotations

import enum

import attrs
from attrs import frozen

from iopcore.core.errors import ValidationError


class StepDownBy(enum.StrEnum):
    """What moves people between phases and out of the IOP: the phase plan's calendar (the
    same dates for everyone), or the program's own step-down, step-up and discharge criteria,
    evaluated for each participant by the clinic's evaluator every week
    (:mod:`iopcore.simulation.criteria`)."""

    PLAN = "plan"
    CRITERIA = "criteria"


class Admission(enum.StrEnum):
    """A closed cohort starts together; rolling admission takes people in every week."""

    CLOSED = "closed"
    ROLLING = "rolling"


def _phase_weeks(values: dict[str, int]) -> dict[str, int]:
    return {str(k): v for k, v in dict(values).items()}


def _weeks_map(
    instance: object, attribute: attrs.Attribute[dict[str, int]], value: dict[str, int]
) -> None:
    for name, weeks in value.items():
        if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 1:
            raise ValidationError(
                f"{attribute.name}.{name} must be a whole number of weeks >= 1, got {weeks!r}"
            )


def _at_least_one(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or value < 1:
        raise ValidationError(f"{attribute.name} must be a whole number >= 1, got {value!r}")


def _non_negative_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"{attribute.name} must be a whole number >= 0, got {value!r}")


#: The most random screens a week a scenario may ask for (one a day).
MAX_SCREENS_PER_WEEK = 7.0


def _screens(
    instance: object, attribute: attrs.Attribute[float | None], value: float | None
) -> None:
    if value is not None and not 0.0 <= value <= MAX_SCREENS_PER_WEEK:  # NaN fails too
        raise ValidationError(
            f"{attribute.name} must be a number from 0 to {MAX_SCREENS_PER_WEEK:g} (one a day), "
            f"or omitted for the program's policy; got {value!r}",
            key_path=attribute.name,
        )


@frozen(kw_only=True)
class Options:
    """What the program offers in a scenario. Each option acts through an effect of the
    attendance model (:class:`iopcore.simulation.Effects`), so its size is documented there."""

    #: SMS reminders before each visit (effect ``reminders``, Gullo 2018).
    reminders: bool = False
    #: Attendance incentives, contingency management (effect ``incentives``, Pfund 2021).
    incentives: bool = False
    #: Missed visits can be made up in the same week (effect ``makeup_uptake``).
    makeup_sessions: bool = False
    #: Family sessions for participants with family involved (effect ``family_sessions``).
    family_sessions: bool = False
    #: Random screens per week, 0 to 7; None: the program's screening policy for each phase.
    screens_per_week: float | None = attrs.field(default=None, validator=_screens)
    admission: Admission = attrs.field(default=Admission.CLOSED, converter=Admission)
    #: Rolling admission: people are admitted uniformly over this many weekly intakes; those
    #: of later intakes join a group already running (effects ``joined_mid_cycle``).
    admission_weeks: int = attrs.field(default=1, validator=_at_least_one)
    #: Members of a therapy group (effects ``group_size``, per member beyond 10; no source).
    group_size: int = attrs.field(default=10, validator=_at_least_one)
    #: "plan": everyone changes phase on the plan's dates and completes at its end;
    #: "criteria": each participant steps down, steps up and is discharged to continuing
    #: care when the program's criteria say so (:mod:`iopcore.simulation.criteria`), at the
    #: latest at the longest stay (every phase at its ``max_weeks``).
    step_down_by: StepDownBy = attrs.field(default=StepDownBy.PLAN, converter=StepDownBy)
    #: Track choice inside the scenario: each participant takes the first of the program's
    #: tracks (the scenario's track first) that fits their work shift, by the clinic's
    #: admission-fit check (:func:`iopcore.fit_tracks`); if none fits, the scenario's track.
    #: False: everyone follows the scenario's track.
    choose_track: bool = False
    #: Travel time on both sides of a session for the fit check (minutes).
    travel_minutes: int = attrs.field(default=0, validator=_non_negative_int)
    #: Step-down timing: weeks in named phases (default: each phase's minimum, the last
    #: phase's maximum, as :meth:`iopcore.Track.phase_plan` projects).
    phase_weeks: dict[str, int] = attrs.field(
        factory=dict, converter=_phase_weeks, validator=_weeks_map
    )

    def __attrs_post_init__(self) -> None:
        if self.admission is Admission.CLOSED and self.admission_weeks != 1:
            raise ValidationError(
                f'admission_weeks = {self.admission_weeks} needs admission = "rolling" '
                "(a closed cohort starts together)"
            )

    @property
    def intake_weeks(self) -> int:
        return self.admission_weeks if self.admission is Admission.ROLLING else 1


def _hazard(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not 0.0 <= value < 1.0:
        raise ValidationError(
            f"{attribute.name} must be a weekly probability in [0, 1), got {value!r}"
        )


@frozen(kw_only=True)
class Exits:
    """Weekly hazards of the exits attendance does not drive (TEDS-D discharge reasons).

    TEDS-D 2004 intensive-outpatient discharges, n = 114,440 (SAMHSA, *Treatment Episode Data
    Set (TEDS) 2004: Discharges from Substance Abuse Treatment Services*, Table 2.5):
    completed 37.7%, transferred 17.9%, dropped out 23.2%, terminated by facility 14.0%,
    other 7.2%. Completion and dropout
    come from attendance; the other three are constant weekly hazards among those still
    enrolled (not in a program's last week), fitted jointly with the default model by
    ``benchmarks/calibrate_simulation.py``. Set them to 0 to leave those exits out.

    iopcore outcome -> TEDS-D reason: ``completed`` -> completed; ``dropped_out`` -> dropped
    out; ``transferred`` (stepped down or up to another level of care before completing) ->
    transferred; ``terminated`` -> terminated by facility; ``other`` -> other (incarceration,
    death, moved...); ``still_enrolled`` (the horizon came first) has no TEDS-D counterpart.
    """

    transferred: float = attrs.field(default=0.023874, validator=_hazard)
    terminated: float = attrs.field(default=0.018622, validator=_hazard)
    other: float = attrs.field(default=0.0095687, validator=_hazard)

    def __attrs_post_init__(self) -> None:
        total = self.transferred + self.terminated + self.other
        if total > 1.0:
            raise ValidationError(f"weekly exit hazards must sum to at most 1, got {total:.3g}")


__all__ = ["Admission", "Exits", "Options", "StepDownBy"]
