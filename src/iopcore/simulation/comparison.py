"""What a reader compares: each arm against a reference arm, and time in treatment when some
stays are still going at the horizon.

* :func:`contrasts`: per arm and metric, the mean difference from the reference arm over
  *paired* replications (replicate ``r`` of every arm met the same synthetic people when
  common random numbers were on, so the difference is far more precise than the arms'
  separate intervals suggest) with a 95% t interval;
* :func:`format_contrasts`: the same as plain text, shares in percentage points.

Time in treatment in every summary is the restricted mean (see
:func:`iopcore.simulation.results.restricted_mean`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import SimulationError
from .results import METRICS, SimulationResult, kaplan_meier, replicate_metrics, t95

#: Metrics whose difference is a share (shown in percentage points by format_contrasts).
_SHARES = ("completed", "dropped_out", "transferred", "terminated", "other", "still_enrolled")


def is_share(metric: str) -> bool:
    """Whether ``metric`` is a share in [0, 1] (completion, attendance rate, retention...)."""
    return metric in _SHARES or metric.startswith(("attendance_rate", "retained_"))


def reference_pairs(
    names: Sequence[str],
    reference: str | None = None,
    groups: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, str]:
    """Which scenario each scenario is compared with: the reference arm's scenario at the
    same grid point. ``names``: the scenarios in order; ``reference``: an arm name or a
    scenario name (default: the first scenario's arm); ``groups``: per scenario, its arm and
    grid point (:func:`iopcore.simulation.files.load_design`; default: every scenario is an
    arm of its own). A reference that names no arm is a SimulationError listing them."""
    groups = {n: (groups[n][0], groups[n][1]) if groups and n in groups else (n, "") for n in names}
    arms = list(dict.fromkeys(groups[n][0] for n in names))
    if reference is None:
        ref_arm = groups[names[0]][0] if names else ""
    elif reference in arms:
        ref_arm = reference
    elif reference in groups:
        ref_arm = groups[reference][0]
    else:
        from iopcore.core.errors import suggest

        raise SimulationError(
            f"reference arm {reference!r} is not in the result{suggest(reference, arms)}; "
            f"arms: {', '.join(arms)}"
        )
    at = {groups[n][1]: n for n in names if groups[n][0] == ref_arm}
    return {n: at[groups[n][1]] for n in names if groups[n][0] != ref_arm and groups[n][1] in at}


def contrasts(
    result: SimulationResult | pd.DataFrame,
    *,
    reference: str | None = None,
    metrics: Sequence[str] = METRICS,
    retention_weeks: Sequence[int] = (4, 8),
    common_random_numbers: bool | None = None,
    groups: Mapping[str, tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Each arm minus ``reference`` (default: the first arm; with ``groups``, a scenario
    file's grid, the reference arm at the same grid point: see :func:`reference_pairs`),
    per metric, over paired
    replications: ``difference`` (mean over replications), its 95% t interval, the number of
    pairs and whether the arms shared random numbers (``paired``). Without common random
    numbers the replications are still paired by index but independent, so the interval is
    wide and honest rather than precise. ``retention_weeks`` adds the Kaplan-Meier share
    retained (not having left early) after each of those weeks, as ``retained_week_<k>``."""
    participants = result.participants if isinstance(result, SimulationResult) else result
    if common_random_numbers is None:
        common_random_numbers = (
            result.common_random_numbers if isinstance(result, SimulationResult) else True
        )
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise SimulationError(f"no metric {unknown[0]!r}; one of: {', '.join(METRICS)}")
    per = replicate_metrics(participants)
    for week in retention_weeks:
        if isinstance(week, bool) or not isinstance(week, int) or week < 1:
            raise SimulationError(f"retention weeks are whole numbers >= 1, got {week!r}")
        per[f"retained_week_{week}"] = [
            _retained(group, week)
            for _, group in participants.groupby(["scenario", "replicate"], observed=True)
        ]
    metrics = [*metrics, *(f"retained_week_{w}" for w in retention_weeks)]
    arms = [str(a) for a in dict.fromkeys(per["scenario"])]
    rows = []
    for arm, ref in reference_pairs(arms, reference, groups).items():
        base = per[per["scenario"].astype(str) == ref].set_index("replicate")
        other = per[per["scenario"].astype(str) == arm].set_index("replicate")
        pairs = other.index.intersection(base.index)
        for metric in metrics:
            diff = (other.loc[pairs, metric] - base.loc[pairs, metric]).to_numpy(dtype=float)
            k = len(diff)
            mean = float(diff.mean()) if k else math.nan
            half = t95(k - 1) * float(diff.std(ddof=1)) / math.sqrt(k) if k > 1 else math.nan
            rows.append(
                contrast_row(
                    arm, ref, metric, mean, (mean - half, mean + half), k, common_random_numbers
                )
            )
    return pd.DataFrame(rows, columns=list(CONTRAST_COLUMNS))


#: The columns of a contrasts table (paired replications, or parameter sets under PSA).
CONTRAST_COLUMNS = (
    "scenario",
    "reference",
    "metric",
    "difference",
    "ci_low",
    "ci_high",
    "replications",
    "paired",
)


def contrast_row(
    arm: str,
    reference: str,
    metric: str,
    difference: float,
    interval: tuple[float, float],
    pairs: int,
    paired: bool,
) -> dict[str, object]:
    """One row of a contrasts table: ``arm`` minus ``reference`` on ``metric``."""
    low, high = interval
    return dict(
        zip(
            CONTRAST_COLUMNS,
            (arm, reference, metric, difference, low, high, pairs, bool(paired)),
            strict=True,
        )
    )


def _retained(group: pd.DataFrame, week: int) -> float:
    """Kaplan-Meier share still retained after ``week`` weeks (as :func:`retention`)."""
    outcome = group["outcome"].astype(str).to_numpy()
    left_early = ~np.isin(outcome, ["completed", "still_enrolled"])
    times = np.maximum(group["weeks_retained"].to_numpy(), 1)
    curve = kaplan_meier(times, left_early, max(week, int(times.max(initial=1))))
    return float(curve["survival"].iloc[week])


def format_contrasts(table: pd.DataFrame, *, footer: str | None = None) -> str:
    """Plain text: one line per arm and metric, ``difference [low, high]`` (shares in
    percentage points), and a closing line that says how the pairs were formed (``footer``
    replaces it)."""
    if table.empty:
        return "one arm only: nothing to compare"
    lines = []
    for (arm, ref), group in table.groupby(["scenario", "reference"], sort=False):
        lines.append(f"{arm} minus {ref}:")
        for row in group.to_dict("records"):
            metric = str(row["metric"])
            share = is_share(metric)
            scale, unit = (100.0, " points") if share else (1.0, "")
            diff, low, high = (float(row[k]) * scale for k in ("difference", "ci_low", "ci_high"))
            cell = f"{diff:+.2f}"
            if not math.isnan(low):
                cell += f" [{low:+.2f}, {high:+.2f}]"
            lines.append(f"  {metric:<18} {cell}{unit}")
    if footer is not None:
        lines.append(footer)
        return "\n".join(lines)
    k = int(table["replications"].min())
    paired = bool(table["paired"].all())
    lines.append(
        f"differences over {k} paired replication(s), 95% t interval; "
        + (
            "common random numbers: the arms met the same synthetic people"
            if paired
            else "common random numbers were OFF: pairs are independent, intervals are wide"
        )
    )
    return "\n".join(lines)


__all__ = ["contrasts", "format_contrasts", "is_share", "reference_pairs"]
