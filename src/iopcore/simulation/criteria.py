"""Step-down, step-up and discharge by the program's own criteria, decided by the clinic's
evaluator (``options.step_down_by = "criteria"``).

At the end of every simulated program week (the simulation's reassessment point), each
participant still enrolled is evaluated by :func:`iopcore.core.stepdown.evaluate_transition`,
the function the clinic calls: one implementation of the rules, none here. What the
simulation provides is the evidence, as real records built from each participant's simulated
history: their course so far (phases and since when, as level-of-care changes), attendance
charted on the sessions the clinic's :func:`~iopcore.core.course.course` gives that history,
screening results and assessment scores (from the scenario's progress model,
:mod:`iopcore.simulation.progress`).

The recommendation is followed as a clinic's decision would be, effective the next day (the
first day of the next program week): a step-down or step-up moves the participant to the
target phase, whose visits they are then scheduled for; a discharge to continuing care or
aftercare ends the IOP stay as completed (TEDS-D: treatment completed). So phases last as
long as each participant takes to meet the criteria, and stays differ between people.

Participants with the same evidence get the same recommendation, so the engine passes
vectorized evidence (one row per participant) and the evaluator runs once per distinct row
(:func:`recommend`): a handful of calls per week, not one per participant.

Not simulated: accountability findings (``no_open_high_findings`` reads none open), excused
absences, and transfers between tracks (no obligations change during a stay). A one-off
change that moves a session into another program week concerns those in its phase in the
week it is held; the clinic's course gives it to those in the phase on its original date,
which differs only for someone whose phase changed between the two weeks.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from attrs import frozen

from iopcore.core.accountability import ParticipantRecords
from iopcore.core.assessments import Assessment
from iopcore.core.attendance import AttendanceRecord, AttendanceStatus
from iopcore.core.course import course
from iopcore.core.decisions import Recommendation
from iopcore.core.enrollment import Enrollment, LevelOfCareChange, Participant, TransitionKind
from iopcore.core.errors import PluginError
from iopcore.core.program import Program
from iopcore.core.schedule import Occurrence, Status
from iopcore.core.screening import ScreeningOrder, ScreeningResult, SubstanceResult
from iopcore.core.stepdown import evaluate_transition
from iopcore.plugins.protocols import ProgressModelImpl

from .calendar import Calendar, cycle_weeks, visit_days

#: Evidence of one participant at a reassessment: (sessions attended in the step-down
#: policy's rate window, sessions missed in the step-up policy's window, negative screens in
#: a row at the end (capped), screens so far (capped), positive screens in the step-up
#: window (capped), the latest assessment score or :data:`NO_SCORE`). Values that cannot
#: change the evaluator's answer are made equal first (counts capped at the thresholds that
#: read them, a score replaced by the limit it is under), so that few rows are distinct.
Evidence = tuple[int, int, int, int, int, int]
#: A participant's course as the evaluator needs it: (the week their current phase began,
#: the week the phase of the evidence window's first week began, the phase index of each
#: week of the evidence window, oldest first). Start weeks matter beyond the window only
#: through ``min_weeks`` and, for a phase with sessions held every few weeks, modulo its
#: cycle (which weeks hold them).
Course = tuple[int, int, tuple[int, ...]]

_ID = "sim"
#: The evidence's score when no assessment has been taken yet.
NO_SCORE = -(2**62)


class Move(enum.IntEnum):
    """What the evaluator recommends, as the engine acts on it."""

    STAY = 0
    STEP_DOWN = 1
    STEP_UP = 2
    DISCHARGE = 3


_MOVES = {
    Recommendation.STEP_DOWN: Move.STEP_DOWN,
    Recommendation.STEP_UP: Move.STEP_UP,
    Recommendation.DISCHARGE_TO_AFTERCARE: Move.DISCHARGE,
}


@functools.lru_cache(maxsize=256)
def window_weeks(program: Program) -> int:
    """Weeks of history the criteria read: the longest step-down rate window or step-up
    window of the program's policies (at least 1)."""
    return max(
        [p.rate_weeks for p in program.step_down] + [p.within_weeks for p in program.step_up],
        default=1,
    )


