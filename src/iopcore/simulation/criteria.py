"""Step-down by the program's own criteria, decided by the clinic's evaluator.

At the end of every simulated week (the reassessment point), each participant still
enrolled is evaluated by :func:`iopcore.core.stepdown.evaluate_transition`, the function
the clinic calls: one implementation of the rules, none here. What the simulation provides
is the evidence, as real records (attendance of the last ``rate_weeks`` weeks, screening
results, assessment scores) built from each participant's simulated history.

Participants with the same evidence get the same recommendation, so the engine passes
vectorized evidence (one row per participant) and the evaluator runs once per distinct row
(:func:`recommend`): a handful of calls per week, not one per participant.

A recommendation to discharge to continuing care or aftercare ends the IOP stay as
completed (TEDS-D: treatment completed) in that week; so completers' stays vary with their
own progress. Recommendations to step down or up between phases of a track are not
simulated yet (the phase plan decides those; see docs/validity.md), and findings
(``no_open_high_findings``) are taken as none open.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
from attrs import frozen

from iopcore.core.accountability import ParticipantRecords
from iopcore.core.assessments import Assessment
from iopcore.core.attendance import AttendanceRecord, AttendanceStatus
from iopcore.core.decisions import Recommendation
from iopcore.core.enrollment import Enrollment, LevelOfCareChange, Participant, TransitionKind
from iopcore.core.program import Program
from iopcore.core.schedule import Occurrence, expand
from iopcore.core.screening import ScreeningOrder, ScreeningResult, SubstanceResult
from iopcore.core.stepdown import evaluate_transition

#: Evidence of one participant: (attended sessions in the window, negative screens in a row
#: at the end (capped), screens so far (capped), latest score or -1 for none).
Evidence = tuple[int, int, int, int]

_ID = "sim"


@functools.lru_cache(maxsize=256)
def _occurrences(
    program: Program, track: str, start: date, weeks: int, phase_weeks: tuple[tuple[str, int], ...]
) -> tuple[Occurrence, ...]:
    return expand(program, track, start=start, weeks=weeks, phase_weeks=dict(phase_weeks))


@functools.lru_cache(maxsize=65_536)
def recommend(
    program: Program,
    track: str,
    start: date,
    weeks: int,
    phase_weeks: tuple[tuple[str, int], ...],
    week: int,
    phase: str,
    phase_since: date,
    evidence: Evidence,
) -> bool:
    """Whether the clinic's evaluator discharges to continuing care or aftercare at the end
    of program week ``week``, given the evidence."""
    attended, negatives, screens, score = evidence
    as_of = start + timedelta(days=7 * week + 6)
    occurrences = _occurrences(program, track, start, weeks, phase_weeks)
    policy = next((p for p in program.step_down if p.from_phase == phase), None)
    window = as_of - timedelta(weeks=policy.rate_weeks if policy else 2)
    recent = [o for o in occurrences if window < o.start.date() <= as_of]
    earlier = [o for o in occurrences if o.start.date() <= window]
    # Every past session is charted, as a clinic's would be: the criteria read only the rate
    # window, and the evaluator treats uncharted sessions as unknown (missing data is not
    # good news), so sessions before the window are charted as attended.
    attendance = tuple(
        AttendanceRecord(
            participant_id=_ID,
            occurrence_id=o.id,
            session_date=o.start.date(),
            status=AttendanceStatus.ATTENDED,
        )
        for o in earlier
    ) + tuple(
        AttendanceRecord(
            participant_id=_ID,
            occurrence_id=o.id,
            session_date=o.start.date(),
            status=AttendanceStatus.ATTENDED if i < attended else AttendanceStatus.UNEXCUSED,
        )
        for i, o in enumerate(recent)
    )
    orders, results = [], []
    for i in range(screens):
        day = as_of - timedelta(days=screens - i)
        order = ScreeningOrder(id=f"s{i:03d}", participant_id=_ID, ordered_for=day)
        negative = i >= screens - negatives
        orders.append(order)
        results.append(
            ScreeningResult(
                order_id=order.id,
                participant_id=_ID,
                results=(
                    SubstanceResult(substance="any", result="negative" if negative else "positive"),
                ),
            )
        )
    assessments = tuple(
        Assessment(
            id=f"a-{limit.instrument}",
            participant_id=_ID,
            kind="assessment",
            instrument=limit.instrument,
            taken_on=as_of,
            score=float(score),
        )
        for limit in (policy.assessments if policy else ())
        if score >= 0
    )
    history: tuple[LevelOfCareChange, ...] = ()
    if phase != program.track(track).phases[0].name:
        history = (
            LevelOfCareChange(
                enrollment_id=_ID,
                seq=0,
                kind=TransitionKind.STEP_DOWN,
                effective=phase_since,
                level_of_care=program.level_of_care,
                track=track,
                phase=phase,
            ),
        )
    records = ParticipantRecords(
        participant=Participant(id=_ID),
        enrollment=Enrollment(
            id=_ID, participant_id=_ID, program=program.name, track=track, start=start
        ),
        program=program,
        occurrences=occurrences,
        attendance=attendance,
        orders=tuple(orders),
        results=tuple(results),
        assessments=assessments,
        history=history,
        as_of=as_of,
    )
    evaluation = evaluate_transition(records, history, ())
    return evaluation.recommendation is Recommendation.DISCHARGE_TO_AFTERCARE


@frozen(kw_only=True)
class Progress:
    """Simulated screen results and assessment scores: the evidence step-down criteria read.

    **No published source gives these for IOP participants**; the defaults are illustrative
    and every one is a parameter for sensitivity analysis:

    * ``negative_screen`` (0.75, range [0.5, 0.95]): probability that a screen is negative
      for an average participant; ``screen_sd`` (1.0, range [0, 2]): SD between participants
      on the log-odds;
    * assessment scores on a 0-``score_max`` scale (default the PHQ-9's 0-27): at admission
      ``score_start`` (12, the PHQ-9's "moderate" band) with SD ``score_sd`` (5) between
      participants, changing by ``score_weekly`` (-0.4, range [-1, 0]) per week, with
      ``score_noise`` (2) of noise per assessment, rounded to whole points.

    Screens are taken on attended visits at the program's screening policy rate; scores at
    the program's assessment schedule (``every_weeks`` of its assessment measures, default 4).
    """

    negative_screen: float = 0.75
    screen_sd: float = 1.0
    score_start: float = 12.0
    score_sd: float = 5.0
    score_weekly: float = -0.4
    score_noise: float = 2.0
    score_max: int = 27


class CriteriaState:
    """Per-participant evidence for one cohort, updated by the engine in place."""

    def __init__(
        self,
        *,
        program: Program,
        track: str,
        start: date,
        weeks: int,
        phase_weeks: dict[str, int],
        phase_of_week: list[str],
        screens_per_visit: npt.NDArray[np.float64],
        progress: Progress,
        n: int,
        rng: np.random.Generator,
    ) -> None:
        self.program, self.track, self.start, self.weeks = program, track, start, weeks
        self.phase_weeks = tuple(sorted(phase_weeks.items()))
        self.phase_of_week = phase_of_week
        self.screens_per_visit = screens_per_visit
        self.progress = progress
        policies = {p.from_phase: p for p in program.step_down}
        self.policies = policies
        self.rate_weeks = max((p.rate_weeks for p in policies.values()), default=2)
        self.needed = max((p.negative_screens_in_a_row or 0 for p in policies.values()), default=0)
        every = [m.every_weeks or 4 for m in program.measures if m.kind.value == "assessment"]
        self.every_weeks = min(every, default=4)
        logit = np.log(progress.negative_screen / (1 - progress.negative_screen))
        self.p_negative = 1 / (1 + np.exp(-(logit + progress.screen_sd * rng.standard_normal(n))))
        self.score_start = progress.score_start + progress.score_sd * rng.standard_normal(n)
        self.score = np.full(n, -1, np.int64)
        self.negatives = np.zeros(n, np.int64)
        self.screens = np.zeros(n, np.int64)
        self.window = np.zeros((self.rate_weeks, n), np.int64)
        self.rng = rng

    def visit(self, v: int, week: int, came: npt.NDArray[np.bool_], sessions: int) -> None:
        self.window[week % self.rate_weeks] += sessions * came
        rate = float(self.screens_per_visit[v])
        if rate <= 0:
            return
        screened = came & (self.rng.random(len(came)) < rate)
        negative = self.rng.random(len(came)) < self.p_negative
        self.negatives = np.where(
            screened, np.where(negative, self.negatives + 1, 0), self.negatives
        )
        self.screens += screened

    def end_of_week(self, week: int, active: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """Who the clinic's evaluator discharges to continuing care or aftercare now."""
        p = self.progress
        if (week + 1) % self.every_weeks == 0:
            noise = p.score_noise * self.rng.standard_normal(len(active))
            drawn = np.rint(self.score_start + p.score_weekly * (week + 1) + noise)
            self.score = np.where(active, np.clip(drawn, 0, p.score_max), self.score).astype(
                np.int64
            )
        phase = self.phase_of_week[week]
        done = np.zeros(len(active), np.bool_)
        if phase in self.policies and active.any():
            since_week = self.phase_of_week.index(phase)
            since = self.start + timedelta(weeks=since_week)
            cap = max(self.needed, 1)
            attended = self.window.sum(axis=0)
            rows = np.stack(
                [
                    attended,
                    np.minimum(self.negatives, cap),
                    np.minimum(self.screens, cap),
                    self.score,
                ]
            )
            index = np.flatnonzero(active)
            keys, inverse = np.unique(rows[:, index], axis=1, return_inverse=True)
            verdict = np.array(
                [
                    recommend(
                        self.program,
                        self.track,
                        self.start,
                        self.weeks,
                        self.phase_weeks,
                        week,
                        phase,
                        since,
                        (int(a), int(b), int(c), int(d)),
                    )
                    for a, b, c, d in keys.T.tolist()
                ],
                dtype=np.bool_,
            )
            done[index] = verdict[inverse.reshape(-1)]
        self.window[(week + 1) % self.rate_weeks] = 0
        return done


__all__ = ["CriteriaState", "Evidence", "Progress", "recommend"]
