"""Scenarios: a program and track, a population, an attendance model, options, exits, horizon,
participants, replications and a seed; and the grids and samples that vary them.

>>> from iopcore import load_program
>>> base = Scenario(name="evening", program=load_program("examples/programs/adult-evening.toml"))
>>> base.track_name, base.horizon
('evening', 12)
>>> [s.name for s in grid(base, {"options.reminders": [False, True]})]
['evening reminders=False', 'evening reminders=True']
>>> with_overrides(base, {"options.remiders": True})  # doctest: +ELLIPSIS
Traceback (most recent call last):
iopcore.ValidationError: options.remiders: Options has no field 'remiders' (did you ...
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, cast

import attrs
import numpy as np
from attrs import frozen

from iopcore.core.errors import ValidationError, suggest
from iopcore.core.program import Program

from .calendar import longest_stay, planned_weeks
from .effects import AttendanceModelImpl
from .models import LogisticModel
from .options import Exits, Options
from .population import PopulationSpec
from .progress import ProgressModelImpl, TrendProgress

#: The default admission day: the first Monday of 2027 (the example programs' closures are
#: 2027's federal holidays).
DEFAULT_START = date(2027, 1, 4)
DEFAULT_CHUNK = 32_768


def _created(value: Any, kind: str, protocol: type[Any]) -> Any:
    """A plugin's name (``kind``: "attendance" or "progress") -> the model it creates with
    its defaults; a model object as it is."""
    if not isinstance(value, str):
        return value
    from iopcore.plugins import default_host

    host = default_host()
    lookup = host.attendance_model if kind == "attendance" else host.progress_model
    created = lookup(value).create()
    if not isinstance(created, protocol):
        raise ValidationError(f"{kind} model {value!r} does not implement the protocol")
    return created


def _model(value: AttendanceModelImpl | str) -> AttendanceModelImpl:
    return cast(AttendanceModelImpl, _created(value, "attendance", AttendanceModelImpl))


def _progress(value: ProgressModelImpl | str) -> ProgressModelImpl:
    return cast(ProgressModelImpl, _created(value, "progress", ProgressModelImpl))


def _is_progress(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, ProgressModelImpl):
        raise ValidationError(
            "progress must implement prepare, screen and score (see "
            f"iopcore.plugins.ProgressModelImpl), got {type(value).__name__}"
        )


def _default_model() -> AttendanceModelImpl:
    return LogisticModel()


def _is_model(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, AttendanceModelImpl):
        raise ValidationError(
            f"model must implement prepare, start_week, probability, disengaged and dropout "
            f"(see iopcore.simulation.AttendanceModelImpl), got {type(value).__name__}"
        )


#: Upper bounds on the counts of a scenario: beyond them a run would not finish (or not fit
#: in memory) on any machine, so a typo fails at once instead of running until killed.
LIMITS = {
    "participants": 10_000_000,
    "replications": 10_000,
    "horizon_weeks": 1_040,
    "chunk_size": 1_000_000,
}


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{attribute.name} must be a whole number >= 1, got {value!r}")
    top = LIMITS.get(attribute.name)
    if top is not None and value > top:
        raise ValidationError(
            f"{attribute.name} must be at most {top:,}, got {value:,}; split a larger study "
            "into several runs"
        )


def _optional_positive(
    instance: object, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is not None:
        _positive(instance, attribute, value)  # type: ignore[arg-type]


def _seed(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"seed must be a whole number >= 0, got {value!r}")


@frozen(kw_only=True)
class Scenario:
    """One simulated structure. See the researchers' guide (docs/researchers.md)."""

    program: Program
    name: str = "scenario"
    #: Track participants follow (default: the program's first track).
    track: str | None = None
    #: Admission day of the first (or only) cohort.
    start: date = DEFAULT_START
    population: PopulationSpec = attrs.field(factory=PopulationSpec)
    model: AttendanceModelImpl = attrs.field(
        factory=_default_model, converter=_model, validator=_is_model
    )
    options: Options = attrs.field(factory=Options)
    #: Simulated screens and assessment scores, read when ``options.step_down_by`` is
    #: "criteria" (a progress model plugin; the built-in ``trend`` by default).
    progress: ProgressModelImpl = attrs.field(
        factory=TrendProgress, converter=_progress, validator=_is_progress
    )
    exits: Exits = attrs.field(factory=Exits)
    #: Weeks simulated from ``start``; default: the track's planned length (by criteria, its
    #: longest stay) plus the weeks of rolling intake, so that every participant can finish.
    horizon_weeks: int | None = attrs.field(default=None, validator=_optional_positive)
    participants: int = attrs.field(default=1000, validator=_positive)
    replications: int = attrs.field(default=1, validator=_positive)
    seed: int = attrs.field(default=0, validator=_seed)
    #: Participants simulated together; results depend on it (it splits the random streams),
    #: never on the backend or the number of workers.
    chunk_size: int = attrs.field(default=DEFAULT_CHUNK, validator=_positive)

    def __attrs_post_init__(self) -> None:
        track = self.program.track(self.track_name)  # raises with a suggestion
        for name in self.options.phase_weeks:
            track.phase(name)
        planned_weeks(self.program, self.track_name, self.options.phase_weeks)
        if self.options.step_down_by == "criteria":
            self._check_criteria()
        if self.horizon_weeks is not None and self.horizon_weeks < self.options.intake_weeks:
            raise ValidationError(
                f"horizon_weeks ({self.horizon_weeks}) is shorter than the rolling intake "
                f"({self.options.intake_weeks} weeks); raise it or take fewer intake weeks"
            )

    def _check_criteria(self) -> None:
        """Phases change by criteria only where the program has a step-down policy."""
        names = [t.name for t in self.program.tracks] if self.options.choose_track else []
        for track in names or [self.track_name]:
            phases = {p.name for p in self.program.track(track).phases}
            if not any(p.from_phase in phases for p in self.program.step_down):
                raise ValidationError(
                    f'options.step_down_by = "criteria", but program {self.program.name!r} has '
                    f"no [[step_down]] policy from a phase of track {track!r}, so nobody would "
                    "ever step down or be discharged by criteria; add a policy to the program "
                    'or use step_down_by = "plan"'
                )

    @property
    def track_name(self) -> str:
        return self.track if self.track is not None else self.program.tracks[0].name

    @property
    def planned_weeks(self) -> int:
        """Weeks from admission to completion on this scenario's track and phase plan (the
        longest track's, when participants choose their track); when phases change by
        criteria, the longest stay (:func:`~iopcore.simulation.calendar.longest_stay`)."""
        weeks = longest_stay if self.options.step_down_by == "criteria" else planned_weeks
        if not self.options.choose_track:
            return weeks(self.program, self.track_name, self.options.phase_weeks)
        return max(
            weeks(
                self.program,
                t.name,
                {
                    k: v
                    for k, v in self.options.phase_weeks.items()
                    if k in {p.name for p in t.phases}
                },
            )
            for t in self.program.tracks
        )

    @property
    def horizon(self) -> int:
        """Weeks simulated from ``start``."""
        if self.horizon_weeks is not None:
            return self.horizon_weeks
        return self.planned_weeks + self.options.intake_weeks - 1

    def describe(self) -> dict[str, Any]:
        """A flat description (program, track, model, options) for result tables."""
        return {
            "scenario": self.name,
            "program": self.program.name,
            "track": self.track_name,
            "model": type(self.model).__name__,
            "progress": type(self.progress).__name__,
            "participants": self.participants,
            "horizon_weeks": self.horizon,
            **{
                f"options.{k}": (str(v) if isinstance(v, dict) else v)
                for k, v in attrs.asdict(self.options, recurse=False).items()
            },
        }