def _history(
    program: Program, track: str, start: date, week: int, path: Course
) -> tuple[LevelOfCareChange, ...]:
    """Level-of-care changes that reproduce the course as the evaluator reads it: the
    current phase since the week it began, and the phase of the window's first week since
    the week it began, and every change inside the evidence window (what happened before
    the window is not evidence, so it is not reconstructed)."""
    since, opening, phases = path
    names = [p.name for p in program.track(track).phases]
    first = week - len(phases) + 1
    entries: dict[int, int] = {}  # week -> phase index
    if since <= first:
        if since > 0:
            if phases[-1] == 0:  # a step-up into the first phase came from a later one
                entries[since - 1] = 1
            entries[since] = phases[-1]
    else:
        if phases[0] != 0:  # the window opens in a later phase
            entries[opening] = phases[0]
        elif opening > 0:  # in the first phase, stepped up into from a later one
            entries[opening - 1] = 1
            entries[opening] = 0
        for k in range(1, len(phases)):
            if phases[k] != phases[k - 1] and first + k > 0:
                entries[first + k] = phases[k]
    out, previous = [], 0
    for seq, (at, phase) in enumerate(sorted(entries.items()), start=1):
        out.append(
            LevelOfCareChange(
                enrollment_id=_ID,
                seq=seq,
                kind=TransitionKind.STEP_DOWN if phase > previous else TransitionKind.STEP_UP,
                effective=start + timedelta(weeks=at),
                level_of_care=program.level_of_care,
                track=track,
                phase=names[phase],
            )
        )
        previous = phase
    return tuple(out)


def _chart(
    past: Sequence[date],
    as_of: date,
    rate_weeks: int,
    within_weeks: int,
    attended: int,
    missed: int,
) -> list[bool]:
    """Which past sessions (by date, in order) were attended: ``attended`` of those in the
    last ``rate_weeks`` weeks, and ``missed`` missed in the last ``within_weeks`` (at least
    that many when the rate window needs more there); the others were attended."""
    rate_from = as_of - timedelta(weeks=rate_weeks)
    within_from = as_of - timedelta(weeks=within_weeks)
    rate = [i for i, d in enumerate(past) if d > rate_from]
    within = [i for i, d in enumerate(past) if d > within_from]
    came = [True] * len(past)
    rate_missed = max(len(rate) - attended, 0)
    if within_weeks <= rate_weeks:  # the step-up window inside the rate window
        room = len(rate) - len(within)
        inner, rest = within, rate[: len(rate) - len(within)]
        inner_missed = min(max(missed, rate_missed - room), len(within), rate_missed)
        outer_missed = rate_missed - inner_missed
    else:
        inner, rest = rate, within[: len(within) - len(rate)]
        inner_missed, outer_missed = rate_missed, missed - rate_missed
    for i in inner[:inner_missed]:
        came[i] = False
    for i in rest[: max(outer_missed, 0)]:
        came[i] = False
    return came


@functools.lru_cache(maxsize=65_536)
def recommend(
    program: Program, track: str, start: date, week: int, path: Course, evidence: Evidence
) -> tuple[Move, int]:
    """What the clinic's evaluator recommends at the end of program week ``week`` (as of the
    next morning, when the next week begins) for a participant admitted on ``start`` with
    this course and evidence, and the index of the target phase (-1 when there is none)."""
    attended, missed, negatives, screens, positives, score = evidence
    frame = _frame(program, track, start, week, path)
    came = _chart(frame.days, frame.as_of, frame.rate_weeks, frame.within_weeks, attended, missed)
    attendance = tuple(
        present if ok else absent for (present, absent), ok in zip(frame.charts, came, strict=True)
    )
    orders, results = _screens(frame.as_of, window_weeks(program), screens, positives, negatives)
    assessments = tuple(
        Assessment(
            id=f"a-{instrument}",
            participant_id=_ID,
            kind="assessment",
            instrument=instrument,
            taken_on=frame.as_of,
            score=float(score),
        )
        for instrument in frame.instruments
        if score != NO_SCORE
    )
    records = ParticipantRecords(
        participant=Participant(id=_ID),
        enrollment=frame.enrollment,
        program=program,
        occurrences=frame.occurrences,
        attendance=attendance,
        orders=orders,
        results=results,
        assessments=assessments,
        history=frame.history,
        as_of=frame.as_of,
    )
    evaluation = evaluate_transition(records, frame.history, ())
    move = _MOVES.get(evaluation.recommendation, Move.STAY)
    if move in (Move.STEP_DOWN, Move.STEP_UP):
        assert evaluation.target is not None  # a move names where it goes
        return move, frame.names.index(evaluation.target)
    return move, -1


