"""An independent per-participant check of step-down by criteria (used by
``tests/test_simulation_criteria_crosscheck.py``).

A run is instrumented: each cohort's :class:`CriteriaState` records, per participant, who
was due at and attended every visit, who was screened there and with what result, the
assessment scores drawn, the phase every week, and what the engine decided at each
reassessment. Then, for every participant and every reassessment, full clinic records are
rebuilt from that trace alone (the whole level-of-care history, every session of their
course from the clinic's ``course`` with its attendance, every screen on its day, every
score) and handed to the clinic's ``evaluate_transition``. Its decision must be the
engine's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import pytest

from iopcore.core.accountability import ParticipantRecords
from iopcore.core.assessments import Assessment
from iopcore.core.attendance import AttendanceRecord, AttendanceStatus
from iopcore.core.course import course
from iopcore.core.decisions import Recommendation
from iopcore.core.enrollment import Enrollment, LevelOfCareChange, Participant, TransitionKind
from iopcore.core.program import Program
from iopcore.core.schedule import Status
from iopcore.core.screening import ScreeningOrder, ScreeningResult, SubstanceResult
from iopcore.core.stepdown import evaluate_transition
from iopcore.simulation import engine
from iopcore.simulation.calendar import Calendar
from iopcore.simulation.criteria import CriteriaState
from iopcore.simulation.engine import visit_days


class Recording(CriteriaState):
    """A :class:`CriteriaState` that keeps the whole trace of its cohort."""

    cal: Calendar

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.visits: list[tuple[int, int, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]] = []
        self.screened: dict[int, tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]] = {}
        #: (the week that ended when they were taken, -1: at admission; the scores)
        self.scores: list[tuple[int, npt.NDArray[np.float64]]] = []
        if not np.isnan(self.score).all():
            self.scores.append((-1, self.score.copy()))
        self.weeks: list[tuple[int, npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]] = []

    def visit(
        self,
        v: int,
        week: int,
        came: npt.NDArray[np.bool_],
        due: npt.NDArray[np.bool_],
        sessions: int,
    ) -> None:
        screens, negatives = self.screens.copy(), self.negatives.copy()
        super().visit(v, week, came, due, sessions)
        self.visits.append((v, week, came.copy(), due.copy()))
        screened = self.screens > screens
        negative = screened & (self.negatives == negatives + 1)
        self.screened[v] = (screened, negative)

    def end_of_week(self, week: int, active: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        before = self.phase.copy()
        score = self.score.copy()
        done = super().end_of_week(week, active)
        if not np.array_equal(score, self.score, equal_nan=True):
            self.scores.append((week, np.where(active, self.score, np.nan)))
        self.weeks.append((week, active.copy(), before, np.stack([self.phase.copy(), done])))
        return done


@contextmanager
def recording(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Recording]]:
    """Every cohort's :class:`Recording` of the runs inside the block."""
    states: list[Recording] = []
    make = engine.criteria_state

    def criteria_state(design: Any, sc: Any, track: str, rng: Any) -> CriteriaState:
        with monkeypatch.context() as m:
            m.setattr(engine, "CriteriaState", Recording)
            state = make(design, sc, track, rng)
        assert isinstance(state, Recording)
        state.cal = design.calendar
        states.append(state)
        return state

    monkeypatch.setattr(engine, "criteria_state", criteria_state)
    yield states


@attrs.frozen
class Mismatch:
    participant: int
    week: int
    engine: tuple[str, int]
    clinic: tuple[str, int]
    explain: str


def _instruments(program: Program) -> list[str]:
    return sorted({a.instrument for p in program.step_down for a in p.assessments})


