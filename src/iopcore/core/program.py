"""Programs, tracks and phases: the definition every schedule, check and simulation derives from.

>>> from datetime import time
>>> from iopcore.core.cadence import Slot
>>> from iopcore.core.sessions import SessionKind, SessionType
>>> program = Program(
...     name="demo",
...     session_types=(SessionType(name="group", kind=SessionKind.GROUP, minutes=180),),
...     tracks=(Track(name="evening", time_zone="America/New_York", phases=(
...         Phase(name="core", min_weeks=12, max_weeks=12, slots=tuple(
...             Slot(day=d, start=time(18), session_type="group")
...             for d in ("mon", "tue", "thu"))),
...     )),),
... )
>>> program.track("evening").phases[0].weekly_minutes(program)
540
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

import attrs
from attrs import frozen

from iopcore.core.cadence import Change, Closure, Slot, canonical_zone, zone
from iopcore.core.care import LevelOfCare, Population, RuleSet
from iopcore.core.errors import ScheduleError, ValidationError, one_of, suggest
from iopcore.core.policies import (
    AFTERCARE,
    AccountabilitySettings,
    CareStage,
    MeasureSchedule,
    ScreeningPolicy,
    StepDownPolicy,
    StepUpPolicy,
    TransferPolicy,
    check_policies,
)
from iopcore.core.records import MAX_WEEKS, check_name, whole
from iopcore.core.sessions import SessionType
from iopcore.core.weekspan import WeekSpan, first_overlap


def _unique(what: str, names: Iterable[str]) -> None:
    dupes = sorted(name for name, n in Counter(names).items() if n > 1)
    if dupes:
        raise ValidationError(f"{what} names must be unique; repeated: {', '.join(dupes)}")


def _name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    try:
        check_name(value, where=f"{type(instance).__name__.lower()} {attribute.name}")
    except ValidationError as exc:
        raise ValidationError(str(exc), key_path=attribute.name) from None


def _slots(values: Iterable[Slot]) -> tuple[Slot, ...]:
    return tuple(values)


def _phases(values: Iterable[Phase]) -> tuple[Phase, ...]:
    return tuple(values)


def _changes(values: Iterable[Change]) -> tuple[Change, ...]:
    return tuple(values)


def _session_types(values: Iterable[SessionType]) -> tuple[SessionType, ...]:
    return tuple(values)


def _closures(values: Iterable[Closure]) -> tuple[Closure, ...]:
    return tuple(values)


def _tracks(values: Iterable[Track]) -> tuple[Track, ...]:
    return tuple(values)


def _measures(values: Iterable[MeasureSchedule]) -> tuple[MeasureSchedule, ...]:
    return tuple(values)


def _screening(values: Iterable[ScreeningPolicy]) -> tuple[ScreeningPolicy, ...]:
    return tuple(values)


def _step_downs(values: Iterable[StepDownPolicy]) -> tuple[StepDownPolicy, ...]:
    return tuple(values)


def _step_ups(values: Iterable[StepUpPolicy]) -> tuple[StepUpPolicy, ...]:
    return tuple(values)


def _transfers(values: Iterable[TransferPolicy]) -> tuple[TransferPolicy, ...]:
    return tuple(values)


def _stages(values: Iterable[CareStage]) -> tuple[CareStage, ...]:
    return tuple(values)


def _tuple_of_rule_sets(values: Iterable[RuleSet | str]) -> tuple[RuleSet, ...]:
    return tuple(RuleSet(v) for v in values)


@frozen(kw_only=True, cache_hash=True)
class Phase:
    """A stage of a track with its own weekly cadence, e.g. 4-6 weeks at 5 days a week."""

    name: str = attrs.field(validator=_name)
    slots: tuple[Slot, ...] = attrs.field(converter=_slots)
    min_weeks: int = attrs.field(
        default=1, validator=whole(at_least=1, at_most=MAX_WEEKS, unit="weeks")
    )
    #: The longest the phase lasts (None: open-ended).
    max_weeks: int | None = attrs.field(
        default=None, validator=whole(at_least=1, at_most=MAX_WEEKS, unit="weeks", optional=True)
    )

    def __attrs_post_init__(self) -> None:
        if self.max_weeks is not None and self.max_weeks < self.min_weeks:
            raise ValidationError(
                f"phase {self.name!r}: max_weeks ({self.max_weeks}) is less than min_weeks "
                f"({self.min_weeks}); raise max_weeks or omit it for no limit"
            )
        if not self.slots:
            raise ValidationError(f"phase {self.name!r} has no slots; add at least one session")

    def slot_minutes(self, slot: Slot, program: Program) -> int:
        """The slot's length: its own minutes, else its session type's default."""
        return (
            slot.minutes
            if slot.minutes is not None
            else program.session_type(slot.session_type).minutes
        )

    def weekly_minutes(self, program: Program) -> int:
        """Scheduled treatment minutes in a full week (sessions that count toward hours);
        a slot held only every few weeks (``every_weeks`` > 1) is not in every week, so it
        does not count toward the regular week's level of care."""
        return sum(
            self.slot_minutes(s, program)
            for s in self.slots
            if program.session_type(s.session_type).counts_toward_hours and s.every_weeks == 1
        )


