"""Result tables (tidy pandas), summaries with confidence intervals, retention curves, export.

* ``result.participants``: one row per participant (scenario, replicate, participant, their
  covariates, sessions scheduled and attended, hours, weeks retained, outcome, exit week);
* ``result.weekly``: one row per scenario, replicate and calendar week (admitted, enrolled,
  sessions scheduled and attended, attendance rate, hours, exits by outcome);
* :func:`summarize`: per scenario and metric, the mean over replications with a t-based
  confidence interval (replications are independent, so this is the honest interval);
* :func:`retention`: Kaplan-Meier curves of time to leaving without completing (any exit);
* :func:`cumulative_incidence`: the Aalen-Johansen cumulative incidence of each exit type.

**Competing risks.** Dropping out, transfer, termination and other exits compete: someone
transferred in week 3 can no longer drop out. One minus a Kaplan-Meier curve that censors the
other exits estimates the dropout share in a world without them, and overstates the share
that drops out. So Kaplan-Meier is used only for "any exit", and each exit type gets its
cumulative incidence (Aalen-Johansen): ``F_k(t) = sum over event times s <= t of S(s-) d_k(s)
/ n(s)``, with ``S`` the Kaplan-Meier curve of any exit; the curves of all exit types add up
to ``1 - S``. Variances follow Greenwood's method for the cumulative incidence (Collett,
*Modelling Survival Data in Medical Research*, 3rd ed., p. 411), intervals use the log(-log)
transform. Both estimators are a few lines of NumPy and are checked against lifelines to
1e-8 in the tests (tests/test_simulation_results.py).

Event times are weeks of the stay, counted from 1: a stay that ends during its first week
ends at time 1, during its k-th week at time k. So every curve is 1.0 at week 0 (everyone
admitted is enrolled), and its value at week k is the share still retained after k whole
weeks. A dropout leaves in the week of their last attended visit (week 1 if they never came,
although ``weeks_retained`` is 0 for them); other exits in the week they happen; completion
and the horizon censor in the stay's last week.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from attrs import frozen
from pandas.api.types import union_categoricals

from iopcore.io.output import Recognizer, check_output, is_json, stage_output, starts_with

from .engine import COMPLETED_BY, OUTCOMES, WEEKLY, ChunkResult, phase_names, track_choices
from .errors import SimulationError
from .scenario import Scenario

#: Two-sided 95% t critical values by degrees of freedom (1-30, then 40, 60, 120, infinity).
_T95 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
    9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120,
    17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064,
    25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000,
    120: 1.980,
}  # fmt: skip
_Z95 = 1.959964


def t95(df: int) -> float:
    """The 97.5th percentile of Student's t with ``df`` degrees of freedom (table, with
    interpolation in 1/df past 30).

    >>> t95(4), t95(1000) < 1.963
    (2.776, True)
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df in _T95:
        return _T95[df]
    keys = [*sorted(_T95), math.inf]
    upper = next(k for k in keys if k > df)
    lower = max(k for k in _T95 if k < df)
    hi_value = _Z95 if upper == math.inf else _T95[int(upper)]
    weight = (1 / lower - 1 / df) / (1 / lower - (0 if upper == math.inf else 1 / upper))
    return _T95[lower] + weight * (hi_value - _T95[lower])


@frozen(kw_only=True, eq=False)
class SimulationResult:
    """What a sweep produced; see the module docstring for the tables."""

    participants: pd.DataFrame
    weekly: pd.DataFrame
    replications: int
    seed: int
    #: The scenarios as run, in order (for provenance and replay).
    sources: tuple[Scenario, ...] = ()
    #: Whether every scenario shared its replicate's random streams (paired arms).
    common_random_numbers: bool = True
    #: A probabilistic sensitivity analysis (simulate_with_uncertainty): ``draws``, the drawn
    #: ``parameters``, the ``kept`` ones (set by the arms) and the ``seed``; ``sources`` are
    #: then the arms before drawing. None for a fixed-parameter run.
    uncertainty: dict[str, Any] | None = None
    #: Every scenario simulated, in order (under uncertainty: each arm at each draw).
    ran: tuple[Scenario, ...] = ()

    @functools.cached_property
    def scenarios(self) -> pd.DataFrame:
        """One row per scenario simulated: its name, program, track, model and options
        (built when first read: most runs never read it)."""
        return _records([s.describe() for s in self.ran or self.sources])


