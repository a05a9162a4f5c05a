"""What the attendance models share: the model protocol (defined with the other plugin
protocols in :mod:`iopcore.plugins.protocols`), the design they see, and the effects.

An attendance model works on arrays, never on one participant at a time:

* ``prepare(design, rng)`` draws its per-participant state (latent engagement, a class, a
  Markov state) from the cohort's :class:`Design` (people, calendar, conflict masks, options);
* ``start_week(state, week, active, rng)`` may move people between states and returns a mask
  of who drops out at the start of the week (or None);
* ``probability(state, visit, streak, out)`` returns each participant's probability of
  attending visit ``visit``: ``out`` filled in, or an array the model keeps (the engine only
  reads it);
* ``disengaged(state)`` gives each participant's day of disengagement (days since
  admission, ``inf`` for never): from that day on they attend no visit;
* ``dropout`` (a :class:`Dropout`) says how a stay ends as a dropout.

The engine draws attendance, counts sessions and hours, applies the dropout rule (by
default "no attended visit for ``Dropout.days`` days", evaluated after every visit) and the
other exits. Models must be picklable (frozen attrs values are), so that process pools and
Dask can ship them.

**Dropout in calendar time.** Leaving is a process in days, not in visits: each participant
disengages at a day drawn from a proportional-hazards model (a constant daily hazard,
``Dropout.daily_hazard``, times the hazard ratios of :class:`Hazards`), whatever the
program's cadence. A disengaged participant attends nothing more; the clinic sees it as "no
attended visit for ``days`` days" and records a dropout dated to the last attended visit.
So two programs that differ only in visits per week give the same dropout distribution (a
test holds that). The old rule, ``rule = "misses-in-a-row"`` (``misses`` consecutive missed
visits), is still available by name: it makes dropout depend on the cadence (more visits
per week, more chances to miss ``misses`` in a row), so use it only to reproduce old runs.

:class:`Effects` are shifts on the log-odds of attending, the same in every built-in model.
Four are calibrated to published figures (see :class:`Effects` for the sources); every other
effect has no published estimate, so it defaults to 0 and documents a range for sensitivity
analysis. The fitted values come from ``benchmarks/calibrate_simulation.py``.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from attrs import frozen

from iopcore.core.errors import ValidationError
from iopcore.plugins.protocols import AttendanceModelImpl

from .calendar import Calendar
from .options import Options
from .population import ENTRY_PATHS, People, PopulationSpec

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


@frozen(kw_only=True, eq=False)
class Design:
    """What a model sees of a cohort: people, visits, conflict masks and the options."""

    people: People
    spec: PopulationSpec
    calendar: Calendar
    #: ``conflict[v]``: who has work hours overlapping visits of signature ``v``.
    conflict: npt.NDArray[np.bool_]
    options: Options
    #: Whether the cohort joined a group already running (rolling admission, a later intake).
    joined_mid_cycle: bool = False
    #: Members of the participant's group beyond 10 (``options.group_size - 10``).
    group_excess: float = 0.0
    #: Evidence for step-down by criteria (``options.step_down_by = "criteria"``), else None.
    criteria: Any = None


def _float_map(values: dict[str, float]) -> dict[str, float]:
    return {str(k): float(v) for k, v in dict(values).items()}


def _probability(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValidationError(f"{attribute.name} must be a probability (0 to 1), got {value!r}")


#: The largest shift on a log scale (log-odds or log hazard ratio) an effect may have: 10 is
#: a factor of 22,000 on the odds, far beyond any published effect and every documented
#: range; a larger value (or an infinite or NaN one) is a typo, refused before it runs.
MAX_LOG_EFFECT = 10.0


#: The largest base level on the log-odds scale a model may set (an intercept): 50 puts a
#: probability within 2e-22 of 0 or 1, certainty for any run (tests use it to make everyone
#: attend); beyond it the number is a typo.
MAX_LOG_ODDS = 50.0
#: Model fields that are base levels, bounded by :data:`MAX_LOG_ODDS` instead.
BASE_LEVELS = ("intercept", "intercepts", "attend_engaged", "attend_struggling")


def check_log_scale(instance: object, names: tuple[str, ...] | None = None) -> None:
    """Every float field (and per-category value) of ``instance`` is finite and within
    [-MAX_LOG_EFFECT, MAX_LOG_EFFECT] (base levels, :data:`BASE_LEVELS`, within
    [-MAX_LOG_ODDS, MAX_LOG_ODDS])."""
    for field in attrs.fields(type(instance)):  # type: ignore[arg-type]
        if names is not None and field.name not in names:
            continue
        bound, what = (
            (MAX_LOG_ODDS, "level") if field.name in BASE_LEVELS else (MAX_LOG_EFFECT, "shift")
        )
        value = getattr(instance, field.name)
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for key, item in items:
            if isinstance(item, bool) or not isinstance(item, int | float):
                continue
            if not (math.isfinite(item) and abs(item) <= bound):
                where = field.name if key is None else f"{field.name}.{key}"
                raise ValidationError(
                    f"{type(instance).__name__}.{where} must be a finite {what} between "
                    f"-{bound:g} and {bound:g} (log scale), got {item!r}; "
                    "see the documented ranges in docs/researchers.md"
                )


@frozen(kw_only=True)
class Effects:
    """Shifts on the log-odds of attending a visit (0 = no effect).

    Exits (dropout) have their own effects, :class:`Hazards`: TEDS-D's employment and
    co-occurring-disorder figures are about completion and attrition, so they act there, and
    ``employed`` and ``cooccurring`` here default to 0 (no published per-visit figure; range
    [-0.5, 0.5]).

    Calibrated (fitted by ``benchmarks/calibrate_simulation.py`` for the logistic model with
    the default population and program, see ``models.py``; full references in
    docs/researchers.md):

    * ``reminders``: SMS reminders, Gullo et al. 2018 (*Addictive Behaviors* 87:97-100; a
      12-week CBT program against a historical control group): per-session attendance 0.90
      vs 0.84, matched as the odds ratio of attended/scheduled sessions (1.71);
    * ``incentives``: incentives for attending (contingency management), Pfund et al. 2021
      (*Journal of Substance Abuse Treatment* 133:108556), d = 0.47 on attendance (matched on
      each participant's attendance rate, jointly with ``Hazards.incentives``). Petry et al.
      2011 (*J Consult Clin Psychol* 79:686-696) found d = 0.25 on days attended in one
      trial (the defaults give about that on sessions attended): sweep lower values too.

    No published estimate (we know of no study that isolates them, so they are parameters
    with documented ranges for sensitivity analysis, not invented constants); default 0,
    suggested ranges:

    * ``conflict`` [-2, 0]: a visit overlaps the participant's work hours (a day-shift worker
      and a 09:00-12:00 track); people name "time off work" and "inflexible scheduling";
    * ``evening`` [-0.5, 0.5]: visits starting at 17:00 or later (day vs evening tracks);
    * ``session_hours`` [-0.3, 0]: per hour of visit length beyond 3 h, 0 for visits of 3 h
      or less (Lappan, Brown and Hendricks 2020, *Addiction* 115:201-217, a meta-analysis of
      151 studies, found longer sessions went with more dropout, without a size we could use);
    * ``joined_mid_cycle`` [-0.5, 0]: rolling admission, for participants admitted after the
      first intake week (they join a group already running); no source gives a size;
    * ``group_size`` [-0.05, 0.05] per member of the group beyond 10 (``options.group_size``);
      no source gives a size;
    * ``transport_barrier`` [-1, 0]: the participant has a transport barrier;
    * ``entry_path`` and ``age_group`` [-0.5, 0.5]: per category name (missing: 0);
    * ``family_sessions`` [0, 0.5]: family-involved participants when the scenario offers
      family sessions;
    * ``screening`` [-0.3, 0.3] per random screen per week (accountability or deterrent);
    * ``step_down`` [-0.5, 0.5]: visits in phases after the first (after stepping down);
    * ``makeup_uptake`` [0, 0.5]: when make-up sessions are offered, the probability that a
      missed visit is made up in the same week (credited as attended, ends a miss streak).
    """

    # Fitted by benchmarks/calibrate_simulation.py (see its docstring for seeds and sizes).
    employed: float = 0.0
    cooccurring: float = 0.0
    reminders: float = 1.0035
    incentives: float = 0.97069
    conflict: float = 0.0
    evening: float = 0.0
    session_hours: float = 0.0
    transport_barrier: float = 0.0
    entry_path: dict[str, float] = attrs.field(factory=dict, converter=_float_map)
    age_group: dict[str, float] = attrs.field(factory=dict, converter=_float_map)
    family_sessions: float = 0.0
    screening: float = 0.0
    step_down: float = 0.0
    makeup_uptake: float = attrs.field(default=0.0, validator=_probability)
    joined_mid_cycle: float = 0.0
    group_size: float = 0.0

    def __attrs_post_init__(self) -> None:
        check_log_scale(self)
        for name in self.entry_path:
            if name not in ENTRY_PATHS:
                from iopcore.core.errors import one_of, suggest

                raise ValidationError(
                    f"entry_path effect for {name!r}: not an entry path"
                    f"{suggest(name, ENTRY_PATHS)}; {one_of(ENTRY_PATHS)}"
                )

    def person_shift(self, design: Design) -> Floats:
        """Each participant's static shift: covariates and person-level options."""
        people, options = design.people, design.options
        shift = np.zeros(people.n)
        shift += self.employed * people.employed
        shift += self.cooccurring * people.cooccurring
        shift += self.transport_barrier * people.transport_barrier
        if self.entry_path:
            table = np.array([self.entry_path.get(k, 0.0) for k in design.spec.entry_path])
            shift += table[people.entry_path]
        if self.age_group:
            table = np.array([self.age_group.get(k, 0.0) for k in design.spec.age_group])
            shift += table[people.age_group]
        if options.family_sessions:
            shift += self.family_sessions * people.family_involved
        if options.reminders:
            shift += self.reminders
        if options.incentives:
            shift += self.incentives
        shift += self.joined_mid_cycle * design.joined_mid_cycle
        shift += self.group_size * design.group_excess
        return shift

    def visit_shift(self, design: Design) -> Floats:
        """Each visit's shift: evening, length, phase and screening."""
        cal = design.calendar
        shift = self.evening * cal.evening + self.session_hours * hours_beyond_three(cal)
        shift = shift + self.step_down * (cal.phase > 0)
        return np.asarray(shift + self.screening * screens_per_week(design), dtype=np.float64)

    def signature_bases(self, design: Design, base: Floats) -> list[Floats]:
        """``base`` plus the conflict shift, one array per visit signature (shared if 0)."""
        if self.conflict == 0.0:
            return [base] * len(design.calendar.signatures)
        return [base + self.conflict * design.conflict[v] for v in range(len(design.conflict))]


