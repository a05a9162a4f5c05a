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
    # Times are weeks of the stay counted from 1 (two stays ended during week 1, one was
    # censored in week 2, ...): S(0) = 1, S(1) = 4/6, S(2) = 4/6, S(3) = 4/6 * 1/3
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


def test_kaplan_meier_times_count_weeks_from_one() -> None:
    with pytest.raises(SimulationError, match="counted from 1"):
        kaplan_meier(np.array([0, 1, 2]), np.array([True, True, False]), 2)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 20), st.booleans()), min_size=1, max_size=200),
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
    assert s[0] == 1.0
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


def test_retention_starts_at_one_and_first_week_exits_count_at_week_one(result: object) -> None:
    from iopcore.simulation import SimulationResult

    assert isinstance(result, SimulationResult)
    people = result.participants
    never = (people["sessions_attended"] == 0) & (people["outcome"] == "dropped_out")
    assert never.any()  # dropouts who never came: weeks_retained 0, but they left in week 1
    assert (people.loc[never, "weeks_retained"] == 0).all()
    for event in ("any", "dropped_out"):
        curve = retention(result, event=event).set_index("week")
        first = curve.loc[0]
        assert (first["survival"], first["ci_low"], first["ci_high"]) == (1.0, 1.0, 1.0)
        assert first["at_risk"] == len(people)
        assert first["events"] == 0
        assert curve.loc[1, "at_risk"] == len(people)
        left = people["outcome"].astype(str)
        happened = (
            left == "dropped_out"
            if event == "dropped_out"
            else ~left.isin(["completed", "still_enrolled"])
        )
        in_week_one = happened & (people["weeks_retained"] <= 1)
        assert curve.loc[1, "events"] == in_week_one.sum()
        assert curve.loc[1, "survival"] == pytest.approx(1 - in_week_one.sum() / len(people))
    # the last week: the curve ends at the share who never left early
    curve = retention(result)
    still = ~people["outcome"].astype(str).isin(["completed", "still_enrolled"])
    assert curve["survival"].iloc[-1] == pytest.approx(1 - still.mean())


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
    with pytest.raises(SimulationError, match=r"folder '.*missing' does not exist; create it"):
        write_table(result.weekly, tmp_path / "missing" / "w.csv")


def test_unwritable_paths_say_what_is_wrong(
    result: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iopcore.simulation import SimulationResult
    from iopcore.simulation.results import check_table_path

    assert isinstance(result, SimulationResult)
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    (tmp_path / "folder.csv").mkdir()
    cases = {
        tmp_path / "file.txt" / "w.csv": "'.*file.txt' is a file, not a folder",
        tmp_path / "folder.csv": "that is a folder; name a file in it",
        tmp_path / "w": r"unknown table format '\(no suffix\)'",
    }
    for path, message in cases.items():
        with pytest.raises(SimulationError, match=message):
            check_table_path(path)
    assert check_table_path(tmp_path / "ok.parquet") == tmp_path / "ok.parquet"

    def full(*args: object, **kwargs: object) -> None:
        raise OSError("No space left on device")  # an OSError without errno or strerror

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    with pytest.raises(SimulationError) as caught:
        write_table(result.weekly, tmp_path / "w.csv")
    assert str(caught.value).endswith("cannot write: No space left on device")
    assert "None" not in str(caught.value)


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