@functools.lru_cache(maxsize=256)
def _dtype(names: tuple[str, ...]) -> pd.CategoricalDtype:
    """The categorical dtype of ``names`` (validated once, then shared: dtypes are immutable)."""
    return pd.CategoricalDtype(list(names))


def _categorical(parts: Sequence[tuple[npt.NDArray[Any], Sequence[str]]]) -> Any:
    """One categorical column from per-chunk (codes, category names), built once, from codes
    already known valid (no validation pass)."""
    names = tuple(parts[0][1])
    if all(tuple(n) == names for _, n in parts):
        codes = np.concatenate([c for c, _ in parts]).astype(np.int16, copy=False)
        return pd.Categorical.from_codes(codes, dtype=_dtype(names), validate=False)
    return union_categoricals(
        [
            pd.Categorical.from_codes(c.astype(np.int16), categories=pd.Index(list(n)))
            for c, n in parts
        ]
    )


#: Participant columns copied from the engine as they are.
_PLAIN = (
    "participant",
    "start_week",
    "employed",
    "transport_barrier",
    "cooccurring",
    "family_involved",
    "sessions_scheduled",
    "sessions_attended",
    "minutes_attended",
    "weeks_retained",
    "exit_week",
    "step_downs",
    "step_ups",
)
#: Weekly columns summed over a scenario-replicate's chunks.
_WEEKLY_SUMS = ("admitted", "enrolled", "sessions_scheduled", "sessions_attended", *OUTCOMES[:-1])


