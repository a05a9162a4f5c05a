"""Figures (extra ``plot``): retention curves with intervals, weekly attendance.

Figures are built with matplotlib's object API (:class:`matplotlib.figure.Figure`), never
pyplot, so they need no display and leave no global state behind.

>>> from iopcore import load_program
>>> from iopcore.simulation import Scenario, simulate, retention
>>> result = simulate(Scenario(name="evening", participants=300,
...     program=load_program("examples/programs/adult-evening.toml")))
>>> figure = plot_retention(retention(result))
>>> figure.axes[0].get_xlabel()
'Weeks since admission'
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .errors import SimulationError


def _figure() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise SimulationError(
            "figures need the plot extra (matplotlib): pip install 'iopcore[plot]'"
        ) from None
    return Figure(figsize=(8, 5), layout="constrained")


def plot_retention(
    curves: pd.DataFrame,
    *,
    title: str = "Retention: not yet left by any exit (Kaplan-Meier)",
    ax: Any = None,
) -> Any:
    """Kaplan-Meier curves (from :func:`~iopcore.simulation.retention`), one per scenario,
    each with its 95% interval as a band. Returns the figure."""
    figure = ax.figure if ax is not None else _figure()
    ax = ax if ax is not None else figure.subplots()
    for scenario, curve in curves.groupby("scenario", observed=True, sort=False):
        weeks = curve["week"].to_numpy()
        (line,) = ax.step(weeks, curve["survival"], where="post", label=str(scenario), lw=2)
        ax.fill_between(
            weeks,
            curve["ci_low"].to_numpy(),
            curve["ci_high"].to_numpy(),
            step="post",
            alpha=0.25,
            color=line.get_color(),
            lw=0,
        )
    ax.set_xlabel("Weeks since admission")
    ax.set_ylabel("Share not yet left by any exit (Kaplan-Meier)")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(title="scenario (band: 95% CI)", loc="lower left")
    return figure


def plot_cumulative_incidence(
    curves: pd.DataFrame,
    *,
    exit: str = "dropped_out",
    title: str | None = None,
    ax: Any = None,
) -> Any:
    """Aalen-Johansen cumulative incidence of one exit type (from
    :func:`~iopcore.simulation.cumulative_incidence`), one curve per scenario with its 95%
    interval as a band: the share of admissions that have left that way by each week, the
    other exits competing. Returns the figure."""
    figure = ax.figure if ax is not None else _figure()
    ax = ax if ax is not None else figure.subplots()
    rows = curves[curves["exit"] == exit]
    if rows.empty:
        raise SimulationError(
            f"no cumulative incidence for exit {exit!r}; one of: "
            + ", ".join(sorted(set(curves["exit"])))
        )
    for scenario, curve in rows.groupby("scenario", observed=True, sort=False):
        weeks = curve["week"].to_numpy()
        (line,) = ax.step(weeks, curve["incidence"], where="post", label=str(scenario), lw=2)
        ax.fill_between(
            weeks,
            curve["ci_low"].to_numpy(),
            curve["ci_high"].to_numpy(),
            step="post",
            alpha=0.25,
            color=line.get_color(),
            lw=0,
        )
    label = exit.replace("_", " ")
    ax.set_xlabel("Weeks since admission")
    ax.set_ylabel(f"Cumulative incidence: {label} (Aalen-Johansen)")
    ax.set_ylim(0, None)
    ax.set_xlim(left=0)
    ax.set_title(title or f"Cumulative incidence of {label}, other exits competing")
    ax.grid(alpha=0.3)
    ax.legend(title="scenario (band: 95% CI)", loc="upper left")
    return figure


def plot_weekly_attendance(
    weekly: pd.DataFrame, *, title: str = "Attendance by week", ax: Any = None
) -> Any:
    """Sessions attended over sessions scheduled per calendar week, mean over replications
    with the range across them as a band. Returns the figure."""
    figure = ax.figure if ax is not None else _figure()
    ax = ax if ax is not None else figure.subplots()
    for scenario, rows in weekly.groupby("scenario", observed=True, sort=False):
        by_week = rows.groupby("week")["attendance_rate"]
        mean, low, high = by_week.mean(), by_week.min(), by_week.max()
        (line,) = ax.plot(mean.index, mean.to_numpy(), marker="o", label=str(scenario))
        ax.fill_between(
            mean.index, low.to_numpy(), high.to_numpy(), alpha=0.2, color=line.get_color(), lw=0
        )
    ax.set_xlabel("Week of the simulation")
    ax.set_ylabel("Sessions attended / scheduled")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(title="scenario (band: range over replications)")
    return figure


def plot_contrasts(
    table: pd.DataFrame,
    *,
    metrics: tuple[str, ...] = ("completed", "dropped_out", "attendance_rate"),
    title: str | None = None,
    ax: Any = None,
) -> Any:
    """A forest plot of paired contrasts (from :func:`~iopcore.simulation.contrasts`): each
    arm's difference from the reference, in percentage points, with its 95% interval; a
    line at 0 (no difference). Returns the figure."""
    rows = table[table["metric"].isin(metrics)].reset_index(drop=True)
    if rows.empty:
        raise SimulationError(f"no contrasts for {', '.join(metrics)}; is there a second arm?")
    figure = ax.figure if ax is not None else _figure()
    ax = ax if ax is not None else figure.subplots()
    labels = [f"{r.metric}: {r.scenario}" for r in rows.itertuples()]
    y = list(range(len(rows)))[::-1]
    diff = rows["difference"].to_numpy() * 100
    low = rows["ci_low"].to_numpy() * 100
    high = rows["ci_high"].to_numpy() * 100
    ax.errorbar(diff, y, xerr=[diff - low, high - diff], fmt="o", capsize=4, lw=2)
    ax.axvline(0, color="black", lw=1)
    ax.set_yticks(y, labels)
    ax.set_xlabel(f"Difference from {rows['reference'].iloc[0]} (percentage points, 95% CI)")
    paired = "paired replications" if bool(rows["paired"].all()) else "UNPAIRED replications"
    ax.set_title(title or f"Arms against the reference ({paired})")
    ax.grid(alpha=0.3, axis="x")
    return figure


def plot_sensitivity(found: Any, *, title: str | None = None, ax: Any = None) -> Any:
    """A tornado-style bar chart of sensitivity indices (from
    :func:`~iopcore.simulation.global_sensitivity.sensitivity`), most influential on top, with 95%
    confidence intervals: Morris mu* (and sigma as dots), or Sobol first- and total-order."""
    figure = ax.figure if ax is not None else _figure()
    ax = ax if ax is not None else figure.subplots()
    table = found.indices.iloc[::-1]
    y = list(range(len(table)))
    names = [str(p).removeprefix("model.effects.") for p in table["parameter"]]
    if found.method == "morris":
        ax.barh(y, table["mu_star"], xerr=table["mu_star_conf"], capsize=3, label="mu*")
        ax.plot(table["sigma"], y, "o", color="black", label="sigma")
        ax.set_xlabel(f"Elementary effect on {found.metric} (mu*, 95% CI)")
    else:
        ax.barh(
            [v + 0.2 for v in y], table["ST"], 0.4, xerr=table["ST_conf"], capsize=3, label="ST"
        )
        ax.barh(
            [v - 0.2 for v in y], table["S1"], 0.4, xerr=table["S1_conf"], capsize=3, label="S1"
        )
        ax.set_xlabel(f"Share of the variance of {found.metric} (Sobol, 95% CI)")
    ax.set_yticks(y, names)
    ax.set_title(title or f"What moves {found.metric}: {found.method} ({len(found.runs)} runs)")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(loc="lower right")
    return figure


__all__ = [
    "plot_contrasts",
    "plot_cumulative_incidence",
    "plot_retention",
    "plot_sensitivity",
    "plot_weekly_attendance",
]