@frozen(kw_only=True)
class _Frame:
    """What a reassessment's records share whatever the evidence: the history, the sessions
    of the evidence window, each past session charted both ways, the windows' lengths."""

    as_of: date
    enrollment: Enrollment
    history: tuple[LevelOfCareChange, ...]
    occurrences: tuple[Occurrence, ...]
    #: Per past (not cancelled) session of the window, in order: its date, and its record
    #: as attended and as an unexcused absence.
    days: tuple[date, ...]
    charts: tuple[tuple[AttendanceRecord, AttendanceRecord], ...]
    rate_weeks: int
    within_weeks: int
    instruments: tuple[str, ...]
    names: tuple[str, ...]


@functools.lru_cache(maxsize=4096)
def _frame(program: Program, track: str, start: date, week: int, path: Course) -> _Frame:
    # the reassessment: the morning the next program week begins, before its sessions
    as_of = start + timedelta(weeks=week + 1)
    history = _history(program, track, start, week, path)
    enrollment = Enrollment(
        id=_ID, participant_id=_ID, program=program.name, track=track, start=start
    )
    occurrences = course(program, enrollment, history, as_of=as_of, project=False)
    names = tuple(p.name for p in program.track(track).phases)
    phase = names[path[2][-1]]
    down = next((p for p in program.step_down if p.from_phase == phase), None)
    up = next((p for p in program.step_up if p.from_phase == phase), None)
    # only the evidence window is charted (and read): earlier sessions are no evidence, and
    # the reassessment day's own sessions have not happened yet
    opens = as_of - timedelta(weeks=window_weeks(program))
    occurrences = tuple(o for o in occurrences if opens < o.start.date() < as_of)
    past = [o for o in occurrences if o.status is not Status.CANCELLED]
    return _Frame(
        as_of=as_of,
        enrollment=enrollment,
        history=history,
        occurrences=occurrences,
        days=tuple(o.start.date() for o in past),
        charts=tuple(
            (
                AttendanceRecord(
                    participant_id=_ID,
                    occurrence_id=o.id,
                    session_date=o.start.date(),
                    status=AttendanceStatus.ATTENDED,
                ),
                AttendanceRecord(
                    participant_id=_ID,
                    occurrence_id=o.id,
                    session_date=o.start.date(),
                    status=AttendanceStatus.UNEXCUSED,
                ),
            )
            for o in past
        ),
        rate_weeks=down.rate_weeks if down else 1,
        within_weeks=up.within_weeks if up else 1,
        instruments=tuple(limit.instrument for limit in (down.assessments if down else ())),
        names=names,
    )


@functools.lru_cache(maxsize=4096)
def _screens(
    as_of: date, window: int, screens: int, positives: int, negatives: int
) -> tuple[tuple[ScreeningOrder, ...], tuple[ScreeningResult, ...]]:
    """Screen results in order: earlier ones (positive, dated before every window), the
    positives of the step-up window, then the negatives in a row at the end."""
    total = max(screens, positives + negatives)
    earlier = total - positives - negatives
    orders, results = [], []
    for i in range(total):
        day = as_of - timedelta(weeks=window) if i < earlier else as_of
        order = ScreeningOrder(id=f"s{i:04d}", participant_id=_ID, ordered_for=day)
        negative = i >= total - negatives
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
    return tuple(orders), tuple(results)