def assemble(
    scenarios: Sequence[Scenario],
    results: Sequence[ChunkResult],
    *,
    replications: int,
    seed: int,
    common_random_numbers: bool = True,
) -> SimulationResult:
    """Put chunk results together in (scenario, replicate, chunk) order.

    Columns are gathered as arrays, joined once, and each table is built once without
    copying them again (a DataFrame per scenario and replicate, or consolidating blocks,
    would cost more than simulating a small arm)."""
    ordered = sorted(results, key=lambda r: (r.index, r.replicate, r.chunk))
    names = [s.name for s in scenarios]
    people: dict[str, list[Any]] = {key: [] for key in ("replicate", *_PLAIN)}
    cats: dict[str, list[tuple[npt.NDArray[Any], Sequence[str]]]] = {
        key: []
        for key in (
            "scenario",
            "track",
            "shift",
            "entry_path",
            "age_group",
            "outcome",
            "phase",
            "completed_by",
        )
    }
    weekly_cols: dict[str, list[Any]] = {
        key: [] for key in ("replicate", "week", *_WEEKLY_SUMS, "minutes_attended")
    }
    week_cats: list[tuple[npt.NDArray[Any], Sequence[str]]] = []
    labels = {}
    for i, s in enumerate(scenarios):
        spec = s.population
        labels[i] = (
            track_choices(s)[0],
            ("none", *(shift.name for shift in spec.shift_hours)),
            tuple(spec.entry_path),
            tuple(spec.age_group),
            phase_names(s),
        )
    for (index, replicate), group in _groups(ordered):
        tracks, shifts, entry_paths, age_groups, phases = labels[index]
        for r in group:
            cols = r.columns
            n = len(cols["participant"])
            cats["scenario"].append((np.full(n, index, np.int16), names))
            cats["track"].append((cols["track"], tracks))
            cats["shift"].append((cols["shift"] + 1, shifts))
            cats["entry_path"].append((cols["entry_path"], entry_paths))
            cats["age_group"].append((cols["age_group"], age_groups))
            cats["outcome"].append((cols["outcome"], OUTCOMES))
            cats["phase"].append((cols["phase"], phases))
            cats["completed_by"].append((cols["completed_by"], COMPLETED_BY))
            people["replicate"].append(np.full(n, replicate, np.int16))
            for key in _PLAIN:
                people[key].append(cols[key])
        weekly = dict(zip(WEEKLY, np.sum([r.weekly for r in group], axis=0), strict=True))
        weeks = len(weekly["sessions_scheduled"])
        week_cats.append((np.full(weeks, index, np.int16), names))
        weekly_cols["replicate"].append(np.full(weeks, replicate, np.int16))
        weekly_cols["week"].append(np.arange(weeks, dtype=np.int16))
        for key in (*_WEEKLY_SUMS, "minutes_attended"):
            weekly_cols[key].append(weekly[key])
    joined = {k: np.concatenate(v) for k, v in people.items()}
    exit_raw = joined["exit_week"]
    exit_week = pd.arrays.IntegerArray(exit_raw, exit_raw < 0)  # -1: no exit yet
    participants = pd.DataFrame(
        {
            "scenario": _categorical(cats["scenario"]),
            "track": _categorical(cats["track"]),
            "replicate": joined["replicate"],
            "participant": joined["participant"],
            "start_week": joined["start_week"],
            "employed": joined["employed"],
            "shift": _categorical(cats["shift"]),
            "transport_barrier": joined["transport_barrier"],
            "cooccurring": joined["cooccurring"],
            "entry_path": _categorical(cats["entry_path"]),
            "age_group": _categorical(cats["age_group"]),
            "family_involved": joined["family_involved"],
            "sessions_scheduled": joined["sessions_scheduled"],
            "sessions_attended": joined["sessions_attended"],
            "hours": joined["minutes_attended"] / 60.0,
            "weeks_retained": joined["weeks_retained"],
            "outcome": _categorical(cats["outcome"]),
            "completed_by": _categorical(cats["completed_by"]),
            "exit_week": exit_week,
            "phase": _categorical(cats["phase"]),
            "step_downs": joined["step_downs"],
            "step_ups": joined["step_ups"],
        },
        copy=False,
    )
    weekly_all = {k: np.concatenate(v) for k, v in weekly_cols.items()}
    scheduled, attended = weekly_all["sessions_scheduled"], weekly_all["sessions_attended"]
    weekly_table = pd.DataFrame(
        {
            "scenario": _categorical(week_cats),
            "replicate": weekly_all["replicate"],
            "week": weekly_all["week"],
            "admitted": weekly_all["admitted"],
            "enrolled": weekly_all["enrolled"],
            "sessions_scheduled": scheduled,
            "sessions_attended": attended,
            "attendance_rate": np.where(scheduled > 0, attended / np.maximum(scheduled, 1), np.nan),
            "hours_attended": weekly_all["minutes_attended"] / 60.0,
            **{name: weekly_all[name] for name in OUTCOMES[:-1]},
        },
        copy=False,
    )
    from .provenance import varied_parameters

    varied = varied_parameters(scenarios)  # what made the arms differ
    if varied:
        codes = {"participants": participants["scenario"].cat.codes.to_numpy()}
        codes["weekly"] = weekly_table["scenario"].cat.codes.to_numpy()
        for key, values in varied.items():
            column = pd.Series(values, dtype=object).infer_objects().to_numpy()
            participants[key] = column[codes["participants"]]
            weekly_table[key] = column[codes["weekly"]]
    return SimulationResult(
        participants=participants,
        weekly=weekly_table,
        replications=replications,
        seed=seed,
        sources=tuple(scenarios),
        ran=tuple(scenarios),
        common_random_numbers=common_random_numbers,
    )


