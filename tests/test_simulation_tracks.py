"""Track choice inside one scenario (the clinic's admission-fit check), rolling admission and
group effects, and structure comparisons that compare structures."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from iopcore import Program, fit_tracks, loads_program
from iopcore.simulation import (
    Effects,
    Hazards,
    LogisticModel,
    Options,
    PopulationSpec,
    Scenario,
    simulate,
)
from iopcore.simulation.engine import track_choices
from iopcore.simulation.population import DEFAULT_SHIFTS

N = 20_000


def two_tracks() -> Program:
    def track(name: str, start: str) -> str:
        slots = ", ".join(
            f'{{ day = "{d}", start = "{start}", session_type = "group" }}'
            for d in ("mon", "wed", "fri")
        )
        return f"""
[tracks.{name}]
time_zone = "America/New_York"
[[tracks.{name}.phases]]
name = "core"
min_weeks = 12
max_weeks = 12
slots = [{slots}]
"""

    return loads_program(
        """
name = "two-tracks"
level_of_care = "2.1"
[session_types.group]
kind = "group"
minutes = 180
"""
        + track("day", "09:00")
        + track("evening", "18:00")
    )


def run(**options: object) -> pd.DataFrame:
    sc = Scenario(
        program=two_tracks(),
        track="day",
        participants=N,
        seed=4,
        model=LogisticModel(effects=Effects(conflict=-2.0)),
        options=Options(**options),  # type: ignore[arg-type]
    )
    return simulate(sc).participants


def test_choices_come_from_the_clinics_admission_fit() -> None:
    program = two_tracks()
    sc = Scenario(program=program, track="day", options=Options(choose_track=True))
    names, choice = track_choices(sc)
    assert names == ("day", "evening")
    for i, shift in enumerate(DEFAULT_SHIFTS, start=1):
        fits = {f.track: f.fits for f in fit_tracks(program, shift.obligations())}
        expected = "day" if fits["day"] else "evening" if fits["evening"] else "day"
        assert names[choice[i]] == expected, shift.name
    assert names[choice[0]] == "day"  # not employed: the scenario's track fits
    # day workers (08:00-17:00) go to the evening track, evening workers stay on the day track
    assert names[choice[1]] == "evening"
    assert names[choice[2]] == "day"
    # without the option everyone follows the scenario's track
    _, fixed = track_choices(Scenario(program=program, track="day"))
    assert set(fixed.tolist()) == {0}


def test_offering_an_evening_track_is_one_scenario_with_arms() -> None:
    closed, open_ = run(), run(choose_track=True)
    assert set(closed["track"].astype(str)) == {"day"}
    day_workers = open_["shift"] == "day"
    assert set(open_.loc[day_workers, "track"].astype(str)) == {"evening"}
    assert set(open_.loc[~day_workers, "track"].astype(str)) == {"day"}

    def rate(p: pd.DataFrame) -> float:
        return float(p["sessions_attended"].sum() / p["sessions_scheduled"].sum())

    # the conflict effect (-2) no longer hits day workers when they can take the evening track
    assert rate(open_[day_workers]) > rate(closed[closed["shift"] == "day"]) + 0.1
    # the others are unaffected (within Monte Carlo error: the cohorts draw in another order)
    assert rate(open_[~day_workers]) == pytest.approx(
        rate(closed[closed["shift"] != "day"]), abs=0.01
    )


def test_day_and_evening_tracks_with_equal_effects_have_equal_dropout() -> None:
    # the defaults (conflict 0, evening 0): a track's clock time alone changes nothing
    program = two_tracks()
    shares = {
        t: float(
            (
                simulate(Scenario(program=program, track=t, participants=N, seed=4)).participants[
                    "outcome"
                ]
                == "dropped_out"
            ).mean()
        )
        for t in ("day", "evening")
    }
    se = math.sqrt(2 * shares["day"] * (1 - shares["day"]) / N)
    assert abs(shares["day"] - shares["evening"]) < 3 * se


def test_rolling_and_closed_cohorts_differ_only_when_their_effects_are_set() -> None:
    program = two_tracks()

    def dropout(joined: float, admission: str) -> float:
        options = {"admission": admission, "admission_weeks": 4 if admission == "rolling" else 1}
        sc = Scenario(
            program=program,
            participants=N,
            seed=6,
            options=Options(**options),  # type: ignore[arg-type]
            model=LogisticModel(hazards=Hazards(joined_mid_cycle=joined)),
        )
        return float((simulate(sc).participants["outcome"] == "dropped_out").mean())

    closed = dropout(0.5, "closed")
    assert dropout(0.0, "rolling") == pytest.approx(closed, abs=0.015)
    assert dropout(0.5, "rolling") > closed + 0.03


def test_group_size_is_an_effect_with_no_default_size() -> None:
    base = Scenario(program=two_tracks(), participants=2000, seed=1)
    bigger = Scenario(
        program=two_tracks(), participants=2000, seed=1, options=Options(group_size=16)
    )
    a, b = simulate(base).participants, simulate(bigger).participants
    assert a.drop(columns="scenario").equals(b.drop(columns="scenario"))
    sized = Scenario(
        program=two_tracks(),
        participants=2000,
        seed=1,
        options=Options(group_size=16),
        model=LogisticModel(effects=Effects(group_size=-0.1)),
    )
    assert simulate(sized).participants["sessions_attended"].sum() < a["sessions_attended"].sum()


def test_population_shift_obligations_split_overnight_shifts() -> None:
    night = next(s for s in PopulationSpec().shift_hours if s.name == "night")
    late, early = night.obligations()
    assert (late.start.hour, early.end.hour) == (23, 7)
    assert [int(d) for d in early.days] == [1, 2, 3, 4, 5]
