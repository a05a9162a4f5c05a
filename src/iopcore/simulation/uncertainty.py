"""Parameter uncertainty: every effect and calibrated parameter with the range its source
supports, and a probabilistic sensitivity analysis (PSA) that draws parameter sets in an
outer loop around the usual replications.

A summary of a fixed-parameter run has Monte Carlo error only: with thousands of simulated
people its interval is a fraction of a point wide, while the effect sizes it rests on are
uncertain by far more. :func:`simulate_with_uncertainty` draws ``draws`` parameter sets by
Latin hypercube sampling over :data:`PARAMETERS` (and :data:`PROGRESS_PARAMETERS` for
arms that move people by the program's criteria; uniform on each range), runs every arm
under each set with the same replications (common random numbers, one worker pool for all),
and :func:`summarize_uncertainty` reports, per arm and metric:

* ``mean``: the mean over parameter sets;
* ``ci_low``/``ci_high``: the 2.5th and 97.5th percentiles of the per-set means (parameter
  *and* Monte Carlo uncertainty; use 100 or more draws for a publication);
* ``mc_low``/``mc_high``: the interval a single run with these replications would show at the
  mean parameters (Monte Carlo error only), for comparison;
* ``share_parameters``/``share_monte_carlo``: how the variance of a per-set mean splits
  between the parameters and the Monte Carlo error (one-way random-effects decomposition).

Parameters the arms set themselves (those that differ between them, such as a grid axis; see
:func:`~iopcore.simulation.provenance.varied_parameters`) are *kept* at each arm's value, never
drawn: drawing them would erase the very difference the arms compare. The result's
``uncertainty`` record names the drawn and the kept parameters (the CLI prints both).
:func:`uncertainty_contrasts` gives each arm's difference from a reference arm per parameter
set, with the percentile interval over sets (parameter uncertainty in a paired comparison).
At least :data:`MIN_DRAWS` sets are needed for a percentile interval to mean anything.

Ranges (see each :class:`Parameter`'s ``source``): calibrated effects are *relative* (the
range multiplies the scenario's own value, so an arm that changes an effect keeps its
change); effects without a published estimate use the absolute ranges documented on
:class:`~iopcore.simulation.Effects`; the distribution is uniform on every range, a
documented choice where the sources give no shape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import pandas as pd
from attrs import frozen

from .errors import SimulationError
from .results import METRICS, SimulationResult, replicate_metrics, t95
from .scenario import Scenario, with_overrides

#: The fewest parameter sets whose 2.5th-97.5th percentile interval means anything.
MIN_DRAWS = 10
#: The most parameter sets of one run.
MAX_DRAWS = 10_000


@frozen(kw_only=True)
class Parameter:
    """One uncertain parameter: a dotted scenario path and its range (uniform)."""

    path: str
    low: float
    high: float
    #: True: ``low`` and ``high`` multiply the scenario's own value; False: they are values.
    relative: bool = False
    source: str

    def bounds(self, scenario: Scenario) -> tuple[float, float]:
        """The range for ``scenario`` (a relative range scaled by its current value)."""
        if not self.relative:
            return (self.low, self.high)
        current = float(_get(scenario, self.path))
        ends = sorted((current * self.low, current * self.high))
        return (ends[0], ends[1])


def _get(obj: object, path: str) -> Any:
    for part in path.split("."):
        obj = obj[part] if isinstance(obj, Mapping) else getattr(obj, part)
    return obj


_NO_ESTIMATE = "no published estimate; the documented range on Effects (docs/researchers.md)"
_NO_HAZARD = "no published estimate; the documented range on Hazards (docs/researchers.md)"


def _absolute(path: str, low: float, high: float, source: str) -> Parameter:
    return Parameter(path=path, low=low, high=high, source=source)


#: The uncertain parameters of the default (logistic) model, with their sources.
PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        path="model.hazards.employed",
        low=0.5,
        high=1.5,
        relative=True,
        source="TEDS-D 2004 outpatient completion 47.1% employed vs 29.4% (n large, so the "
        "sampling error is small); +-50% because the figure is for outpatient, not IOP, "
        "discharges and is not adjusted for other covariates",
    ),
    Parameter(
        path="model.hazards.cooccurring",
        low=0.5,
        high=1.5,
        relative=True,
        source="Krawczyk et al. 2017 (TEDS-D 2009-2011): attrition hazard ratio 1.14; +-50% "
        "of the log hazard ratio for transfer from all outpatient settings to one IOP",
    ),
    Parameter(
        path="model.effects.reminders",
        low=0.0,
        high=2.0,
        relative=True,
        source="Gullo et al. 2018: attendance 0.90 vs 0.84 against a historical control, no "
        "interval published; from no effect to twice the fitted shift",
    ),
    Parameter(
        path="model.effects.incentives",
        low=0.25 / 0.47,
        high=0.69 / 0.47,
        relative=True,
        source="contingency management on attendance, d 0.25 (Petry et al. 2011) to 0.69 "
        "around Pfund et al. 2021's d = 0.47 (the fitted value); the shift is taken as "
        "proportional to d",
    ),
    Parameter(
        path="model.hazards.incentives",
        low=0.25 / 0.47,
        high=0.69 / 0.47,
        relative=True,
        source="fitted jointly with effects.incentives to Pfund et al. 2021 (d = 0.47); the "
        "same range, drawn independently (a conservative choice)",
    ),
    Parameter(
        path="model.dropout.daily_hazard",
        low=0.8,
        high=1.2,
        relative=True,
        source="fitted to the TEDS-D 2004 IOP dropout share (23.2%, n = 114,440); +-20% for "
        "differences between programs and years",
    ),
    _absolute(
        "model.dropout.engagement",
        -1.0,
        0.0,
        "a structural assumption (people who attend less leave sooner); range on Dropout",
    ),
    _absolute(
        "model.dropout.never_attend",
        0.0,
        0.2,
        "no source gives a share for IOPs; range on Dropout",
    ),
    _absolute("model.effects.conflict", -2.0, 0.0, _NO_ESTIMATE),
    _absolute("model.effects.evening", -0.5, 0.5, _NO_ESTIMATE),
    _absolute("model.effects.session_hours", -0.3, 0.0, _NO_ESTIMATE),
    _absolute("model.effects.transport_barrier", -1.0, 0.0, _NO_ESTIMATE),
    _absolute("model.effects.family_sessions", 0.0, 0.5, _NO_ESTIMATE),
    _absolute("model.effects.screening", -0.3, 0.3, _NO_ESTIMATE),
    _absolute("model.effects.step_down", -0.5, 0.5, _NO_ESTIMATE),
    _absolute("model.effects.makeup_uptake", 0.0, 0.5, _NO_ESTIMATE),
    _absolute("model.effects.joined_mid_cycle", -0.5, 0.0, _NO_ESTIMATE),
    _absolute("model.effects.group_size", -0.05, 0.05, _NO_ESTIMATE),
    _absolute("model.hazards.reminders", -0.3, 0.0, _NO_HAZARD),
    _absolute("model.hazards.transport_barrier", 0.0, 0.5, _NO_HAZARD),
    _absolute("model.hazards.conflict", 0.0, 1.0, _NO_HAZARD),
    _absolute("model.hazards.evening", -0.3, 0.3, _NO_HAZARD),
    _absolute("model.hazards.session_hours", 0.0, 0.3, _NO_HAZARD),
    _absolute("model.hazards.joined_mid_cycle", 0.0, 0.5, _NO_HAZARD),
    _absolute("model.hazards.group_size", -0.05, 0.05, _NO_HAZARD),
    Parameter(
        path="exits.transferred",
        low=0.8,
        high=1.2,
        relative=True,
        source="TEDS-D 2004 IOP discharges (n = 114,440) transferred 17.9%, fitted as a weekly "
        "hazard; +-20% for differences between programs and years",
    ),
    Parameter(
        path="exits.terminated",
        low=0.8,
        high=1.2,
        relative=True,
        source="TEDS-D 2004 IOP discharges terminated by facility 14.0%; +-20% as above",
    ),
    Parameter(
        path="exits.other",
        low=0.8,
        high=1.2,
        relative=True,
        source="TEDS-D 2004 IOP discharges other 7.2%; +-20% as above",
    ),
)


_NO_PROGRESS_SOURCE = (
    "no published source for IOP participants; the suggested range on TrendProgress "
    "(docs/researchers.md)"
)

#: The uncertain parameters of the built-in progress model (``trend``): they matter only when
#: a scenario moves people by the program's criteria, so :func:`uncertain_parameters` adds
#: them for such scenarios.
PROGRESS_PARAMETERS: tuple[Parameter, ...] = (
    _absolute("progress.negative_screen", 0.5, 0.95, _NO_PROGRESS_SOURCE),
    _absolute("progress.screen_sd", 0.0, 2.0, _NO_PROGRESS_SOURCE),
    _absolute("progress.screen_weekly", 0.0, 0.2, _NO_PROGRESS_SOURCE),
    _absolute("progress.score_weekly", -1.0, 0.0, _NO_PROGRESS_SOURCE),
)


def uncertain_parameters(scenarios: Scenario | Sequence[Scenario]) -> tuple[Parameter, ...]:
    """The parameters drawn by default for these arms: :data:`PARAMETERS`, and
    :data:`PROGRESS_PARAMETERS` when an arm moves people by criteria and every arm has the
    built-in progress model (the simulated screens and scores are then evidence, and the
    least sourced of all)."""
    from .options import StepDownBy
    from .progress import TrendProgress

    arms = (scenarios,) if isinstance(scenarios, Scenario) else tuple(scenarios)
    by_criteria = any(a.options.step_down_by is StepDownBy.CRITERIA for a in arms)
    if by_criteria and all(isinstance(a.progress, TrendProgress) for a in arms):
        return PARAMETERS + PROGRESS_PARAMETERS
    return PARAMETERS


def parameter(
    path: str, parameters: Sequence[Parameter] = PARAMETERS + PROGRESS_PARAMETERS
) -> Parameter:
    """The parameter at ``path``, or a SimulationError listing the known paths."""
    for item in parameters:
        if item.path == path:
            return item
    from iopcore.core.errors import suggest

    known = [p.path for p in parameters]
    raise SimulationError(
        f"no uncertain parameter {path!r}{suggest(path, known)}; known: {', '.join(known)}"
    )


def draw_parameter_sets(
    scenario: Scenario, parameters: Sequence[Parameter], draws: int, *, seed: int
) -> list[dict[str, float]]:
    """``draws`` parameter sets for ``scenario`` by Latin hypercube sampling (seeded)."""
    from scipy.stats import qmc

    if isinstance(draws, bool) or not isinstance(draws, int) or not MIN_DRAWS <= draws <= MAX_DRAWS:
        raise SimulationError(
            f"draws must be a whole number from {MIN_DRAWS} to {MAX_DRAWS:,} (fewer parameter "
            f"sets give no meaningful percentile interval; 100 or more for a paper), got "
            f"{draws!r}"
        )
    unit = qmc.LatinHypercube(d=len(parameters), seed=np.random.default_rng(seed)).random(draws)
    out = []
    for row in unit:
        values = {}
        for u, item in zip(row, parameters, strict=True):
            low, high = item.bounds(scenario)
            values[item.path] = low + float(u) * (high - low)
        out.append(values)
    return out


def simulate_with_uncertainty(
    scenarios: Scenario | Sequence[Scenario],
    *,
    draws: int = 50,
    parameters: Sequence[Parameter] | None = None,
    replications: int | None = None,
    seed: int | None = None,
    backend: str = "process",
    workers: int | None = None,
    progress: bool | None = None,
    backend_options: dict[str, Any] | None = None,
) -> SimulationResult:
    """Run every arm under ``draws`` parameter sets (the same sets, as relative draws, for
    every arm), all in one sweep. Parameters the arms set differently are kept at each arm's
    value (see the module docstring). The tables carry ``arm`` and ``draw`` columns and each
    drawn parameter as a column; summarize with :func:`summarize_uncertainty`. By default
    the parameters are :func:`uncertain_parameters` of the arms."""
    from .provenance import varied_parameters
    from .sweep import run

    arms = (scenarios,) if isinstance(scenarios, Scenario) else tuple(scenarios)
    if not arms:
        raise SimulationError("nothing to simulate: pass at least one scenario")
    if parameters is None:
        parameters = uncertain_parameters(arms)
    root = arms[0].seed if seed is None else seed
    for item in parameters:  # a path that no longer exists fails before any work
        with_overrides(arms[0], {item.path: _get(arms[0], item.path)})
    set_by_arms = varied_parameters(arms)
    kept = [p.path for p in parameters if p.path in set_by_arms]
    parameters = [p for p in parameters if p.path not in set_by_arms]
    if not parameters:
        raise SimulationError(
            "every uncertain parameter is set by the arms themselves; nothing left to draw"
        )
    units = draw_parameter_sets(
        attrs.evolve(arms[0]),
        [attrs.evolve(p, low=0.0, high=1.0, relative=False) for p in parameters],
        draws,
        seed=root,
    )
    runs, labels = [], []
    for d, unit in enumerate(units):
        for arm in arms:
            values = {}
            for item in parameters:
                low, high = item.bounds(arm)
                values[item.path] = low + unit[item.path] * (high - low)
            runs.append(attrs.evolve(with_overrides(arm, values), name=f"{arm.name} | draw {d}"))
            labels.append((arm.name, d))
    result = run(
        runs,
        replications=replications,
        seed=root,
        backend=backend,
        workers=workers,
        progress=progress,
        backend_options=backend_options,
    )
    by_name = {run.name: label for run, label in zip(runs, labels, strict=True)}
    for table in (result.participants, result.weekly):
        names = table["scenario"].astype(str)
        table.insert(1, "arm", names.map(lambda n: by_name[n][0]).astype("category"))
        table.insert(2, "draw", names.map(lambda n: by_name[n][1]).astype(np.int32))
    return attrs.evolve(
        result,
        sources=arms,
        uncertainty={
            "draws": draws,
            "parameters": [p.path for p in parameters],
            "kept": kept,
            "seed": root,
        },
    )


def summarize_uncertainty(
    result: SimulationResult | pd.DataFrame, metrics: Sequence[str] = METRICS
) -> pd.DataFrame:
    """Per arm and metric: the mean, the interval with parameter uncertainty, the Monte
    Carlo-only interval, and the variance shares (see the module docstring)."""
    participants = result.participants if isinstance(result, SimulationResult) else result
    if "draw" not in participants or "arm" not in participants:
        raise SimulationError(
            "this result has no parameter draws; run it with simulate_with_uncertainty "
            "(iopcore simulate --uncertainty)"
        )
    per = replicate_metrics(participants)
    keys = participants.drop_duplicates("scenario").set_index("scenario")[["arm", "draw"]]
    per = per.join(keys, on="scenario")
    rows = []
    for arm, group in per.groupby("arm", observed=True, sort=False):
        for metric in metrics:
            table = group.pivot_table(index="draw", columns="replicate", values=metric)
            values = table.to_numpy(dtype=float)
            n_draws, reps = values.shape
            set_means = values.mean(axis=1)
            within = float(values.var(axis=1, ddof=1).mean()) if reps > 1 else math.nan
            mc_var = within / reps if reps > 1 else math.nan
            between = max(float(set_means.var(ddof=1)) - (mc_var if reps > 1 else 0.0), 0.0)
            mean = float(set_means.mean())
            mc_half = t95(reps - 1) * math.sqrt(mc_var) if reps > 1 else math.nan
            total = between + (mc_var if reps > 1 else 0.0)
            rows.append(
                {
                    "scenario": arm,
                    "metric": metric,
                    "mean": mean,
                    "ci_low": float(np.percentile(set_means, 2.5)),
                    "ci_high": float(np.percentile(set_means, 97.5)),
                    "mc_low": _clip(metric, mean - mc_half),
                    "mc_high": _clip(metric, mean + mc_half),
                    "share_parameters": between / total if total > 0 else math.nan,
                    "share_monte_carlo": (mc_var / total) if total > 0 and reps > 1 else math.nan,
                    "draws": n_draws,
                    "replications": reps,
                }
            )
    return pd.DataFrame(rows)


def _clip(metric: str, value: float) -> float:
    """A share's interval end within [0, 1] (as :func:`~iopcore.simulation.summarize`)."""
    from .comparison import is_share

    return min(max(value, 0.0), 1.0) if is_share(metric) and not math.isnan(value) else value


