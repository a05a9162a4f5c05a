"""The engine: real calendars, invariants of the tables, options, admission, exits."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import attrs
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iopcore import Closure, Phase, Program, SessionKind, SessionType, Slot, Track, expand
from iopcore.simulation import (
    Dropout,
    Effects,
    Exits,
    LatentClassModel,
    LogisticModel,
    MarkovModel,
    Options,
    Scenario,
    build_calendar,
    simulate,
    with_overrides,
)
from iopcore.simulation.calendar import conflict_table
from iopcore.simulation.population import DEFAULT_SHIFTS

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "examples" / "programs"


@pytest.fixture(scope="module")
def evening() -> Program:
    from iopcore import load_program

    return load_program(PROGRAMS / "adult-evening.toml")


@pytest.fixture(scope="module")
def day() -> Program:
    from iopcore import load_program

    return load_program(PROGRAMS / "adult-day.toml")


def test_the_calendar_is_the_programs_own_expansion(evening: Program) -> None:
    start = date(2027, 1, 4)
    cal = build_calendar(evening, "evening", start, weeks=12)
    occurrences = expand(evening, "evening", start=start, weeks=12)
    assert int(cal.sessions.sum()) == len(occurrences)
    assert int(cal.minutes.sum()) == sum(o.minutes for o in occurrences if o.counts_toward_hours)
    # one visit per local date with sessions: 36 days, less MLK Day and Washington's Birthday
    # (closed), plus Wednesday 2027-03-10, where the Thursday group moved that week
    assert len(cal.week) == len({o.start.date() for o in occurrences}) == 36 - 2 + 1
    assert np.all(np.diff(cal.week) >= 0)


def test_phases_step_down_in_the_calendar(day: Program) -> None:
    cal = build_calendar(day, "day", date(2027, 3, 1), weeks=12)
    per_week = np.bincount(cal.week, minlength=cal.weeks)
    assert cal.phase_names == ("intensive", "step-down")
    assert per_week[:4].tolist() == [5, 5, 5, 5]  # intensive: min_weeks 4, Mon-Fri
    assert set(per_week[4:].tolist()) <= {2, 3}  # step-down: Mon/Wed/Fri (minus closures)
    assert cal.phase[cal.week >= 4].min() == 1
    longer = build_calendar(day, "day", date(2027, 3, 1), weeks=14, phase_weeks={"intensive": 6})
    assert np.bincount(longer.week)[:6].tolist() == [5] * 6
    assert longer.planned_weeks == 14


def test_a_day_shift_clashes_with_a_morning_track_not_an_evening_one(
    evening: Program, day: Program
) -> None:
    morning = build_calendar(day, "day", date(2027, 3, 1), weeks=4)
    night = build_calendar(evening, "evening", date(2027, 3, 1), weeks=4)
    names = [s.name for s in DEFAULT_SHIFTS]
    day_row = names.index("day")
    assert conflict_table(morning.signatures, DEFAULT_SHIFTS)[day_row].all()
    assert not conflict_table(night.signatures, DEFAULT_SHIFTS)[day_row].any()
    evening_row = names.index("evening")
    assert conflict_table(night.signatures, DEFAULT_SHIFTS)[evening_row].all()
    # the last row stands for "not employed": never a clash
    assert not conflict_table(morning.signatures, DEFAULT_SHIFTS)[-1].any()


def check_tables(result_participants: pd.DataFrame, weekly: pd.DataFrame, horizon: int) -> None:
    p = result_participants
    assert (p["sessions_attended"] <= p["sessions_scheduled"]).all()
    assert (p["sessions_attended"] >= 0).all()
    assert (p["hours"] >= 0).all()
    assert (p["hours"] <= p["sessions_attended"] * 24).all()
    assert (p["weeks_retained"] >= 0).all()
    assert (p["weeks_retained"] + p["start_week"] <= horizon).all()
    still = p["outcome"] == "still_enrolled"
    assert p.loc[still, "exit_week"].isna().all()
    assert p.loc[~still, "exit_week"].notna().all()
    assert (p.loc[~still, "exit_week"] >= p.loc[~still, "start_week"]).all()
    never = p["sessions_attended"] == 0
    assert (p.loc[never & (p["outcome"] == "dropped_out"), "weeks_retained"] == 0).all()
    for (_, rep), rows in p.groupby(["scenario", "replicate"], observed=True):
        w = weekly[weekly["replicate"] == rep]
        assert int(w["sessions_attended"].sum()) == int(rows["sessions_attended"].sum())
        assert int(w["sessions_scheduled"].sum()) == int(rows["sessions_scheduled"].sum())
        assert np.isclose(w["hours_attended"].sum(), rows["hours"].sum())
        assert int(w["admitted"].sum()) == len(rows)
        counts = rows["outcome"].astype(str).value_counts()
        for outcome in ("completed", "dropped_out", "transferred", "terminated", "other"):
            assert int(w[outcome].sum()) == int(counts.get(outcome, 0))
        assert (w["enrolled"].to_numpy() <= len(rows)).all()


MODELS = st.sampled_from([LogisticModel(), LatentClassModel(), MarkovModel()])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=MODELS,
    participants=st.integers(1, 300),
    chunk=st.integers(1, 400),
    seed=st.integers(0, 2**32),
    reminders=st.booleans(),
    makeup=st.floats(0, 1),
    rolling=st.integers(1, 6),
    horizon_extra=st.integers(-5, 3),
)
def test_table_invariants_hold_for_any_scenario(
    evening: Program,
    model: LogisticModel,
    participants: int,
    chunk: int,
    seed: int,
    reminders: bool,
    makeup: float,
    rolling: int,
    horizon_extra: int,
) -> None:
    options = Options(
        reminders=reminders,
        makeup_sessions=makeup > 0,
        admission="rolling" if rolling > 1 else "closed",
        admission_weeks=rolling,
    )
    model = attrs.evolve(model, effects=attrs.evolve(model.effects, makeup_uptake=makeup))
    horizon = max(rolling, 12 + rolling - 1 + horizon_extra)
    sc = Scenario(
        program=evening,
        participants=participants,
        chunk_size=chunk,
        seed=seed,
        model=model,
        options=options,
        horizon_weeks=horizon,
        replications=2,
    )
    result = simulate(sc)
    assert len(result.participants) == 2 * participants
    check_tables(result.participants, result.weekly, horizon)
    assert len(result.weekly) == 2 * horizon


def test_the_horizon_leaves_people_still_enrolled(evening: Program) -> None:
    result = simulate(Scenario(program=evening, participants=400, horizon_weeks=6))
    outcomes = set(result.participants["outcome"].astype(str))
    assert "still_enrolled" in outcomes
    assert "completed" not in outcomes  # nobody can finish a 12-week track in 6 weeks
    stayed = result.participants[result.participants["outcome"] == "still_enrolled"]
    assert (stayed["weeks_retained"] == 6).all()


def test_rolling_admission_spreads_starts_and_the_horizon_covers_them(evening: Program) -> None:
    sc = Scenario(
        program=evening,
        participants=2000,
        options=Options(admission="rolling", admission_weeks=8),
    )
    assert sc.horizon == 12 + 7
    result = simulate(sc)
    starts = result.participants["start_week"]
    assert set(starts) == set(range(8))
    weekly = result.weekly
    assert weekly.loc[weekly["week"] < 8, "admitted"].gt(0).all()
    assert weekly.loc[weekly["week"] >= 8, "admitted"].eq(0).all()
    assert "still_enrolled" not in set(result.participants["outcome"].astype(str))


def test_no_exits_and_no_dropout_rule_means_everyone_completes(evening: Program) -> None:
    model = LogisticModel(dropout=Dropout(daily_hazard=0.0, days=1000))
    sc = Scenario(
        program=evening,
        participants=300,
        model=model,
        exits=Exits(transferred=0, terminated=0, other=0),
    )
    result = simulate(sc)
    assert (result.participants["outcome"] == "completed").all()
    assert (result.participants["sessions_scheduled"] == 68).all()  # every session, 12 weeks


def test_an_exit_hazard_of_one_ends_every_stay_after_the_first_week(evening: Program) -> None:
    exits = Exits(transferred=0.999999, terminated=0.0, other=0.0)
    sc = Scenario(program=evening, participants=200, exits=exits)
    p = simulate(sc).participants
    transferred = p[p["outcome"] == "transferred"]
    assert len(transferred) + (p["outcome"] == "dropped_out").sum() == 200
    assert (transferred["weeks_retained"] == 1).all()
    assert (transferred["exit_week"] == 0).all()


@pytest.mark.parametrize(
    ("option", "effect"),
    [
        ("family_sessions", "family_sessions"),
        ("makeup_sessions", "makeup_uptake"),
    ],
)
def test_options_without_a_published_effect_do_nothing_by_default(
    evening: Program, option: str, effect: str
) -> None:
    base = Scenario(program=evening, participants=2000, seed=3)
    assert getattr(base.model.effects, effect) == 0.0  # type: ignore[attr-defined]
    off = simulate(base).participants
    on = simulate(with_overrides(base, {f"options.{option}": True})).participants
    pd.testing.assert_frame_equal(off, on)
    value = 0.3
    bigger = with_overrides(base, {f"options.{option}": True, f"model.effects.{effect}": value})
    changed = simulate(bigger).participants
    assert changed["sessions_attended"].mean() > off["sessions_attended"].mean()


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("model.effects.evening", -0.5),
        ("model.effects.transport_barrier", -1.0),
        ("model.effects.screening", -0.3),
    ],
)
def test_unpublished_effects_are_zero_by_default_and_move_attendance_when_set(
    evening: Program, path: str, value: float
) -> None:
    base = Scenario(program=evening, participants=3000, seed=4)
    leaf = path.rsplit(".", 1)[1]
    assert getattr(Effects(), leaf) == 0.0
    before = simulate(base).participants["sessions_attended"].mean()
    after = simulate(with_overrides(base, {path: value})).participants["sessions_attended"].mean()
    assert after < before


def test_longer_visits_lower_attendance_when_session_hours_is_set() -> None:
    group = SessionType(name="group", kind=SessionKind.GROUP, minutes=240)
    slots = tuple(Slot(day=d, start=time(9), session_type="group") for d in ("mon", "wed", "fri"))
    track = Track(
        name="t", time_zone="UTC", phases=(Phase(name="p", slots=slots, min_weeks=8, max_weeks=8),)
    )
    program = Program(name="long", session_types=(group,), tracks=(track,))
    base = Scenario(program=program, participants=3000, seed=8)
    assert Effects().session_hours == 0.0
    before = simulate(base).participants["sessions_attended"].mean()
    longer = with_overrides(base, {"model.effects.session_hours": -0.3})
    assert simulate(longer).participants["sessions_attended"].mean() < before


def test_step_down_effect_only_acts_after_the_first_phase(day: Program) -> None:
    base = Scenario(program=day, participants=3000, seed=5, start=date(2027, 3, 1))
    weekly = simulate(base).weekly
    changed = simulate(with_overrides(base, {"model.effects.step_down": -1.0})).weekly
    # identical through the intensive phase (4 weeks), lower attendance after it
    first = weekly["week"] < 4
    pd.testing.assert_frame_equal(weekly[first], changed[first])
    after = changed.loc[~first, "attendance_rate"].mean()
    assert after < weekly.loc[~first, "attendance_rate"].mean()


def test_conflict_hits_day_shift_workers_on_a_day_track_only(day: Program) -> None:
    base = Scenario(program=day, participants=4000, seed=6, start=date(2027, 3, 1))
    p0 = simulate(base).participants
    p1 = simulate(with_overrides(base, {"model.effects.conflict": -1.5})).participants
    day_shift = p0["shift"] == "day"
    unemployed = p0["shift"] == "none"
    # unemployed people have no work hours to clash with: same people, same draws, same stays
    pd.testing.assert_frame_equal(p0[unemployed], p1[unemployed])
    assert rate(p1[day_shift]) < rate(p0[day_shift]) - 0.05


def rate(p: pd.DataFrame) -> float:
    return float(p["sessions_attended"].sum() / p["sessions_scheduled"].sum())


def test_closures_shape_the_simulated_calendar() -> None:
    group = SessionType(name="group", kind=SessionKind.GROUP, minutes=180)
    slots = tuple(Slot(day=d, start=time(18), session_type="group") for d in ("mon", "wed"))
    track = Track(
        name="t", time_zone="UTC", phases=(Phase(name="p", slots=slots, min_weeks=4, max_weeks=4),)
    )
    open_ = Program(name="open", session_types=(group,), tracks=(track,))
    closed = attrs.evolve(
        open_, closures=(Closure(date=date(2027, 1, 4)), Closure(date=date(2027, 1, 6)))
    )
    no_exits = Exits(transferred=0, terminated=0, other=0)
    model = LogisticModel(dropout=Dropout(daily_hazard=0.0, days=1000))
    a = simulate(Scenario(program=open_, participants=50, exits=no_exits, model=model))
    b = simulate(Scenario(program=closed, participants=50, exits=no_exits, model=model))
    assert (a.participants["sessions_scheduled"] == 8).all()
    assert (b.participants["sessions_scheduled"] == 6).all()
    assert b.weekly.loc[0, "sessions_scheduled"] == 0


@given(
    weights=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8).filter(lambda w: sum(w) > 0),
    seed=st.integers(0, 2**32 - 1),
)
def test_category_draws_are_the_inverse_cdf_of_their_shares(
    weights: list[float], seed: int
) -> None:
    from iopcore.simulation.population import _categorical

    names = [f"c{i}" for i in range(len(weights))]
    drawn = _categorical(
        np.random.default_rng(seed), 500, dict(zip(names, weights, strict=True)), names
    )
    cdf = np.cumsum(np.array(weights) / sum(weights))
    cdf[-1] = 1.0
    expected = np.searchsorted(cdf, np.random.default_rng(seed).random(500), side="right")
    assert drawn.dtype == np.int8
    np.testing.assert_array_equal(drawn, expected)
    assert not np.isin(drawn, np.flatnonzero(np.array(weights) == 0)).any()
