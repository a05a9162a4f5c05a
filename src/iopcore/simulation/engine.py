"""The engine: session-synchronous, vectorized over participants, chunked.

A scenario-replicate is split into chunks of ``scenario.chunk_size`` participants. A chunk
draws its people, groups them into cohorts by admission week, and walks each cohort's real
calendar of visits (:func:`~iopcore.simulation.calendar.build_calendar`: the program's
cadence, phases, closures and one-off changes) one visit at a time, for all of the cohort's
participants at once. Memory is bounded by the chunk, not by the population.

Random numbers come from one root :class:`numpy.random.SeedSequence` per experiment seed,
keyed by (scenario, replicate, purpose, chunk): a chunk's results depend only on its key and
the scenario, so any backend or number of workers gives bit-identical tables.

With step-down by criteria the calendar holds every phase's visits, each participant is in
their own phase, and a visit concerns only those in its phase; the clinic's evaluator moves
them between phases at the end of every week (:mod:`iopcore.simulation.criteria`).

Per visit, for every participant still enrolled: the model gives a probability of attending,
the engine draws attendance (and make-ups, when offered; nobody attends after the day they
disengaged), counts sessions and treatment minutes, and applies the dropout rule ("no
attended visit for ``days`` days" by default, see :class:`~iopcore.simulation.Dropout`). At
the end of each week that is not the program's last, the other exits (transferred,
terminated, other) happen with their weekly hazards. At the planned end, those who
disengaged (in the last week too) dropped out and the others completed; those the horizon
stopped first are still enrolled.
"""

from __future__ import annotations

import enum
from datetime import timedelta

import attrs
import numpy as np
import numpy.typing as npt
from attrs import frozen

from iopcore.core.fit import fit_tracks

from .calendar import Calendar, build_calendar, conflict_table, visit_days
from .criteria import CriteriaState
from .effects import AttendanceModelImpl, Design, DropoutRule, Effects, screens_per_week
from .options import Admission, Exits, StepDownBy
from .population import People, draw_people
from .scenario import Scenario

#: Outcome codes (index into OUTCOMES).
OUTCOMES = ("completed", "dropped_out", "transferred", "terminated", "other", "still_enrolled")
COMPLETED, DROPPED_OUT, TRANSFERRED, TERMINATED, OTHER, STILL_ENROLLED = range(6)
#: How a completer completed (index into COMPLETED_BY; -1 for those who did not): the
#: clinic's evaluator discharged them by the program's criteria, they reached the end of the
#: phase plan, or (phases by criteria) they reached the longest stay without meeting them.
COMPLETED_BY = ("criteria", "end of plan", "longest stay")
BY_CRITERIA, BY_PLAN, BY_LONGEST_STAY = range(3)

#: Rows of the weekly aggregate array.
WEEKLY = (
    "admitted",
    "enrolled",
    "sessions_scheduled",
    "sessions_attended",
    "minutes_attended",
    *OUTCOMES[:-1],
)
_ADMITTED, _ENROLLED, _SCHEDULED, _ATTENDED, _MINUTES = range(5)
_EXIT_ROW = 5  # + outcome code


class Purpose(enum.IntEnum):
    """What a random stream is for (the third element of its spawn key)."""

    POPULATION = 0
    ATTENDANCE = 1
    EXITS = 2
    PROGRESS = 3


def generator(
    seed: int, scenario: int, replicate: int, purpose: Purpose, chunk: int
) -> np.random.Generator:
    """The stream for (scenario, replicate, purpose, chunk) under the root seed ``seed``.

    Equivalent to spawning children of ``SeedSequence(seed)`` in that order, without
    spawning the ones before it.

    >>> a = generator(7, 0, 1, Purpose.ATTENDANCE, 0).random()
    >>> a == generator(7, 0, 1, Purpose.ATTENDANCE, 0).random() != generator(7, 0, 2,
    ...     Purpose.ATTENDANCE, 0).random()
    True
    """
    sequence = np.random.SeedSequence(seed, spawn_key=(scenario, replicate, int(purpose), chunk))
    return np.random.Generator(np.random.PCG64(sequence))


@frozen(kw_only=True)
class ChunkTask:
    """One unit of work: a chunk of one replicate of one scenario."""

    scenario: Scenario
    #: Position of the scenario in the sweep (for reassembly).
    index: int
    #: The scenario's key in the seed tree (0 for every scenario under common random numbers).
    stream: int
    replicate: int
    chunk: int
    seed: int

    @property
    def first(self) -> int:
        return self.chunk * self.scenario.chunk_size

    @property
    def size(self) -> int:
        return min(self.scenario.chunk_size, self.scenario.participants - self.first)


