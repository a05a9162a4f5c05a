"""The engine: session-synchronous, vectorized over participants, chunked.

A scenario-replicate is split into chunks of ``scenario.chunk_size`` participants. A chunk
draws its people, groups them into cohorts by admission week, and walks each cohort's real
calendar of visits (:func:`~iopcore.simulation.calendar.build_calendar`: the program's
cadence, phases, closures and one-off changes) one visit at a time, for all of the cohort's
participants at once. Memory is bounded by the chunk, not by the population.

Random numbers come from one root :class:`numpy.random.SeedSequence` per experiment seed,
keyed by (scenario, replicate, purpose, chunk): a chunk's results depend only on its key and
the scenario, so any backend or number of workers gives bit-identical tables.

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

from .calendar import Calendar, build_calendar, conflict_table
from .criteria import CriteriaState, Progress
from .effects import AttendanceModelImpl, Design, DropoutRule, Effects
from .options import Admission, Exits, StepDownBy
from .population import People, draw_people
from .scenario import Scenario

#: Outcome codes (index into OUTCOMES).
OUTCOMES = ("completed", "dropped_out", "transferred", "terminated", "other", "still_enrolled")
COMPLETED, DROPPED_OUT, TRANSFERRED, TERMINATED, OTHER, STILL_ENROLLED = range(6)

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
    }
    weekly = np.zeros((len(WEEKLY), horizon), np.int64)
    names, by_shift = track_choices(sc)
    track = by_shift[people.shift + 1]
    group_of = people.start_week.astype(np.int64) * len(names) + track
    groups = np.unique(group_of).tolist()
    for g in groups:
        s, t = divmod(g, len(names))
        whole = len(groups) == 1
        index = np.arange(n) if whole else np.flatnonzero(group_of == g)
        cohort = people if whole else people.take(index)
        phases = {p.name for p in sc.program.track(names[t]).phases}
        calendar = build_calendar(
            sc.program,
            names[t],
            sc.start + timedelta(weeks=s),
            weeks=horizon - s,
            phase_weeks={k: v for k, v in sc.options.phase_weeks.items() if k in phases},
        )
        table = conflict_table(calendar.signatures, sc.population.shift_hours)
        design = Design(
            people=cohort,
            spec=sc.population,
            calendar=calendar,
            conflict=np.ascontiguousarray(table[cohort.shift].T),
            options=sc.options,
            joined_mid_cycle=sc.options.admission is Admission.ROLLING and s > 0,
            group_excess=float(sc.options.group_size - 10),
        )
        if sc.options.step_down_by is StepDownBy.CRITERIA:
            design = attrs.evolve(
                design,
                criteria=criteria_state(
                    sc, names[t], calendar, cohort.n, generator(*key, Purpose.PROGRESS, task.chunk)
                ),
            )
        result = run_cohort(sc.model, design, sc.exits, attend, leave)
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
    sc: Scenario, track: str, cal: Calendar, n: int, rng: np.random.Generator
) -> CriteriaState:
    """The evidence tracker for one cohort (step-down by the program's criteria)."""
    bounds = cal.week_bounds()
    visits = np.diff(bounds)
    per_visit = cal.screens_per_week[cal.week] / np.maximum(visits[cal.week], 1)
    phase_of_week = []
    for w in range(cal.weeks):
        v = min(int(bounds[w]), len(cal.phase) - 1)
        phase_of_week.append(cal.phase_names[int(cal.phase[v])] if len(cal.phase) else "")
    progress = getattr(sc.model, "progress", None)
    return CriteriaState(
        program=sc.program,
        track=track,
        start=cal.start,
        weeks=cal.weeks,
        phase_weeks={
            k: v
            for k, v in sc.options.phase_weeks.items()
            if k in {p.name for p in sc.program.track(track).phases}
        },
        phase_of_week=phase_of_week,
        screens_per_visit=np.minimum(per_visit, 1.0),
        progress=progress if isinstance(progress, Progress) else Progress(),
        n=n,
        rng=rng,
    )


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


def visit_days(cal: Calendar) -> npt.NDArray[np.float64]:
    """Each visit's day counted from the admission day (day 0)."""
    offset = np.array([sig[0] for sig in cal.signatures], np.int64)[cal.signature]
    return np.asarray(7 * cal.week + (offset - cal.start.weekday()) % 7, dtype=np.float64)


def run_cohort(
    model: AttendanceModelImpl,
    design: Design,
    exits: Exits,
    attend: np.random.Generator,
    leave: np.random.Generator,
) -> CohortResult:
    """Walk one cohort's calendar visit by visit (the hot loop; arrays updated in place).

    The loop keeps per visit only what cannot be derived later: who is enrolled, who is
    still engaged, the day of the last attended visit (or the miss streak, for the old
    rule), and how many visits of each kind (sessions, minutes) each person attended.
    Sessions scheduled follow from the last visit a person was enrolled for.
    """
    cal: Calendar = design.calendar
    n = design.people.n
    kinds, inverse = np.unique(
        np.stack([cal.sessions, cal.minutes], axis=1), axis=0, return_inverse=True
    )
    kind_of = inverse.reshape(-1).tolist()
    counts = np.zeros((len(kinds), n), np.int16)
    active = np.ones(n, np.bool_)
    streak = np.zeros(n)
    #: Day of the last attended visit (the admission day counts as a contact).
    last = np.zeros(n)
    outcome = np.full(n, STILL_ENROLLED, np.int8)
    left = np.full(n, -1, np.int16)
    last_visit = np.full(n, len(cal.week) - 1, np.int32)
    retained = np.full(n, cal.weeks, np.int16)
    weekly = np.zeros((len(WEEKLY), cal.weeks), np.int64)
    p = np.empty(n)
    u = np.empty(n)
    came = np.empty(n, np.bool_)
    gone = np.empty(n, np.bool_)
    state = model.prepare(design, attend)
    criteria = design.criteria
    rule = model.dropout
    by_days = rule.rule is DropoutRule.DAYS_WITHOUT_ATTENDANCE
    disengaged = model.disengaged(state)
    # who may attend: enrolled and not yet disengaged (updated as people leave, so that no
    # full pass per visit is needed for it); disengagement days in order
    can = np.ones(n, np.bool_)
    by_day = np.argsort(disengaged, kind="stable")
    leaving_days = disengaged[by_day]
    gone_so_far = 0
    enrolled = [n]
    track_streak = not by_days or getattr(model, "miss_streak", 1.0) != 0.0
    effects = getattr(model, "effects", None)
    uptake = effects.makeup_uptake if isinstance(effects, Effects) else 0.0
    makeup = design.options.makeup_sessions and uptake > 0
    cumulative = np.cumsum([exits.transferred, exits.terminated, exits.other])
    bounds = cal.week_bounds().tolist()
    sessions = cal.sessions.tolist()
    visit_minutes = cal.minutes.tolist()
    day_of = visit_days(cal)
    days = day_of.tolist()
    week_of = cal.week

    def engaged_through(day: float) -> npt.NDArray[np.bool_]:
        """Who has not disengaged by ``day`` (the disengaged cannot complete)."""
        return np.asarray(disengaged > day)

    def drop(mask: npt.NDArray[np.bool_], code: int, week: int, visit: int) -> None:
        """End the stays in ``mask`` after ``visit`` (the last one they were enrolled for)."""
        index = np.flatnonzero(mask)
        active[index] = False
        can[index] = False
        enrolled[0] -= len(index)
        outcome[index] = code
        left[index] = week
        last_visit[index] = visit
        if code == DROPPED_OUT:  # retained through the week of the last visit attended
            ever = counts[:, index].sum(axis=0) > 0
            if by_days:
                attended_week = last[index] // 7
            else:
                attended_at = np.maximum(visit - streak[index].astype(np.int64), 0)
                attended_week = week_of[attended_at].astype(np.float64)
            retained[index] = np.where(ever, attended_week + 1, 0)
        else:
            retained[index] = week + 1
        weekly[_EXIT_ROW + code, week] += len(index)
        last[index] = np.inf  # out of the days rule's reach

    for w in range(cal.weeks):
        leaving = model.start_week(state, w, active, attend)
        if leaving is not None and leaving.any():
            drop(leaving & active, DROPPED_OUT, w, bounds[w] - 1)
        weekly[_ENROLLED, w] = enrolled[0]
        for v in range(bounds[w], bounds[w + 1]):
            d = days[v]
            prob = model.probability(state, v, streak, p)
            attend.random(out=u)
            np.less(u, prob, out=came)
            if makeup:
                attend.random(out=u)
                came |= u < uptake
            upto = int(np.searchsorted(leaving_days, d, side="right"))
            if upto > gone_so_far:  # the disengaged attend nothing more
                can[by_day[gone_so_far:upto]] = False
                gone_so_far = upto
            came &= can
            counts[kind_of[v]] += came
            if criteria is not None:
                criteria.visit(v, w, came, sessions[v])
            s, n_came = sessions[v], int(np.count_nonzero(came))
            weekly[_SCHEDULED, w] += enrolled[0] * s
            weekly[_ATTENDED, w] += n_came * s
            weekly[_MINUTES, w] += n_came * visit_minutes[v]
            if track_streak:
                streak += 1.0
                np.logical_not(came, out=gone)
                streak *= gone
            if by_days:  # the enrolled only: the others' last day is infinite
                np.copyto(last, d, where=came)
                np.less_equal(last, d - rule.days, out=gone)
            else:
                np.greater_equal(streak, rule.misses, out=gone)
                gone &= active
            if gone.any():
                drop(gone, DROPPED_OUT, w, v)
        if criteria is not None and w < cal.planned_weeks - 1:
            np.logical_and(criteria.end_of_week(w, active), active, out=gone)
            gone &= engaged_through(days[bounds[w + 1] - 1] if bounds[w + 1] > 0 else 0.0)
            if gone.any():
                drop(gone, COMPLETED, w, bounds[w + 1] - 1)
        if w < cal.planned_weeks - 1 and cumulative[-1] > 0:
            leave.random(out=u)
            np.less(u, cumulative[-1], out=gone)
            gone &= active
            if gone.any():
                which = np.searchsorted(cumulative, u, side="right")
                for k, code in enumerate((TRANSFERRED, TERMINATED, OTHER)):
                    drop(gone & (which == k), code, w, bounds[w + 1] - 1)
    if cal.weeks == cal.planned_weeks:
        end = len(cal.week) - 1
        # disengaged before the end (the last planned week included): a dropout, not a completer
        if len(days):
            np.less_equal(disengaged, days[-1], out=gone)
            gone &= active
            if gone.any():
                drop(gone, DROPPED_OUT, cal.weeks - 1, end)
        drop(active.copy(), COMPLETED, cal.weeks - 1, end)
    scheduled_by_visit = np.concatenate([[0], np.cumsum(cal.sessions)])
    return CohortResult(
        columns={
            "sessions_scheduled": scheduled_by_visit[last_visit + 1].astype(np.int32),
            "sessions_attended": (kinds[:, 0] @ counts).astype(np.int32),
            "minutes_attended": (kinds[:, 1] @ counts).astype(np.int32),
            "weeks_retained": retained,
            "outcome": outcome,
            "exit_week": left,
        },
        weekly=weekly,
    )


__all__ = [
    "OUTCOMES",
    "WEEKLY",
    "ChunkResult",
    "ChunkTask",
    "Purpose",
    "chunk_tasks",
    "generator",
    "run_cohort",
    "simulate_chunk",
    "track_choices",
    "visit_days",
]