def _evolve(obj: object, parts: Sequence[str], value: object, path: str) -> object:
    head, rest = parts[0], parts[1:]
    if isinstance(obj, dict):
        if not rest:
            return {**obj, head: value}
        if head not in obj:
            raise ValidationError(f"{path}: no key {head!r}{suggest(head, obj)}")
        return {**obj, head: _evolve(obj[head], rest, value, path)}
    if not attrs.has(type(obj)):
        raise ValidationError(f"{path}: {type(obj).__name__} has no fields to set")
    names = [f.name for f in attrs.fields(cast(Any, type(obj)))]
    if head not in names:
        raise ValidationError(
            f"{path}: {type(obj).__name__} has no field {head!r}{suggest(head, names)}"
        )
    new = value if not rest else _evolve(getattr(obj, head), rest, value, path)
    return attrs.evolve(obj, **{head: new})  # type: ignore[misc]


def with_overrides(scenario: Scenario, overrides: Mapping[str, object]) -> Scenario:
    """A copy of ``scenario`` with dotted fields replaced, e.g. ``{"options.reminders": True,
    "model.effects.conflict": -1.0}``."""
    out: object = scenario
    for path, value in overrides.items():
        out = _evolve(out, path.split("."), value, path)
    assert isinstance(out, Scenario)
    return out


