"""A participant's course through a program: the sessions their level-of-care history gave
them, and the projection ahead.

The history (admission, step-downs, step-ups, transfers, discharge) splits an enrollment
into segments, each on one track from one phase. A phase is held until the next recorded
change: no one steps down without a decision. From the current segment on, the course is
projected: the current phase lasts at least its minimum weeks (longer if it already has),
then later phases follow their plan.

    >>> from datetime import date
    >>> from iopcore.core.enrollment import Enrollment, LevelOfCareChange
    >>> from iopcore.io.files import load_program
    >>> program = load_program("examples/programs/adult-day.toml")
    >>> e = Enrollment(id="E-1", participant_id="P-1", program="adult-day", track="day",
    ...                start=date(2027, 8, 2))
    >>> held = course(program, e, [], as_of=date(2027, 9, 13))  # week 7, no decision yet
    >>> {o.phase for o in held if o.start.date() <= date(2027, 9, 13)}
    {'intensive'}
    >>> down = LevelOfCareChange(enrollment_id="E-1", seq=1, kind="step-down",
    ...     effective=date(2027, 8, 30), level_of_care="2.1", phase="step-down")
    >>> sorted({o.phase for o in course(program, e, [down], as_of=date(2027, 9, 13))})
    ['intensive', 'step-down']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta

from attrs import frozen

from iopcore.core.enrollment import Enrollment, LevelOfCareChange, TransitionKind
from iopcore.core.program import Phase, Program
from iopcore.core.schedule import Occurrence, every_nth_week, expand, expand_phase

#: How far an open-ended last phase is projected.
OPEN_ENDED_WEEKS = 52


@frozen(kw_only=True)
class Position:
    """Where an enrollment stands: its track, its phase and since when."""

    track: str
    phase: str
    since: date


@frozen(kw_only=True)
class Segment:
    """A stretch of an enrollment on one track, from one phase; ``end`` is exclusive."""

    track: str
    phase: str
    start: date
    end: date | None


def segments(
    program: Program, enrollment: Enrollment, history: Sequence[LevelOfCareChange]
) -> tuple[Segment, ...]:
    """The enrollment's segments from its history (a discharge ends the last one)."""
    track = enrollment.track
    phase = program.track(track).phases[0].name
    start = enrollment.start
    out: list[Segment] = []
    for entry in sorted(history, key=lambda h: h.seq):
        if entry.seq == 0 or entry.effective < start:
            continue
        if entry.kind is TransitionKind.DISCHARGE:
            out.append(Segment(track=track, phase=phase, start=start, end=entry.effective))
            return tuple(out)
        new_track = entry.track or track
        phases = [p.name for p in program.track(new_track).phases]
        if entry.phase in phases:
            new_phase = entry.phase
        elif new_track != track:
            new_phase = phases[0]
        else:
            continue  # e.g. a move to a continuing-care stage without a discharge entry
        if (new_track, new_phase) == (track, phase):
            continue
        if entry.effective > start:
            out.append(Segment(track=track, phase=phase, start=start, end=entry.effective))
        track, phase, start = new_track, new_phase, entry.effective
    out.append(Segment(track=track, phase=phase, start=start, end=None))
    return tuple(out)


def position(
    program: Program,
    enrollment: Enrollment,
    history: Sequence[LevelOfCareChange],
    *,
    as_of: date,
) -> Position:
    """The track and phase the enrollment is in on ``as_of`` and since when: the last of its
    :func:`segments`, counting only the history in effect by then (a discharged enrollment
    stays where it was discharged from).

    The one home of this rule: the course, step-down recommendations and plans all use it.
    """
    current = segments(program, enrollment, [h for h in history if h.effective <= as_of])[-1]
    return Position(track=current.track, phase=current.phase, since=current.start)


