"""Results: Kaplan-Meier, summaries with intervals, export, figures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iopcore import load_program
from iopcore.simulation import (
    Scenario,
    SimulationError,
    format_summary,
    kaplan_meier,
    plot_retention,
    plot_weekly_attendance,
    retention,
    simulate,
    summarize,
    write_table,
)
from iopcore.simulation.results import t95

PROGRAM = Path(__file__).resolve().parent.parent / "examples/programs/adult-evening.toml"


@pytest.fixture(scope="module")
def result() -> object:
    sc = Scenario(name="evening", program=load_program(PROGRAM), participants=600, seed=2)
    return simulate(sc, replications=4)


def test_kaplan_meier_matches_a_hand_computation() -> None:
    # times 1,1,2,3,3,4 with censoring at 2 and 4: S(1) = 4/6, S(2) = 4/6, S(3) = 4/6 * 1/3
    time = np.array([1, 1, 2, 3, 3, 4])
    event = np.array([True, True, False, True, True, False])
    km = kaplan_meier(time, event, 4)
    expected = [1.0, 4 / 6, 4 / 6, 4 / 6 * (1 - 2 / 3), 4 / 6 * (1 - 2 / 3)]
    assert km["survival"].tolist() == pytest.approx(expected)
    assert km["at_risk"].tolist() == [6, 6, 4, 3, 1]
    # Greenwood at week 1: var(log S) = 2 / (6 * 4)
    se = math.sqrt(2 / 24) / abs(math.log(4 / 6))
    low = (4 / 6) ** math.exp(1.959964 * se)
    assert km.loc[1, "ci_low"] == pytest.approx(low)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 20), st.booleans()), min_size=1, max_size=200),
    st.integers(0, 25),
)
def test_retention_curves_are_non_increasing_probabilities_inside_their_intervals(
    data: list[tuple[int, bool]], weeks: int
) -> None:
    time = np.array([t for t, _ in data])
    event = np.array([e for _, e in data])
    km = kaplan_meier(time, event, weeks)
    s = km["survival"].to_numpy()
    assert len(s) == weeks + 1
    assert ((s >= 0) & (s <= 1)).all()
    assert (np.diff(s) <= 1e-12).all()
    assert (km["ci_low"] <= s + 1e-12).all()
    assert (km["ci_high"] >= s - 1e-12).all()
    if not event.any():
        assert (s == 1).all()


def test_retention_per_scenario_and_event_kinds(result: object) -> None:
    from iopcore.simulation import SimulationResult

    assert isinstance(result, SimulationResult)
    any_exit = retention(result)
    dropout_only = retention(result, event="dropped_out")
    assert set(any_exit["scenario"]) == {"evening"}
    # censoring other exits can only keep more people "retained"
    assert (dropout_only["survival"].to_numpy() >= any_exit["survival"].to_numpy() - 1e-12).all()
    with pytest.raises(SimulationError, match="event must be"):
        retention(result, event="gone")


def test_summary_has_t_intervals_across_replications(result: object) -> None:
    from iopcore.simulation import SimulationResult

    assert isinstance(result, SimulationResult)
    summary = summarize(result)
    row = summary[summary["metric"] == "completed"].iloc[0]
    per_replicate = (
        result.participants.assign(done=result.participants["outcome"] == "completed")
        .groupby("replicate")["done"]
        .mean()
    )
    assert row["mean"] == pytest.approx(per_replicate.mean())
    half = t95(3) * per_replicate.std(ddof=1) / 2
    assert row["ci_high"] - row["mean"] == pytest.approx(half)
    assert row["replications"] == 4
    text = format_summary(summary)
    assert "completed" in text
    assert "[95% t interval]" in text
    one = summarize(result.participants[result.participants["replicate"] == 0])
    assert one["ci_low"].isna().all()
    assert "run more replications" in format_summary(one)


def test_intervals_stay_inside_what_a_metric_can_be(result: object) -> None:
    from iopcore.simulation import SimulationResult

    assert isinstance(result, SimulationResult)
    # two replications of a rare outcome: the raw t interval would dip below zero
    two = summarize(result.participants[result.participants["replicate"] < 2])
    shares = two[two["metric"].isin(["completed", "other", "attendance_rate", "still_enrolled"])]
    assert (shares["ci_low"] >= 0).all()
    assert (shares["ci_high"] <= 1).all()
    assert (two["ci_low"] >= 0).all()
    assert ((two["ci_low"] <= two["mean"]) & (two["mean"] <= two["ci_high"])).all()


def test_t_table() -> None:
    assert t95(1) == 12.706
    assert t95(30) == 2.042
    assert t95(35) == pytest.approx(2.030, abs=0.002)  # exact: 2.0301
    assert 1.96 < t95(10_000) < 1.962
    with pytest.raises(ValueError, match="degrees of freedom"):
        t95(0)


def test_tables_round_trip_through_parquet_and_csv(result: object, tmp_path: Path) -> None:
    from iopcore.simulation import SimulationResult

    assert isinstance(result, SimulationResult)
    parquet = write_table(result.participants, tmp_path / "p.parquet")
    back = pd.read_parquet(parquet)
    pd.testing.assert_frame_equal(back, result.participants)
    csv = write_table(result.weekly, tmp_path / "w.csv")
    again = pd.read_csv(csv)
    assert list(again.columns) == list(result.weekly.columns)
    assert again["sessions_attended"].tolist() == result.weekly["sessions_attended"].tolist()
    with pytest.raises(SimulationError, match=r"end the name in \.parquet or \.csv"):
        write_table(result.weekly, tmp_path / "w.xlsx")
    with pytest.raises(SimulationError, match="cannot write"):
        write_table(result.weekly, tmp_path / "missing" / "w.csv")


def test_figures_are_labelled(result: object, tmp_path: Path) -> None:
    from iopcore.simulation import SimulationResult

    assert isinstance(result, SimulationResult)
    figure = plot_retention(retention(result), title="Evening track")
    ax = figure.axes[0]
    assert ax.get_title() == "Evening track"
    assert ax.get_xlabel()
    assert ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["evening"]
    figure.savefig(tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000
    weekly = plot_weekly_attendance(result.weekly)
    assert weekly.axes[0].get_ylabel() == "Sessions attended / scheduled"