def _records(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """``pd.DataFrame(rows)`` for one or more rows with the same keys, at a fraction of its
    cost: one object array, each column then given the dtype its values infer (what the
    list-of-dicts constructor does column by column, checked in the tests)."""
    keys = list(rows[0])
    data = np.empty((len(rows), len(keys)), dtype=object)
    for i, row in enumerate(rows):
        data[i] = [row[key] for key in keys]
    return pd.DataFrame(data, columns=keys).infer_objects()


def _groups(ordered: Sequence[ChunkResult]) -> list[tuple[tuple[int, int], list[ChunkResult]]]:
    out: dict[tuple[int, int], list[ChunkResult]] = {}
    for r in ordered:
        out.setdefault((r.index, r.replicate), []).append(r)
    return list(out.items())


METRICS = (
    "completed",
    "dropped_out",
    "transferred",
    "terminated",
    "other",
    "still_enrolled",
    "attendance_rate",
    "sessions_attended",
    "hours",
    "weeks_retained",
)


def _time_in_treatment(group: pd.DataFrame) -> float:
    """Restricted mean weeks in treatment: stays still going at the horizon are censored."""
    still = group["outcome"].astype(str).to_numpy() == "still_enrolled"
    return restricted_mean(group["weeks_retained"].to_numpy(), ~still)


def replicate_metrics(participants: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and replicate: outcome shares, attendance rate (sessions attended over
    sessions scheduled while enrolled), mean sessions attended, mean hours, and weeks in
    treatment as a restricted mean (:func:`restricted_mean`, up to the longest stay seen), so
    a horizon shorter than the program does not pass censored stays off as finished ones."""
    grouped = participants.groupby(["scenario", "replicate"], observed=True)
    shares = (
        pd.crosstab(
            [participants["scenario"], participants["replicate"]],
            participants["outcome"],
            normalize="index",
            dropna=False,
        )
        .reindex(columns=list(OUTCOMES), fill_value=0.0)
        .astype(float)
    )
    sums = grouped[["sessions_attended", "sessions_scheduled"]].sum()
    means = grouped[["sessions_attended", "hours"]].mean()
    means["weeks_retained"] = pd.Series(
        {key: _time_in_treatment(group) for key, group in grouped}, dtype=float
    )
    out = shares.join(means)
    out["attendance_rate"] = sums["sessions_attended"] / sums["sessions_scheduled"]
    out.columns.name = None
    return out[list(METRICS)].reset_index()


def restricted_mean(
    time: npt.NDArray[np.integer[Any]], event: npt.NDArray[np.bool_], tau: int | None = None
) -> float:
    """Restricted mean of ``time`` up to ``tau`` (default: the longest time observed), from
    the Kaplan-Meier estimate of ``P(T > t)`` on whole weeks: ``sum(S(k) for k < tau)``.

    ``time`` is the whole weeks each stay lasted (0 allowed), ``event`` whether it ended (else
    it was still going, censored at ``time``). With nobody censored this is exactly the mean
    of ``min(time, tau)``; with censoring it is what the data say rather than a mean that
    treats unfinished stays as finished (the restricted mean survival time, RMST).

    >>> restricted_mean(np.array([1, 5, 6]), np.array([True, True, True]))  # none censored
    4.0
    >>> restricted_mean(np.array([1, 5, 6]), np.array([False, True, True]))  # 1 still going
    5.5
    """
    time = np.asarray(time, dtype=np.int64)
    event = np.asarray(event, dtype=bool)
    if time.size == 0:
        return math.nan
    if int(time.min()) < 0:
        raise SimulationError(f"times in treatment are whole weeks >= 0, got {int(time.min())}")
    top = int(time.max()) if tau is None else int(tau)
    if top <= 0:
        return 0.0
    width = max(top, int(time.max())) + 1
    events = np.bincount(time[event], minlength=width)
    leaving = np.bincount(time, minlength=width)
    at_risk = len(time) - np.concatenate([[0], np.cumsum(leaving)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(at_risk > 0, 1.0 - events / np.maximum(at_risk, 1), 1.0)
    survival = np.cumprod(factor)  # survival[k] = P(T > k)
    return float(survival[:top].sum())


def summarize(result: SimulationResult | pd.DataFrame) -> pd.DataFrame:
    """Per scenario and metric: the mean over replications and its 95% t interval (NaN with
    a single replication: run more to get an interval). Intervals are clipped to what the
    metric can be: [0, 1] for shares and rates, >= 0 for counts, hours and weeks."""
    participants = result.participants if isinstance(result, SimulationResult) else result
    per = replicate_metrics(participants)
    rows = []
    for scenario, group in per.groupby("scenario", observed=True, sort=False):
        k = len(group)
        for metric in METRICS:
            values = group[metric].to_numpy(dtype=float)
            mean = float(values.mean())
            half = t95(k - 1) * float(values.std(ddof=1)) / math.sqrt(k) if k > 1 else math.nan
            rows.append(
                {
                    "scenario": scenario,
                    "metric": metric,
                    "mean": mean,
                    "ci_low": max(mean - half, 0.0),
                    "ci_high": min(mean + half, 1.0) if _share(metric) else mean + half,
                    "replications": k,
                }
            )
    return pd.DataFrame(rows)


def _share(metric: str) -> bool:
    return metric in OUTCOMES or metric == "attendance_rate"


def format_summary(summary: pd.DataFrame) -> str:
    """A plain-text table: one row per metric, one column per scenario, ``mean [low, high]``."""
    scenarios = list(dict.fromkeys(summary["scenario"]))
    rows = [["metric", *map(str, scenarios)]]
    for metric in METRICS:
        cells = [metric]
        for scenario in scenarios:
            row = summary[(summary["scenario"] == scenario) & (summary["metric"] == metric)]
            mean, low, high = (float(row[c].iloc[0]) for c in ("mean", "ci_low", "ci_high"))
            digits = 3 if metric in OUTCOMES or metric == "attendance_rate" else 1
            cell = f"{mean:.{digits}f}"
            if not math.isnan(low):
                cell += f" [{low:.{digits}f}, {high:.{digits}f}]"
            cells.append(cell)
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    k = int(summary["replications"].min())
    lines.append(
        f"mean over {k} replication(s)"
        + (", [95% t interval]" if k > 1 else "; run more replications for intervals")
    )
    return "\n".join(lines)


def kaplan_meier(
    time: npt.NDArray[np.integer[Any]], event: npt.NDArray[np.bool_], weeks: int
) -> pd.DataFrame:
    """Kaplan-Meier survival at weeks 0..``weeks`` with Greenwood log-log 95% intervals.

    ``time`` is the week of the stay (counted from 1) in which each stay ended or was
    censored, and ``event`` whether it ended by an event (else censored). ``survival`` at week
    ``t`` is the probability of staying more than ``t`` weeks: 1.0 at week 0, and an event at
    time ``k`` first lowers the curve at week ``k``.

    >>> km = kaplan_meier(np.array([1, 2, 2, 3]), np.array([True, True, False, True]), 3)
    >>> km["survival"].round(3).tolist()
    [1.0, 0.75, 0.5, 0.0]
    """
    time = np.asarray(time, dtype=np.int64)
    event = np.asarray(event, dtype=bool)
    if time.size and int(time.min()) < 1:
        raise SimulationError(
            f"event times are weeks of the stay counted from 1 (a stay that ends in its first "
            f"week has time 1), got {int(time.min())}"
        )
    top = max(weeks, int(time.max(initial=0)))
    events = np.bincount(time[event], minlength=top + 1)[: weeks + 1]
    leaving = np.bincount(time, minlength=top + 1)
    at_risk = (len(time) - np.concatenate([[0], np.cumsum(leaving)[:-1]]))[: weeks + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(at_risk > 0, 1.0 - events / np.maximum(at_risk, 1), 1.0)
        survival = np.cumprod(factor)
        terms = np.where(
            (at_risk > events) & (at_risk > 0), events / (at_risk * (at_risk - events)), 0.0
        )
        greenwood = np.cumsum(terms)
        log_s = np.log(survival)
        se = np.sqrt(greenwood) / np.abs(log_s)
        low = survival ** np.exp(_Z95 * se)
        high = survival ** np.exp(-_Z95 * se)
    exact = (survival >= 1.0) | (survival <= 0.0) | ~np.isfinite(se)
    low = np.where(exact, survival, low)
    high = np.where(exact, survival, high)
    return pd.DataFrame(
        {
            "week": np.arange(weeks + 1),
            "at_risk": at_risk,
            "events": events,
            "survival": survival,
            "ci_low": low,
            "ci_high": high,
        }
    )


#: Exits that end a stay early (competing risks); completion and the horizon censor.
EXITS = ("dropped_out", "transferred", "terminated", "other")


def retention(result: SimulationResult | pd.DataFrame) -> pd.DataFrame:
    """Kaplan-Meier retention per scenario (replications pooled), 1.0 at week 0: the share
    not yet gone by any exit (dropped out, transferred, terminated, other).

    Time is the week of the stay in which a participant left (counted from 1, see the module
    docstring): ``weeks_retained``, or 1 for a dropout who never attended; completion and the
    horizon censor. For one exit type use :func:`cumulative_incidence` (competing risks)."""
    participants = result.participants if isinstance(result, SimulationResult) else result
    frames = []
    for scenario, group in participants.groupby("scenario", observed=True, sort=False):
        outcome = group["outcome"].astype(str).to_numpy()
        happened = np.isin(outcome, EXITS)
        times = np.maximum(group["weeks_retained"].to_numpy(), 1)
        curve = kaplan_meier(times, happened, int(times.max(initial=1)))
        curve.insert(0, "scenario", scenario)
        frames.append(curve)
    return pd.concat(frames, ignore_index=True)


def aalen_johansen(
    time: npt.NDArray[np.floating[Any] | np.integer[Any]],
    cause: npt.NDArray[np.integer[Any]],
    of_interest: int,
) -> pd.DataFrame:
    """The Aalen-Johansen cumulative incidence of cause ``of_interest`` at each distinct time.

    ``cause`` is 0 for a censored stay and a positive code for each exit type. Returns one
    row per distinct time (and time 0): ``at_risk``, ``events`` (any cause),
    ``cause_events``, ``survival`` (Kaplan-Meier of any cause), ``incidence`` and its
    ``variance`` and log(-log) 95% interval (``ci_low``, ``ci_high``).

    >>> aj = aalen_johansen(np.array([1, 2, 2, 3]), np.array([1, 2, 0, 1]), 1)
    >>> aj["incidence"].round(3).tolist()
    [0.0, 0.25, 0.25, 0.75]
    """
    time = np.asarray(time, dtype=np.float64)
    cause = np.asarray(cause, dtype=np.int64)
    times = np.unique(time)
    times = np.concatenate([[0.0], times]) if not times.size or times[0] > 0 else times
    slot = np.searchsorted(times, time)
    k = len(times)
    leaving = np.bincount(slot, minlength=k)
    events = np.bincount(slot[cause > 0], minlength=k)
    mine = np.bincount(slot[cause == of_interest], minlength=k)
    at_risk = len(time) - np.concatenate([[0], np.cumsum(leaving)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, events / np.maximum(at_risk, 1), 0.0)
        survival = np.cumprod(1.0 - hazard)
        lagged = np.concatenate([[1.0], survival[:-1]])
        increment = np.where(at_risk > 0, mine / np.maximum(at_risk, 1), 0.0) * lagged
        incidence = np.cumsum(increment)
        n, d, dk = at_risk.astype(float), events.astype(float), mine.astype(float)
        a = np.where(n > 0, d / (n * (n - d)), 0.0)
        b = np.where(n > 0, lagged**2 * dk * (n - dk) / n**3, 0.0)
        c = np.where(n > 0, lagged * dk / n**2, 0.0)
        gap = incidence[:, None] - incidence[None, :]  # F(t_j) - F(t_i)
        lower = np.tril(np.ones((k, k), dtype=bool))
        variance = (
            np.where(lower, gap**2 * a[None, :], 0.0).sum(axis=1)
            + np.cumsum(b)
            - 2 * np.where(lower, gap * c[None, :], 0.0).sum(axis=1)
        )
        se = np.sqrt(variance) / (incidence * np.abs(np.log(incidence)))
        transformed = np.log(-np.log(incidence))
        high = np.exp(-np.exp(transformed - _Z95 * se))
        low = np.exp(-np.exp(transformed + _Z95 * se))
    exact = (incidence <= 0.0) | (incidence >= 1.0) | ~np.isfinite(se)
    return pd.DataFrame(
        {
            "time": times,
            "at_risk": at_risk,
            "events": events,
            "cause_events": mine,
            "survival": survival,
            "incidence": incidence,
            "variance": variance,
            "ci_low": np.where(exact, incidence, low),
            "ci_high": np.where(exact, incidence, high),
        }
    )


def cumulative_incidence(result: SimulationResult | pd.DataFrame) -> pd.DataFrame:
    """Per scenario and exit type (:data:`EXITS`), the Aalen-Johansen cumulative incidence at
    weeks 0..the last week of any stay, with its 95% interval (replications pooled).

    Times are as in :func:`retention`; completion and the horizon censor, the other exits
    compete. At each week the exit types' incidences add up to one minus the Kaplan-Meier
    retention, and at the last week each is the share of admissions that left that way (with
    nobody censored before it)."""
    participants = result.participants if isinstance(result, SimulationResult) else result
    frames = []
    for scenario, group in participants.groupby("scenario", observed=True, sort=False):
        outcome = group["outcome"].astype(str).to_numpy()
        cause = np.zeros(len(outcome), np.int64)
        for code, name in enumerate(EXITS, start=1):
            cause[outcome == name] = code
        times = np.maximum(group["weeks_retained"].to_numpy(), 1)
        weeks = np.arange(int(times.max(initial=1)) + 1)
        for code, name in enumerate(EXITS, start=1):
            aj = aalen_johansen(times, cause, code)
            at = np.searchsorted(aj["time"].to_numpy(), weeks, side="right") - 1
            frame = aj.iloc[at][["incidence", "ci_low", "ci_high"]].reset_index(drop=True)
            frame.insert(0, "week", weeks)
            frame.insert(0, "exit", name)
            frame.insert(0, "scenario", scenario)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


TABLE_SUFFIXES = (".parquet", ".csv")


def is_table_csv(head: bytes) -> bool:
    """A CSV table iopcore wrote: its header line starts with the first column of a
    simulation table (``scenario``) or of sensitivity indices (``parameter``)."""
    return head.split(b"\n", 1)[0].startswith((b"scenario,", b"parameter,"))


def _table_kind(path: Path) -> tuple[str, Recognizer]:
    if path.suffix.lower() == ".parquet":
        return "Parquet table", starts_with(b"PAR1")
    return "CSV table", is_table_csv


def check_table_path(
    path: str | Path,
    *,
    label: str | None = None,
    reads: Sequence[Path] = (),
    force: bool = False,
    record: bool = False,
) -> Path:
    """Check, before any work, that a table can be written to ``path``: a ``.parquet`` or
    ``.csv`` name (Parquet needing pyarrow), in a folder that exists and is writable, not a
    folder itself, not one of the files the command ``reads`` (even with ``force``), and not
    an existing file of another kind unless ``force`` (:func:`iopcore.io.output.check_output`);
    with ``record``, the same for a CSV's ``<name>.json`` run record. Raises a
    :class:`SimulationError` (or an :class:`~iopcore.io.output.OutputError`) that says what is
    wrong, starting with ``label`` (default: the path).

    >>> check_table_path("nodir/x.parquet")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    iopcore.simulation.errors.SimulationError: nodir/x.parquet: folder 'nodir' does not exist...
    """
    from .provenance import sidecar_path

    path = Path(path)
    where = label or str(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise SimulationError(
            f"{where}: that is a folder; name a file in it ending in .parquet or .csv"
        )
    if suffix not in TABLE_SUFFIXES:
        raise SimulationError(
            f"{where}: unknown table format {suffix or '(no suffix)'!r}; end the name in "
            ".parquet or .csv"
        )
    folder = path.parent
    if not folder.exists():
        raise SimulationError(f"{where}: folder '{folder}' does not exist; create it first")
    if not folder.is_dir():
        raise SimulationError(f"{where}: '{folder}' is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SimulationError(
            f"{where}: folder '{folder}' is not writable (permission denied); choose another"
        )
    if path.exists() and not os.access(path, os.W_OK):
        raise SimulationError(f"{where}: the file exists and is read-only; choose another name")
    if suffix == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        raise SimulationError(
            "writing Parquet needs pyarrow (in the sim extra): pip install 'iopcore[sim]'; "
            "or write .csv"
        )
    kind, recognize = _table_kind(path)
    check_output(path, kind=kind, recognize=recognize, reads=reads, force=force)
    if record and suffix == ".csv":
        check_output(
            sidecar_path(path), kind="JSON run record", recognize=is_json, reads=reads, force=force
        )
    return path


def _formula_safe(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every text cell a spreadsheet would run as a formula (a scenario name
    starting with ``=``, say) prefixed with ``'`` (:func:`iopcore.io.output.csv_cell`);
    numbers stay numbers."""
    from iopcore.io.output import csv_cell

    out = table.copy(deep=False)
    for name in out.columns:
        column = out[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            categories = column.cat.categories
            if categories.dtype == object:
                safe = [csv_cell(c) if isinstance(c, str) else c for c in categories]
                if safe != list(categories):
                    out[name] = column.cat.rename_categories(safe)
        elif column.dtype == object:
            out[name] = column.map(lambda v: csv_cell(v) if isinstance(v, str) else v)
    return out


def write_table(
    table: pd.DataFrame,
    path: str | Path,
    *,
    record: dict[str, Any] | None = None,
    reads: Sequence[Path] = (),
    force: bool = False,
) -> Path:
    """Write ``table`` as Parquet (``.parquet``, via pyarrow) or CSV (``.csv``); the path is
    checked first (:func:`check_table_path`: never onto a file in ``reads``, nor over a file
    of another kind unless ``force``). ``record`` (the run's provenance, see
    :func:`iopcore.simulation.provenance.of`) goes into the Parquet file's metadata, or beside
    a CSV as ``<name>.json``. Files are written whole (a temporary file renamed into place),
    owner-only (0600)."""
    from .provenance import METADATA_KEY, sidecar_path

    path = check_table_path(path, reads=reads, force=force, record=record is not None)
    kind, recognize = _table_kind(path)
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            arrow = pa.Table.from_pandas(table, preserve_index=False)
            if record is not None:
                meta = dict(arrow.schema.metadata or {})
                meta[METADATA_KEY.encode()] = json.dumps(record).encode()
                arrow = arrow.replace_schema_metadata(meta)
            buffer = io.BytesIO()
            pq.write_table(arrow, buffer)
            data: bytes | str = buffer.getvalue()
        else:
            data = _formula_safe(table).to_csv(index=False)
    except ImportError:
        raise SimulationError(
            "writing Parquet needs pyarrow (in the sim extra): pip install 'iopcore[sim]'"
        ) from None
    except OSError as exc:
        raise SimulationError(f"{path}: cannot write: {exc.strerror or exc}") from None
    staged = [stage_output(path, data, kind=kind, recognize=recognize, reads=reads, force=force)]
    if record is not None and path.suffix.lower() == ".csv":
        try:
            staged.append(
                stage_output(
                    sidecar_path(path),
                    json.dumps(record, indent=1),
                    kind="JSON run record",
                    recognize=is_json,
                    reads=reads,
                    force=force,
                )
            )
        except BaseException:
            staged[0].discard()
            raise
    for output in staged:
        output.commit()
    return path


__all__ = [
    "EXITS",
    "METRICS",
    "SimulationResult",
    "aalen_johansen",
    "assemble",
    "check_table_path",
    "cumulative_incidence",
    "format_summary",
    "is_table_csv",
    "kaplan_meier",
    "replicate_metrics",
    "retention",
    "summarize",
    "t95",
    "write_table",
]