def checked(model: ProgressModelImpl, method: str, value: object, n: int) -> npt.NDArray[Any]:
    """A progress model's ``screen`` (one bool per participant) or ``score`` (one number per
    participant, NaN for one not taken) as the engine reads it; a :class:`PluginError`
    naming the model, the method and what was wrong otherwise (never a NumPy error deep in
    the engine, nor an array broadcast to n x n)."""
    name = type(model).__name__
    want = "bool" if method == "screen" else "number (NaN: not taken)"
    if not isinstance(value, np.ndarray) or value.shape != (n,):
        got = (
            f"an array of shape {value.shape}"
            if isinstance(value, np.ndarray)
            else type(value).__name__
        )
        raise PluginError(
            f"progress model {name}: {method}() must return a NumPy array of one {want} per "
            f"participant (shape ({n},)), got {got}"
        )
    if method == "screen":
        if value.dtype != np.bool_:
            raise PluginError(
                f"progress model {name}: screen() must return bools (True: negative), got "
                f"dtype {value.dtype}; compare probabilities with rng.random(n) first"
            )
        return value
    if not (np.issubdtype(value.dtype, np.integer) or np.issubdtype(value.dtype, np.floating)):
        raise PluginError(
            f"progress model {name}: score() must return numbers, got dtype {value.dtype}"
        )
    scores = value.astype(np.float64)
    if np.isinf(scores).any():
        raise PluginError(
            f"progress model {name}: score() returned an infinite score; give finite scores "
            "(NaN for an assessment not taken)"
        )
    return scores