@frozen(kw_only=True, cache_hash=True)
class Track:
    """A way through the program (e.g. ``day`` or ``evening``): phases in order, in one zone."""

    name: str = attrs.field(validator=_name)
    #: An IANA zone of a place, written canonically (see ``canonical_zone``).
    time_zone: str = attrs.field(converter=canonical_zone)
    phases: tuple[Phase, ...] = attrs.field(converter=_phases)
    changes: tuple[Change, ...] = attrs.field(default=(), converter=_changes)

    def __attrs_post_init__(self) -> None:
        zone(self.time_zone)
        if not self.phases:
            raise ValidationError(f"track {self.name!r} has no phases; add at least one")
        _unique(f"track {self.name!r}: phase", (p.name for p in self.phases))

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.time_zone)

    def phase(self, name: str) -> Phase:
        return _named(self.phases, name, f"track {self.name!r} has no phase")

    def phase_plan(
        self,
        start: date,
        phase_weeks: Mapping[str, int] | None = None,
        *,
        first_phase: str | None = None,
    ) -> tuple[tuple[Phase, date, date | None], ...]:
        """Each phase with its first day and the day after its last (``None``: open-ended).

        The projected plan places each phase at its minimum length (the earliest date it may
        step down) and lets the last phase run to its maximum; ``phase_weeks`` overrides the
        length of named phases (e.g. an actual step-down date). ``first_phase`` starts the
        plan at a later phase (a participant who has already stepped down).
        """
        weeks = dict(phase_weeks or {})
        unknown = set(weeks) - {p.name for p in self.phases}
        if unknown:
            name = sorted(unknown)[0]
            self.phase(name)  # raises with a suggestion
        skip = 0 if first_phase is None else self.phases.index(self.phase(first_phase))
        plan: list[tuple[Phase, date, date | None]] = []
        day = start
        for i, phase in enumerate(self.phases):
            if i < skip:
                continue
            last = i == len(self.phases) - 1
            length = weeks.get(phase.name, phase.max_weeks if last else phase.min_weeks)
            if length is not None and length < 1:
                raise ScheduleError(f"phase {phase.name!r}: weeks must be >= 1, got {length}")
            end = None if length is None else day + timedelta(weeks=length)
            plan.append((phase, day, end))
            if end is None:
                break
            day = end
        return tuple(plan)


