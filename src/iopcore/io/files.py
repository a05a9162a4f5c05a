"""Program files: TOML <-> :class:`~iopcore.core.program.Program`.

Every error names the file, the key path and what was expected, and an unknown key suggests
the closest valid one. A program saved with :func:`dump_program` and loaded again is equal.
The decoder is written out by hand (rather than with cattrs) because programs are keyed by
name in TOML (``[tracks.evening]``) and the key-path messages are the point.

    >>> program = loads_program('''
    ... name = "mini"
    ... [session_types.group]
    ... kind = "group"
    ... minutes = 180
    ... [tracks.day]
    ... time_zone = "America/Chicago"
    ... [[tracks.day.phases]]
    ... name = "core"
    ... slots = [{ day = "mon", start = "09:00", session_type = "group" }]
    ... ''', file="mini.toml")
    >>> loads_program(dump_program(program)) == program
    True
    >>> loads_program('name = "x"\\nleve_of_care = "2.1"', file="x.toml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    iopcore.ProgramFileError: x.toml:2: leve_of_care: unknown key (did you mean "level_...
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, time
from pathlib import Path
from typing import Any, TypeVar

import attrs
import tomli_w

from iopcore.core.assessments import MeasureKind
from iopcore.core.cadence import Change, Closure, Slot, Weekday, parse_time, zone
from iopcore.core.errors import IopcoreError, ProgramFileError, ValidationError, one_of, suggest
from iopcore.core.policies import (
    AccountabilitySettings,
    CareStage,
    Design,
    EligibleDays,
    MeasureSchedule,
    Period,
    ScoreLimit,
    ScreeningPolicy,
    StepDownPolicy,
    StepUpPolicy,
    TransferPolicy,
)
from iopcore.core.program import Phase, Program, Track, check_overlaps
from iopcore.core.sessions import SessionType

T = TypeVar("T")

_TYPE_WORDS = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
    list: "an array",
    dict: "a table",
    date: "a date (YYYY-MM-DD)",
}


class _Table:
    """A TOML table being decoded: tracks its key path and which keys were read."""

    def __init__(self, data: object, path: str, file: str) -> None:
        if not isinstance(data, dict):
            raise ProgramFileError(f"expected a table, got {_show(data)}", file=file, key_path=path)
        self.data: dict[str, Any] = data
        self.path = path
        self.file = file
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, problem: str, key: str | None = None) -> ProgramFileError:
        return ProgramFileError(
            problem, file=self.file, key_path=self.key(key) if key else self.path
        )

    def get(
        self, name: str, kind: type[T], default: T | None = None, *, required: bool = False
    ) -> T:
        self.seen.add(name)
        if name not in self.data:
            if required:
                raise self.error(f"missing required key {name!r}")
            return default  # type: ignore[return-value]
        value = self.data[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is date and isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                raise self.error(f"{_show(value)} is not a date (YYYY-MM-DD)", name) from None
        if kind is time:
            return self._time(name, value)  # type: ignore[return-value]
        wrong_bool = kind is int and isinstance(value, bool)
        if not isinstance(value, kind) or wrong_bool or (kind is date and isinstance(value, time)):
            raise self.error(
                f"expected {_TYPE_WORDS.get(kind, kind.__name__)}, got {_show(value)}", name
            )
        return value

    def _time(self, name: str, value: object) -> time:
        if isinstance(value, time):
            return value
        if isinstance(value, str):
            try:
                return parse_time(value)
            except ValidationError:
                pass
        raise self.error(f"{_show(value)} is not a time (HH:MM)", name)

    def tables(self, name: str) -> Iterator[_Table]:
        """The array of tables at ``name`` (``[[name]]`` or ``name = [{...}]``)."""
        for i, item in enumerate(self.get(name, list, [])):
            yield _Table(item, f"{self.key(name)}[{i}]", self.file)

    def named(self, name: str) -> Iterator[tuple[str, _Table]]:
        """The sub-tables of table ``name`` keyed by their names (``[name.x]``)."""
        for key, item in self.get(name, dict, {}).items():
            yield key, _Table(item, f"{self.key(name)}.{key}", self.file)

    def done(self) -> None:
        for name in self.data:
            if name not in self.seen:
                raise self.error(f"unknown key{suggest(name, self.seen)}", name)

    def build(self, cls: Callable[..., T], **fields: Any) -> T:
        """Check for unknown keys, then construct ``cls``, naming this table on failure."""
        self.done()
        with self.building():
            return cls(**fields)

    @contextmanager
    def building(self) -> Iterator[None]:
        """Turn a domain validation error into one that names this table's key path."""
        try:
            yield
        except IopcoreError as exc:
            if isinstance(exc, ProgramFileError):
                raise
            raise self.error(str(exc), getattr(exc, "key_path", "") or None) from None


