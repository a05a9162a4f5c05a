"""Scenario files (TOML): arms, grids and the program they name, decoded by the one
converter of :mod:`iopcore.io.convert` (which also decodes the models' parameters).

A scenario file names its program file by a path relative to the scenario file (``program``,
the one key every scenario file has; a program file given instead is recognised by its
``tracks`` or ``session_types`` and said to be one). Every error
names the file, the key path and the fix, like program files (:mod:`iopcore.io.files`): an
unknown key suggests the closest, an unknown model lists the installed ones.

``[[arms]]`` are variants of the base scenario (each overrides any keys, ``name`` required);
``[grid]`` maps dotted keys to arrays of values and multiplies every arm by every combination.

>>> from pathlib import Path
>>> scenarios = load_scenarios("examples/scenarios/reminders.toml")
>>> [s.name for s in scenarios]
['no reminders', 'SMS reminders']
>>> text = 'program = "p.toml"\\nparticpants = 10'
>>> loads_scenarios(text, file="s.toml", folder=Path("."))  # doctest: +ELLIPSIS
Traceback (most recent call last):
iopcore.ProgramFileError: s.toml:2: particpants: unknown key (did you mean "participants"...
"""

from __future__ import annotations

import copy
import itertools
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from iopcore.core.errors import IopcoreError, PluginError, ProgramFileError, one_of, suggest
from iopcore.io.convert import DecodeError, decode, join, show
from iopcore.io.files import file_error, load_program

if TYPE_CHECKING:
    from .scenario import Scenario

#: A parameter table is invalid (the decoder's error; ``key_path`` is relative to the table).
ParameterError = DecodeError


# -- scenario files -------------------------------------------------------------------------

_SCALARS = ("name", "track", "start", "horizon_weeks", "participants", "replications", "seed")
_TABLES = ("population", "options", "exits")
#: Keys naming a plugin component: a name, or a table with ``name`` and its parameters.
_COMPONENTS = ("model", "progress")
_TOP = (*_SCALARS, "chunk_size", "program", *_COMPONENTS, *_TABLES)
#: Keys only a program file has (a scenario file always has ``program`` instead).
_PROGRAM_ONLY = ("tracks", "session_types")


#: Per scenario name: its arm's name and its grid point ("" without a grid), e.g.
#: ``{"day conflict=-1.0": ("day", "conflict=-1.0")}``; contrasts pair arms at one point.
Groups = dict[str, tuple[str, str]]


def load_scenarios(path: str | Path) -> tuple[Scenario, ...]:
    """Load a scenario file: the base scenario, or one scenario per arm and grid point."""
    return load_design(path)[0]


def load_design(path: str | Path) -> tuple[tuple[Scenario, ...], Groups]:
    """A scenario file's scenarios and, per scenario, its arm and grid point (:data:`Groups`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProgramFileError("no such file; check the path", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProgramFileError(f"cannot read: {exc}", file=str(path)) from None
    return loads_design(text, file=path.name, folder=path.resolve().parent)


def loads_scenarios(text: str, *, file: str = "<string>", folder: Path) -> tuple[Scenario, ...]:
    """Decode scenarios from TOML text; ``folder`` resolves the relative program path."""
    return loads_design(text, file=file, folder=folder)[0]


def loads_design(
    text: str, *, file: str = "<string>", folder: Path
) -> tuple[tuple[Scenario, ...], Groups]:
    """:func:`load_design` of TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProgramFileError(f"not valid TOML: {exc}", file=file) from None
    try:
        return _scenarios(data, file=file, folder=folder)
    except DecodeError as exc:
        raise file_error(exc, text, file) from None