@frozen(kw_only=True, cache_hash=True)
class Program:
    """An IOP: who it serves, its level of care, rule sets, session types, closures, tracks."""

    name: str = attrs.field(validator=_name)
    title: str = ""
    population: Population = attrs.field(default=Population.ADULT, converter=Population)
    level_of_care: LevelOfCare = attrs.field(default=LevelOfCare.IOP, converter=LevelOfCare)
    rule_sets: tuple[RuleSet, ...] = attrs.field(
        default=(RuleSet.ASAM,), converter=_tuple_of_rule_sets
    )
    session_types: tuple[SessionType, ...] = attrs.field(converter=_session_types)
    closures: tuple[Closure, ...] = attrs.field(default=(), converter=_closures)
    tracks: tuple[Track, ...] = attrs.field(converter=_tracks)
    accountability: AccountabilitySettings = attrs.field(factory=AccountabilitySettings)
    measures: tuple[MeasureSchedule, ...] = attrs.field(default=(), converter=_measures)
    screening: tuple[ScreeningPolicy, ...] = attrs.field(default=(), converter=_screening)
    step_down: tuple[StepDownPolicy, ...] = attrs.field(default=(), converter=_step_downs)
    step_up: tuple[StepUpPolicy, ...] = attrs.field(default=(), converter=_step_ups)
    transfers: tuple[TransferPolicy, ...] = attrs.field(default=(), converter=_transfers)
    continuing_care: tuple[CareStage, ...] = attrs.field(default=(), converter=_stages)

    def __attrs_post_init__(self) -> None:
        _unique("session type", (t.name for t in self.session_types))
        _unique("track", (t.name for t in self.tracks))
        _unique("rule set", (r.value for r in self.rule_sets))
        _unique("continuing-care stage", (s.name for s in self.continuing_care))
        if not self.tracks:
            raise ValidationError(
                f"program {self.name!r} has no tracks; add at least one", key_path="tracks"
            )
        _check_policies(self)
        check_policies(self)  # what the policies mean (iopcore.core.policies)
        for track in self.tracks:
            _check_track(self, track)

    @functools.cached_property
    def _types(self) -> dict[str, SessionType]:
        return {t.name: t for t in self.session_types}

    @functools.cached_property
    def closed(self) -> dict[date, str]:
        """Closure dates with their reasons."""
        return {c.date: c.reason for c in self.closures}

    def session_type(self, name: str) -> SessionType:
        try:
            return self._types[name]
        except KeyError:
            raise ValidationError(
                f"program {self.name!r} has no session type {name!r}{suggest(name, self._types)}; "
                f"{one_of(self._types)}"
            ) from None

    def step_chain(self, track: str, phase: str) -> tuple[tuple[str, float, int], ...]:
        """The stages from ``phase`` on, as (name, hours per week, minimum weeks), ending
        before aftercare. Step-down policies lead; a phase without one steps to the next
        phase of its track, the last phase to the first continuing-care stage."""
        phases = {p.name: p for p in self.track(track).phases}
        stages = {s.name: s for s in self.continuing_care}
        order = [p.name for p in self.track(track).phases] + [s.name for s in self.continuing_care]
        chain: list[tuple[str, float, int]] = []
        name = phase
        while name != AFTERCARE and name not in {c[0] for c in chain}:
            policy = next((p for p in self.step_down if p.from_phase == name), None)
            if name in phases:
                hours = phases[name].weekly_minutes(self) / 60
                weeks = policy.min_weeks if policy else phases[name].min_weeks
            else:
                hours, weeks = stages[name].hours_per_week, stages[name].weeks
            chain.append((name, hours, weeks))
            following = order.index(name) + 1
            name = (
                policy.to if policy else (order[following] if following < len(order) else AFTERCARE)
            )
        return tuple(chain)

    def screening_policy(self, phase: str) -> ScreeningPolicy | None:
        """The first screening policy that applies in ``phase`` (None: no random screens)."""
        return next((p for p in self.screening if p.applies_to(phase)), None)

    def track(self, name: str) -> Track:
        return _named(self.tracks, name, f"program {self.name!r} has no track")


_N = TypeVar("_N", Phase, Track)


def _named(items: Iterable[_N], name: str, missing: str) -> _N:
    """The item called ``name``, or a ScheduleError suggesting a close name."""
    for item in items:
        if item.name == name:
            return item
    names = [i.name for i in items]
    raise ScheduleError(f"{missing} {name!r}{suggest(name, names)}; {one_of(names)}")


def _check_policies(program: Program) -> None:
    """Screening, step-down, step-up and transfer policies name phases, stages and tracks
    the program has; screening uses one period. Errors carry the key path at fault."""
    phases = {p.name for t in program.tracks for p in t.phases}
    periods = sorted({p.period.value for p in program.screening})
    if len(periods) > 1:
        raise ValidationError(
            f"program {program.name!r}: screening policies use different periods "
            f"({', '.join(periods)}); use one period and vary the count",
            key_path="screening",
        )
    for i, policy in enumerate(program.screening):
        for j, name in enumerate(policy.phases):
            where = f"screening[{i}].phases[{j}]"
            _known(f"screening policy ({policy.describe()})", name, phases, where)
    stages = {s.name for s in program.continuing_care} | {AFTERCARE}
    for i, down in enumerate(program.step_down):
        what = f"step-down policy {down.from_phase} -> {down.to}"
        _known(what, down.from_phase, phases, f"step_down[{i}].from_phase")
        _known(what, down.to, phases | stages, f"step_down[{i}].to")
    for i, up in enumerate(program.step_up):
        what = f"step-up policy {up.from_phase} -> {up.to}"
        _known(what, up.from_phase, phases, f"step_up[{i}].from_phase")
        _known(what, up.to, phases, f"step_up[{i}].to")
    tracks = {t.name for t in program.tracks}
    for i, move in enumerate(program.transfers):
        for field in ("from_track", "to_track"):
            what = f"transfer {move.from_track} -> {move.to_track}"
            _known(what, getattr(move, field), tracks, f"transfers[{i}].{field}")


