"""Step-down, step-up and discharge by the program's own criteria, decided by the clinic's
evaluator, with screens and scores from a progress model plugin."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iopcore import PluginError, Program, load_program, loads_program
from iopcore.app.cli import main as cli_main
from iopcore.core.course import course, position
from iopcore.core.enrollment import Enrollment, LevelOfCareChange
from iopcore.simulation import (
    Exits,
    Options,
    Scenario,
    SimulationError,
    TrendProgress,
    replay,
    run,
    simulate,
    simulate_with_uncertainty,
    write_table,
)
from iopcore.simulation.calendar import build_calendar, longest_stay
from iopcore.simulation.criteria import (
    NO_SCORE,
    CriteriaState,
    Move,
    _chart,
    _history,
    recommend,
)
from iopcore.simulation.provenance import of, read_record, record, scenarios_from_record
from iopcore.simulation.uncertainty import parameter, uncertain_parameters

N = 4000
START = date(2027, 1, 4)


def one_phase(criteria: str, *, screening: bool = True, every_weeks: str = "2") -> Program:
    """One 12-week phase, 3 evenings a week; the PHQ-9 every ``every_weeks`` ("": on every
    session day)."""
    policy = '\n[[screening]]\ncount = 1\nperiod = "week"\n' if screening else ""
    every = f"every_weeks = {every_weeks}" if every_weeks else ""
    return loads_program(
        f"""
name = "criteria"
level_of_care = "2.1"
{policy}
[[measures]]
kind = "assessment"
instrument = "PHQ-9"
{every}

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


def two_phases(
    down: str,
    *,
    up: str = "",
    discharge: str = "attendance_rate_at_least = 0.5",
    family_every: int = 0,
) -> Program:
    """Intensive (5 visits a week) then step-down (2 a week, and a Saturday family session
    every ``family_every`` weeks from the phase's start if set), then continuing care."""
    family = (
        f',\n  {{ day = "sat", start = "10:00", session_type = "group", '
        f"every_weeks = {family_every} }}"
        if family_every
        else ""
    )
    step_up = f'\n[[step_up]]\nfrom_phase = "step-down"\nto = "intensive"\n{up}\n' if up else ""
    return loads_program(
        f"""
name = "two-phases"
level_of_care = "2.1"

[[screening]]
count = 2
period = "week"

[[step_down]]
from_phase = "intensive"
to = "step-down"
{down}

[[step_down]]
from_phase = "step-down"
to = "aftercare"
min_weeks = 3
{discharge}
{step_up}
[session_types.group]
kind = "group"
minutes = 180

[tracks.main]
time_zone = "America/New_York"
[[tracks.main.phases]]
name = "intensive"
min_weeks = 3
max_weeks = 8
slots = [
  {{ day = "mon", start = "09:00", session_type = "group" }},
  {{ day = "tue", start = "09:00", session_type = "group" }},
  {{ day = "wed", start = "09:00", session_type = "group" }},
  {{ day = "thu", start = "09:00", session_type = "group" }},
  {{ day = "fri", start = "09:00", session_type = "group" }},
]
[[tracks.main.phases]]
name = "step-down"
min_weeks = 3
max_weeks = 8
slots = [
  {{ day = "tue", start = "18:00", session_type = "group" }},
  {{ day = "thu", start = "18:00", session_type = "group" }}{family}
]
"""
    )


def people(p: Program, by: str = "criteria", **kwargs: Any) -> pd.DataFrame:
    sc = Scenario(
        program=p,
        participants=N,
        seed=2,
        options=Options(step_down_by=by),
        **kwargs,
    )
    return simulate(sc).participants


# -- what researchers read from a run ---------------------------------------------------------


def test_criteria_that_can_never_be_met_keep_everyone_in_the_first_phase() -> None:
    # 50 negative screens in a row never happen at 2 screens a week within 16 weeks
    p = two_phases("min_weeks = 3\nnegative_screens_in_a_row = 50")
    df = people(p)
    assert (df["phase"] == "intensive").all()
    assert (df["step_downs"] == 0).all()
    # they are never scheduled for the step-down phase: 5 visits a week, no more
    weeks = df["weeks_retained"].clip(lower=1)
    assert (df["sessions_scheduled"] <= 5 * (df["exit_week"].fillna(15).astype(int) + 1)).all()
    assert (weeks <= longest_stay(p, "main", {})).all()
    # nobody meets the discharge criteria either: completers stay to the longest stay
    done = df[df["outcome"] == "completed"]
    assert len(done) > 0
    assert (done["weeks_retained"] == longest_stay(p, "main", {})).all()
    # and the table says so: completed at the longest stay, not by criteria
    assert (done["completed_by"] == "longest stay").all()
    assert df.loc[df["outcome"] != "completed", "completed_by"].isna().all()