def check(state: Recording, *, limit: int | None = None) -> list[Mismatch]:
    """The reassessments where the clinic's evaluator, fed the participant's full records,
    decides otherwise than the engine did (empty: none)."""
    program, track, start, cal = state.program, state.track, state.start, state.cal
    names = [p.name for p in program.track(track).phases]
    days = visit_days(cal).astype(int)
    n = len(state.phase)
    out: list[Mismatch] = []
    people = range(n) if limit is None else range(min(n, limit))
    for i in people:
        changes: list[LevelOfCareChange] = []
        enrollment = Enrollment(
            id="E", participant_id="P", program=program.name, track=track, start=start
        )
        for week, active, before, after in state.weeks:
            if not active[i]:
                continue
            as_of = start + timedelta(weeks=week + 1)
            history = tuple(changes)
            occurrences = course(program, enrollment, history, as_of=as_of, project=False)
            # attendance: every session before the reassessment day, from the trace
            by_day: dict[tuple[date, int], tuple[bool, int]] = {}
            orders: list[ScreeningOrder] = []
            results: list[ScreeningResult] = []
            for v, w, came, due in state.visits:
                if w > week:
                    break
                if not due[i]:
                    continue
                day = start + timedelta(days=int(days[v]))
                by_day[(day, int(cal.phase[v]))] = (bool(came[i]), int(cal.sessions[v]))
                screened, negative = state.screened[v]
                if screened[i]:
                    order = ScreeningOrder(
                        id=f"s{len(orders):05d}", participant_id="P", ordered_for=day
                    )
                    orders.append(order)
                    results.append(
                        ScreeningResult(
                            order_id=order.id,
                            participant_id="P",
                            results=(
                                SubstanceResult(
                                    substance="any",
                                    result="negative" if negative[i] else "positive",
                                ),
                            ),
                        )
                    )
            attendance = []
            charted: dict[tuple[date, int], int] = {}
            for o in occurrences:
                if o.status is Status.CANCELLED or o.start.date() >= as_of:
                    continue
                key = (o.start.date(), names.index(o.phase))
                if key not in by_day:
                    raise AssertionError(
                        f"participant {i}: the clinic's course has a {o.phase} session on "
                        f"{o.start.date()} the simulation never scheduled"
                    )
                charted[key] = charted.get(key, 0) + 1
                attendance.append(
                    AttendanceRecord(
                        participant_id="P",
                        occurrence_id=o.id,
                        session_date=o.start.date(),
                        status=AttendanceStatus.ATTENDED
                        if by_day[key][0]
                        else AttendanceStatus.UNEXCUSED,
                    )
                )
            sessions = {key: count for key, (_, count) in by_day.items()}
            if sessions != charted:
                differ = sorted(
                    k for k in sessions.keys() | charted.keys() if sessions.get(k) != charted.get(k)
                )
                raise AssertionError(
                    f"participant {i} week {week}: sessions (simulation, clinic) differ on "
                    + ", ".join(f"{k}: {sessions.get(k)}, {charted.get(k)}" for k in differ[:3])
                )
            assessments = [
                Assessment(
                    id=f"a{k}-{instrument}",
                    participant_id="P",
                    kind="assessment",
                    instrument=instrument,
                    taken_on=start + timedelta(weeks=k + 1),
                    score=float(scores[i]),
                )
                for k, scores in state.scores
                if k <= week and not np.isnan(scores[i])
                for instrument in _instruments(program)
            ]
            records = ParticipantRecords(
                participant=Participant(id="P"),
                enrollment=enrollment,
                program=program,
                occurrences=occurrences,
                attendance=tuple(attendance),
                orders=tuple(orders),
                results=tuple(results),
                assessments=tuple(assessments),
                history=history,
                as_of=as_of,
            )
            evaluation = evaluate_transition(records, history, ())
            rec, target = evaluation.recommendation, evaluation.target
            moved = rec in (Recommendation.STEP_DOWN, Recommendation.STEP_UP)
            clinic = (rec.value, names.index(target) if moved and target is not None else -1)
            new, done = int(after[0, i]), bool(after[1, i])
            old = int(before[i])
            if done:
                mine = (Recommendation.DISCHARGE_TO_AFTERCARE.value, -1)
            elif new > old:
                mine = (Recommendation.STEP_DOWN.value, new)
            elif new < old:
                mine = (Recommendation.STEP_UP.value, new)
            else:
                mine = (Recommendation.STAY.value, -1)
            if mine != clinic:
                out.append(Mismatch(i, week, mine, clinic, evaluation.explain()))
            if new != old:
                changes.append(
                    LevelOfCareChange(
                        enrollment_id="E",
                        seq=len(changes) + 1,
                        kind=TransitionKind.STEP_DOWN if new > old else TransitionKind.STEP_UP,
                        effective=as_of,
                        level_of_care=program.level_of_care,
                        track=track,
                        phase=names[new],
                    )
                )
            if done:
                break
    return out


def moves(states: list[Recording]) -> dict[str, int]:
    """How many step-downs, step-ups and discharges the traced runs made."""
    out = {"down": 0, "up": 0, "done": 0}
    for state in states:
        for _, active, before, after in state.weeks:
            out["down"] += int(((after[0] > before) & active).sum())
            out["up"] += int(((after[0] < before) & active).sum())
            out["done"] += int(after[1].sum())
    return out
