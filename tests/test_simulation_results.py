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
    Admission,
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
from iopcore.simulation.options import StepDownBy
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


def test_retention_is_any_exit_and_each_exit_type_has_its_cumulative_incidence(
    result: object,
) -> None:
    from iopcore.simulation import SimulationResult, cumulative_incidence

    assert isinstance(result, SimulationResult)
    any_exit = retention(result)
    assert set(any_exit["scenario"]) == {"evening"}
    cif = cumulative_incidence(result)
    assert set(cif["exit"]) == {"dropped_out", "transferred", "terminated", "other"}
    # the exit types' incidences add up to one minus retention at every week
    total = cif.groupby("week")["incidence"].sum().to_numpy()
    assert total == pytest.approx(1 - any_exit["survival"].to_numpy(), abs=1e-12)
    # nobody is censored before the end, so each ends at the share that left that way
    people = result.participants
    last = cif[cif["week"] == cif["week"].max()].set_index("exit")["incidence"]
    for exit_type in ("dropped_out", "transferred"):
        share = (people["outcome"] == exit_type).mean()
        assert last[exit_type] == pytest.approx(share, abs=1e-12)
        # 1 - KM with other exits censored overstates it (what competing risks correct)
        censored = kaplan_meier(
            np.maximum(people["weeks_retained"].to_numpy(), 1),
            (people["outcome"] == exit_type).to_numpy(),
            int(cif["week"].max()),
        )
        assert 1 - censored["survival"].iloc[-1] > share
    ordered = cif[cif["exit"] == "dropped_out"]
    assert (np.diff(ordered["incidence"].to_numpy()) >= -1e-15).all()
    assert (ordered["ci_low"] <= ordered["incidence"] + 1e-12).all()
    assert (ordered["ci_high"] >= ordered["incidence"] - 1e-12).all()


def test_retention_starts_at_one_and_first_week_exits_count_at_week_one(result: object) -> None:
    from iopcore.simulation import SimulationResult

    assert isinstance(result, SimulationResult)
    people = result.participants
    never = (people["sessions_attended"] == 0) & (people["outcome"] == "dropped_out")
    assert never.any()  # dropouts who never came: weeks_retained 0, but they left in week 1
    assert (people.loc[never, "weeks_retained"] == 0).all()
    curve = retention(result).set_index("week")
    first = curve.loc[0]
    assert (first["survival"], first["ci_low"], first["ci_high"]) == (1.0, 1.0, 1.0)
    assert first["at_risk"] == len(people)
    assert first["events"] == 0
    assert curve.loc[1, "at_risk"] == len(people)
    happened = ~people["outcome"].astype(str).isin(["completed", "still_enrolled"])
    in_week_one = happened & (people["weeks_retained"] <= 1)
    assert curve.loc[1, "events"] == in_week_one.sum()
    assert curve.loc[1, "survival"] == pytest.approx(1 - in_week_one.sum() / len(people))
    # the last week: the curve ends at the share who never left early
    assert curve["survival"].iloc[-1] == pytest.approx(1 - happened.mean())


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(20, 400))
def test_aalen_johansen_matches_lifelines(seed: int, n: int) -> None:
    import warnings

    from lifelines import AalenJohansenFitter

    from iopcore.simulation.results import aalen_johansen

    rng = np.random.default_rng(seed)
    time = rng.exponential(10.0, n)  # distinct times (lifelines jitters ties across causes)
    cause = rng.integers(0, 4, n)
    for k in (1, 2):
        ours = aalen_johansen(time, cause, k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = AalenJohansenFitter(calculate_variance=True).fit(time, cause, k)
        assert ours["time"].to_numpy() == pytest.approx(theirs.cumulative_density_.index)
        np.testing.assert_allclose(
            ours["incidence"], theirs.cumulative_density_.iloc[:, 0], atol=1e-8, rtol=0
        )
        variance = theirs.variance_.to_numpy()
        finite = np.isfinite(variance)
        np.testing.assert_allclose(ours["variance"][finite], variance[finite], atol=1e-8, rtol=0)
        # lifelines names its interval columns the other way round (upper holds the lower)
        bounds = theirs.confidence_interval_cumulative_density_.to_numpy()
        finite = np.isfinite(bounds).all(axis=1) & (ours["incidence"].to_numpy() > 0)
        low, high = np.sort(bounds[finite], axis=1).T
        np.testing.assert_allclose(ours["ci_low"][finite], low, atol=1e-8, rtol=0)
        np.testing.assert_allclose(ours["ci_high"][finite], high, atol=1e-8, rtol=0)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(5, 2000), st.integers(2, 30))
