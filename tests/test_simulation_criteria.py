"""Step-down by the program's own criteria, decided by the clinic's evaluator."""

from __future__ import annotations

import pandas as pd
import pytest

from iopcore import Program, loads_program
from iopcore.simulation import Options, Scenario, simulate
from iopcore.simulation.criteria import Progress, recommend

N = 4000


def program(criteria: str, *, screening: bool = True) -> Program:
    policy = '\n[[screening]]\ncount = 1\nperiod = "week"\n' if screening else ""
    return loads_program(
        f"""
name = "criteria"
level_of_care = "2.1"
{policy}
[[measures]]
kind = "assessment"
instrument = "PHQ-9"
every_weeks = 2

[[step_down]]
from_phase = "core"
to = "continuing-care"
{criteria}

[[continuing_care]]
name = "continuing-care"
level_of_care = "1"
sessions_per_week = 1
hours_per_week = 1.5
weeks = 8

[session_types.group]
kind = "group"
minutes = 180

[tracks.main]
time_zone = "America/New_York"
[[tracks.main.phases]]
name = "core"
min_weeks = 4
max_weeks = 12
slots = [
  {{ day = "mon", start = "18:00", session_type = "group" }},
  {{ day = "wed", start = "18:00", session_type = "group" }},
  {{ day = "fri", start = "18:00", session_type = "group" }},
]
"""
    )


def completers(p: Program, **options: object) -> pd.DataFrame:
    sc = Scenario(
        program=p,
        participants=N,
        seed=2,
        options=Options(step_down_by="criteria", **options),  # type: ignore[arg-type]
    )
    people = simulate(sc).participants
    return people[people["outcome"] == "completed"]


def test_criteria_that_can_never_be_met_keep_everyone_to_the_plans_end() -> None:
    # 50 negative screens in a row: never within 12 weeks of one screen a week
    done = completers(program("min_weeks = 2\nnegative_screens_in_a_row = 50"))
    assert len(done) > 0
    assert (done["weeks_retained"] == 12).all()


def test_easy_criteria_step_people_down_at_their_own_pace() -> None:
    p = program("min_weeks = 3\nattendance_rate_at_least = 0.6\nnegative_screens_in_a_row = 1")
    done = completers(p)
    stays = done["weeks_retained"]
    assert stays.nunique() >= 3  # stays differ between people
    assert stays.min() >= 3  # never before the policy's minimum weeks (the clinic's rule)
    assert (stays < 12).mean() > 0.5
    # the plan, by contrast, keeps every completer for the whole plan
    plan = simulate(Scenario(program=p, participants=N, seed=2)).participants
    assert (plan.loc[plan["outcome"] == "completed", "weeks_retained"] == 12).all()


def test_assessment_scores_are_evidence() -> None:
    # a score limit nobody can meet (PHQ-9 <= -1 is impossible): nobody completes early;
    # a limit everyone meets: people complete early
    hard = program('min_weeks = 2\nassessments = [{ instrument = "PHQ-9", at_most = 0 }]')
    done = completers(hard)
    # scores start at 12 (SD 5) and fall 0.4 a week: a few reach 0 before week 12
    assert (done["weeks_retained"] < 12).mean() < 0.2
    easy = program('min_weeks = 2\nassessments = [{ instrument = "PHQ-9", at_most = 27 }]')
    done = completers(easy)
    assert (done["weeks_retained"] < 12).mean() > 0.9


def test_the_evaluator_answers_from_the_records_it_is_given() -> None:
    from datetime import date

    p = program("min_weeks = 2\nattendance_rate_at_least = 0.8\nnegative_screens_in_a_row = 2")
    args = (p, "main", date(2027, 1, 4), 12, (), 5, "core", date(2027, 1, 4))
    assert recommend(*args, (6, 2, 2, -1))  # all 6 sessions of 2 weeks, 2 negatives
    assert not recommend(*args, (4, 2, 2, -1))  # 67% attendance
    assert not recommend(*args, (6, 1, 2, -1))  # the latest two screens not both negative
    assert not recommend(*args[:5], 0, "core", date(2027, 1, 4), (6, 2, 2, -1))  # week 1


def test_progress_defaults_are_documented_as_illustrative() -> None:
    assert "No published source" in (Progress.__doc__ or "")
    assert Progress().negative_screen == pytest.approx(0.75)