def _check_keys(table: Mapping[str, Any], path: str, allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            raise DecodeError(
                join(path, key), f"unknown key{suggest(key, allowed)}; {one_of(allowed)}"
            )


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key in _COMPONENTS:
            value = {"name": value} if isinstance(value, str) else dict(value)
            old = out.get(key)
            old = {"name": old} if isinstance(old, str) else old
            if isinstance(old, dict) and value.get("name", old.get("name")) == old.get("name"):
                value = _merge(old, value)
            out[key] = value
        elif isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _set(table: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        child = table.get(part)
        if isinstance(child, str) and part in _COMPONENTS:
            child = {"name": child}
        if not isinstance(child, dict):
            child = {}
        table[part] = child
        table = child
    table[leaf] = value


def _scenarios(
    data: dict[str, Any], *, file: str, folder: Path
) -> tuple[tuple[Scenario, ...], Groups]:
    arms, axes = _layout(data, file)
    base = {k: v for k, v in data.items() if k not in ("arms", "grid")}
    programs: dict[str, Any] = {}
    out = []
    groups: Groups = {}
    for i, arm in enumerate(arms):
        where = f"arms[{i}]"
        if "arms" in data:
            if not isinstance(arm, dict):
                raise DecodeError(where, f"expected a table, got {show(arm)}")
            _check_keys(arm, where, _TOP)
            if "name" not in arm:
                raise DecodeError(where, "missing required key 'name' (each arm needs one)")
        merged = _merge(base, arm)
        for combo in itertools.product(*axes.values()):
            variant = copy.deepcopy(merged)
            for key, value in zip(axes, combo, strict=True):
                _set(variant, key, value)
            try:
                scenario = _scenario(variant, file=file, folder=folder, programs=programs)
            except DecodeError as exc:
                raise _blame_arm(exc, where, arm if "arms" in data else {}, axes) from None
            arm_name, label = scenario.name, ""
            if axes:
                label = ", ".join(
                    f"{k.rsplit('.', 1)[-1]}={v}" for k, v in zip(axes, combo, strict=True)
                )
                scenario = attrs.evolve(scenario, name=f"{scenario.name} {label}")
            out.append(scenario)
            groups[scenario.name] = (arm_name, label)
    names = [s.name for s in out]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DecodeError("arms", f"scenario names must be unique; repeated: {repeated}")
    return tuple(out), groups


def _layout(data: dict[str, Any], file: str) -> tuple[list[Any], dict[str, list[Any]]]:
    """A scenario file's arms (one empty arm without ``[[arms]]``) and grid axes, checked."""
    if "program" not in data and any(key in data for key in _PROGRAM_ONLY):
        name = Path(file).name
        raise DecodeError(
            "",
            "this is a program file, not a scenario; check it with `iopcore check "
            f'{name}`, or write a scenario file that names it with program = "{name}" '
            "(a path relative to the scenario file; see examples/scenarios/)",
        )
    _check_keys(data, "", (*_TOP, "arms", "grid"))
    arms = data.get("arms", [{}])
    if not isinstance(arms, list) or not arms:
        raise DecodeError("arms", "expected an array of tables ([[arms]]) with a name each")
    axes = data.get("grid", {})
    if not isinstance(axes, dict):
        raise DecodeError("grid", f"expected a table of dotted keys, got {show(axes)}")
    for key, values in axes.items():
        _check_keys({key.split(".")[0]: None}, f'grid."{key}"', _TOP)
        if not isinstance(values, list) or not values:
            raise DecodeError(f'grid."{key}"', "expected a non-empty array of values")
    return arms, axes


def _blame_arm(
    exc: DecodeError, where: str, arm: dict[str, Any], axes: dict[str, Any]
) -> DecodeError:
    """An error in one arm's scenario, placed where it was written: in the arm, in the grid,
    or (as it was) in the base."""
    top = exc.key_path.split(".")[0].split("[")[0]
    if top in arm:
        return DecodeError(join(where, exc.key_path), exc.problem)
    hit = next((k for k in axes if exc.key_path.startswith(k)), None)
    if hit is not None:
        return DecodeError(f'grid."{hit}"', exc.problem)
    return exc


def _scenario(
    data: dict[str, Any], *, file: str, folder: Path, programs: dict[str, Any]
) -> Scenario:
    from .options import Exits, Options
    from .population import PopulationSpec
    from .scenario import Scenario

    hints = typing.get_type_hints(Scenario)
    kwargs: dict[str, Any] = {"name": Path(file).stem}
    for key in (*_SCALARS, "chunk_size"):
        if key in data:
            kwargs[key] = decode(hints[key], data[key], key)
    if "program" not in data:
        raise DecodeError(
            "", "missing required key 'program' (the program file, relative to this file)"
        )
    relative = decode(str, data["program"], "program")
    if relative not in programs:
        program_path = folder / relative
        if not program_path.is_file():
            raise DecodeError(
                "program",
                f'no program file "{relative}" (looked in {program_path}); the path is '
                "relative to the scenario file's folder",
            )
        programs[relative] = load_program(program_path)
    kwargs["program"] = programs[relative]
    for key, cls in (("population", PopulationSpec), ("options", Options), ("exits", Exits)):
        if key in data:
            kwargs[key] = decode(cls, data[key], key)
    if "model" in data:
        kwargs["model"] = _component(data["model"], "model")
    if "progress" in data:
        kwargs["progress"] = _component(data["progress"], "progress")
    try:
        return Scenario(**kwargs)
    except IopcoreError as exc:
        raise DecodeError(_blame(str(exc)), str(exc)) from None


def _blame(message: str) -> str:
    """The scenario key a Scenario validation message is about ("" if unclear)."""
    for key in (*_SCALARS, "chunk_size"):
        if message.startswith(f"{key} "):
            return key
    if "has no track" in message:
        return "track"
    if message.startswith("options.step_down_by"):
        return "options.step_down_by"
    if "phase" in message:
        return "options.phase_weeks"
    return ""


#: Per component key: its default plugin and what the plugin host calls it.
_KINDS = {"model": ("logistic", "attendance model"), "progress": ("trend", "progress model")}


def _component(raw: Any, key: str) -> Any:
    """The plugin component a scenario's ``model`` or ``progress`` key names, created with
    the table's other keys as parameters."""
    from iopcore.plugins import default_host

    default, kind = _KINDS[key]
    table = {"name": raw} if isinstance(raw, str) else raw
    if not isinstance(table, dict):
        raise DecodeError(key, f"expected a {kind} name or a table, got {show(raw)}")
    name = table.get("name", default)
    if not isinstance(name, str):
        raise DecodeError(f"{key}.name", f"expected a {kind} name, got {show(name)}")
    host = default_host()
    try:
        record = host.attendance_model(name) if key == "model" else host.progress_model(name)
    except PluginError as exc:
        raise DecodeError(f"{key}.name", str(exc)) from None
    params = {k: v for k, v in table.items() if k != "name"}
    try:
        return record.create(**params)
    except DecodeError as exc:
        raise DecodeError(join(key, exc.key_path), exc.problem) from None
    except (IopcoreError, TypeError, ValueError) as exc:
        raise DecodeError(key, f"{kind} {name!r}: {exc}") from None


__all__ = [
    "Groups",
    "ParameterError",
    "decode",
    "load_design",
    "load_scenarios",
    "loads_design",
    "loads_scenarios",
]
