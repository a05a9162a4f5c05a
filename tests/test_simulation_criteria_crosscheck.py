"""Each simulated participant's course is what the clinic's evaluator decides from their
full records: an independent check, participant by participant, week by week.

A run is traced (:mod:`tests.criteria_trace`): who was due at and attended every visit,
every screen and its result, every score, each week's phase and the engine's decision. For
every participant and reassessment, the clinic's records are rebuilt from the trace alone
(the level-of-care history of the moves made so far, every session of the clinic's
``course`` for that history with its attendance, every screen on its day, every score) and
handed to ``evaluate_transition``. Its recommendation must be the engine's, and the sessions
the clinic's course has must be those the simulation scheduled.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from iopcore import Program, load_program, loads_program
from iopcore.simulation import Dropout, LogisticModel, Options, Scenario, simulate
from tests.criteria_trace import Recording, check, moves, recording

MONDAY = date(2027, 1, 4)


def boundary_program(*, family_every: int = 1, measure_every: str = "every_weeks = 2") -> Program:
    """Three phases on two tracks with what the evaluator's boundaries hinge on: min_weeks,
    a 3-week rate window against a 1-week step-up window, step-ups from the second and the
    third phase, a phase without a screening policy (p2), a session held every
    ``family_every`` weeks, a Saturday, closures, a cancelled session and moves within a
    week."""
    every = f", every_weeks = {family_every}" if family_every > 1 else ""
    return loads_program(
        f"""
name = "boundary"
level_of_care = "2.1"

[[measures]]
kind = "assessment"
instrument = "PHQ-9"
{measure_every}

[[screening]]
count = 2
period = "week"
phases = ["p1", "p3"]

[[step_down]]
from_phase = "p1"
to = "p2"
min_weeks = 2
attendance_rate_at_least = 0.7
rate_weeks = 3
negative_screens_in_a_row = 1

[[step_down]]
from_phase = "p2"
to = "p3"
min_weeks = 2
attendance_rate_at_least = 0.6
negative_screens_in_a_row = 1

[[step_down]]
from_phase = "p3"
to = "aftercare"
min_weeks = 1
attendance_rate_at_least = 0.5
assessments = [{{ instrument = "PHQ-9", at_most = 14 }}]

[[step_up]]
from_phase = "p2"
to = "p1"
missed_sessions = 2
within_weeks = 1

[[step_up]]
from_phase = "p3"
to = "p2"
positive_screens = 1
within_weeks = 2

[session_types.group]
kind = "group"
minutes = 180

[session_types.family]
kind = "family"
minutes = 60

[tracks.day]
time_zone = "America/Chicago"
[[tracks.day.phases]]
name = "p1"
min_weeks = 2
max_weeks = 6
slots = [
  {{ day = "mon", start = "09:00", session_type = "group" }},
  {{ day = "tue", start = "09:00", session_type = "group" }},
  {{ day = "wed", start = "09:00", session_type = "group" }},
  {{ day = "thu", start = "09:00", session_type = "group" }},
]
[[tracks.day.phases]]
name = "p2"
min_weeks = 2
max_weeks = 6
slots = [
  {{ day = "mon", start = "09:00", session_type = "group" }},
  {{ day = "wed", start = "09:00", session_type = "group" }},
  {{ day = "fri", start = "09:00", session_type = "group" }},
  {{ day = "fri", start = "13:00", session_type = "family"{every} }},
  {{ day = "sat", start = "10:00", session_type = "family"{every} }},
]
[[tracks.day.phases]]
name = "p3"
min_weeks = 2
max_weeks = 6
slots = [
  {{ day = "tue", start = "10:00", session_type = "group" }},
  {{ day = "sat", start = "10:00", session_type = "group" }},
]

[[tracks.day.changes]]
date = 2027-01-27
start = "09:00"
cancelled = true

[[tracks.day.changes]]
date = 2027-02-05
start = "09:00"
new_date = 2027-02-04
new_start = "15:00"

[[tracks.day.changes]]
date = 2027-02-13
start = "10:00"
session_type = "group"
new_date = 2027-02-12

[tracks.evening]
time_zone = "America/Chicago"
[[tracks.evening.phases]]
name = "p1"
min_weeks = 2
max_weeks = 6
slots = [
  {{ day = "mon", start = "18:00", session_type = "group" }},
  {{ day = "tue", start = "18:00", session_type = "group" }},
  {{ day = "thu", start = "18:00", session_type = "group" }},
]
[[tracks.evening.phases]]
name = "p2"
min_weeks = 2
max_weeks = 6
slots = [
  {{ day = "mon", start = "18:00", session_type = "group" }},
  {{ day = "thu", start = "18:00", session_type = "group" }},
]
[[tracks.evening.phases]]
name = "p3"
min_weeks = 2
max_weeks = 6
slots = [{{ day = "wed", start = "18:00", session_type = "group" }}]

[[closures]]
date = 2027-01-18
[[closures]]
date = 2027-02-15
[[closures]]
date = 2027-02-19
"""
    )


def traced(monkeypatch: pytest.MonkeyPatch, program: Program, **kwargs: Any) -> list[Recording]:
    options = Options(step_down_by="criteria", **kwargs.pop("options", {}))
    kwargs.setdefault("seed", 3)
    with recording(monkeypatch) as states:
        simulate(Scenario(program=program, participants=120, options=options, **kwargs))
    return states


def assert_the_clinic_agrees(states: list[Recording]) -> None:
    mismatches = [m for state in states for m in check(state)]
    assert not mismatches, mismatches[:3]
    made = moves(states)
    # the check is not vacuous: people stepped down, stepped up and were discharged
    assert made["down"] > 50, made
    assert made["up"] > 10, made
    assert made["done"] > 10, made


CASES: dict[str, dict[str, Any]] = {
    "closed cohort": {},
    "rolling admission": {"options": {"admission": "rolling", "admission_weeks": 4}},
    "track choice": {"options": {"choose_track": True}},
    "admitted on a Wednesday": {"start": date(2027, 1, 6)},
    "screens per week set by the scenario": {"options": {"screens_per_week": 3.0}},
    "misses in a row": {"model": LogisticModel(dropout=Dropout(rule="misses-in-a-row"))},
}


@pytest.mark.parametrize("case", CASES)
def test_the_clinics_evaluator_agrees_with_every_simulated_decision(
    monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    kwargs = {"start": MONDAY, **CASES[case]}
    assert_the_clinic_agrees(traced(monkeypatch, boundary_program(), **kwargs))


@pytest.mark.parametrize(("every", "seed"), [(2, 3), (2, 8), (3, 1), (3, 3)])
def test_sessions_held_every_few_weeks_count_from_the_phases_start(
    monkeypatch: pytest.MonkeyPatch, every: int, seed: int
) -> None:
    """The clinic counts an every-N-weeks slot from the week the participant's phase began,
    so people who enter a phase in different weeks meet its family sessions in different
    weeks (the simulation once counted them from admission), and the phase a rate window
    opens in has the sessions of the week it began in (seeds 8 and 1 once met a window
    rebuilt from another week)."""
    program = boundary_program(family_every=every)
    assert_the_clinic_agrees(traced(monkeypatch, program, start=MONDAY, seed=seed))


def test_the_adult_day_program(monkeypatch: pytest.MonkeyPatch) -> None:
    program = load_program("examples/programs/adult-day.toml")
    states = traced(monkeypatch, program)
    assert not [m for state in states for m in check(state)]
    assert moves(states)["up"] > 10
