"""Provenance: what produced a result, carried with it, so that it can be checked and re-run.

:func:`record` turns the scenarios of a run into plain JSON: the program file itself (as
TOML, with its SHA-256), track, start, horizon, population, model with its effects, options,
exits, participants, replications, seeds and chunk size, and the versions of iopcore, NumPy
and pandas. :func:`scenarios_from_record` turns it back into the same scenarios, so
:func:`replay` gives bit-identical tables. :func:`varied_parameters` names the settings that
differ between the scenarios of a run (a grid's axes, a sample's draws), which the result
tables carry as columns.

>>> from iopcore import load_program
>>> from iopcore.simulation import Scenario, grid
>>> base = Scenario(program=load_program("examples/programs/adult-evening.toml"))
>>> arms = grid(base, {"options.reminders": [False, True]})
>>> varied_parameters(arms)
{'options.reminders': [False, True]}
>>> scenarios_from_record(json.loads(json.dumps(record(arms, seed=0, replications=1)))) == arms
True
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
from collections.abc import Mapping, Sequence
from datetime import date, time
from pathlib import Path
from typing import Any

import attrs
from cattrs.preconf.json import make_converter

from iopcore.core.program import Program
from iopcore.io.convert import DecodeError, first_error, join
from iopcore.io.files import dump_program, loads_program

from .errors import SimulationError
from .scenario import Scenario

#: The key of the run's record in a Parquet file's metadata (and the sidecar of a CSV).
METADATA_KEY = "iopcore.simulation"
FORMAT = "iopcore-simulation/1"

#: Records name every field they were made with: a key this version does not know (a record
#: of a newer version, or an altered one) is refused rather than silently dropped.
_converter = make_converter(forbid_extra_keys=True)
_converter.register_unstructure_hook(time, lambda t: t.isoformat())
_converter.register_structure_hook(time, lambda v, _: time.fromisoformat(v))
_converter.register_unstructure_hook(date, lambda d: d.isoformat())
_converter.register_structure_hook(date, lambda v, _: date.fromisoformat(v))


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@functools.lru_cache(maxsize=64)
def _program_toml(program: Program) -> str:
    """A program's file text (programs are frozen and hashable; arms share one)."""
    return dump_program(program)


def _scenario(scenario: Scenario) -> dict[str, Any]:
    program = _program_toml(scenario.program)
    model = scenario.model
    return {
        "name": scenario.name,
        "program": {
            "toml": program,
            "sha256": hashlib.sha256(program.encode("utf-8")).hexdigest(),
        },
        "track": scenario.track,
        "start": scenario.start.isoformat(),
        "horizon_weeks": scenario.horizon_weeks,
        "resolved": {"track": scenario.track_name, "horizon_weeks": scenario.horizon},
        "participants": scenario.participants,
        "replications": scenario.replications,
        "seed": scenario.seed,
        "chunk_size": scenario.chunk_size,
        "population": _converter.unstructure(scenario.population),
        "model": {
            "class": _class_name(type(model)),
            "fields": _fields(model),
        },
        "progress": {
            "class": _class_name(type(scenario.progress)),
            "fields": _fields(scenario.progress),
        },
        "options": _converter.unstructure(scenario.options),
        "exits": _converter.unstructure(scenario.exits),
    }


