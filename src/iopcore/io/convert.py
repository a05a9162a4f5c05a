"""The one decoder: TOML-shaped data -> attrs values, for programs, scenarios and stored records.

A single cattrs converter structures every file table into its attrs class. It is strict where
TOML is loose (``true`` is not an integer, ``"90"`` is not a number, an unknown key is an
error) and turns cattrs' grouped errors into one message that names the key path, the problem
and the fix: an unknown key suggests the closest valid key and lists the valid keys of its
table. :func:`locate` finds the line of a key path, so the file loaders report
``file:line: key.path: problem``.

Tables keyed by name in TOML (``[session_types.group]``, ``[tracks.evening]``) become tuples
of values whose ``name`` is the key. Stored records use :data:`records`, a JSON converter with
the same scalar rules for wall times.

    >>> from iopcore.core.policies import ScoreLimit
    >>> decode(ScoreLimit, {"instrument": "PHQ-9", "at_most": 9})
    ScoreLimit(instrument='PHQ-9', at_most=9.0)
    >>> decode(ScoreLimit, {"instrument": "PHQ-9", "at_mots": 9}, "step_down[0].assessments[0]")
    Traceback (most recent call last):
    iopcore.io.convert.DecodeError: step_down[0].assessments[0].at_mots: unknown key (did you mean "at_most"?); one of: at_most, instrument
"""  # noqa: E501

from __future__ import annotations

import enum
import re
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from typing import Any, TypeVar

import attrs
import cattrs
import cattrs.preconf.json
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, override

from iopcore.core.cadence import Weekday, parse_time, zone
from iopcore.core.errors import IopcoreError, ValidationError, one_of, suggest
from iopcore.core.program import Program, Track
from iopcore.core.sessions import SessionType

T = TypeVar("T")


class DecodeError(IopcoreError):
    """A table does not fit its class; ``key_path`` is relative to the table decoded."""

    def __init__(self, key_path: str, problem: str) -> None:
        self.key_path = key_path
        self.problem = problem
        super().__init__(f"{key_path}: {problem}" if key_path else problem)


def join(path: str, key: str) -> str:
    """``path.key`` (``key`` at the top, ``path`` for no key)."""
    return f"{path}.{key}" if path and key else path or key