def uncertainty_contrasts(
    result: SimulationResult,
    *,
    reference: str | None = None,
    groups: Mapping[str, tuple[str, str]] | None = None,
    metrics: Sequence[str] = METRICS,
) -> pd.DataFrame:
    """Each arm minus its reference arm (see
    :func:`~iopcore.simulation.comparison.reference_pairs`)
    per parameter set, paired by draw and replicate: ``difference`` is the mean over sets,
    ``ci_low``/``ci_high`` the 2.5th and 97.5th percentiles of the per-set differences (the
    interval with parameter uncertainty), in the columns of
    :func:`~iopcore.simulation.contrasts`."""
    from .comparison import CONTRAST_COLUMNS, contrast_row, reference_pairs

    participants = result.participants
    if "draw" not in participants or "arm" not in participants:
        raise SimulationError(
            "this result has no parameter draws; run it with simulate_with_uncertainty"
        )
    per = replicate_metrics(participants)
    keys = participants.drop_duplicates("scenario").set_index("scenario")[["arm", "draw"]]
    per = per.join(keys, on="scenario")
    per["arm"] = per["arm"].astype(str)
    arms = list(dict.fromkeys(per["arm"]))
    matched = reference_pairs(arms, reference, groups)
    rows = []
    for arm, ref in matched.items():
        mine = per[per["arm"] == arm].set_index(["draw", "replicate"]).sort_index()
        base = per[per["arm"] == ref].set_index(["draw", "replicate"]).sort_index()
        for metric in metrics:
            diff = (mine[metric] - base[metric]).groupby(level="draw").mean().to_numpy(float)
            interval = (float(np.percentile(diff, 2.5)), float(np.percentile(diff, 97.5)))
            rows.append(
                contrast_row(
                    arm,
                    ref,
                    metric,
                    float(diff.mean()),
                    interval,
                    len(diff),
                    result.common_random_numbers,
                )
            )
    return pd.DataFrame(rows, columns=list(CONTRAST_COLUMNS))


