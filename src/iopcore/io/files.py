"""Program files: TOML <-> :class:`~iopcore.core.program.Program`.

Every error names the file, the key path and what was expected, and an unknown key suggests
the closest valid one. A program saved with :func:`dump_program` and loaded again is equal.
Decoding goes through the one converter of :mod:`iopcore.io.convert` (shared with scenario
files and stored records); this module adds the file handling and the encoder.

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
from pathlib import Path
from typing import Any

import attrs
import tomli_w

from iopcore.core.cadence import Slot
from iopcore.core.errors import ProgramFileError
from iopcore.core.policies import AccountabilitySettings, Design
from iopcore.core.program import Program
from iopcore.io.convert import DecodeError, decode, locate, section


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
        return decode(Program, data)
    except DecodeError as exc:
        link = f"program-files#{section(Program, exc.key_path)}"
        raise file_error(exc, text, file, docs=link) from None


def file_error(
    exc: DecodeError, text: str, file: str, *, docs: str | None = None
) -> ProgramFileError:
    """The :class:`ProgramFileError` of a decode error in ``file``: its line, key path and
    problem, and (``docs``) the reference section that documents the key."""
    problem = f"{exc.problem}; see docs: {docs}" if docs else exc.problem
    return ProgramFileError(
        problem, file=file, key_path=exc.key_path, line=locate(text, exc.key_path)
    )


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


__all__ = [
    "dump_program",
    "file_error",
    "load_program",
    "loads_program",
    "locate",
    "program_to_dict",
    "save_program",
]