def screens_per_week(design: Design) -> Floats:
    """Random screens per week in each visit's phase: the scenario's
    ``options.screens_per_week``, else the program's screening policy."""
    cal, every = design.calendar, design.options.screens_per_week
    return cal.screens if every is None else np.full(len(cal.week), every)


def hours_beyond_three(cal: Calendar) -> Floats:
    """Each visit's wall-clock length beyond 3 hours, 0 for visits of 3 hours or less (the
    ``session_hours`` effects are "per hour beyond 3 h")."""
    return np.maximum(cal.length_hours - 3.0, 0.0)


class DropoutRule(enum.StrEnum):
    """How the clinic recognises a dropout (see the module docstring)."""

    #: No attended visit for ``Dropout.days`` days (calendar time; the default).
    DAYS_WITHOUT_ATTENDANCE = "days-without-attendance"
    #: ``Dropout.misses`` consecutive missed visits (the old rule; depends on the cadence).
    MISSES_IN_A_ROW = "misses-in-a-row"


def _whole(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{attribute.name} must be a whole number >= 1, got {value!r}")


def _rate(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValidationError(
            f"{attribute.name} must be a daily probability in [0, 1), got {value!r}"
        )


@frozen(kw_only=True)
class Dropout:
    """How stays end as dropouts: a disengagement process in days and the clinic's rule.

    * ``daily_hazard``: the daily probability of disengaging for a reference participant
      (unemployed, no co-occurring disorder, average engagement, no options), fitted to the
      TEDS-D 2004 intensive-outpatient dropout share (23.2%) by
      ``benchmarks/calibrate_simulation.py``;
    * ``engagement``: log hazard ratio per SD of the model's latent engagement (people who
      attend less also leave sooner); a structural assumption, range [-1, 0];
    * ``days`` = 14: "no attended visit for 14 days" is a dropout. Administrative rules for
      inactive admissions vary and none is specific to IOPs: Ontario's DATIS guidelines flag
      inactivity at 15 and 30 days, Oklahoma's ODMHSAS discharges outpatients not seen for 90
      days as having left against advice; range [14, 90]. It matters little for dropout
      shares (a disengaged participant never comes back), but it sets how many sessions are
      scheduled for someone who has already left, so it lowers attendance rates: we take the
      shortest published window, for an intensive program that meets several times a week;
    * ``never_attend``: share of admissions that never attend a visit (they disengage on day
      0). TEDS dates an admission from the first service received, so TEDS-D shares imply 0;
      an admission recorded at intake may have some; no source for IOPs gives a share (intake
      no-show studies concern people before admission): range [0, 0.2], default 0;
    * ``rule`` and ``misses``: see :class:`DropoutRule`.

    Disengaging in the last planned week is a dropout too: at the planned end, a participant
    who disengaged is discharged as dropped out (dated to the last attended visit), never as
    completed.
    """

    rule: DropoutRule = attrs.field(
        default=DropoutRule.DAYS_WITHOUT_ATTENDANCE, converter=DropoutRule
    )
    days: int = attrs.field(default=14, validator=_whole)
    misses: int = attrs.field(default=3, validator=_whole)
    daily_hazard: float = attrs.field(default=0.0071458, validator=_rate)
    engagement: float = -0.5
    never_attend: float = attrs.field(default=0.0, validator=_probability)

    def __attrs_post_init__(self) -> None:
        check_log_scale(self, ("engagement",))


@frozen(kw_only=True)
class Hazards:
    """Log hazard ratios on the daily hazard of disengaging (0 = no effect; see
    :class:`Dropout`). Full references in docs/researchers.md.

    Calibrated:

    * ``employed``: TEDS-D 2004 outpatient discharges (SAMHSA, *Treatment Episode Data Set
      (TEDS) 2004*, Table 3.10): completion 47.1% employed vs 29.4% unemployed;
    * ``cooccurring``: TEDS-D 2009-2011, Krawczyk et al. 2017 (*Drug and Alcohol Dependence*
      175:157-163): attrition hazard ratio 1.14 for a co-occurring psychiatric disorder,
      fitted so that a Cox model of time to dropout (other exits censored) estimates 1.14.
      The model's own hazard ratio, exp(0.14622) = 1.157, is larger: like the source's, the
      Cox model cannot see latent engagement, and that unseen variation pulls the hazard
      ratio it estimates towards 1;

    * ``incentives``: contingency management raises latent engagement, so it lowers the
      hazard as engagement does: ``Effects.incentives * Dropout.engagement /
      LogisticModel.engagement_sd``, fitted jointly with ``Effects.incentives`` to Pfund
      2021's d = 0.47 on attendance (each participant's attendance rate). Fitting it alone
      to Petry 2011's d = 0.40 on continuous weeks instead took dropout from 23% to 2%, far
      beyond anything published, so that figure is reported, not fitted.

    No published estimate, default 0, suggested ranges: ``reminders`` [-0.3, 0]
    (Gullo 2018 reports attendance, not retention); ``transport_barrier`` [0, 0.5];
    ``conflict`` [0, 1]
    (times the share of a participant's visits that overlap their work hours); ``evening``
    [-0.3, 0.3] (times the share of evening visits); ``session_hours`` [0, 0.3] per hour
    beyond 3 h of the mean visit (Lappan 2020: longer sessions, more dropout);
    ``joined_mid_cycle`` [0, 0.5] and ``group_size`` [-0.05, 0.05] (see :class:`Effects`).
    """

    employed: float = -1.4545
    cooccurring: float = 0.14622
    incentives: float = -0.485345
    reminders: float = 0.0
    transport_barrier: float = 0.0
    conflict: float = 0.0
    evening: float = 0.0
    session_hours: float = 0.0
    joined_mid_cycle: float = 0.0
    group_size: float = 0.0

    def __attrs_post_init__(self) -> None:
        check_log_scale(self)

    def person_shift(self, design: Design) -> Floats:
        """Each participant's log hazard ratio."""
        people, options, cal = design.people, design.options, design.calendar
        shift = np.zeros(people.n)
        shift += self.employed * people.employed
        shift += self.cooccurring * people.cooccurring
        shift += self.transport_barrier * people.transport_barrier
        if options.reminders:
            shift += self.reminders
        if options.incentives:
            shift += self.incentives
        plan = cal.planned  # the visits of the phase plan (by criteria: the expected course)
        if plan.any():
            shift += self.evening * float(cal.evening[plan].mean())
            shift += self.session_hours * float(hours_beyond_three(cal)[plan].mean())
            if self.conflict:
                share = design.conflict[cal.signature[plan]].mean(axis=0)
                shift += self.conflict * share
        shift += self.joined_mid_cycle * design.joined_mid_cycle
        shift += self.group_size * design.group_excess
        return shift


def disengagement_days(dropout: Dropout, log_hazard: Floats, rng: np.random.Generator) -> Floats:
    """Each participant's day of disengaging (days since admission, continuous).

    A constant daily probability ``h`` is a continuous hazard ``-log(1 - h)`` per day, so the
    day is exponential with that rate times ``exp(log_hazard)`` (proportional hazards); the
    ``never_attend`` share disengage on day 0. One uniform per participant, in a fixed order.
    """
    n = len(log_hazard)
    if dropout.daily_hazard == 0.0 and dropout.never_attend == 0.0:
        return np.full(n, np.inf)
    u = rng.random(n)
    if dropout.daily_hazard == 0.0:
        day = np.full(n, np.inf)
    else:  # -log1p(-u) / rate, in place (log hazards are bounded: exp never underflows)
        rate = np.exp(log_hazard)
        rate *= -math.log1p(-dropout.daily_hazard)
        np.maximum(rate, 1e-300, out=rate)
        day = np.negative(u)
        np.log1p(day, out=day)
        np.negative(day, out=day)
        day /= rate
    if dropout.never_attend > 0:
        day[rng.random(n) < dropout.never_attend] = 0.0
    return np.asarray(day, dtype=np.float64)


def expit_into(logit: Floats, out: Floats) -> Floats:
    """``out = 1 / (1 + exp(-logit))`` without temporaries (``logit`` may be ``out``)."""
    np.negative(logit, out=out)
    np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)
    return out


__all__ = [
    "AttendanceModelImpl",
    "Design",
    "Dropout",
    "DropoutRule",
    "Effects",
    "Hazards",
    "check_log_scale",
    "disengagement_days",
    "expit_into",
    "hours_beyond_three",
    "screens_per_week",
]