def test_easy_criteria_step_people_down_at_their_own_pace() -> None:
    p = two_phases("min_weeks = 3\nattendance_rate_at_least = 0.6\nnegative_screens_in_a_row = 1")
    df = people(p)
    stepped = df[df["step_downs"] >= 1]
    assert len(stepped) > 0.5 * len(df)
    done = df[df["outcome"] == "completed"]
    stays = done["weeks_retained"]
    assert stays.nunique() >= 3  # stays differ between people
    # discharge needs 3 weeks in step-down after at least 3 in intensive
    assert stays.min() >= 6
    assert (stays < longest_stay(p, "main", {})).mean() > 0.5
    by_criteria = done["completed_by"] == "criteria"
    assert by_criteria.mean() > 0.5
    assert (done.loc[by_criteria, "weeks_retained"] < longest_stay(p, "main", {})).all()
    # the plan, by contrast, moves everyone on the same day and keeps completers to its end
    plan = people(p, by="plan")
    plan_done = plan[plan["outcome"] == "completed"]
    assert (plan_done["weeks_retained"] == 11).all()
    assert (plan_done["completed_by"] == "end of plan").all()


def test_stepping_down_lowers_the_sessions_people_are_due_at() -> None:
    """After a step-down, people are scheduled for the step-down phase's visits only."""
    never = people(two_phases("min_weeks = 3\nnegative_screens_in_a_row = 50"))
    easy = people(
        two_phases("min_weeks = 3\nattendance_rate_at_least = 0.6\nnegative_screens_in_a_row = 1")
    )

    def per_week(df: pd.DataFrame) -> float:
        stayed = df[df["outcome"] == "still_enrolled"]
        done = df[df["outcome"] == "completed"]
        rows = pd.concat([stayed, done])
        return float((rows["sessions_scheduled"] / rows["weeks_retained"]).mean())

    assert per_week(never) == pytest.approx(5, abs=0.3)  # closures aside, 5 a week
    assert per_week(easy) < 4.0


def test_step_up_follows_the_programs_triggers() -> None:
    """A positive screen in step-down moves people back to intensive, as the program says;
    with screens that are nearly always negative, almost nobody steps up."""
    p = two_phases(
        "min_weeks = 3\nattendance_rate_at_least = 0.6",
        up="positive_screens = 1\nwithin_weeks = 2",
    )
    often = people(p, progress=TrendProgress(negative_screen=0.6, screen_sd=0.0))
    rarely = people(p, progress=TrendProgress(negative_screen=0.995, screen_sd=0.0))
    assert often["step_ups"].mean() > 0.3
    assert rarely["step_ups"].mean() < 0.05 < often["step_ups"].mean() / 5
    back = often[often["step_ups"] > 0]
    assert (back["step_downs"] >= back["step_ups"]).all()  # a step-up follows a step-down


def test_assessment_scores_are_evidence() -> None:
    hard = one_phase('min_weeks = 2\nassessments = [{ instrument = "PHQ-9", at_most = 0 }]')
    done = people(hard).query("outcome == 'completed'")
    # scores start at 12 (SD 5) and fall 0.4 a week: a few reach 0 before week 12
    assert (done["weeks_retained"] < 12).mean() < 0.2
    easy = one_phase('min_weeks = 2\nassessments = [{ instrument = "PHQ-9", at_most = 27 }]')
    done = people(easy).query("outcome == 'completed'")
    assert (done["weeks_retained"] < 12).mean() > 0.9


def test_progress_is_a_parameter_of_the_scenario() -> None:
    p = one_phase("min_weeks = 2\nnegative_screens_in_a_row = 2")
    clean = people(p, progress=TrendProgress(negative_screen=0.99, screen_sd=0.0))
    dirty = people(p, progress=TrendProgress(negative_screen=0.2, screen_sd=0.0))

    def early(df: pd.DataFrame) -> float:
        return float((df.query("outcome == 'completed'")["weeks_retained"] < 12).mean())

    assert early(clean) > 0.8 > 0.4 > early(dirty)


