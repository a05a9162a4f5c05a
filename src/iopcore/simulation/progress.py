"""Simulated screen results and assessment scores: the evidence step-down criteria read.

When a scenario moves people between phases by the program's own criteria
(``options.step_down_by = "criteria"``, :mod:`iopcore.simulation.criteria`), the clinic's
evaluator needs what a clinic would have charted: drug-screen results and assessment scores.
A **progress model** simulates them, on arrays, one cohort at a time. Progress models are
plugins (hook ``iopcore_progress_models``, protocol
:class:`~iopcore.plugins.protocols.ProgressModelImpl`), like attendance models; a scenario
names one in its ``progress`` table. The built-in is ``trend`` (:class:`TrendProgress`).

>>> import numpy as np
>>> model = TrendProgress(negative_screen=0.9, screen_sd=0.0)
>>> state = model.prepare(4, np.random.default_rng(0))
>>> model.screen(state, 0, np.random.default_rng(1)).dtype
dtype('bool')
>>> TrendProgress(negative_screen=1.0)  # doctest: +ELLIPSIS
Traceback (most recent call last):
iopcore.ValidationError: TrendProgress.negative_screen must be a probability strictly ...
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from attrs import frozen

from iopcore.core.errors import ValidationError
from iopcore.io.convert import decode
from iopcore.plugins.protocols import ProgressModelImpl

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _open_probability(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (_number(value) and 0.0 < value < 1.0):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a probability strictly "
            f"between 0 and 1, got {value!r}",
            key_path=attribute.name,
        )


def _within(low: float, high: float) -> attrs._ValidatorType[float]:
    def check(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
        if not (_number(value) and math.isfinite(value) and low <= value <= high):
            raise ValidationError(
                f"{type(instance).__name__}.{attribute.name} must be a number from {low:g} to "
                f"{high:g}, got {value!r}",
                key_path=attribute.name,
            )

    return check


def _score_max(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise ValidationError(
            f"{type(instance).__name__}.score_max must be a whole number from 1 to 10000, "
            f"got {value!r}",
            key_path=attribute.name,
        )


@frozen(kw_only=True)
class TrendState:
    """Per-participant draws of :class:`TrendProgress`: screen log-odds and starting score."""

    logit: Floats
    score_start: Floats


@frozen(kw_only=True)
class TrendProgress:
    """Screens negative with a per-participant probability that may trend over the weeks;
    scores that start per participant and change linearly, with noise (plugin ``trend``).

    **No published source gives these for IOP participants**; the defaults are illustrative,
    and every one is a parameter for sensitivity analysis (ranges are suggestions):

    * ``negative_screen`` (0.75, range [0.5, 0.95]): probability that a screen is negative
      for an average participant at admission;
    * ``screen_sd`` (1.0, range [0, 2]): SD between participants on its log-odds;
    * ``screen_weekly`` (0.0, range [0, 0.2]): change of the log-odds per program week
      (positive: screens turn negative as treatment goes on);
    * assessment scores on a 0-``score_max`` scale (default 27, the PHQ-9's range, Kroenke
      2001): at admission ``score_start`` (12, the PHQ-9's "moderate" band) with SD
      ``score_sd`` (5) between participants, changing by ``score_weekly`` (-0.4, range
      [-1, 0]) per week, with ``score_noise`` (2) of noise per assessment, rounded to whole
      points and kept on the scale.

    The engine takes screens on attended visits at the program's screening rate (or the
    scenario's ``options.screens_per_week``) and scores at the program's assessment schedule
    (at admission, then every ``every_weeks`` of the instruments the criteria read; weekly
    for a session-day measure; one score stands for every instrument).
    A missed visit gives no screen (a clinic may count a missed screen as positive; this
    model does not).
    """

    negative_screen: float = attrs.field(default=0.75, validator=_open_probability)
    screen_sd: float = attrs.field(default=1.0, validator=_within(0.0, 10.0))
    screen_weekly: float = attrs.field(default=0.0, validator=_within(-10.0, 10.0))
    score_start: float = attrs.field(default=12.0, validator=_within(-1e6, 1e6))
    score_sd: float = attrs.field(default=5.0, validator=_within(0.0, 1e6))
    score_weekly: float = attrs.field(default=-0.4, validator=_within(-1e6, 1e6))
    score_noise: float = attrs.field(default=2.0, validator=_within(0.0, 1e6))
    score_max: int = attrs.field(default=27, validator=_score_max)

    def prepare(self, n: int, rng: np.random.Generator) -> TrendState:
        logit = math.log(self.negative_screen / (1 - self.negative_screen))
        return TrendState(
            logit=logit + self.screen_sd * rng.standard_normal(n),
            score_start=self.score_start + self.score_sd * rng.standard_normal(n),
        )

    def screen(self, state: object, week: int, rng: np.random.Generator) -> Bools:
        assert isinstance(state, TrendState)
        # log-odds beyond +-700 are certain either way (and would overflow exp)
        logit = np.clip(state.logit + self.screen_weekly * week, -700.0, 700.0)
        p = 1.0 / (1.0 + np.exp(-logit))
        return np.asarray(rng.random(len(p)) < p)

    def score(self, state: object, week: int, rng: np.random.Generator) -> Floats:
        assert isinstance(state, TrendState)
        noise = self.score_noise * rng.standard_normal(len(state.score_start))
        drawn = np.rint(state.score_start + self.score_weekly * week + noise)
        return np.asarray(np.clip(drawn, 0, self.score_max), dtype=np.float64)


def create_trend(**params: Any) -> TrendProgress:
    """Create the ``trend`` progress model from keyword parameters (TOML tables or Python)."""
    return decode(TrendProgress, params)


__all__ = ["ProgressModelImpl", "TrendProgress", "TrendState", "create_trend"]
