"""The built-in attendance models (registered by ``iopcore_plugins.simulation``).

All three work on arrays (see :mod:`iopcore.simulation.effects` for the protocol) and share
:class:`~iopcore.simulation.effects.Effects`, the log-odds shifts of covariates and options.

* ``logistic`` (:class:`LogisticModel`, the default): each participant has a latent
  engagement drawn once, ``intercept + engagement_sd * z + effects``, the log-odds of
  attending a visit while engaged; they disengage on a day drawn from a proportional-hazards
  model (:class:`~iopcore.simulation.effects.Dropout`,
  :class:`~iopcore.simulation.effects.Hazards`), and a stay ends as a dropout after
  ``dropout.days`` days without an attended visit.
* ``latent-class`` (:class:`LatentClassModel`): steady, titrating and dropping classes, each
  with its own starting log-odds, weekly slope and hazard ratio of disengaging.
* ``markov`` (:class:`MarkovModel`): a weekly Markov chain over engaged, struggling and an
  absorbing dropout state; attendance depends on the state.

**Calibration.** ``LogisticModel.intercept``, ``Dropout.daily_hazard``, the exits,
``Hazards.employed``, ``Effects.reminders`` and ``Effects.incentives`` (with
``Hazards.incentives`` tied to it) were fitted by ``benchmarks/calibrate_simulation.py``
(``scipy.optimize.least_squares`` over several seeds, checked at held-out seeds) with the
default population, the ``evening`` track of ``examples/programs/adult-evening.toml``
admitted on 2027-01-04 (a closed cohort of 12 weeks), to published figures: the TEDS-D 2004
intensive-outpatient discharge mix and outpatient completion by employment (SAMHSA,
*Treatment Episode Data Set (TEDS) 2004*, Tables 2.5 and 3.10), Gullo et al. 2018 (SMS
reminders; its control arm's attendance for the intercept) and Pfund et al. 2021
(incentives); ``Hazards.cooccurring`` is the TEDS-D 2009-2011 attrition hazard ratio (1.14,
Krawczyk et al. 2017). References in docs/researchers.md; results in docs/validity.md.
``engagement_sd``, ``miss_streak``, ``Dropout.engagement`` and ``Dropout.days`` are
structural assumptions, not published figures: the fit holds given them. The latent-class
and Markov defaults are illustrative shapes with one parameter each (``dropping`` share,
``struggling_to_dropout``) fitted to the TEDS-D dropout share; their effects are the
logistic model's, not refitted.

>>> from iopcore.simulation import Scenario, simulate
>>> from iopcore import load_program
>>> program = load_program("examples/programs/adult-evening.toml")
>>> result = simulate(Scenario(program=program, participants=200, model=MarkovModel()))
>>> sorted(result.participants["outcome"].unique())[:2]
['completed', 'dropped_out']
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from attrs import frozen

from iopcore.core.errors import ValidationError
from iopcore.io.convert import decode

from .effects import (
    Bools,
    Design,
    Dropout,
    Effects,
    Floats,
    Hazards,
    check_log_scale,
    disengagement_days,
    expit_into,
)


def _effects(value: Effects | dict[str, Any]) -> Effects:
    if isinstance(value, Effects):
        return value
    return decode(Effects, value)


def _dropout(value: Dropout | dict[str, Any]) -> Dropout:
    if isinstance(value, Dropout):
        return value
    from .files import decode

    return decode(Dropout, value)


def _hazards(value: Hazards | dict[str, Any]) -> Hazards:
    if isinstance(value, Hazards):
        return value
    from .files import decode

    return decode(Hazards, value)


_NEVER = Dropout(daily_hazard=0.0)


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValidationError(f"{attribute.name} must be >= 0, got {value!r}")


def _probability(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValidationError(f"{attribute.name} must be a probability (0 to 1), got {value!r}")


@frozen(kw_only=True, eq=False)
class _LogisticState:
    bases: list[Floats]
    visit_shift: Floats
    signature: npt.NDArray[np.int16]
    disengaged: Floats
    #: Probabilities by (signature, visit shift): without a miss-streak penalty a visit's
    #: probabilities depend on nothing else, so visits alike share one array.
    cache: dict[tuple[int, float], Floats] = attrs.field(factory=dict)


@frozen(kw_only=True)
class LogisticModel:
    """Latent engagement, a miss-streak penalty, and effects on the log-odds (the default)."""

    #: Log-odds of attending a visit while engaged, at average engagement and no options
    #: (fitted to the control arm of Gullo 2018, per-session attendance 0.84).
    intercept: float = 2.3183
    #: SD of latent engagement between participants (structural assumption).
    engagement_sd: float = attrs.field(default=1.0, validator=_non_negative)
    #: Log-odds change per consecutive missed visit (structural assumption, range [-1, 0]).
    #: Default 0: a penalty per missed *visit* makes attendance depend on the cadence.
    miss_streak: float = 0.0
    #: The disengagement process and the clinic's dropout rule (calendar time).
    dropout: Dropout = attrs.field(factory=Dropout, converter=_dropout)
    effects: Effects = attrs.field(factory=Effects, converter=_effects)
    hazards: Hazards = attrs.field(factory=Hazards, converter=_hazards)

    def __attrs_post_init__(self) -> None:
        check_log_scale(self)  # every number finite and within the log-odds bound

    def prepare(self, design: Design, rng: np.random.Generator) -> object:
        n = design.people.n
        z = rng.standard_normal(n)
        base = self.intercept + self.engagement_sd * z
        base += self.effects.person_shift(design)
        log_hazard = self.hazards.person_shift(design) + self.dropout.engagement * z
        return _LogisticState(
            bases=self.effects.signature_bases(design, base),
            visit_shift=self.effects.visit_shift(design),
            signature=design.calendar.signature,
            disengaged=disengagement_days(self.dropout, log_hazard, rng),
        )

    def disengaged(self, state: object) -> Floats:
        assert isinstance(state, _LogisticState)
        return state.disengaged

    def start_week(
        self, state: object, week: int, active: Bools, rng: np.random.Generator
    ) -> Bools | None:
        return None

    def probability(self, state: object, visit: int, streak: Floats, out: Floats) -> Floats:
        """Each participant's probability of attending ``visit`` (in ``out``, or a cached
        read-only array shared by visits alike when there is no miss-streak penalty)."""
        assert isinstance(state, _LogisticState)
        signature = int(state.signature[visit])
        if self.miss_streak:
            np.multiply(streak, self.miss_streak, out=out)
            out += state.bases[signature]
            out += state.visit_shift[visit]
            return expit_into(out, out)
        key = (signature, float(state.visit_shift[visit]))
        cached = state.cache.get(key)
        if cached is None:
            cached = expit_into(state.bases[signature] + key[1], np.empty_like(out))
            cached.flags.writeable = False
            state.cache[key] = cached
        return cached


CLASSES = ("steady", "titrating", "dropping")


def _class_map(values: dict[str, float]) -> dict[str, float]:
    return {str(k): float(v) for k, v in dict(values).items()}


def _classes(
    instance: object, attribute: attrs.Attribute[dict[str, float]], value: dict[str, float]
) -> None:
    if set(value) != set(CLASSES):
        raise ValidationError(
            f"{attribute.name} needs exactly the classes {', '.join(CLASSES)}, got "
            + (", ".join(sorted(value)) or "none")
        )


@frozen(kw_only=True, eq=False)
class _ClassState:
    bases: list[Floats]
    slope: Floats
    visit_shift: Floats
    signature: npt.NDArray[np.int16]
    week: npt.NDArray[np.float64]
    disengaged: Floats


@frozen(kw_only=True)
class LatentClassModel:
    """Steady, titrating and dropping attenders (illustrative trajectories).

    A participant's class is drawn once; the log-odds of attending in program week ``w`` are
    ``intercepts[class] + slopes[class] * w + engagement_sd * z + effects``.
    """

    #: Class shares; ``dropping`` fitted to the TEDS-D dropout share, the rest illustrative.
    shares: dict[str, float] = attrs.field(
        factory=lambda: {"steady": 0.5986, "titrating": 0.27, "dropping": 0.1314},
        converter=_class_map,
        validator=_classes,
    )
    intercepts: dict[str, float] = attrs.field(
        factory=lambda: {"steady": 2.4, "titrating": 1.6, "dropping": 0.6},
        converter=_class_map,
        validator=_classes,
    )
    #: Change in log-odds per program week.
    slopes: dict[str, float] = attrs.field(
        factory=lambda: {"steady": 0.0, "titrating": -0.12, "dropping": -0.45},
        converter=_class_map,
        validator=_classes,
    )
    engagement_sd: float = attrs.field(default=0.5, validator=_non_negative)
    #: Log hazard ratio of disengaging per class (illustrative, like the trajectories).
    class_hazards: dict[str, float] = attrs.field(
        factory=lambda: {"steady": -1.0, "titrating": 0.0, "dropping": 1.5},
        converter=_class_map,
        validator=_classes,
    )
    dropout: Dropout = attrs.field(factory=Dropout, converter=_dropout)
    effects: Effects = attrs.field(factory=Effects, converter=_effects)
    hazards: Hazards = attrs.field(factory=Hazards, converter=_hazards)

    def __attrs_post_init__(self) -> None:
        check_log_scale(self)  # every number finite and within the log-odds bound
        if any(v < 0 for v in self.shares.values()) or abs(sum(self.shares.values()) - 1) > 1e-6:
            raise ValidationError(f"shares must be >= 0 and sum to 1, got {self.shares}")

    def prepare(self, design: Design, rng: np.random.Generator) -> object:
        n = design.people.n
        cdf = np.cumsum([self.shares[c] for c in CLASSES])
        cdf[-1] = 1.0
        klass = np.searchsorted(cdf, rng.random(n), side="right")
        base = np.array([self.intercepts[c] for c in CLASSES])[klass]
        z = rng.standard_normal(n)
        base += self.engagement_sd * z
        base += self.effects.person_shift(design)
        log_hazard = np.array([self.class_hazards[c] for c in CLASSES])[klass]
        log_hazard += self.hazards.person_shift(design) + self.dropout.engagement * z
        return _ClassState(
            bases=self.effects.signature_bases(design, base),
            slope=np.array([self.slopes[c] for c in CLASSES])[klass],
            visit_shift=self.effects.visit_shift(design),
            signature=design.calendar.signature,
            week=design.calendar.week.astype(np.float64),
            disengaged=disengagement_days(self.dropout, log_hazard, rng),
        )

    def disengaged(self, state: object) -> Floats:
        assert isinstance(state, _ClassState)
        return state.disengaged

    def start_week(
        self, state: object, week: int, active: Bools, rng: np.random.Generator
    ) -> Bools | None:
        return None

    def probability(self, state: object, visit: int, streak: Floats, out: Floats) -> Floats:
        assert isinstance(state, _ClassState)
        np.multiply(state.slope, state.week[visit], out=out)
        out += state.bases[state.signature[visit]]
        out += state.visit_shift[visit]
        return expit_into(out, out)


@frozen(kw_only=True, eq=False)
class _MarkovState:
    bases: list[Floats]
    visit_shift: Floats
    signature: npt.NDArray[np.int16]
    engaged: Bools
    to_dropout_engaged: Floats
    to_dropout_struggling: Floats
    disengaged: Floats


def _logit(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return float(np.log(p / (1 - p)))


@frozen(kw_only=True)
class MarkovModel:
    """A weekly Markov chain: engaged <-> struggling, both -> dropout (absorbing).

    Transitions happen at the start of each week after the first. A participant's effects
    raise the log-odds of attending and lower those of dropping out by the same amount.
    """

    initial_engaged: float = attrs.field(default=0.7, validator=_probability)
    engaged_to_struggling: float = attrs.field(default=0.15, validator=_probability)
    struggling_to_engaged: float = attrs.field(default=0.30, validator=_probability)
    engaged_to_dropout: float = attrs.field(default=0.01, validator=_probability)
    #: Fitted to the TEDS-D dropout share (see the module docstring).
    struggling_to_dropout: float = attrs.field(default=0.0711, validator=_probability)
    #: Log-odds of attending when engaged and when struggling.
    attend_engaged: float = 2.2
    attend_struggling: float = 0.0
    #: The chain's dropout state is the disengagement process (weekly, so it does not depend
    #: on the cadence): no daily hazard by default; the clinic's rule still applies.
    dropout: Dropout = attrs.field(factory=lambda: _NEVER, converter=_dropout)
    effects: Effects = attrs.field(factory=Effects, converter=_effects)

    def __attrs_post_init__(self) -> None:
        check_log_scale(self)  # every number finite and within the log-odds bound
        for stay, leave in (
            (self.engaged_to_struggling, self.engaged_to_dropout),
            (self.struggling_to_engaged, self.struggling_to_dropout),
        ):
            if stay + leave > 1:
                raise ValidationError(
                    "transition probabilities out of one state must sum to at most 1"
                )

    def prepare(self, design: Design, rng: np.random.Generator) -> object:
        n = design.people.n
        shift = self.effects.person_shift(design)
        engaged = rng.random(n) < self.initial_engaged
        zero = np.zeros(n)
        return _MarkovState(
            bases=self.effects.signature_bases(design, shift + self.attend_struggling),
            visit_shift=self.effects.visit_shift(design),
            signature=design.calendar.signature,
            engaged=engaged,
            to_dropout_engaged=expit_into(_logit(self.engaged_to_dropout) - shift, zero.copy()),
            to_dropout_struggling=expit_into(_logit(self.struggling_to_dropout) - shift, zero),
            disengaged=disengagement_days(self.dropout, np.zeros(n), rng),
        )

    def disengaged(self, state: object) -> Floats:
        assert isinstance(state, _MarkovState)
        return state.disengaged

    def start_week(
        self, state: object, week: int, active: Bools, rng: np.random.Generator
    ) -> Bools | None:
        assert isinstance(state, _MarkovState)
        u = rng.random(len(active))
        if week == 0:
            return None
        engaged = state.engaged
        to_dropout = np.where(engaged, state.to_dropout_engaged, state.to_dropout_struggling)
        leaving = (u < to_dropout) & active
        move = np.where(engaged, self.engaged_to_struggling, self.struggling_to_engaged)
        switch = ~leaving & (u < to_dropout + move)
        np.logical_xor(engaged, switch, out=engaged)
        return leaving

    def probability(self, state: object, visit: int, streak: Floats, out: Floats) -> Floats:
        assert isinstance(state, _MarkovState)
        np.multiply(state.engaged, self.attend_engaged - self.attend_struggling, out=out)
        out += state.bases[state.signature[visit]]
        out += state.visit_shift[visit]
        return expit_into(out, out)


def create_logistic(**params: Any) -> LogisticModel:
    """Create the ``logistic`` model from keyword parameters (TOML tables or Python)."""
    return decode(LogisticModel, params)


def create_latent_class(**params: Any) -> LatentClassModel:
    """Create the ``latent-class`` model from keyword parameters."""
    return decode(LatentClassModel, params)


def create_markov(**params: Any) -> MarkovModel:
    """Create the ``markov`` model from keyword parameters."""
    return decode(MarkovModel, params)


__all__ = [
    "CLASSES",
    "LatentClassModel",
    "LogisticModel",
    "MarkovModel",
    "create_latent_class",
    "create_logistic",
    "create_markov",
]