def test_the_plan_reports_the_phase_of_the_plan() -> None:
    p = two_phases("min_weeks = 3\nattendance_rate_at_least = 0.6")
    df = people(p, by="plan")
    done = df[df["outcome"] == "completed"]
    assert (done["phase"] == "step-down").all()
    assert (done["step_downs"] == 1).all()
    assert (df["step_ups"] == 0).all()


def test_a_calendar_by_phase_holds_every_phase_for_the_whole_stay() -> None:
    p = two_phases("min_weeks = 3\nattendance_rate_at_least = 0.6")
    plan = build_calendar(p, "main", START, weeks=30)
    by_phase = build_calendar(p, "main", START, weeks=30, by_phase=True)
    assert by_phase.planned_weeks == longest_stay(p, "main", {}) == 16
    assert plan.planned_weeks == 11
    for k in (0, 1):
        weeks = set(by_phase.week[by_phase.phase == k].tolist())
        assert weeks == set(range(16))
    # the plan's visits are marked as such, and only those
    assert by_phase.planned.sum() == len(
        build_calendar(p, "main", START, weeks=16, phase_weeks={"step-down": 13}).week
    )


# -- the evaluator answers from the records it is given ---------------------------------------


def test_the_evaluator_answers_from_the_records_it_is_given() -> None:
    p = one_phase("min_weeks = 2\nattendance_rate_at_least = 0.8\nnegative_screens_in_a_row = 2")
    course = (0, 0, (0, 0))
    # evidence: attended, missed, negatives, screens, positives, score. Reassessed on the
    # morning week 6 begins, the 2-week window holds 5 sessions (the Monday 2 weeks before
    # is outside it): 4 of 5 is 80%, 3 of 5 is 60%
    assert recommend(p, "main", START, 5, course, (4, 1, 2, 2, 0, NO_SCORE))[0] is Move.DISCHARGE
    assert recommend(p, "main", START, 5, course, (3, 2, 2, 2, 0, NO_SCORE))[0] is Move.STAY
    assert recommend(p, "main", START, 5, course, (5, 0, 1, 2, 0, NO_SCORE))[0] is Move.STAY
    assert recommend(p, "main", START, 0, course, (3, 0, 2, 2, 0, NO_SCORE))[0] is Move.STAY


def test_min_weeks_in_the_phase_is_the_clinics_boundary() -> None:
    """Step-down needs the policy's minimum weeks *in the phase*, counted from its start."""
    p = two_phases("min_weeks = 3\nattendance_rate_at_least = 0.6")
    full = (10, 0, 0, 0, 0, NO_SCORE)  # 10 of 10 sessions in 2 weeks
    assert recommend(p, "main", START, 1, (0, 0, (0, 0)), full)[0] is Move.STAY
    assert recommend(p, "main", START, 2, (0, 0, (0, 0)), full) == (Move.STEP_DOWN, 1)
    # discharge from step-down: 3 weeks since the step-down at week 3 (4 of 4 sessions)
    down = (4, 0, 0, 0, 0, NO_SCORE)
    assert recommend(p, "main", START, 4, (3, 0, (0, 1)), down)[0] is Move.STAY
    assert recommend(p, "main", START, 5, (3, 0, (1, 1)), down)[0] is Move.DISCHARGE


def test_history_rebuilds_the_position_and_the_window() -> None:
    p = two_phases("min_weeks = 3\nattendance_rate_at_least = 0.6")
    e = Enrollment(id="E", participant_id="P", program=p.name, track="main", start=START)
    as_of = START + timedelta(days=7 * 9 + 6)
    # stepped down at week 4, up again at week 9 (inside the window)
    history = _history(p, "main", START, 9, (9, 4, (1, 0)))
    where = position(p, e, history, as_of=as_of)
    assert (where.phase, where.since) == ("intensive", START + timedelta(weeks=9))
    sessions = list(course(p, e, history, as_of=as_of, project=False))
    window = [o.phase for o in sessions if o.start.date() > as_of - timedelta(weeks=2)]
    assert window.count("step-down") == 2
    assert window.count("intensive") == 5
    # stepped up before the window: the first phase since then
    history = _history(p, "main", START, 9, (6, 0, (0, 0)))
    where = position(p, e, history, as_of=as_of)
    assert (where.phase, where.since) == ("intensive", START + timedelta(weeks=6))