def test_kaplan_meier_matches_lifelines_with_tied_weeks(seed: int, n: int, weeks: int) -> None:
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(seed)
    time = rng.integers(1, weeks + 1, n)
    event = rng.random(n) < 0.6
    ours = kaplan_meier(time, event, weeks)
    theirs = KaplanMeierFitter().fit(time, event, timeline=np.arange(weeks + 1))
    np.testing.assert_allclose(
        ours["survival"], theirs.survival_function_.iloc[:, 0], atol=1e-8, rtol=0
    )
    bounds = theirs.confidence_interval_survival_function_.to_numpy()
    finite = (
        np.isfinite(bounds).all(axis=1)
        & (ours["survival"].to_numpy() < 1)
        & (ours["survival"].to_numpy() > 0)
    )
    np.testing.assert_allclose(ours["ci_low"][finite], bounds[finite, 0], atol=1e-8, rtol=0)
    np.testing.assert_allclose(ours["ci_high"][finite], bounds[finite, 1], atol=1e-8, rtol=0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 15), st.integers(0, 3)), min_size=1, max_size=150))
def test_cumulative_incidences_add_up_to_one_minus_kaplan_meier(
    data: list[tuple[int, int]],
) -> None:
    from iopcore.simulation.results import aalen_johansen

    time = np.array([t for t, _ in data])
    cause = np.array([c for _, c in data])
    total = sum(aalen_johansen(time, cause, k)["incidence"].to_numpy() for k in (1, 2, 3))
    km = kaplan_meier(time, cause > 0, int(time.max()))
    # aalen_johansen's rows are time 0 and each distinct time; compare at those weeks
    at = aalen_johansen(time, cause, 1)["time"].to_numpy().astype(int)
    assert total == pytest.approx(1 - km["survival"].to_numpy()[at], abs=1e-12)


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


def test_cumulative_incidence_plot_is_labelled_as_such(result: object) -> None:
    from iopcore.simulation import SimulationResult, cumulative_incidence, plot_cumulative_incidence

    assert isinstance(result, SimulationResult)
    figure = plot_cumulative_incidence(cumulative_incidence(result), exit="transferred")
    ax = figure.axes[0]
    assert "Aalen-Johansen" in ax.get_ylabel()
    assert "transferred" in ax.get_ylabel()
    assert "Kaplan-Meier" in plot_retention(retention(result)).axes[0].get_ylabel()
    with pytest.raises(SimulationError, match="no cumulative incidence"):
        plot_cumulative_incidence(cumulative_incidence(result), exit="gone")


_CELLS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.sampled_from(list(Admission) + list(StepDownBy)),
)


@given(
    columns=st.integers(1, 4),
    cells=st.lists(st.lists(_CELLS, min_size=4, max_size=4), min_size=1, max_size=4),
)
def test_the_scenarios_table_is_what_pandas_makes_of_the_rows(
    columns: int, cells: list[list[object]]
) -> None:
    """The fast scenarios-table constructor gives pandas' own list-of-dicts table (for one
    or more rows with the same keys, as scenarios have): the same dtypes and the same
    values, of the same types."""
    from iopcore.simulation.results import _records

    rows = [{f"c{k}": row[k] for k in range(columns)} for row in cells]
    ours, theirs = _records(rows), pd.DataFrame(rows)
    pd.testing.assert_frame_equal(ours, theirs)
    for name in theirs:
        assert [type(v) for v in ours[name]] == [type(v) for v in theirs[name]]


def test_a_grids_scenarios_table_is_built_as_pandas_would() -> None:
    from iopcore.simulation import grid
    from iopcore.simulation.results import _records

    base = Scenario(program=load_program(PROGRAM), participants=50)
    arms = grid(
        base,
        {
            "options.screens_per_week": [None, 2.0],
            "options.admission": ["closed", "rolling"],
            "options.reminders": [False, True],
        },
    )
    rows = [s.describe() for s in arms]
    pd.testing.assert_frame_equal(_records(rows), pd.DataFrame(rows))