def _check_track(program: Program, track: Track) -> None:
    """A track's changes name its sessions, its step-downs never add hours, and its phases
    use known session types that never overlap. Errors carry the key path at fault."""
    for i, change in enumerate(track.changes):
        try:
            _check_change(program, track, change)
        except ValidationError as exc:
            raise ValidationError(str(exc), key_path=f"tracks.{track.name}.changes[{i}]") from None
    names = {p.name for p in track.phases}
    for n, step in enumerate(program.step_down):
        if step.from_phase in names:
            try:
                _check_chain(track, program.step_chain(track.name, step.from_phase))
            except ValidationError as exc:
                raise ValidationError(str(exc), key_path=f"step_down[{n}]") from None
    for i, phase in enumerate(track.phases):
        for slot in phase.slots:
            program.session_type(slot.session_type)  # raises if unknown
        try:
            check_overlaps(phase, functools.partial(phase.slot_minutes, program=program))
        except ValidationError as exc:
            raise ValidationError(
                f"track {track.name!r}, {exc}", key_path=f"tracks.{track.name}.phases[{i}]"
            ) from None


def _check_chain(track: Track, chain: tuple[tuple[str, float, int], ...]) -> None:
    for (a, hours_a, _), (b, hours_b, _) in itertools.pairwise(chain):
        if hours_b > hours_a + 1e-9:
            raise ValidationError(
                f"track {track.name!r}: stepping down from {a} ({hours_a:g} h/week) "
                f"to {b} ({hours_b:g} h/week) would increase hours; a step-down "
                "must not add hours (use a step-up policy to add them)"
            )


def _check_change(program: Program, track: Track, change: Change) -> None:
    """A one-off change must name a session the cadence has, on a day the program meets."""
    where = f"track {track.name!r}: change for {change.date} {change.start:%H:%M}"
    if change.date in program.closed:
        raise ValidationError(
            f"{where} falls on a closure ({program.closed[change.date]}); the session is not "
            "held that day, so there is nothing to change: remove the change"
        )
    for phase in track.phases:
        for slot in phase.slots:
            if (
                slot.day == change.date.weekday()
                and slot.start == change.start
                and (change.session_type is None or change.session_type == slot.session_type)
            ):
                if not change.cancelled:
                    _check_move(program, phase, slot, change, where)
                return
    times = sorted(
        {
            f"{s.start:%H:%M} {s.session_type}"
            for p in track.phases
            for s in p.slots
            if s.day == change.date.weekday()
        }
    )
    raise ValidationError(
        f"{where}: no session of this track starts then on a {change.date:%A}"
        + (f"; sessions that day: {', '.join(times)}" if times else "; it has no sessions that day")
    )


def _check_move(program: Program, phase: Phase, moved: Slot, change: Change, where: str) -> None:
    """A moved session must not land on another session of its phase (a participant cannot
    be in two at once); the weekly cadence around the new day decides what is there."""
    day = change.new_date or change.date
    begin = datetime.combine(day, change.new_start or change.start)
    end = begin + timedelta(minutes=change.minutes or phase.slot_minutes(moved, program))
    for slot in phase.slots:
        for offset in (-1, 0):  # a session of the day before may run past midnight
            on = day + timedelta(days=offset)
            if slot.day != on.weekday() or on in program.closed:
                continue
            if slot is moved and on == change.date:
                continue
            other = datetime.combine(on, slot.start)
            other_end = other + timedelta(minutes=phase.slot_minutes(slot, program))
            if begin < other_end and other < end:
                raise ValidationError(
                    f"{where}: the move to {day} {begin:%H:%M} lands on the {on:%A} "
                    f"{slot.start:%H:%M} {slot.session_type} session of phase {phase.name!r}; "
                    "choose a time that is free, or cancel that session too"
                )


def _known(what: str, name: str, names: set[str], key_path: str = "") -> None:
    if name not in names:
        raise ValidationError(
            f"{what} names {name!r}{suggest(name, names)}, which this program does not have; "
            f"{one_of(names)}",
            key_path=key_path,
        )


def check_overlaps(phase: Phase, minutes: Callable[[Slot], int]) -> None:
    """A participant cannot be in two sessions at once: slots of a phase must not overlap,
    also across the end of the week (a Sunday-night session running into Monday)."""
    slots = sorted(phase.slots, key=lambda s: (s.day, s.start))
    clash = first_overlap(WeekSpan.at(s.day, s.start, minutes=minutes(s)) for s in slots)
    if clash is not None:
        first, second = slots[clash[0]], slots[clash[1]]
        raise ValidationError(
            f"phase {phase.name!r}: the {second.day.label} {second.start:%H:%M} "
            f"{second.session_type} session overlaps the {first.day.label} "
            f"{first.start:%H:%M} {first.session_type} session; move one"
        )