def test_the_window_opens_with_the_sessions_of_the_week_its_phase_began() -> None:
    """A phase with a session every other week, entered in week 6 and left in week 10: the
    window reassessed after week 11 holds the sessions the clinic's course has, whose
    every-other-week session counts from week 6, not from the window's first week."""
    p = two_phases("min_weeks = 3\nattendance_rate_at_least = 0.6", family_every=2)
    e = Enrollment(id="sim", participant_id="sim", program=p.name, track="main", start=START)
    as_of = START + timedelta(weeks=12)
    real = [
        LevelOfCareChange(
            enrollment_id="sim",
            seq=k,
            kind=kind,
            effective=START + timedelta(weeks=week),
            level_of_care="2.1",
            phase=phase,
        )
        for k, (kind, week, phase) in enumerate(
            [("step-down", 6, "step-down"), ("step-up", 10, "intensive")], start=1
        )
    ]

    def window(history: tuple[LevelOfCareChange, ...] | list[LevelOfCareChange]) -> list[str]:
        sessions = course(p, e, history, as_of=as_of, project=False)
        opens = as_of - timedelta(weeks=3)
        return [o.id for o in sessions if opens < o.start.date() < as_of]

    rebuilt = _history(p, "main", START, 11, (10, 6, (1, 0, 0)))
    assert window(rebuilt) == window(real)
    assert window(_history(p, "main", START, 11, (10, 9, (1, 0, 0)))) != window(real)


@settings(max_examples=200, deadline=None)
@given(
    sessions=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=30),
    rate_weeks=st.integers(1, 4),
    within_weeks=st.integers(1, 4),
    data=st.data(),
)
def test_charting_reproduces_both_windows_counts(
    sessions: list[int], rate_weeks: int, within_weeks: int, data: st.DataObject
) -> None:
    """Given any attendance, the charted records give the evaluator the same attended count
    in the rate window and missed count in the step-up window."""
    as_of = date(2027, 3, 7)
    past = sorted(as_of - timedelta(days=d) for d in sessions)
    truth = data.draw(st.lists(st.booleans(), min_size=len(past), max_size=len(past)))
    rate = [i for i, d in enumerate(past) if d > as_of - timedelta(weeks=rate_weeks)]
    within = [i for i, d in enumerate(past) if d > as_of - timedelta(weeks=within_weeks)]
    attended = sum(truth[i] for i in rate)
    missed = sum(not truth[i] for i in within)
    came = _chart(past, as_of, rate_weeks, within_weeks, attended, missed)
    assert sum(came[i] for i in rate) == attended
    assert sum(not came[i] for i in within) == missed


def _state(p: Program, n: int, seed: int) -> CriteriaState:
    cal = build_calendar(p, "main", START, weeks=16, by_phase=True)
    return CriteriaState(
        program=p,
        track="main",
        start=START,
        calendar=cal,
        visit_screens=np.full(len(cal.week), 0.4),
        progress=TrendProgress(),
        n=n,
        rng=np.random.default_rng(seed),
    )


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), weeks=st.integers(1, 12), every=st.sampled_from([0, 2, 3]))
def test_evidence_made_equal_gives_the_same_answers_as_the_raw_evidence(
    seed: int, weeks: int, every: int
) -> None:
    """Counts capped, scores classed and start weeks merged never change a recommendation:
    for random histories, the evaluator answers the same from the raw rows (start weeks are
    merged only within a phase's cycle of sessions held every few weeks)."""
    p = two_phases(
        "min_weeks = 3\nattendance_rate_at_least = 0.7\nnegative_screens_in_a_row = 2",
        up="positive_screens = 2\nmissed_sessions = 3\nwithin_weeks = 1",
        discharge="attendance_rate_at_least = 0.5",
        family_every=every,
    )
    rng = np.random.default_rng(seed)
    n = 40
    state = _state(p, n, seed)
    cal = build_calendar(p, "main", START, weeks=16, by_phase=True)
    bounds = cal.week_bounds()
    active = np.ones(n, bool)
    for w in range(weeks):
        for v in range(bounds[w], bounds[w + 1]):
            due = state.concerns(v)
            state.visit(v, w, due & (rng.random(n) < 0.7), due, int(cal.sessions[v]))
        state.phases[w % state.window] = state.phase
        state.sinces[w % state.window] = state.since
        raw = state.raw_evidence(w)
        made_equal = state.evidence(w)
        for i in range(n):
            a, b = (
                recommend(
                    p,
                    "main",
                    START,
                    w,
                    (int(rows[6, i]), int(rows[7, i]), tuple(rows[8:, i].tolist())),
                    tuple(int(x) for x in rows[:6, i]),
                )
                for rows in (raw, made_equal)
            )
            assert a == b, (w, i, raw[:, i], made_equal[:, i])
        state.end_of_week(w, active)