def _label(path: str, value: object) -> str:
    return f"{path.rsplit('.', 1)[-1]}={value}"


def grid(base: Scenario, axes: Mapping[str, Sequence[object]]) -> tuple[Scenario, ...]:
    """Every combination of the values of ``axes`` (dotted paths), named after them."""
    paths = list(axes)
    out = []
    for values in itertools.product(*(axes[p] for p in paths)):
        changes = dict(zip(paths, values, strict=True))
        name = f"{base.name} " + ", ".join(_label(p, v) for p, v in changes.items())
        out.append(attrs.evolve(with_overrides(base, changes), name=name))
    return tuple(out)


def _is_range(spec: object) -> bool:
    return (
        isinstance(spec, tuple)
        and len(spec) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in spec)
    )


def sample(
    base: Scenario,
    ranges: Mapping[str, tuple[float, float] | Sequence[object]],
    n: int,
    *,
    seed: int = 0,
) -> tuple[Scenario, ...]:
    """``n`` scenarios drawn by Latin hypercube sampling (each path's range cut into ``n``
    equal strata, each stratum used once; seeded, reproducible): a ``(low, high)`` pair of
    floats uniformly, any other sequence by choosing one of its values. Each scenario is named
    after its values; the result tables carry them as columns.

    A pair of whole numbers is refused: ``(1, 5)`` could mean the range or the two values, so
    write ``(1.0, 5.0)`` for the range or ``[1, 2, 3, 4, 5]`` for the values.

    >>> from iopcore import load_program
    >>> base = Scenario(name="s", program=load_program("examples/programs/adult-evening.toml"))
    >>> [s.name for s in sample(base, {"options.reminders": [False, True]}, 2, seed=1)]
    ['s #0: reminders=False', 's #1: reminders=True']
    >>> sample(base, {"options.intake_weeks": (1, 4)}, 2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    iopcore.ValidationError: options.intake_weeks: (1, 4) is a pair of whole numbers...
    """
    from scipy.stats import qmc

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValidationError(f"n must be a whole number >= 1, got {n!r}")
    for path, spec in ranges.items():
        if _is_range(spec) and all(isinstance(v, int) for v in cast(tuple[Any, Any], spec)):
            first, last = cast(tuple[int, int], spec)
            raise ValidationError(
                f"{path}: {spec!r} is a pair of whole numbers, which could mean the range or "
                f"the two values; write ({float(first)}, {float(last)}) for a range, or "
                f"{list(range(first, last + 1))[:10]} for the values to choose among"
            )
        if not _is_range(spec) and (isinstance(spec, str | bytes) or not list(spec)):
            raise ValidationError(
                f"{path}: expected a (low, high) pair of numbers or a list of values, got {spec!r}"
            )
    paths = list(ranges)
    if not paths:
        return tuple(attrs.evolve(base, name=f"{base.name} #{i}") for i in range(n))
    unit = qmc.LatinHypercube(d=len(paths), seed=np.random.default_rng(seed)).random(n)
    out = []
    for i in range(n):
        changes: dict[str, object] = {}
        for j, path in enumerate(paths):
            spec = ranges[path]
            if _is_range(spec):
                low, high = (float(v) for v in cast(tuple[float, float], spec))
                changes[path] = low + float(unit[i, j]) * (high - low)
            else:
                choices = list(spec)
                changes[path] = choices[min(int(unit[i, j] * len(choices)), len(choices) - 1)]
        label = ", ".join(
            _label(p, f"{v:.4g}" if isinstance(v, float) else v) for p, v in changes.items()
        )
        out.append(attrs.evolve(with_overrides(base, changes), name=f"{base.name} #{i}: {label}"))
    return tuple(out)


__all__ = ["DEFAULT_START", "Scenario", "grid", "sample", "with_overrides"]
