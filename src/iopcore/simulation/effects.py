"""What the attendance models share: the model protocol (defined with the other plugin
protocols in :mod:`iopcore.plugins.protocols`), the design they see, and the effects.

An attendance model works on arrays, never on one participant at a time:

* ``prepare(design, rng)`` draws its per-participant state (latent engagement, a class, a
  Markov state) from the cohort's :class:`Design` (people, calendar, conflict masks, options);
* ``start_week(state, week, active, rng)`` may move people between states and returns a mask
  of who drops out at the start of the week (or None);
* ``probability(state, visit, streak, out)`` writes each participant's probability of
  attending visit ``visit`` into ``out`` (masks and counts in, probabilities out).

The engine draws attendance, counts sessions and hours, applies the dropout rule
(``dropout_after_misses`` consecutive missed visits) and the other exits. Models must be
picklable (frozen attrs values are), so that process pools and Dask can ship them.

:class:`Effects` are shifts on the log-odds of attending, the same in every built-in model.
Four are calibrated to published figures (see :class:`Effects` for the sources); every other
effect has no published estimate, so it defaults to 0 and documents a range for sensitivity
analysis. The fitted values come from ``benchmarks/calibrate_simulation.py``.
"""

from __future__ import annotations

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


def _float_map(values: dict[str, float]) -> dict[str, float]:
    return {str(k): float(v) for k, v in dict(values).items()}


def _probability(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValidationError(f"{attribute.name} must be a probability (0 to 1), got {value!r}")


@frozen(kw_only=True)
class Effects:
    """Shifts on the log-odds of attending a visit (0 = no effect).

    Calibrated (fitted by ``benchmarks/calibrate_simulation.py`` for the logistic model with
    the default population and program, see ``models.py``; full references in
    docs/researchers.md):

    * ``employed``: TEDS-D 2004 outpatient discharges (SAMHSA, *Treatment Episode Data Set
      (TEDS) 2004: Discharges from Substance Abuse Treatment Services*, Table 3.10):
      completion 47.1% employed vs 29.4% unemployed;
    * ``cooccurring``: TEDS-D 2009-2011, Krawczyk et al. 2017 (*Drug and Alcohol Dependence*
      175:157-163): non-completion odds ratio 1.28 for a co-occurring psychiatric disorder
      (negative: less attendance);
    * ``reminders``: SMS reminders, Gullo et al. 2018 (*Addictive Behaviors* 87:97-100; a
      12-week CBT program against a historical control group): per-session attendance 0.90
      vs 0.84, matched as the odds ratio of attended/scheduled sessions (1.71);
    * ``incentives``: incentives for attending (contingency management), Pfund et al. 2021
      (*Journal of Substance Abuse Treatment* 133:108556), d = 0.47 on attendance (matched on
      sessions attended per participant). Petry et al. 2011 (*J Consult Clin Psychol*
      79:686-696) found d = 0.25 on days attended in one trial: sweep lower values too.

    No published estimate (we know of no study that isolates them, so they are parameters
    with documented ranges for sensitivity analysis, not invented constants); default 0,
    suggested ranges:

    * ``conflict`` [-2, 0]: a visit overlaps the participant's work hours (a day-shift worker
      and a 09:00-12:00 track); people name "time off work" and "inflexible scheduling";
    * ``evening`` [-0.5, 0.5]: visits starting at 17:00 or later (day vs evening tracks);
    * ``session_hours`` [-0.3, 0]: per hour of visit length beyond 3 h (Lappan, Brown and
      Hendricks 2020, *Addiction* 115:201-217, a meta-analysis of 151 studies, found longer
      sessions went with more dropout, without a size we could use);
    * ``transport_barrier`` [-1, 0]: the participant has a transport barrier;
    * ``entry_path`` and ``age_group`` [-0.5, 0.5]: per category name (missing: 0);
    * ``family_sessions`` [0, 0.5]: family-involved participants when the scenario offers
      family sessions;
    * ``screening`` [-0.3, 0.3] per random screen per week (accountability or deterrent);
    * ``step_down`` [-0.5, 0.5]: visits in phases after the first (after stepping down);
    * ``makeup_uptake`` [0, 0.5]: when make-up sessions are offered, the probability that a
      missed visit is made up in the same week (credited as attended, ends a miss streak).
    """

    # Fitted by benchmarks/calibrate_simulation.py (seed 20040101, 100,000 participants).
    employed: float = 1.3035
    cooccurring: float = -0.4544
    reminders: float = 0.7489
    incentives: float = 1.6683
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

    def __attrs_post_init__(self) -> None:
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
        return shift

    def visit_shift(self, design: Design) -> Floats:
        """Each visit's shift: evening, length, phase and screening."""
        cal, options = design.calendar, design.options
        shift = self.evening * cal.evening + self.session_hours * (cal.length_hours - 3.0)
        shift = shift + self.step_down * (cal.phase > 0)
        screens = (
            cal.screens_per_week
            if options.screens_per_week is None
            else np.full(cal.weeks, options.screens_per_week)
        )
        return np.asarray(shift + self.screening * screens[cal.week], dtype=np.float64)

    def signature_bases(self, design: Design, base: Floats) -> list[Floats]:
        """``base`` plus the conflict shift, one array per visit signature (shared if 0)."""
        if self.conflict == 0.0:
            return [base] * len(design.calendar.signatures)
        return [base + self.conflict * design.conflict[v] for v in range(len(design.conflict))]


def expit_into(logit: Floats, out: Floats) -> Floats:
    """``out = 1 / (1 + exp(-logit))`` without temporaries (``logit`` may be ``out``)."""
    np.negative(logit, out=out)
    np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)
    return out


__all__ = ["AttendanceModelImpl", "Design", "Effects", "expit_into"]