class Scripted:
    """Screens always negative; every participant's score a function of the weeks since
    admission (NaN: not taken)."""

    def __init__(self, score: Callable[[int], float]) -> None:
        self.by_week = score

    def prepare(self, n: int, rng: np.random.Generator) -> int:
        return n

    def screen(self, state: object, week: int, rng: np.random.Generator) -> npt.NDArray[Any]:
        assert isinstance(state, int)
        return np.ones(state, np.bool_)

    def score(self, state: object, week: int, rng: np.random.Generator) -> npt.NDArray[Any]:
        assert isinstance(state, int)
        return np.full(state, self.by_week(week))


def stays(program: Program, progress: Scripted) -> pd.Series:
    """Weeks retained of those discharged by the criteria (completed before the longest
    stay)."""
    df = people(program, progress=progress, exits=Exits(transferred=0, terminated=0, other=0))
    done = df[df["outcome"] == "completed"]
    return done["weeks_retained"]


def test_the_admission_assessment_is_evidence() -> None:
    """An every-N-weeks measure is due on the first day (measures_due), so a score at
    admission meets a criterion from the first reassessment on."""
    p = one_phase('min_weeks = 1\nassessments = [{ instrument = "PHQ-9", at_most = 5 }]')
    weeks = stays(p, Scripted(lambda week: 0.0 if week == 0 else 27.0))
    assert (weeks == 1).mean() > 0.95


def test_a_session_day_assessment_is_taken_every_week() -> None:
    """A measure without every_weeks is due on every session day: the simulation takes it
    weekly (its finest step), not every 4 weeks."""
    p = one_phase(
        'min_weeks = 1\nassessments = [{ instrument = "PHQ-9", at_most = 5 }]', every_weeks=""
    )
    weeks = stays(p, Scripted(lambda week: 27.0 if week < 3 else 0.0))
    assert (weeks == 3).mean() > 0.95


def test_a_score_not_taken_leaves_the_latest_one() -> None:
    p = one_phase('min_weeks = 3\nassessments = [{ instrument = "PHQ-9", at_most = 5 }]')
    weeks = stays(p, Scripted(lambda week: 0.0 if week == 0 else math.nan))
    assert (weeks == 3).mean() > 0.95


def test_only_the_instruments_the_criteria_read_are_drawn() -> None:
    """No criterion reads an assessment: the progress model is never asked for scores."""

    def never(week: int) -> float:
        raise AssertionError("score asked for")

    p = one_phase("min_weeks = 2\nattendance_rate_at_least = 0.5")
    assert len(stays(p, Scripted(never))) > 0


@pytest.mark.parametrize(
    ("screen", "score", "message"),
    [
        (lambda n: np.ones((n, 1), bool), None, r"screen\(\) must return .*\(shape \(50,\)\)"),
        (lambda n: np.ones(n - 1, bool), None, r"got an array of shape \(49,\)"),
        (lambda n: [True] * n, None, "got list"),
        (lambda n: True, None, "got bool"),
        (lambda n: np.full(n, 0.9), None, "dtype float64; compare probabilities"),
        (None, lambda n: np.full((n, 1), 3.0), r"score\(\) must return"),
        (None, lambda n: 3.0, "got float"),
        (None, lambda n: np.full(n, "3"), "must return numbers"),
        (None, lambda n: np.full(n, math.inf), "infinite"),
    ],
)
def test_a_progress_model_that_returns_the_wrong_thing_is_named(
    screen: Callable[[int], Any] | None, score: Callable[[int], Any] | None, message: str
) -> None:
    class Wrong(Scripted):
        def screen(self, state: object, week: int, rng: np.random.Generator) -> Any:
            assert isinstance(state, int)
            return screen(state) if screen else super().screen(state, week, rng)

        def score(self, state: object, week: int, rng: np.random.Generator) -> Any:
            assert isinstance(state, int)
            return score(state) if score else super().score(state, week, rng)

    criteria = "min_weeks = 2\nnegative_screens_in_a_row = 1\n"
    p = one_phase(criteria + 'assessments = [{ instrument = "PHQ-9", at_most = 5 }]')
    scenario = Scenario(
        program=p,
        participants=50,
        seed=1,
        progress=Wrong(lambda week: 1.0),
        options=Options(step_down_by="criteria"),
    )
    with pytest.raises(PluginError, match=f"progress model Wrong: .*{message}"):
        simulate(scenario)