def show(value: object) -> str:
    """A value as the TOML author wrote it, for messages."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    return str(value)


def decode(cls: type[T], data: object, path: str = "") -> T:
    """Structure ``data`` into ``cls``; raise :class:`DecodeError` naming the first problem.

    ``path`` is the key path of ``data`` in its file, prefixed to the error's key path.
    """
    try:
        return converter.structure(data, cls)
    except DecodeError as exc:
        raise DecodeError(join(path, exc.key_path), exc.problem) from None
    except Exception as exc:  # cattrs groups, or a value's own validation error
        key_path, problem = first_error(exc, path)
        raise DecodeError(key_path, problem) from None


# -- scalars: strict, with messages in TOML words -------------------------------------------


def _int(value: object, _: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DecodeError("", f"expected an integer, got {show(value)}")
    return value


def _float(value: object, _: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DecodeError("", f"expected a number, got {show(value)}")
    return float(value)


def _str(value: object, _: object) -> str:
    if not isinstance(value, str):
        raise DecodeError("", f"expected a string, got {show(value)}")
    return value


def _bool(value: object, _: object) -> bool:
    if not isinstance(value, bool):
        raise DecodeError("", f"expected true or false, got {show(value)}")
    return value


def _date(value: object, _: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise DecodeError("", f"{show(value)} is not a date (YYYY-MM-DD)")


def _time(value: object, _: object) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValidationError:
            pass
    raise DecodeError("", f"{show(value)} is not a time (HH:MM)")


def _weekday(value: object, _: object) -> Weekday:
    try:
        return Weekday.parse(value)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise DecodeError("", str(exc)) from None


def choices(tp: Any) -> list[str]:
    """The values an enum type accepts in a file ([] for other types)."""
    options = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
    tp = options[0]
    if tp is Weekday:
        return ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return [str(member.value) for member in tp]
    return []


def _enum(value: object, cls: type[enum.Enum]) -> enum.Enum:
    if isinstance(value, cls):
        return value
    values = {str(member.value): member for member in cls}
    if isinstance(value, str) and value in values:
        return values[value]
    hint = suggest(value, values) if isinstance(value, str) else ""
    raise DecodeError("", f"{show(value)} is not valid{hint}; {one_of(values)}")


_EXACT: dict[Any, Callable[[Any, Any], Any]] = {
    int: _int,
    float: _float,
    str: _str,
    bool: _bool,
    date: _date,
    time: _time,
    Weekday: _weekday,
}


def _scalar(value: object, tp: Any) -> Any:
    """One hook for the scalar types and their subclasses (registered by class, it also
    receives str and int enums, which would otherwise be structured as plain str or int)."""
    hook = _EXACT.get(tp)
    if hook is not None:
        return hook(value, tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum(value, tp)
    raise DecodeError("", f"cannot read a {tp.__name__} from a file")  # pragma: no cover


# -- containers: arrays are arrays, tables are tables ---------------------------------------


E = TypeVar("E", bound=BaseException)


def _note(exc: E, note: str) -> E:
    exc.add_note(note)
    return exc


def _tuple(tp: Any) -> Callable[[object, object], tuple[Any, ...]]:
    (item,) = [a for a in typing.get_args(tp) if a is not Ellipsis]

    def structure(value: object, _: object) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise DecodeError("", f"expected an array, got {show(value)}")
        out, errors = [], []
        for i, element in enumerate(value):
            try:
                out.append(converter.structure(element, item))
            except Exception as exc:
                errors.append(_note(exc, IterableValidationNote(f"@ index {i}", i, item)))
        if errors:
            raise IterableValidationError(f"While structuring {tp}", errors, tp)
        return tuple(out)

    return structure


def _dict(tp: Any) -> Callable[[object, object], dict[str, Any]]:
    _, item = typing.get_args(tp)

    def structure(value: object, _: object) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise DecodeError("", f"expected a table, got {show(value)}")
        out, errors = {}, []
        for key, element in value.items():
            try:
                out[str(key)] = converter.structure(element, item)
            except Exception as exc:
                errors.append(_note(exc, IterableValidationNote(f"@ key {key}", str(key), item)))
        if errors:
            raise IterableValidationError(f"While structuring {tp}", errors, tp)
        return out

    return structure


def _named(cls: type[T]) -> Callable[[object, object], tuple[T, ...]]:
    """Tables keyed by name (``[tracks.evening]``) -> values whose ``name`` is the key."""

    def structure(value: object, _: object) -> tuple[T, ...]:
        if not isinstance(value, Mapping):
            raise DecodeError("", f"expected a table of named tables, got {show(value)}")
        out, errors = [], []
        for key, table in value.items():
            try:
                if isinstance(table, Mapping) and "name" in table:
                    raise DecodeError("name", "unknown key; the name is the table's key")
                data = {**table, "name": key} if isinstance(table, Mapping) else table
                out.append(converter.structure(data, cls))
            except Exception as exc:
                errors.append(_note(exc, AttributeValidationNote(f"@ {key}", str(key), cls)))
        if errors:
            raise ClassValidationError(f"While structuring {cls.__name__}s", errors, cls)
        return tuple(out)

    return structure


#: Classes whose ``name`` comes from their table's key, not from a key in the table.
NAMED = (SessionType, Track)


def keys(cls: type[Any]) -> list[str]:
    """The keys a table of ``cls`` accepts."""
    names = [f.name for f in attrs.fields(cls) if f.init]
    return [n for n in names if n != "name"] if cls in NAMED else names


def _attrs(cls: type[Any]) -> Callable[[object, object], Any]:
    overrides: dict[str, Any] = {}
    if cls is Program:
        overrides = {
            "session_types": override(struct_hook=_named(SessionType)),
            "tracks": override(struct_hook=_named(Track)),
        }
    if cls is Track:
        overrides = {"time_zone": override(struct_hook=_zone)}
    inner = make_dict_structure_fn(cls, converter, **overrides)

    def structure(value: object, _: object) -> Any:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise DecodeError("", f"expected a table, got {show(value)}")
        if cls is Program:
            return _program(inner, value)
        return inner(value, cls)

    return structure


def _zone(value: object, _: object) -> str:
    name = _str(value, _)
    try:
        zone(name)
    except ValidationError as exc:
        raise DecodeError("", str(exc)) from None
    return name


def _program(inner: Callable[[Any, Any], Program], data: Mapping[str, Any]) -> Program:
    try:
        return inner(data, Program)
    except ClassValidationError as exc:
        if any(_last_note(sub) for sub in exc.exceptions):
            raise
        # Every key decoded but the Program's own cross-checks failed: name the exact slot
        # or phase when the fault is a reference or an overlap.
        types = _named(SessionType)(data.get("session_types", {}), None)
        tracks = _named(Track)(data.get("tracks", {}), None)
        _check_references(types, tracks)
        raise


def _check_references(types: tuple[SessionType, ...], tracks: tuple[Track, ...]) -> None:
    from iopcore.core.program import check_overlaps

    names = [s.name for s in types]
    minutes = {s.name: s.minutes for s in types}
    for track in tracks:
        for i, phase in enumerate(track.phases):
            where = f"tracks.{track.name}.phases[{i}]"
            for j, slot in enumerate(phase.slots):
                if slot.session_type not in names:
                    raise DecodeError(
                        f"{where}.slots[{j}].session_type",
                        f'"{slot.session_type}" is not a session type of this program'
                        f"{suggest(slot.session_type, names)}; define [session_types."
                        f"{slot.session_type}] or use {one_of(names)}",
                    )
            try:
                check_overlaps(phase, lambda slot: slot.minutes or minutes[slot.session_type])
            except ValidationError as exc:
                raise DecodeError(where, str(exc)) from None


def _is_tuple(tp: Any) -> bool:
    args = typing.get_args(tp)
    return typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis


def _is_dict(tp: Any) -> bool:
    return typing.get_origin(tp) is dict


def _make() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    for tp in (*_EXACT, enum.Enum):
        conv.register_structure_hook(tp, _scalar)
    conv.register_structure_hook_factory(_is_tuple, _tuple)
    conv.register_structure_hook_factory(_is_dict, _dict)
    conv.register_structure_hook_factory(attrs.has, _attrs)
    return conv


#: The converter behind :func:`decode` (file tables -> attrs values).
converter = _make()


def _records() -> cattrs.preconf.json.JsonConverter:
    conv = cattrs.preconf.json.make_converter()
    # local wall times (aftercare meetings) as "HH:MM:SS"
    conv.register_unstructure_hook(time, time.isoformat)
    conv.register_structure_hook(time, lambda value, _: time.fromisoformat(value))
    return conv


#: The converter of stored records (attrs records <-> JSON-ready trees).
records = _records()


# -- errors -----------------------------------------------------------------------------------


def _last_note(exc: BaseException) -> AttributeValidationNote | IterableValidationNote | None:
    notes = [
        n
        for n in getattr(exc, "__notes__", ())
        if isinstance(n, AttributeValidationNote | IterableValidationNote)
    ]
    return notes[-1] if notes else None


def first_error(exc: BaseException, path: str = "") -> tuple[str, str]:
    """(key path, problem) of the first error in a cattrs error tree (``transform_error``
    for one message: a key path in the file's own terms, and what to do about it)."""
    if isinstance(exc, ClassValidationError | IterableValidationError):
        # an unknown key first: a misspelt key often explains a missing one
        extra = [e for e in exc.exceptions if isinstance(e, ForbiddenExtraKeysError)]
        sub = extra[0] if extra else exc.exceptions[0]
        note = _last_note(sub)
        if isinstance(note, AttributeValidationNote):
            if isinstance(sub, KeyError) and sub.args == (note.name,):
                options = choices(note.type)
                also = f"; {one_of(options)}" if options else ""
                return path, f"missing required key {note.name!r}{also}"
            return first_error(sub, join(path, note.name))
        if isinstance(note, IterableValidationNote):
            index = note.index
            where = f"{path}[{index}]" if isinstance(index, int) else join(path, str(index))
            return first_error(sub, where)
        return first_error(sub, path)
    if isinstance(exc, ForbiddenExtraKeysError):
        key = sorted(exc.extra_fields)[0]
        valid = keys(exc.cl)
        return join(path, key), f"unknown key{suggest(key, valid)}; {one_of(valid)}"
    if isinstance(exc, DecodeError):
        return join(path, exc.key_path), exc.problem
    if isinstance(exc, ValidationError) and exc.key_path:  # the field the domain names
        return _join_path(path, exc.key_path), str(exc)
    if isinstance(exc, OverflowError):  # a number too large for the machine
        return path, f"a number there is too large ({exc}); use a realistic value"
    return path, str(exc)


def _join_path(path: str, key_path: str) -> str:
    """``path`` + a relative key path that may start with an index (``[0].x``)."""
    if not path:
        return key_path
    return f"{path}{key_path}" if key_path.startswith("[") else f"{path}.{key_path}"


def section(cls: type[Any], key_path: str) -> str:
    """The reference section (anchor) of the table holding ``key_path`` in a file of ``cls``:
    the table keys on the way, without indexes and names (``tracks.x.phases[0].start`` ->
    ``tracks-phases``); ``top-level-keys`` for a top-level key.

        >>> section(Program, "tracks.evening.phases[0].slots[3].start")
        'tracks-phases-slots'
        >>> section(Program, "step_down[1].min_weeks"), section(Program, "nmae")
        ('step_down', 'top-level-keys')
    """
    parts = [p for p in re.sub(r"\[\d+\]", "", key_path).split(".") if p]
    anchor: list[str] = []
    i = 0
    while i < len(parts) and attrs.has(cls):
        field = attrs.fields_dict(cls).get(parts[i])
        if field is None:
            break
        tp = typing.get_type_hints(cls)[parts[i]]
        tp = next((a for a in typing.get_args(tp) if a is not Ellipsis), tp)
        if not (isinstance(tp, type) and attrs.has(tp)):
            break
        anchor.append(parts[i])
        i += 2 if tp in NAMED else 1
        cls = tp
    return "-".join(anchor) or "top-level-keys"


# -- where a key path is in the text ----------------------------------------------------------

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


__all__ = [
    "NAMED",
    "DecodeError",
    "choices",
    "converter",
    "decode",
    "first_error",
    "join",
    "keys",
    "locate",
    "records",
    "section",
    "show",
]