@frozen(kw_only=True, eq=False)
class ChunkResult:
    """Per-participant columns and per-calendar-week aggregates of one chunk."""

    index: int
    replicate: int
    chunk: int
    columns: dict[str, npt.NDArray[np.generic]]
    #: ``weekly[row, week]`` with rows named by :data:`WEEKLY`.
    weekly: npt.NDArray[np.int64]


def chunk_tasks(
    scenario: Scenario, *, index: int, stream: int, replications: int, seed: int
) -> list[ChunkTask]:
    """The tasks of every replicate of ``scenario``, in order."""
    chunks = -(-scenario.participants // scenario.chunk_size)
    return [
        ChunkTask(scenario=scenario, index=index, stream=stream, replicate=r, chunk=c, seed=seed)
        for r in range(replications)
        for c in range(chunks)
    ]


def simulate_chunk(task: ChunkTask) -> ChunkResult:
    """Simulate one chunk (a pure function of the task)."""
    sc = task.scenario
    key = (task.seed, task.stream, task.replicate)
    people = draw_people(
        sc.population,
        task.size,
        generator(*key, Purpose.POPULATION, task.chunk),
        admission_weeks=sc.options.intake_weeks,
    )
    attend = generator(*key, Purpose.ATTENDANCE, task.chunk)
    leave = generator(*key, Purpose.EXITS, task.chunk)
    n, horizon = people.n, sc.horizon
    columns: dict[str, npt.NDArray[np.generic]] = {
        "sessions_scheduled": np.zeros(n, np.int32),
        "sessions_attended": np.zeros(n, np.int32),
        "minutes_attended": np.zeros(n, np.int32),
        "weeks_retained": np.zeros(n, np.int16),
        "outcome": np.zeros(n, np.int8),
        "exit_week": np.zeros(n, np.int16),
        "phase": np.zeros(n, np.int8),
        "step_downs": np.zeros(n, np.int16),
        "step_ups": np.zeros(n, np.int16),
        "completed_by": np.full(n, -1, np.int8),
    }
    weekly = np.zeros((len(WEEKLY), horizon), np.int64)
    names, by_shift = track_choices(sc)
    track = by_shift[people.shift + 1]
    group_of = people.start_week.astype(np.int64) * len(names) + track
    groups = np.flatnonzero(np.bincount(group_of)).tolist()  # sorted, without a sort
    all_phases = phase_names(sc)
    by_criteria = sc.options.step_down_by is StepDownBy.CRITERIA
    for g in groups:
        s, t = divmod(g, len(names))
        whole = len(groups) == 1
        index = np.arange(n) if whole else np.flatnonzero(group_of == g)
        cohort = people if whole else people.take(index)
        phases = [p.name for p in sc.program.track(names[t]).phases]
        calendar = build_calendar(
            sc.program,
            names[t],
            sc.start + timedelta(weeks=s),
            weeks=horizon - s,
            phase_weeks={k: v for k, v in sc.options.phase_weeks.items() if k in phases},
            by_phase=by_criteria,
        )
        table = conflict_table(calendar.signatures, sc.population.shift_hours)
        design = Design(
            people=cohort,
            spec=sc.population,
            calendar=calendar,
            conflict=np.take(table.T, cohort.shift, axis=1),
            options=sc.options,
            joined_mid_cycle=sc.options.admission is Admission.ROLLING and s > 0,
            group_excess=float(sc.options.group_size - 10),
        )
        if by_criteria:
            rng = generator(*key, Purpose.PROGRESS, task.chunk)
            design = attrs.evolve(design, criteria=criteria_state(design, sc, names[t], rng))
        result = run_cohort(sc.model, design, sc.exits, attend, leave)
        # the track's phase index -> the scenario's phase code
        code = np.array([all_phases.index(p) for p in phases], np.int8)
        result.columns["phase"] = code[result.columns["phase"]]
        for name, values in result.columns.items():
            if whole:
                columns[name] = values
            else:
                columns[name][index] = values
        weekly[:, s : s + calendar.weeks] += result.weekly
        weekly[_ADMITTED, s] += cohort.n
    exit_week = np.asarray(columns["exit_week"], dtype=np.int16)
    columns["exit_week"] = np.where(exit_week >= 0, exit_week + people.start_week, -1).astype(
        np.int16
    )
    columns["participant"] = np.arange(task.first, task.first + n, dtype=np.int64)
    columns["track"] = track.astype(np.int8)
    for field in attrs.fields(People):
        if field.name != "n":
            columns[field.name] = getattr(people, field.name)
    return ChunkResult(
        index=task.index, replicate=task.replicate, chunk=task.chunk, columns=columns, weekly=weekly
    )


def criteria_state(
    design: Design, sc: Scenario, track: str, rng: np.random.Generator
) -> CriteriaState:
    """The course and evidence tracker of one cohort (phases by the program's criteria)."""
    cal = design.calendar
    # screens per week of each visit's phase, spread over that phase's visits of the week
    group = cal.week.astype(np.int64) * len(cal.phase_names) + cal.phase
    group = group * cal.weeks + cal.residue  # a phase entered in another week: other visits
    _, where, visits = np.unique(group, return_inverse=True, return_counts=True)
    per_visit = screens_per_week(design) / visits[where.reshape(-1)]
    return CriteriaState(
        program=sc.program,
        track=track,
        start=cal.start,
        calendar=cal,
        visit_screens=np.minimum(per_visit, 1.0),
        progress=sc.progress,
        n=design.people.n,
        rng=rng,
    )


def phase_names(sc: Scenario) -> tuple[str, ...]:
    """The phases of the scenario's tracks, in order (codes of the ``phase`` column)."""
    names: dict[str, None] = {}
    for track in track_choices(sc)[0]:
        names.update(dict.fromkeys(p.name for p in sc.program.track(track).phases))
    return tuple(names)


def track_choices(sc: Scenario) -> tuple[tuple[str, ...], npt.NDArray[np.int8]]:
    """The program's track names (the scenario's first) and, per shift (index 0: not
    employed, then ``population.shift_hours``), the index of the track taken.

    Without ``options.choose_track`` everyone takes the scenario's track. With it, each
    shift takes the first track that fits it by the clinic's admission-fit check
    (:func:`iopcore.core.fit.fit_tracks`, one implementation), else the scenario's track.
    """
    names = (sc.track_name, *(t.name for t in sc.program.tracks if t.name != sc.track_name))
    choice = np.zeros(len(sc.population.shift_hours) + 1, np.int8)
    if sc.options.choose_track:
        for i, shift in enumerate(sc.population.shift_hours, start=1):
            fits = {
                f.track: f.fits
                for f in fit_tracks(
                    sc.program, shift.obligations(), travel_minutes=sc.options.travel_minutes
                )
            }
            choice[i] = next((k for k, name in enumerate(names) if fits[name]), 0)
    return names, choice


@frozen(kw_only=True, eq=False)
class CohortResult:
    columns: dict[str, npt.NDArray[np.generic]]
    weekly: npt.NDArray[np.int64]


class _Cohort:
    """One cohort's walk through its calendar: what the hot loop keeps, updated in place.

    Per visit it keeps only what cannot be derived later: who is enrolled, who is still
    engaged, the day of the last attended visit (or the miss streak, for the old rule), and
    how many visits of each kind (sessions, minutes) each person attended. Sessions
    scheduled follow from the last visit a person was enrolled for (on the phase plan), or
    are counted visit by visit when people move between phases by criteria.
    """

    def __init__(
        self,
        model: AttendanceModelImpl,
        design: Design,
        exits: Exits,
        attend: np.random.Generator,
        leave: np.random.Generator,
    ) -> None:
        cal: Calendar = design.calendar
        n = design.people.n
        self.model, self.cal, self.attend, self.leave = model, cal, attend, leave
        # (sessions, minutes) of each kind of visit, in order, and each visit's kind
        pairs = list(zip(cal.sessions.tolist(), cal.minutes.tolist(), strict=True))
        kinds = sorted(set(pairs))
        position = {kind: i for i, kind in enumerate(kinds)}
        self.kinds = np.array(kinds, np.int32).reshape(-1, 2)
        self.kind_of = [position[pair] for pair in pairs]
        self.counts = np.zeros((len(kinds), n), np.int16)
        self.active = np.ones(n, np.bool_)
        self.streak = np.zeros(n)
        #: Day of the last attended visit (the admission day counts as a contact).
        self.last = np.zeros(n)
        self.outcome = np.full(n, STILL_ENROLLED, np.int8)
        self.left = np.full(n, -1, np.int16)
        self.last_visit = np.full(n, len(cal.week) - 1, np.int32)
        self.retained = np.full(n, cal.weeks, np.int16)
        self.completed_by = np.full(n, -1, np.int8)
        self.weekly = np.zeros((len(WEEKLY), cal.weeks), np.int64)
        self.p, self.u = np.empty(n), np.empty(n)
        self.came, self.gone = np.empty(n, np.bool_), np.empty(n, np.bool_)
        self.state = model.prepare(design, attend)
        self.criteria: CriteriaState | None = design.criteria
        #: Sessions each person was due at (counted only when phases differ between people).
        self.due = np.zeros(n, np.int32)
        self.rule = model.dropout
        self.by_days = self.rule.rule is DropoutRule.DAYS_WITHOUT_ATTENDANCE
        # each participant's day of disengaging; -inf once their stay has ended, so that one
        # comparison per visit says who may still attend
        self.disengaged = np.array(model.disengaged(self.state), dtype=np.float64)
        self.engaged = np.empty(n, np.bool_)
        self.when = np.empty(n)
        self.enrolled = n
        self.track_streak = not self.by_days or getattr(model, "miss_streak", 1.0) != 0.0
        effects = getattr(model, "effects", None)
        self.uptake = effects.makeup_uptake if isinstance(effects, Effects) else 0.0
        self.makeup = design.options.makeup_sessions and self.uptake > 0
        self.cumulative = np.cumsum([exits.transferred, exits.terminated, exits.other])
        self.bounds = cal.week_bounds().tolist()
        self.sessions = cal.sessions.tolist()
        self.visit_minutes = cal.minutes.tolist()
        self.days = visit_days(cal).tolist()

    def drop(self, mask: npt.NDArray[np.bool_], code: int, week: int, visit: int) -> None:
        """End the stays in ``mask`` after ``visit`` (the last one they were enrolled for)."""
        index = np.flatnonzero(mask)
        self.active[index] = False
        self.disengaged[index] = -np.inf
        self.enrolled -= len(index)
        self.outcome[index] = code
        self.left[index] = week
        self.last_visit[index] = visit
        if code == DROPPED_OUT:  # retained through the week of the last visit attended
            ever = self.counts[:, index].sum(axis=0) > 0
            if self.by_days or self.criteria is not None:
                attended_week = self.last[index] // 7
            else:
                attended_at = np.maximum(visit - self.streak[index].astype(np.int64), 0)
                attended_week = self.cal.week[attended_at].astype(np.float64)
            self.retained[index] = np.where(ever, attended_week + 1, 0)
        else:
            self.retained[index] = week + 1
        self.weekly[_EXIT_ROW + code, week] += len(index)
        self.last[index] = np.inf  # out of the days rule's reach

    def start_week(self, w: int) -> None:
        leaving = self.model.start_week(self.state, w, self.active, self.attend)
        if leaving is not None and leaving.any():
            self.drop(leaving & self.active, DROPPED_OUT, w, self.bounds[w] - 1)
        self.weekly[_ENROLLED, w] = self.enrolled

    def visit(self, w: int, v: int) -> None:
        d, s, came, gone, u = self.days[v], self.sessions[v], self.came, self.gone, self.u
        prob = self.model.probability(self.state, v, self.streak, self.p)
        self.attend.random(out=u)
        np.less(u, prob, out=came)
        if self.makeup:
            self.attend.random(out=u)
            came |= u < self.uptake
        # only the enrolled who have not disengaged attend (a comparison per visit costs
        # less than sorting the days of disengaging once; ended stays are at -inf)
        np.greater(self.disengaged, d, out=self.engaged)
        came &= self.engaged
        due_count = self.enrolled
        criteria = self.criteria
        if criteria is not None:  # only those in the visit's phase are due at it
            due = self.active & criteria.concerns(v)
            came &= due
            due_count = int(np.count_nonzero(due))
            self.due += s * due
            criteria.visit(v, w, came, due, s)
        self.counts[self.kind_of[v]] += came
        n_came = int(np.count_nonzero(came))
        self.weekly[_SCHEDULED, w] += due_count * s
        self.weekly[_ATTENDED, w] += n_came * s
        self.weekly[_MINUTES, w] += n_came * self.visit_minutes[v]
        if self.track_streak:
            self.streak += 1.0 if criteria is None else due
            np.logical_not(came, out=gone)
            self.streak *= gone
        if self.by_days or criteria is not None:  # the others' last day is infinite
            # last = d where came: days only grow and last is 0, a past day or inf, so the
            # maximum with d * came is exactly that, and cheaper than a masked copy
            np.multiply(came, d, out=self.when)
            np.maximum(self.last, self.when, out=self.last)
        if self.by_days:
            if d < self.rule.days:  # nobody can have gone that long yet (last >= 0)
                return
            np.less_equal(self.last, d - self.rule.days, out=gone)
        else:
            np.greater_equal(self.streak, self.rule.misses, out=gone)
            gone &= self.active
        if gone.any():
            self.drop(gone, DROPPED_OUT, w, v)

    def end_week(self, w: int) -> None:
        cal, gone, bounds = self.cal, self.gone, self.bounds
        if w >= cal.planned_weeks - 1:
            return
        end = bounds[w + 1] - 1
        if self.criteria is not None:
            np.logical_and(self.criteria.end_of_week(w, self.active), self.active, out=gone)
            gone &= self.disengaged > (self.days[end] if end >= 0 else 0.0)  # still engaged
            if gone.any():
                self.completed_by[gone] = BY_CRITERIA
                self.drop(gone, COMPLETED, w, end)
        if self.cumulative[-1] > 0:
            u = self.u
            self.leave.random(out=u)
            np.less(u, self.cumulative[-1], out=gone)
            gone &= self.active
            if gone.any():
                which = np.searchsorted(self.cumulative, u, side="right")
                for k, code in enumerate((TRANSFERRED, TERMINATED, OTHER)):
                    self.drop(gone & (which == k), code, w, end)

    def finish(self) -> CohortResult:
        """Discharge at the planned end, then the per-participant columns."""
        cal, gone = self.cal, self.gone
        if cal.weeks == cal.planned_weeks:
            end = len(cal.week) - 1
            # disengaged before the end (the last planned week included): a dropout
            if self.days:
                np.less_equal(self.disengaged, self.days[-1], out=gone)
                gone &= self.active
                if gone.any():
                    self.drop(gone, DROPPED_OUT, cal.weeks - 1, end)
            self.completed_by[self.active] = BY_PLAN if self.criteria is None else BY_LONGEST_STAY
            self.drop(self.active.copy(), COMPLETED, cal.weeks - 1, end)
        if self.criteria is not None:
            scheduled = self.due
            phase = self.criteria.phase
            steps = (self.criteria.step_downs, self.criteria.step_ups)
        else:  # on the plan: sessions and phase up to the last visit enrolled for
            scheduled = np.concatenate([[0], np.cumsum(cal.sessions)])[self.last_visit + 1]
            phase = np.zeros(len(self.active), np.int8)
            if len(cal.phase):
                phase = cal.phase[np.maximum(self.last_visit, 0)]
            steps = (phase.astype(np.int16), np.zeros(len(self.active), np.int16))
        return CohortResult(
            columns={
                "sessions_scheduled": scheduled.astype(np.int32),
                "sessions_attended": (self.kinds[:, 0] @ self.counts).astype(np.int32),
                "minutes_attended": (self.kinds[:, 1] @ self.counts).astype(np.int32),
                "weeks_retained": self.retained,
                "outcome": self.outcome,
                "exit_week": self.left,
                "phase": np.asarray(phase, np.int8),
                "step_downs": steps[0],
                "step_ups": steps[1],
                "completed_by": self.completed_by,
            },
            weekly=self.weekly,
        )


def run_cohort(
    model: AttendanceModelImpl,
    design: Design,
    exits: Exits,
    attend: np.random.Generator,
    leave: np.random.Generator,
) -> CohortResult:
    """Walk one cohort's calendar visit by visit, for all of its participants at once."""
    cohort = _Cohort(model, design, exits, attend, leave)
    bounds = cohort.bounds
    for w in range(design.calendar.weeks):
        cohort.start_week(w)
        for v in range(bounds[w], bounds[w + 1]):
            cohort.visit(w, v)
        cohort.end_week(w)
    return cohort.finish()


__all__ = [
    "COMPLETED_BY",
    "OUTCOMES",
    "WEEKLY",
    "ChunkResult",
    "ChunkTask",
    "Purpose",
    "chunk_tasks",
    "generator",
    "phase_names",
    "run_cohort",
    "simulate_chunk",
    "track_choices",
    "visit_days",
]