def format_uncertainty(summary: pd.DataFrame) -> str:
    """Plain text: per arm and metric, the mean, both intervals and the parameter share."""
    lines = []
    for arm, group in summary.groupby("scenario", sort=False):
        lines.append(f"{arm}:")
        lines.append(
            f"  {'metric':<18} {'mean':>8}  {'with parameter uncertainty':>28}  "
            f"{'Monte Carlo only':>20}  {'from parameters':>15}"
        )
        for row in group.to_dict("records"):
            metric = str(row["metric"])
            mean, low, high, mc_low, mc_high, part = (
                float(row[k])
                for k in ("mean", "ci_low", "ci_high", "mc_low", "mc_high", "share_parameters")
            )
            digits = 3 if metric not in ("sessions_attended", "hours", "weeks_retained") else 1
            both = f"[{low:.{digits}f}, {high:.{digits}f}]"
            mc = (
                f"[{mc_low:.{digits}f}, {mc_high:.{digits}f}]"
                if not math.isnan(mc_low)
                else "(1 replication)"
            )
            share = "" if math.isnan(part) else f"{part:.0%}"
            lines.append(f"  {metric:<18} {mean:>8.{digits}f}  {both:>28}  {mc:>20}  {share:>15}")
    first = summary.iloc[0]
    lines.append(
        f"{int(first['draws'])} parameter sets x {int(first['replications'])} replication(s); "
        "with parameter uncertainty: 2.5th-97.5th percentile of the per-set means; Monte "
        "Carlo only: the 95% t interval of one run at fixed parameters"
    )
    return "\n".join(lines)


__all__ = [
    "MIN_DRAWS",
    "PARAMETERS",
    "PROGRESS_PARAMETERS",
    "Parameter",
    "draw_parameter_sets",
    "format_uncertainty",
    "parameter",
    "simulate_with_uncertainty",
    "summarize_uncertainty",
    "uncertain_parameters",
    "uncertainty_contrasts",
]