class CriteriaState:
    """Per-participant course and evidence for one cohort, updated by the engine in place.

    ``calendar``: the cohort's calendar by phase (:func:`~iopcore.simulation.calendar.
    build_calendar` with ``by_phase``); ``visit_screens[v]``: the probability that a
    participant who attends visit ``v`` is screened there (the phase's screens per week over
    its visits that week).
    """

    def __init__(
        self,
        *,
        program: Program,
        track: str,
        start: date,
        calendar: Calendar,
        visit_screens: npt.NDArray[np.float64],
        progress: ProgressModelImpl,
        n: int,
        rng: np.random.Generator,
    ) -> None:
        self.program, self.track, self.start = program, track, start
        self.visit_phase = calendar.phase.tolist()
        self.cycle, self.residue = calendar.cycle.tolist(), calendar.residue.tolist()
        self.visit_screens = visit_screens
        #: Visits on the first day of a program week: the evaluator's windows end on a
        #: reassessment morning, so they leave out the first day of their oldest week, and
        #: those visits are counted apart.
        self.first_day = (visit_days(calendar) % 7 == 0).tolist()
        self.progress = progress
        self.rng = rng
        names = [p.name for p in program.track(track).phases]
        down = {p.from_phase: p for p in program.step_down}
        up = {p.from_phase: p for p in program.step_up}
        self.window = window_weeks(program)
        #: Per phase: the step-down rate window and the step-up window, in weeks.
        self.rate_weeks = np.array([down[k].rate_weeks if k in down else 1 for k in names])
        self.within_weeks = np.array(
            [up[k].within_weeks if k in up else self.rate_weeks[i] for i, k in enumerate(names)]
        )
        # per phase: the thresholds that read each count (0: nothing reads it)
        self.needed = np.array(
            [(down[k].negative_screens_in_a_row or 0) if k in down else 0 for k in names]
        )
        self.positive_cap = np.array(
            [(up[k].positive_screens or 0) if k in up else 0 for k in names]
        )
        self.missed_cap = np.array([(up[k].missed_sessions or 0) if k in up else 0 for k in names])
        self.limits = np.array(
            sorted({limit.at_most for p in program.step_down for limit in p.assessments})
        )
        self.min_weeks = max((p.min_weeks for p in program.step_down), default=1)
        #: Per phase: the weeks after which its slots repeat (the sessions of a week depend on
        #: the week the phase began modulo this).
        self.phase_cycle = np.array([cycle_weeks(p) for p in program.track(track).phases])
        # the instruments the criteria read, on the program's schedule: every ``every_weeks``
        # from the first day (measures_due), a session-day measure weekly, the finest the
        # weekly reassessment tells apart; one score stands for every instrument
        read = {limit.instrument for p in program.step_down for limit in p.assessments}
        every = [m.every_weeks or 1 for m in program.measures if m.instrument in read]
        #: Weeks between the assessments the criteria read (0: none is read).
        self.every_weeks = min(every, default=0)
        self.n = n
        self.state = progress.prepare(n, rng)
        self.phase = np.zeros(n, np.int8)
        self.since = np.zeros(n, np.int16)
        self.step_downs = np.zeros(n, np.int16)
        self.step_ups = np.zeros(n, np.int16)
        self.score = np.full(n, np.nan)
        if self.every_weeks:
            self.assess(0, np.ones(n, np.bool_))  # at admission
        self.negatives = np.zeros(n, np.int64)
        self.screens = np.zeros(n, np.int64)
        #: Rings of the last ``window`` weeks: phase, sessions attended, scheduled, positives.
        self.phases = np.zeros((self.window, n), np.int8)
        #: ... and the week the phase of each of those weeks began.
        self.sinces = np.zeros((self.window, n), np.int16)
        self.attended = np.zeros((self.window, n), np.int64)
        self.scheduled = np.zeros((self.window, n), np.int64)
        self.positives = np.zeros((self.window, n), np.int64)
        #: The same counts for visits on the first day of each week.
        self.firsts = np.zeros((3, self.window, n), np.int64)

    def concerns(self, v: int) -> npt.NDArray[np.bool_]:
        """Who visit ``v`` concerns: those in its phase (who entered the phase in a week of
        the visit's residue, for a phase with slots held every few weeks)."""
        mine: npt.NDArray[np.bool_] = self.phase == self.visit_phase[v]
        if self.cycle[v] > 1:
            mine &= self.since % self.cycle[v] == self.residue[v]
        return mine

    def visit(
        self,
        v: int,
        week: int,
        came: npt.NDArray[np.bool_],
        due: npt.NDArray[np.bool_],
        sessions: int,
    ) -> None:
        """Record visit ``v``: who was due (enrolled and in its phase) and who came."""
        slot = week % self.window
        first = self.first_day[v]
        self.attended[slot] += sessions * came
        self.scheduled[slot] += sessions * due
        if first:
            self.firsts[0, slot] += sessions * came
            self.firsts[1, slot] += sessions * due
        rate = float(self.visit_screens[v])
        if rate <= 0:
            return
        screened = came & (self.rng.random(len(came)) < rate)
        negative = checked(
            self.progress, "screen", self.progress.screen(self.state, week, self.rng), self.n
        )
        self.negatives = np.where(
            screened, np.where(negative, self.negatives + 1, 0), self.negatives
        )
        self.positives[slot] += screened & ~negative
        if first:
            self.firsts[2, slot] += screened & ~negative
        self.screens += screened

    def _last(self, which: int, week: int, weeks: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Each participant's count (0: attended, 1: scheduled, 2: positive screens) over
        their last ``weeks[phase]`` weeks, but the first day of the oldest of them."""
        ring = (self.attended, self.scheduled, self.positives)[which]
        order = [(week - k) % self.window for k in range(self.window)]
        totals = np.cumsum(ring[order], axis=0)
        oldest = (weeks[self.phase] - 1)[None, :]
        picked = np.take_along_axis(totals, oldest, axis=0)[0]
        picked -= np.take_along_axis(self.firsts[which][order], oldest, axis=0)[0]
        return np.asarray(picked, dtype=np.int64)

    def raw_evidence(self, week: int) -> npt.NDArray[np.int64]:
        """One column per participant: the :data:`Evidence` (uncapped) and the
        :data:`Course`."""
        attended = self._last(0, week, self.rate_weeks)
        within = self.within_weeks
        missed = self._last(1, week, within) - self._last(0, week, within)
        order = [(week - k) % self.window for k in range(self.window - 1, -1, -1)]
        course = np.where(
            (week - np.arange(self.window - 1, -1, -1) >= 0)[:, None], self.phases[order], 0
        )
        first = week - self.window + 1
        opening = self.sinces[first % self.window] if first >= 0 else np.zeros_like(self.since)
        score = np.where(
            np.isnan(self.score), NO_SCORE, np.rint(np.clip(self.score, -(2.0**52), 2.0**52))
        )
        return np.vstack(
            [
                attended,
                missed,
                self.negatives,
                self.screens,
                self._last(2, week, within),
                score,
                self.since,
                opening,
                course,
            ]
        ).astype(np.int64)

    def evidence(self, week: int) -> npt.NDArray[np.int64]:
        """:meth:`raw_evidence` with values that cannot change the answer made equal."""
        rows = self.raw_evidence(week)
        needed = self.needed[self.phase]
        rows[1] = np.minimum(rows[1], self.missed_cap[self.phase])
        rows[2] = np.minimum(rows[2], needed)
        rows[3] = np.minimum(rows[3], needed)
        rows[4] = np.minimum(rows[4], self.positive_cap[self.phase])
        rows[5] = self._score_class()
        rows[6] = self._since(week)
        rows[7] = self._opening(week, rows[7], rows[8])
        return rows

    def _score_class(self) -> npt.NDArray[np.int64]:
        """Each score replaced by the whole-number floor of the lowest limit it is under (one
        above the highest limit if none): the same answer from every criterion ``score <=
        at_most``; :data:`NO_SCORE` when none was taken."""
        limits = self.limits
        if not len(limits):
            return np.where(np.isnan(self.score), NO_SCORE, 0).astype(np.int64)
        top = np.floor(limits[-1]) + 1
        under = np.searchsorted(limits, self.score, side="left")
        classes = np.where(
            under < len(limits), np.floor(limits[np.minimum(under, len(limits) - 1)]), top
        )
        return np.where(np.isnan(self.score), NO_SCORE, classes).astype(np.int64)

    def _since(self, week: int) -> npt.NDArray[np.int64]:
        """The week each current phase began, made equal for those whose phase began before
        the evidence window and long enough ago to meet every policy's ``min_weeks``: to the
        earliest such week of the same residue modulo the phase's cycle (the sessions held
        every few weeks count from it)."""
        since = self.since.astype(np.int64)
        first = week - self.window + 1
        cycle = self.phase_cycle[self.phase]
        # the first phase from admission (or a step-up into it), a later one from week 1 at
        # the earliest
        latest = max(1, min(first - 1, week - self.min_weeks))
        early = np.where(self.phase != 0, latest - (latest - since) % cycle, since % cycle)
        same = (since < first) & (week - since >= self.min_weeks)
        same &= (early < first) & (week - early >= self.min_weeks)
        same &= (early >= 1) | (self.phase == 0)
        return np.where(same, early, since)

    def _opening(
        self, week: int, opening: npt.NDArray[np.int64], phase: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """The week the phase of the window's first week began, made equal where it cannot
        change the answer: read only when the current phase began inside the window, and
        then only modulo that phase's cycle (to the latest such week, or the earliest for
        the first phase)."""
        first = week - self.window + 1
        cycle = self.phase_cycle[phase]
        equal = np.where(phase != 0, first - (first - opening) % cycle, opening % cycle)
        return np.where(self.since > first, equal, 0)

    def assess(self, weeks: int, who: npt.NDArray[np.bool_]) -> None:
        """Assessments ``weeks`` weeks after admission, for those in ``who``: a score the
        progress model gives as NaN was not taken (the latest earlier one still counts)."""
        drawn = checked(
            self.progress, "score", self.progress.score(self.state, weeks, self.rng), self.n
        )
        self.score = np.where(who & ~np.isnan(drawn), drawn, self.score)

    def end_of_week(self, week: int, active: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """Reassess everyone in ``active``: move the stepped down and up to their target
        phase from next week; return who is discharged to continuing care or aftercare."""
        if self.every_weeks and (week + 1) % self.every_weeks == 0:
            self.assess(week + 1, active)
        self.phases[week % self.window] = self.phase
        self.sinces[week % self.window] = self.since
        done = np.zeros(len(active), np.bool_)
        index = np.flatnonzero(active)
        if len(index):
            keys, inverse = np.unique(self.evidence(week)[:, index], axis=1, return_inverse=True)
            verdicts = np.array(
                [
                    recommend(
                        self.program,
                        self.track,
                        self.start,
                        week,
                        (key[6], key[7], tuple(key[8:])),
                        (key[0], key[1], key[2], key[3], key[4], key[5]),
                    )
                    for key in keys.T.tolist()
                ],
                dtype=np.int64,
            ).reshape(-1, 2)[inverse.reshape(-1)]
            move, target = verdicts[:, 0], verdicts[:, 1]
            done[index] = move == Move.DISCHARGE
            steps = (move == Move.STEP_DOWN) | (move == Move.STEP_UP)
            moving = index[steps]
            if len(moving):
                chosen = target[steps]
                self.step_downs[moving] += chosen > self.phase[moving]
                self.step_ups[moving] += chosen < self.phase[moving]
                self.phase[moving] = chosen
                self.since[moving] = week + 1
        for ring in (self.attended, self.scheduled, self.positives):
            ring[(week + 1) % self.window] = 0
        self.firsts[:, (week + 1) % self.window] = 0
        return done


__all__ = ["Course", "CriteriaState", "Evidence", "Move", "recommend", "window_weeks"]