def course(
    program: Program,
    enrollment: Enrollment,
    history: Sequence[LevelOfCareChange],
    *,
    as_of: date,
    project: bool = True,
) -> tuple[Occurrence, ...]:
    """Every session of the enrollment in order, cancelled ones included.

    Closed segments hold their phase to their end; the current one holds its phase through
    ``as_of`` and, with ``project``, then follows the plan to its end.
    """
    out: list[Occurrence] = []
    for segment in segments(program, enrollment, history):
        track = program.track(segment.track)
        if segment.end is not None:
            if segment.end > segment.start:
                weeks = math.ceil((segment.end - segment.start).days / 7)
                out += expand(
                    program,
                    track.name,
                    start=segment.start,
                    until=segment.end - timedelta(days=1),
                    phase_weeks={segment.phase: weeks},
                    first_phase=segment.phase,
                    include_cancelled=True,
                )
            continue
        phase = track.phase(segment.phase)
        elapsed = max(0, math.ceil(((as_of - segment.start).days + 1) / 7))
        held = {segment.phase: max(phase.min_weeks, elapsed)}
        plan = track.phase_plan(segment.start, held, first_phase=segment.phase)
        end = plan[-1][2]
        if end is None or end - timedelta(days=1) < as_of:
            end = max(
                as_of + timedelta(days=1),
                plan[-1][1] + timedelta(weeks=OPEN_ENDED_WEEKS)
                if end is None
                else as_of + timedelta(days=1),
            )
        until = end - timedelta(days=1) if project else min(end - timedelta(days=1), as_of)
        if until >= segment.start:
            out += expand(
                program,
                track.name,
                start=segment.start,
                until=until,
                phase_weeks=held,
                first_phase=segment.phase,
                include_cancelled=True,
            )
    return tuple(out)


# -- what a participant is told to come to (clinic: calendars follow decisions) ----------------

#: How many weeks past ``as_of`` a held phase is exported when it has no ``max_weeks``, or
#: has already run past it without a decision.
HELD_WEEKS = 12


def held_course(
    program: Program,
    enrollment: Enrollment,
    history: Sequence[LevelOfCareChange],
    *,
    as_of: date,
) -> tuple[Occurrence, ...]:
    """The sessions a participant is told to come to: the history as it went, and the current
    phase held (no one steps down before a decision is recorded) up to its ``max_weeks``, or
    :data:`HELD_WEEKS` past ``as_of`` if it has none or has run past it. Nothing of a later
    phase is projected: the projected step-down belongs in the plan
    (:func:`iopcore.core.stepdown.step_down_plan`), not on a calendar.
    """
    parts = segments(program, enrollment, history)
    current = parts[-1]
    if current.end is not None:  # discharged: the history, then a stage's own sessions
        return course(program, enrollment, history, as_of=as_of, project=False) + stage_sessions(
            program, enrollment, history
        )
    before = tuple(
        o
        for o in course(program, enrollment, history, as_of=as_of, project=False)
        if o.slot_start.date() < current.start
    )
    phase = program.track(current.track).phase(current.phase)
    today = max(as_of, current.start)
    end = None if phase.max_weeks is None else current.start + timedelta(weeks=phase.max_weeks)
    if end is None or end <= today:
        end = today + timedelta(weeks=HELD_WEEKS)
    weeks = math.ceil((end - current.start).days / 7)
    held = expand(
        program,
        current.track,
        start=current.start,
        until=end - timedelta(days=1),
        phase_weeks={current.phase: weeks},
        first_phase=current.phase,
        include_cancelled=True,
    )
    return before + held


def stage_sessions(
    program: Program, enrollment: Enrollment, history: Sequence[LevelOfCareChange]
) -> tuple[Occurrence, ...]:
    """The sessions of the continuing-care stage a discharge names (if it has slots): from
    the discharge day for the stage's ``weeks``, in the enrollment's last track's zone."""
    ends = [h for h in history if h.kind is TransitionKind.DISCHARGE and h.seq > 0]
    if not ends:
        return ()
    last = max(ends, key=lambda h: h.seq)
    stage = next((s for s in program.continuing_care if s.name == last.phase), None)
    if stage is None or not stage.slots:
        return ()
    track = program.track(segments(program, enrollment, history)[-1].track)
    phase = Phase(name=stage.name, slots=stage.slots, min_weeks=stage.weeks)
    out: list[Occurrence] = []
    stop = last.effective + timedelta(weeks=stage.weeks)
    expand_phase(program, track, phase, last.effective, stop, out)
    return tuple(every_nth_week(phase, last.effective, out))