def _show(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return str(value)


def _choice(
    table: _Table, name: str, parse: Callable[[str], T], choices: list[str], default: T
) -> T:
    raw = table.get(name, str)
    if raw is None:
        return default
    try:
        return parse(raw)
    except (ValueError, IopcoreError):
        raise table.error(
            f'"{raw}" is not valid{suggest(raw, choices)}; {one_of(choices)}', name
        ) from None


def loads_program(text: str, *, file: str = "<string>") -> Program:
    """Decode a program from TOML text; ``file`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        raise ProgramFileError(
            f"not valid TOML: {exc}", file=file, line=int(where[1]) if where else None
        ) from None
    if isinstance(data.get("program"), str) or "arms" in data:
        raise ProgramFileError(
            "this is a scenario file, not a program; run it with 'iopcore simulate', or check "
            "the program it names",
            file=file,
        )
    try:
        return _program(_Table(data, "", file))
    except ProgramFileError as exc:
        if exc.line is None and exc.key_path:
            line = locate(text, exc.key_path)
            if line is not None:
                raise ProgramFileError(
                    exc.problem, file=file, key_path=exc.key_path, line=line
                ) from None
        raise


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def locate(text: str, key_path: str) -> int | None:
    r"""Best-effort 1-based line of ``key_path`` (e.g. ``tracks.x.phases[0].slots[2].start``).

    Finds the table header that is the longest prefix of the path, then the key, then the
    n-th inline table of a multi-line array. Returns None when the layout defeats it.

        >>> locate('a = 1\n[t.x]\nb = [\n  { c = 1 },\n  { c = 2 },\n]\n', "t.x.b[1].c")
        5
    """
    lines = text.splitlines()
    headers: list[tuple[int, str]] = [(0, "")]
    counts: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        match = _HEADER.match(line)
        if match:
            name = ".".join(part.strip().strip('"') for part in match.group(2).split("."))
            if match.group(1) == "[[":
                counts[name] = counts.get(name, -1) + 1
                name = f"{name}[{counts[name]}]"
            headers.append((number, name))
    best = max(
        (h for h in headers if not h[1] or key_path == h[1] or key_path.startswith(h[1] + ".")),
        key=lambda h: len(h[1]),
    )
    start, header = best
    rest = key_path[len(header) :].lstrip(".")
    if not rest:
        return start or None
    following = [n for n, _ in headers if n > start]
    end = following[0] - 1 if following else len(lines)
    parts = [(m.group(1), m.group(2)) for m in _PART.finditer(rest)]
    key, _ = parts[0]
    for number in range(start + 1, end + 1):
        if re.match(rf"^\s*\"?{re.escape(key)}\"?\s*=", lines[number - 1]):
            if len(parts) > 1 and parts[1][1] is not None:
                index = int(parts[1][1])
                items = [number] if "{" in lines[number - 1] else []
                items += [n for n in range(number + 1, end + 1) if lines[n - 1].lstrip()[:1] == "{"]
                if index < len(items):
                    return items[index]
            return number
    return start or None


def load_program(path: str | Path) -> Program:
    """Load a program file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProgramFileError("no such file; check the path", file=str(path)) from None
    except IsADirectoryError:
        raise ProgramFileError(
            "is a folder; give a program file, e.g. examples/programs/adult-evening.toml",
            file=str(path),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProgramFileError(f"cannot read: {exc}", file=str(path)) from None
    return loads_program(text, file=path.name)


def _program(t: _Table) -> Program:
    from iopcore.core.care import LevelOfCare, Population, RuleSet

    session_types = tuple(_session_type(name, sub) for name, sub in t.named("session_types"))
    closures = tuple(_closure(sub) for sub in t.tables("closures"))
    tracks = tuple(_track(name, sub) for name, sub in t.named("tracks"))
    rule_sets = []
    for i, raw in enumerate(t.get("rule_sets", list, ["asam"])):
        try:
            rule_sets.append(RuleSet(raw))
        except ValueError:
            choices = [r.value for r in RuleSet]
            raise t.error(
                f"{_show(raw)} is not a rule set{suggest(str(raw), choices)}; {one_of(choices)}",
                f"rule_sets[{i}]",
            ) from None
    accountability = _accountability(t)
    measures = tuple(_measure(sub) for sub in t.tables("measures"))
    screening = tuple(_screening(sub) for sub in t.tables("screening"))
    step_down = tuple(_step_down(sub) for sub in t.tables("step_down"))
    step_up = tuple(
        sub.build(
            StepUpPolicy,
            from_phase=sub.get("from_phase", str, required=True),
            to=sub.get("to", str, required=True),
            positive_screens=sub.get("positive_screens", int),
            missed_sessions=sub.get("missed_sessions", int),
            within_weeks=sub.get("within_weeks", int, 2),
        )
        for sub in t.tables("step_up")
    )
    transfers = tuple(
        sub.build(
            TransferPolicy,
            from_track=sub.get("from_track", str, required=True),
            to_track=sub.get("to_track", str, required=True),
        )
        for sub in t.tables("transfers")
    )
    continuing_care = tuple(
        sub.build(
            CareStage,
            name=sub.get("name", str, required=True),
            level_of_care=sub.get("level_of_care", str, "1"),
            sessions_per_week=sub.get("sessions_per_week", int, 1),
            hours_per_week=sub.get("hours_per_week", float, 1.5),
            weeks=sub.get("weeks", int, 4),
            slots=tuple(_slot(slot) for slot in sub.tables("slots")),
        )
        for sub in t.tables("continuing_care")
    )
    _check_references(t, session_types, tracks)
    return t.build(
        Program,
        name=t.get("name", str, required=True),
        title=t.get("title", str, ""),
        population=_choice(
            t, "population", Population, [p.value for p in Population], Population.ADULT
        ),
        level_of_care=_choice(
            t, "level_of_care", LevelOfCare, [lv.value for lv in LevelOfCare], LevelOfCare.IOP
        ),
        rule_sets=rule_sets,
        session_types=session_types,
        closures=closures,
        tracks=tracks,
        accountability=accountability,
        measures=measures,
        screening=screening,
        step_down=step_down,
        step_up=step_up,
        transfers=transfers,
        continuing_care=continuing_care,
    )


def _check_references(
    t: _Table, session_types: tuple[SessionType, ...], tracks: tuple[Track, ...]
) -> None:
    """Name the exact slot or phase at fault (the Program alone would say less)."""
    names = [s.name for s in session_types]
    minutes = {s.name: s.minutes for s in session_types}
    for track in tracks:
        for i, phase in enumerate(track.phases):
            for j, slot in enumerate(phase.slots):
                if slot.session_type not in names:
                    raise t.error(
                        f'"{slot.session_type}" is not a session type of this program'
                        f"{suggest(slot.session_type, names)}; define [session_types."
                        f"{slot.session_type}] or use {one_of(names)}",
                        f"tracks.{track.name}.phases[{i}].slots[{j}].session_type",
                    )
            try:
                check_overlaps(phase, lambda slot: slot.minutes or minutes[slot.session_type])
            except ValidationError as exc:
                raise t.error(str(exc), f"tracks.{track.name}.phases[{i}]") from None


def _accountability(parent: _Table) -> AccountabilitySettings:
    default = AccountabilitySettings()
    if "accountability" not in parent.data:
        parent.seen.add("accountability")
        return default
    t = _Table(parent.get("accountability", dict), parent.key("accountability"), parent.file)
    return t.build(
        AccountabilitySettings,
        consecutive_unexcused=t.get("consecutive_unexcused", int, default.consecutive_unexcused),
        attendance_rate_below=t.get("attendance_rate_below", float, default.attendance_rate_below),
        rate_weeks=t.get("rate_weeks", int, default.rate_weeks),
        overdue_after_days=t.get("overdue_after_days", int, default.overdue_after_days),
        involvement_weeks=t.get("involvement_weeks", int, default.involvement_weeks),
        review_weeks=t.get("review_weeks", int, default.review_weeks),
    )


def _measure(t: _Table) -> MeasureSchedule:
    return t.build(
        MeasureSchedule,
        kind=_choice(t, "kind", MeasureKind, [k.value for k in MeasureKind], None)
        or _missing(t, "kind", [k.value for k in MeasureKind]),
        instrument=t.get("instrument", str, required=True),
        every_weeks=t.get("every_weeks", int),
        alert_at=t.get("alert_at", float),
    )


def _screening(t: _Table) -> ScreeningPolicy:
    return t.build(
        ScreeningPolicy,
        count=t.get("count", int, required=True),
        period=_choice(t, "period", Period, [p.value for p in Period], Period.WEEK),
        days=_choice(
            t, "days", EligibleDays, [d.value for d in EligibleDays], EligibleDays.ATTENDANCE
        ),
        phases=tuple(t.get("phases", list, [])),
        design=_choice(t, "design", Design, [d.value for d in Design], Design.FIXED_COUNT),
    )


def _step_down(t: _Table) -> StepDownPolicy:
    limits = tuple(
        sub.build(
            ScoreLimit,
            instrument=sub.get("instrument", str, required=True),
            at_most=sub.get("at_most", float, required=True),
        )
        for sub in t.tables("assessments")
    )
    return t.build(
        StepDownPolicy,
        from_phase=t.get("from_phase", str, required=True),
        to=t.get("to", str, required=True),
        min_weeks=t.get("min_weeks", int, 1),
        attendance_rate_at_least=t.get("attendance_rate_at_least", float),
        rate_weeks=t.get("rate_weeks", int, 2),
        negative_screens_in_a_row=t.get("negative_screens_in_a_row", int),
        no_open_high_findings=t.get("no_open_high_findings", bool, True),
        assessments=limits,
        signoff=t.get("signoff", bool, True),
    )


def _missing(t: _Table, key: str, choices: list[str]) -> Any:
    raise t.error(f"missing required key {key!r}; {one_of(choices)}")


def _session_type(name: str, t: _Table) -> SessionType:
    from iopcore.core.sessions import Modality, SessionKind

    kind = _choice(t, "kind", SessionKind, [k.value for k in SessionKind], None)
    if kind is None:
        raise t.error(f"missing required key 'kind'; {one_of(k.value for k in SessionKind)}")
    fields: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "modality": _choice(t, "modality", Modality, [m.value for m in Modality], Modality.OTHER),
        "minutes": t.get("minutes", int, required=True),
        "capacity": t.get("capacity", int),
    }
    counts = t.get("counts_toward_hours", bool)
    if counts is not None:
        fields["counts_toward_hours"] = counts
    return t.build(SessionType, **fields)


def _closure(t: _Table) -> Closure:
    return t.build(
        Closure, date=t.get("date", date, required=True), reason=t.get("reason", str, "closure")
    )


def _track(name: str, t: _Table) -> Track:
    phases = tuple(_phase(sub) for sub in t.tables("phases"))
    changes = tuple(_change(sub) for sub in t.tables("changes"))
    time_zone = t.get("time_zone", str, required=True)
    try:
        zone(time_zone)
    except ValidationError as exc:
        raise t.error(str(exc), "time_zone") from None
    return t.build(Track, name=name, time_zone=time_zone, phases=phases, changes=changes)


def _phase(t: _Table) -> Phase:
    slots = tuple(_slot(sub) for sub in t.tables("slots"))
    return t.build(
        Phase,
        name=t.get("name", str, required=True),
        slots=slots,
        min_weeks=t.get("min_weeks", int, 1),
        max_weeks=t.get("max_weeks", int),
    )


def _slot(t: _Table) -> Slot:
    raw_day = t.get("day", str, required=True)
    try:
        day = Weekday.parse(raw_day)
    except ValidationError as exc:
        raise t.error(str(exc), "day") from None
    return t.build(
        Slot,
        day=day,
        start=t.get("start", time, required=True),
        session_type=t.get("session_type", str, required=True),
        minutes=t.get("minutes", int),
        every_weeks=t.get("every_weeks", int, 1),
    )


def _change(t: _Table) -> Change:
    return t.build(
        Change,
        date=t.get("date", date, required=True),
        start=t.get("start", time, required=True),
        session_type=t.get("session_type", str),
        cancelled=t.get("cancelled", bool, False),
        new_date=t.get("new_date", date),
        new_start=t.get("new_start", time),
        minutes=t.get("minutes", int),
        reason=t.get("reason", str, ""),
    )


def program_to_dict(program: Program) -> dict[str, Any]:
    """The TOML-shaped dict of ``program`` (defaults left out)."""
    out: dict[str, Any] = {"name": program.name}
    if program.title:
        out["title"] = program.title
    out["population"] = program.population.value
    out["level_of_care"] = program.level_of_care.value
    out["rule_sets"] = [r.value for r in program.rule_sets]
    out["session_types"] = {
        t.name: _drop_none(
            {
                "kind": t.kind.value,
                "modality": t.modality.value,
                "minutes": t.minutes,
                "capacity": t.capacity,
                "counts_toward_hours": t.counts_toward_hours,
            }
        )
        for t in program.session_types
    }
    out["closures"] = [{"date": c.date, "reason": c.reason} for c in program.closures]
    out["tracks"] = {
        track.name: {
            "time_zone": track.time_zone,
            "phases": [
                _drop_none(
                    {
                        "name": p.name,
                        "min_weeks": p.min_weeks,
                        "max_weeks": p.max_weeks,
                        "slots": [_slot_dict(s) for s in p.slots],
                    }
                )
                for p in track.phases
            ],
            "changes": [
                _drop_none(
                    {
                        "date": c.date,
                        "start": f"{c.start:%H:%M}",
                        "session_type": c.session_type,
                        "cancelled": c.cancelled or None,
                        "new_date": c.new_date,
                        "new_start": None if c.new_start is None else f"{c.new_start:%H:%M}",
                        "minutes": c.minutes,
                        "reason": c.reason or None,
                    }
                )
                for c in track.changes
            ],
        }
        for track in program.tracks
    }
    if program.accountability != AccountabilitySettings():
        out["accountability"] = attrs.asdict(program.accountability)
    out["measures"] = [
        _drop_none(
            {
                "kind": m.kind.value,
                "instrument": m.instrument,
                "every_weeks": m.every_weeks,
                "alert_at": m.alert_at,
            }
        )
        for m in program.measures
    ]
    out["step_down"] = [
        _drop_none(
            {
                "from_phase": p.from_phase,
                "to": p.to,
                "min_weeks": p.min_weeks,
                "attendance_rate_at_least": p.attendance_rate_at_least,
                "rate_weeks": p.rate_weeks,
                "negative_screens_in_a_row": p.negative_screens_in_a_row,
                "no_open_high_findings": p.no_open_high_findings,
                "signoff": p.signoff,
                "assessments": [attrs.asdict(a) for a in p.assessments],
            }
        )
        for p in program.step_down
    ]
    out["step_up"] = [_drop_none(attrs.asdict(p)) for p in program.step_up]
    out["transfers"] = [attrs.asdict(p) for p in program.transfers]
    out["continuing_care"] = [
        attrs.asdict(p, filter=lambda a, v: a.name != "slots" or bool(v))
        | ({"slots": [_slot_dict(s) for s in p.slots]} if p.slots else {})
        for p in program.continuing_care
    ]
    out["screening"] = [
        {"count": p.count, "period": p.period.value, "days": p.days.value, "phases": list(p.phases)}
        | ({} if p.design is Design.FIXED_COUNT else {"design": p.design.value})
        for p in program.screening
    ]
    return out


def _slot_dict(s: Slot) -> dict[str, Any]:
    return _drop_none(
        {
            "day": s.day.name.lower(),
            "start": f"{s.start:%H:%M}",
            "session_type": s.session_type,
            "minutes": s.minutes,
            "every_weeks": None if s.every_weeks == 1 else s.every_weeks,
        }
    )


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def dump_program(program: Program) -> str:
    """Encode ``program`` as TOML text that :func:`loads_program` reads back equal."""
    return tomli_w.dumps(program_to_dict(program))


def save_program(program: Program, path: str | Path) -> None:
    """Write ``program`` to ``path`` as TOML."""
    Path(path).write_text(dump_program(program), encoding="utf-8")