def record(
    scenarios: Sequence[Scenario],
    *,
    seed: int,
    replications: int,
    common_random_numbers: bool = True,
    uncertainty: Mapping[str, Any] | None = None,
    groups: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The run as plain JSON-ready data: everything needed to re-run it bit for bit
    (``uncertainty``: a probabilistic sensitivity analysis's draws, parameters and seed;
    ``groups``: each scenario's arm and grid point, for contrasts)."""
    out: dict[str, Any] = {
        "format": FORMAT,
        "versions": {name: _version(name) for name in ("iopcore", "numpy", "pandas")},
        "seed": seed,
        "replications": replications,
        "common_random_numbers": common_random_numbers,
        "scenarios": [_scenario(s) for s in scenarios],
    }
    if uncertainty is not None:
        out["uncertainty"] = dict(uncertainty)
    if groups is not None:
        out["groups"] = {name: list(pair) for name, pair in groups.items()}
    return out


def _class_name(cls: type[Any]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _fields(model: object) -> dict[str, Any] | None:
    """A model's parameters as JSON-ready data, or None when they cannot be written down (a
    model that is not an attrs class, or whose fields the converter does not know): the run
    is still described, but cannot be replayed."""
    if not attrs.has(type(model)):
        return None
    try:
        data = _converter.unstructure(model)
        json.dumps(data)
    except Exception:  # a third-party model's field types are outside our control
        return None
    return data if isinstance(data, dict) else None


def _model_class(spec: str, kind: str = "attendance model") -> type[Any]:
    """The class of a registered attendance (or progress) model named ``spec``
    (module:qualname).

    Only models the plugin host registers can be rebuilt: a results file is data, so nothing
    it names is ever imported (the SHA-256 of the program is an integrity check, not a
    signature; whoever edits the file can recompute it)."""
    from iopcore.plugins import default_host

    host = default_host()
    registered: dict[str, Any] = (
        host.attendance_models() if kind == "attendance model" else host.progress_models()
    )
    for record in registered.values():
        try:
            cls = type(record.create())
        except Exception:  # a model that needs parameters cannot be matched by its defaults
            continue
        if _class_name(cls) == spec and attrs.has(cls):
            return cls
    raise SimulationError(
        f"the result was made with {kind} {spec!r}, which no installed plugin "
        "registers; install the plugin that provides it (results files never name code to "
        "import)"
    )


def _progress(item: Mapping[str, Any]) -> Any:
    """The scenario's progress model (records made before progress models: the default)."""
    from .progress import TrendProgress

    spec = item.get("progress")
    if spec is None:
        return TrendProgress()
    if spec["fields"] is None:
        raise SimulationError(
            f"scenario {item['name']!r}: its progress model's parameters could not be "
            "recorded (not an attrs class, or fields of unknown types), so it cannot be replayed"
        )
    return _structure(spec, "fields", _model_class(spec["class"], "progress model"), "progress")


def scenarios_from_record(data: Mapping[str, Any]) -> tuple[Scenario, ...]:
    """The scenarios of a run :func:`record` described (programs from their embedded TOML).

    A record is data from a file: whatever in it cannot be decoded is a
    :class:`SimulationError` naming the scenario and the key, never a traceback."""
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, Mapping) else None
        raise SimulationError(
            f"not an iopcore simulation record (format {found!r}, expected {FORMAT!r})"
        )
    items = data.get("scenarios")
    if not isinstance(items, list) or not items:
        raise SimulationError("the record lists no scenarios (key 'scenarios'); it was altered")
    out = []
    for i, item in enumerate(items):
        name = item.get("name", f"#{i}") if isinstance(item, Mapping) else f"#{i}"
        try:
            out.append(_scenario_from(item))
        except SimulationError:
            raise
        except Exception as exc:  # the record is untrusted data: any failure is damage
            key_path, problem = first_error(exc, f"scenarios[{i}]")
            raise SimulationError(
                f"scenario {name!r}: the record cannot be read at {key_path or 'its top'}: "
                f"{problem}; it was damaged or altered (re-run the scenario file instead)"
            ) from None
    return tuple(out)


def _scenario_from(item: Mapping[str, Any]) -> Scenario:
    from .options import Exits, Options
    from .population import PopulationSpec

    text = item["program"]["toml"]
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != item["program"]["sha256"]:
        raise SimulationError(
            f"scenario {item['name']!r}: the embedded program does not match its SHA-256; "
            "the record was altered"
        )
    model_cls = _model_class(item["model"]["class"])
    if item["model"]["fields"] is None:
        raise SimulationError(
            f"scenario {item['name']!r}: its model's parameters could not be recorded "
            "(not an attrs class, or fields of unknown types), so it cannot be replayed"
        )
    return Scenario(
        name=item["name"],
        program=loads_program(text, file=f"<record of {item['name']}>"),
        track=item["track"],
        start=date.fromisoformat(item["start"]),
        horizon_weeks=item["horizon_weeks"],
        participants=item["participants"],
        replications=item["replications"],
        seed=item["seed"],
        chunk_size=item["chunk_size"],
        population=_structure(item, "population", PopulationSpec),
        model=_structure(item["model"], "fields", model_cls, "model"),
        progress=_progress(item),
        options=_structure(item, "options", Options),
        exits=_structure(item, "exits", Exits),
    )


def _structure(item: Mapping[str, Any], key: str, cls: type[Any], where: str = "") -> Any:
    """``item[key]`` as a ``cls``, an error naming the key path when it cannot be."""
    try:
        return _converter.structure(item[key], cls)
    except Exception as exc:
        key_path, problem = first_error(exc, join(where, key))
        raise DecodeError(key_path, problem) from None


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}" if prefix else key, out)
    elif isinstance(value, list):
        out[prefix] = json.dumps(value)
    else:
        out[prefix] = value


def _settings(scenario: Scenario) -> dict[str, Any]:
    item = _scenario(scenario)
    flat: dict[str, Any] = {
        "program": scenario.program.name,
        "program.sha256": item["program"]["sha256"],
    }
    flat.update(item["resolved"])
    for key in ("start", "participants", "chunk_size"):
        flat[key] = item[key]
    flat["model"] = item["model"]["class"].rpartition(":")[2]
    for key in ("population", "options", "exits"):
        _flatten(item[key], key, flat)
    _flatten(item["model"]["fields"], "model", flat)
    flat["progress"] = item["progress"]["class"].rpartition(":")[2]
    _flatten(item["progress"]["fields"], "progress", flat)
    return flat


def varied_parameters(scenarios: Sequence[Scenario]) -> dict[str, list[Any]]:
    """Each setting (dotted path) whose value differs between ``scenarios``, with the value
    per scenario in order; empty for a single scenario."""
    if len(scenarios) < 2:
        return {}
    rows = [_settings(s) for s in scenarios]
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return {
        key: [row.get(key) for row in rows]
        for key in keys
        if len({json.dumps(row.get(key), default=str) for row in rows}) > 1
    }


def read_record(path: str | Path) -> dict[str, Any]:
    """The run record stored with a results table (Parquet metadata, or ``<name>.json`` beside
    a CSV)."""
    path = Path(path)
    if not path.is_file():
        raise SimulationError(f"{path}: no such results file; check the path")
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            meta = pq.read_schema(path).metadata or {}
        except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
            raise SimulationError(f"{path}: not a readable Parquet file ({exc})") from None
        raw = meta.get(METADATA_KEY.encode())
        if raw is None:
            raise SimulationError(
                f"{path}: this table carries no iopcore run record (written by another tool, "
                "or by iopcore before 0.1); re-run the scenario file instead"
            )
        data: dict[str, Any] = json.loads(raw)
        return data
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        raise SimulationError(f"{path}: no run record beside it ({sidecar.name} is missing)")
    loaded: dict[str, Any] = json.loads(sidecar.read_text(encoding="utf-8"))
    return loaded


def of(result: Any, groups: Mapping[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """The run record of a :class:`~iopcore.simulation.results.SimulationResult`."""
    if not result.sources:
        raise SimulationError("this result does not carry its scenarios; it cannot be described")
    return record(
        result.sources,
        seed=result.seed,
        replications=result.replications,
        common_random_numbers=result.common_random_numbers,
        uncertainty=result.uncertainty,
        groups=groups,
    )


def groups_of(data: Mapping[str, Any]) -> dict[str, tuple[str, str]] | None:
    """The arms and grid points a record names (None when it names none)."""
    raw = data.get("groups")
    if not isinstance(raw, dict):
        return None
    return {str(k): (str(v[0]), str(v[1])) for k, v in raw.items()}


def replay(
    path: str | Path,
    *,
    backend: str = "process",
    workers: int | None = None,
    progress: bool | None = None,
) -> Any:
    """Re-run the simulation whose table is at ``path`` (see :func:`read_record`): the same
    scenarios, seed and replications (and parameter draws, for a probabilistic sensitivity
    analysis), so the tables come out bit-identical."""
    from .sweep import run

    data = read_record(path)
    if data.get("uncertainty") is not None:
        return replay_uncertainty(data, backend=backend, workers=workers, progress=progress)
    return run(
        scenarios_from_record(data),
        replications=data["replications"],
        seed=data["seed"],
        common_random_numbers=data["common_random_numbers"],
        backend=backend,
        workers=workers,
        progress=progress,
    )


def replay_uncertainty(data: Mapping[str, Any], **where: Any) -> Any:
    """Re-run the probabilistic sensitivity analysis a record describes."""
    from .uncertainty import parameter, simulate_with_uncertainty

    psa = data["uncertainty"]
    return simulate_with_uncertainty(
        scenarios_from_record(data),
        draws=int(psa["draws"]),
        parameters=[parameter(p) for p in [*psa["parameters"], *psa.get("kept", [])]],
        replications=data["replications"],
        seed=int(psa["seed"]),
        **where,
    )


def sidecar_path(path: Path) -> Path:
    """Where the run record of a CSV table is written: ``results.csv`` -> ``results.json``."""
    return path.with_suffix(".json")


__all__ = [
    "METADATA_KEY",
    "groups_of",
    "of",
    "read_record",
    "record",
    "replay",
    "replay_uncertainty",
    "scenarios_from_record",
    "sidecar_path",
    "varied_parameters",
]