@pytest.mark.parametrize("weekly", [-10.0, 10.0])
def test_trend_screens_at_the_extremes_of_their_ranges_do_not_overflow(weekly: float) -> None:
    """Log-odds far beyond what exp takes (a long stay at the largest weekly change) give
    screens that are certain, without an overflow warning (warnings are errors here)."""
    model = TrendProgress(screen_weekly=weekly, screen_sd=10.0)
    state = model.prepare(1000, np.random.default_rng(0))
    negative = model.screen(state, 100, np.random.default_rng(1))
    assert negative.mean() == (0.0 if weekly < 0 else 1.0)


def test_progress_defaults_are_documented_as_illustrative() -> None:
    assert "No published source" in (TrendProgress.__doc__ or "")
    assert TrendProgress().negative_screen == pytest.approx(0.75)


# -- scenario files: the progress table and the options it depends on --------------------------

ADULT_DAY = Path(__file__).resolve().parent.parent / "examples/programs/adult-day.toml"


@pytest.mark.parametrize(
    ("lines", "where", "message"),
    [
        (['progress = "nope"'], "s.toml:3: progress.name", "no progress model named 'nope'"),
        (["[progress]", 'name = "trnd"'], "s.toml:4: progress.name", 'did you mean "trend"'),
        (["[progress]", "negative_screen = 1.5"], "s.toml:4: progress.negative_screen", "1.5"),
        (["[progress]", "negative_screen = nan"], "s.toml:4: progress.negative_screen", "nan"),
        (["[progress]", "screen_sd = inf"], "s.toml:4: progress.screen_sd", "0 to 10, got inf"),
        (["[progress]", "score_max = 27.5"], "s.toml:4: progress.score_max", "an integer"),
        (["[progress]", "score_max = 1e400"], "s.toml:4: progress.score_max", "an integer"),
        (["[progress]", 'score_start = "12"'], "s.toml:4: progress.score_start", "a number"),
        (["[progress]", "negativ_screen = 0.5"], "s.toml:4: progress.negativ_screen", "did you"),
        (["progress = 3"], "s.toml:3: progress", "a progress model name or a table"),
        (["[options]", "screens_per_week = nan"], "s.toml:4: options.screens_per_week", "0 to 7"),
        (["[options]", "screens_per_week = inf"], "s.toml:4: options.screens_per_week", "0 to 7"),
    ],
)
def test_progress_and_screening_errors_name_the_key_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    lines: list[str],
    where: str,
    message: str,
) -> None:
    shutil.copy(ADULT_DAY, tmp_path / "adult-day.toml")
    options = [] if "[options]" in lines else ["[options]"]
    text = ['program = "adult-day.toml"', "participants = 20", *lines, *options]
    (tmp_path / "s.toml").write_text("\n".join([*text, 'step_down_by = "criteria"\n']))
    assert cli_main(["simulate", str(tmp_path / "s.toml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"iopcore: error: {where}: " in err
    assert message in err


# -- replay ------------------------------------------------------------------------------------


def _criteria_run() -> list[Scenario]:
    p = load_program(str(ADULT_DAY))
    return [
        Scenario(
            name=f"negative {q}",
            program=p,
            participants=300,
            progress=TrendProgress(negative_screen=q, score_weekly=-0.7, screen_weekly=0.1),
            options=Options(step_down_by="criteria"),
        )
        for q in (0.6, 0.9)
    ]


def test_a_criteria_run_with_its_own_progress_model_replays_bit_for_bit(tmp_path: Path) -> None:
    arms = _criteria_run()
    result = run(arms, replications=2, seed=4, backend="serial", progress=False)
    path = write_table(result.participants, tmp_path / "run.parquet", record=of(result))
    assert read_record(path)["scenarios"][0]["progress"]["fields"]["score_weekly"] == -0.7
    again = replay(path, backend="serial", progress=False)
    pd.testing.assert_frame_equal(again.participants, result.participants)
    pd.testing.assert_frame_equal(again.weekly, result.weekly)


def _set(*keys: str | int, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(item: dict[str, Any]) -> None:
        *path, last = keys
        for key in path:
            item = item[key]  # type: ignore[index]
        item[last] = value  # type: ignore[index]

    return change


@pytest.mark.parametrize(
    ("change", "where", "problem"),
    [
        (
            _set("progress", "fields", "negative_screen", value=5),
            "progress.fields.negative_screen",
            "between 0 and 1",
        ),
        (
            _set("progress", "fields", "negative_screen", value="x"),
            "progress.fields.negative_screen",
            "'x'",
        ),
        (
            _set("progress", "fields", "score_start", value=math.nan),
            "progress.fields.score_start",
            "nan",
        ),
        (_set("progress", "fields", "evil", value=1), "progress.fields.evil", "unknown key"),
        (_set("progress", value=[1]), "scenarios[1]", "list indices"),
        (_set("model", "fields", "dropout", "days", value=0), "model.fields.dropout", ">= 1"),
        (_set("options", "screens_per_week", value=-1), "options.screens_per_week", "0 to 7"),
        (_set("options", "step_down_by", value="magic"), "options.step_down_by", "magic"),
    ],
)
def test_a_damaged_record_is_refused_with_the_key_it_cannot_read(
    change: Callable[[dict[str, Any]], None], where: str, problem: str
) -> None:
    data = json.loads(json.dumps(record(_criteria_run(), seed=0, replications=1)))
    change(data["scenarios"][1])
    with pytest.raises(SimulationError, match=r"scenario 'negative 0\.9'") as caught:
        scenarios_from_record(data)
    assert where in str(caught.value)
    assert problem in str(caught.value)
    assert "damaged or altered" in str(caught.value)


# -- parameter uncertainty: the progress model's parameters are uncertain too ----------------


def test_a_criteria_run_draws_the_progress_models_parameters() -> None:
    """The least sourced parameters of step-down by criteria (screens and scores) are in
    the default PSA and sensitivity analysis of a criteria run, and can be named."""
    arms = _criteria_run()
    plan = [attrs.evolve(a, options=Options()) for a in arms]
    paths = [p.path for p in uncertain_parameters(arms)]
    assert "progress.negative_screen" in paths
    assert "progress.score_weekly" in paths
    assert not [p for p in uncertain_parameters(plan) if p.path.startswith("progress.")]
    assert parameter("progress.screen_sd").high == 2.0
    result = simulate_with_uncertainty(arms, draws=10, replications=1, backend="serial")
    drawn = result.participants.groupby("draw")["progress.screen_sd"].first()
    assert drawn.nunique() == 10  # drawn per set, not the arms' own value
    assert drawn.between(0.0, 2.0).all()


def test_sensitivity_can_vary_a_progress_parameter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(ADULT_DAY, tmp_path / "adult-day.toml")
    path = tmp_path / "s.toml"
    text = 'program = "adult-day.toml"\nparticipants = 60\noptions.step_down_by = "criteria"\n'
    path.write_text(text)
    argv = ["sensitivity", str(path), "--parameter", "progress.negative_screen"]
    assert cli_main([*argv, "--samples", "2", "--backend", "serial", "--no-progress"]) == 0
    assert "progress.negative_screen" in capsys.readouterr().out


def test_criteria_without_a_policy_is_refused_at_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A program with no step-down policy cannot move anyone by criteria: one line, exit 2,
    naming the scenario key that asked for it."""
    examples = Path(__file__).resolve().parents[1] / "examples/programs"
    path = tmp_path / "s.toml"
    program = examples / "adolescent-afterschool.toml"
    path.write_text(f'program = "{program}"\noptions = {{ step_down_by = "criteria" }}\n')
    assert cli_main(["simulate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "s.toml:2: options.step_down_by:" in err
    assert "no [[step_down]] policy" in err
