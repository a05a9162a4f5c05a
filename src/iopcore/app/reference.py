"""Reference pages generated from the code, so they cannot drift from it.

The file pages walk the same attrs classes the decoder (:mod:`iopcore.io.convert`) structures:
every table, every key the loader accepts, its type, default, allowed values and meaning. The
docs build (``docs/hooks.py``, an mkdocs hook) writes the pages; tests compare them with the
loader. A key's meaning is its ``#:`` comment in the class, its ``metadata["doc"]``, or (for
fields that have neither yet) an entry of :data:`MEANINGS`.

    >>> page = program_files_page()
    >>> "| `negative_screens_in_a_row` |" in page
    True
"""

from __future__ import annotations

import enum
import inspect
import re
import typing
from collections.abc import Iterator
from datetime import date, time
from pathlib import Path
from typing import Any

import attrs
import tomli_w

from iopcore.core.cadence import Weekday
from iopcore.core.program import Program
from iopcore.io.convert import NAMED, choices, keys

ROOT = Path(__file__).resolve().parents[3]

#: Meanings of keys whose class field has no ``#:`` comment or ``metadata["doc"]`` yet.
MEANINGS: dict[str, str] = {
    "Program.name": "Short identifier of the program (used in stores, exports and messages).",
    "Program.title": "Human-readable title shown in calendars and reports.",
    "Program.population": "Who the program serves; selects the weekly-hour rules.",
    "Program.level_of_care": "ASAM level of care: 1 (outpatient), 2.1 (IOP), 2.5 (partial "
    "hospitalization).",
    "Program.rule_sets": "Intensity rule sets every planned week is checked against (ASAM "
    "weekly hours, the H0015 day rule, the Medicare IOP weekly rule).",
    "Program.session_types": "The kinds of session the program runs, keyed by name.",
    "Program.closures": "Dates the whole program is closed (holidays); no session happens.",
    "Program.tracks": "Weekly schedules participants follow, keyed by name (e.g. day, evening).",
    "Program.accountability": "Thresholds of the built-in accountability findings.",
    "Program.measures": "Check-ins and assessments (e.g. PHQ-9) due on a schedule.",
    "Program.screening": "How many drug screens are drawn per period, on which days.",
    "Program.step_down": "When a participant may move to a less intensive phase or stage.",
    "Program.step_up": "When a participant should move back to a more intensive phase.",
    "Program.transfers": "Track changes the program allows (e.g. day to evening).",
    "Program.continuing_care": "Stages after the last phase (e.g. weekly outpatient) before "
    "aftercare.",
    "SessionType.kind": "What the session is; decides whether it counts toward hours.",
    "SessionType.modality": "The therapeutic approach (reporting only).",
    "SessionType.minutes": "Length of a session of this type, in minutes.",
    "SessionType.capacity": "Largest group size; admissions beyond it are refused.",
    "SessionType.counts_toward_hours": "Whether attended minutes count toward the weekly "
    "dose (default: every kind except check-in and screening).",
    "Closure.date": "The day the program is closed.",
    "Closure.reason": "Why (shown on calendars).",
    "Track.time_zone": "IANA time zone of the track's wall-clock times.",
    "Track.phases": "The phases of the track, in order (e.g. core, then step-down).",
    "Track.changes": "One-off changes to single sessions: cancelled, moved or retyped.",
    "Phase.name": "Name of the phase, referred to by step-down and screening policies.",
    "Phase.slots": "The weekly sessions of the phase.",
    "Phase.min_weeks": "Fewest weeks in the phase before a step-down may be considered.",
    "Phase.max_weeks": "Most weeks in the phase (the last phase ends the track after it).",
    "Slot.day": "Weekday of the session.",
    "Slot.start": "Local start time (24-hour HH:MM).",
    "Slot.session_type": "Name of a session type of this program.",
    "Slot.minutes": "Length of this slot when it differs from the session type's.",
    "Slot.every_weeks": "Repeat every N weeks, counted from the start of the participant's "
    "phase (e.g. 2: a family session every other week); 1 (default): every week.",
    "Change.date": "Date of the session being changed.",
    "Change.start": "Start time of the session being changed.",
    "Change.session_type": "New session type for that occurrence.",
    "Change.cancelled": "The session does not happen (set this, or a new date/time/type).",
    "Change.new_date": "Date the session moves to.",
    "Change.new_start": "Time the session moves to.",
    "Change.minutes": "New length of that occurrence.",
    "Change.reason": "Why (shown on calendars).",
    "AccountabilitySettings.rate_weeks": "Weeks over which the attendance rate is taken.",
    "MeasureSchedule.kind": "Check-in or assessment.",
    "MeasureSchedule.instrument": "Instrument name (e.g. PHQ-9, GAD-7, BAM).",
    "MeasureSchedule.every_weeks": "Weeks between administrations (omit: once, at admission).",
    "MeasureSchedule.alert_at": "Score at or above which a finding is raised.",
    "ScreeningPolicy.count": "Screens drawn per period.",
    "ScreeningPolicy.period": "The period the count applies to.",
    "ScreeningPolicy.days": "Which days are eligible for a draw.",
    "ScreeningPolicy.phases": "Phases the policy applies to (omit: all phases).",
    "StepDownPolicy.from_phase": "Phase the participant steps down from.",
    "StepDownPolicy.to": "Where they go: a later phase, a continuing-care stage or aftercare.",
    "StepDownPolicy.min_weeks": "Fewest weeks in from_phase first.",
    "StepDownPolicy.attendance_rate_at_least": "Attendance rate needed over rate_weeks.",
    "StepDownPolicy.rate_weeks": "Weeks over which the attendance rate is taken.",
    "StepDownPolicy.negative_screens_in_a_row": "Consecutive negative screens needed.",
    "StepDownPolicy.no_open_high_findings": "No open high-severity finding may remain.",
    "StepDownPolicy.assessments": "Assessment scores that must be at or below a limit.",
    "StepDownPolicy.signoff": "A clinician must sign the decision (recorded as a decision).",
    "ScoreLimit.instrument": "Instrument whose latest score is checked.",
    "ScoreLimit.at_most": "Highest score that still allows the step-down.",
    "StepUpPolicy.from_phase": "Phase the participant is in.",
    "StepUpPolicy.to": "More intensive phase to return to.",
    "StepUpPolicy.positive_screens": "Positive screens within within_weeks that trigger it.",
    "StepUpPolicy.missed_sessions": "Missed sessions within within_weeks that trigger it.",
    "StepUpPolicy.within_weeks": "Window for the counts above, in weeks.",
    "TransferPolicy.from_track": "Track a participant may leave.",
    "TransferPolicy.to_track": "Track they may join.",
    "CareStage.name": "Name of the stage (a step-down policy's to).",
    "CareStage.level_of_care": "ASAM level of the stage.",
    "CareStage.sessions_per_week": "Sessions a week in the stage.",
    "CareStage.hours_per_week": "Hours a week in the stage.",
    "CareStage.weeks": "Length of the stage in weeks.",
}

#: What a custom validator (by function name) allows, for the "allowed" column.
RANGES = {
    "_positive": "a whole number >= 1",
    "_optional_positive": "a whole number >= 1",
    "_at_least_one": ">= 1",
    "_positive_minutes": ">= 1",
    "_capacity": ">= 1",
    "_fraction": "0 to 1",
    "_share": "0 to 1",
    "_probability": "0 to 1",
    "_hazard": "0 to 1 (weekly)",
    "_non_negative": ">= 0",
    "_seed": ">= 0",
    "_minute_resolution": "whole minutes",
    "_distribution": "shares that sum to 1",
    "_name": "letters, digits, - and _",
}


@attrs.frozen
class Key:
    """One documented key of a table."""

    name: str
    type: str
    default: str
    allowed: str
    meaning: str


@attrs.frozen
class Table:
    """One documented table: its TOML header, anchor, class and keys."""

    header: str
    anchor: str
    cls: type[Any]
    keys: tuple[Key, ...]


# -- reading the schema -------------------------------------------------------------------------


def _comments(cls: type[Any]) -> dict[str, str]:
    """``#:`` comments above fields in the class source."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):  # pragma: no cover - classes defined at runtime
        return {}
    out: dict[str, str] = {}
    pending: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = re.match(r"^([a-z_][a-z0-9_]*)\s*:", stripped)
        if match and pending:
            out[match[1]] = " ".join(pending)
        pending = []
    return out


def meaning(cls: type[Any], name: str) -> str:
    """What a key means: ``metadata["doc"]``, its ``#:`` comment, or :data:`MEANINGS`."""
    field = attrs.fields_dict(cls)[name]
    return str(
        field.metadata.get("doc")
        or _comments(cls).get(name)
        or _bullets(cls).get(name)
        or MEANINGS.get(f"{cls.__name__}.{name}", "")
    )


def _bullets(cls: type[Any]) -> dict[str, str]:
    """``* ``name`` [range]: text`` items of the class docstring (ranges and sources)."""
    out: dict[str, str] = {}
    doc = inspect.getdoc(cls) or ""
    for item in re.split(r"\n\s*\* ", doc)[1:]:
        item = item.split("\n\n")[0]
        head, _, _ = item.partition(":")
        text = " ".join(item.split()).replace("``", "`")
        for name in re.findall(r"``(\w+)``", head):
            out.setdefault(name, text)
    return out


def _optional(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if typing.get_origin(tp) in (typing.Union, type(int | None)) else tp


def type_words(tp: Any) -> str:
    """A type in TOML words."""
    tp = _optional(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple:
        return f"array of {type_words(args[0])}s"
    if origin is dict:
        return f"table of {type_words(args[1])}s"
    if tp is bool:
        return "true/false"
    if tp is int:
        return "integer"
    if tp is float:
        return "number"
    if tp is date:
        return "date"
    if tp is time:
        return "time (HH:MM)"
    if tp is Weekday:
        return "weekday"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "string"
    if tp is str:
        return "string"
    if isinstance(tp, type) and attrs.has(tp):
        return "table"
    return getattr(tp, "__name__", str(tp))


def _default(field: attrs.Attribute[Any]) -> str:
    default: Any = field.default
    if default is attrs.NOTHING:
        return "required"
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        if default.takes_self:
            return "see meaning"
        default = default.factory()
    if default is None:
        return "none"
    if isinstance(default, enum.Enum):
        return f'`"{default.value}"`'
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, tuple | list | dict) and not default:
        return "empty"
    if isinstance(default, tuple) and all(isinstance(d, Weekday) for d in default):
        return "`[" + ", ".join(f'"{d.name.lower()}"' for d in default) + "]`"
    if isinstance(default, tuple) and all(isinstance(d, enum.Enum) for d in default):
        return "`[" + ", ".join(f'"{d.value}"' for d in default) + "]`"
    if attrs.has(type(default)):
        return "defaults below" if not isinstance(default, tuple) else "see meaning"
    if isinstance(default, str):
        return f'`"{default}"`'
    if isinstance(default, dict):
        return "`" + ", ".join(f"{k} = {v}" for k, v in default.items()) + "`"
    if isinstance(default, tuple):
        return "see meaning"
    return f"`{default}`"


def _allowed(field: attrs.Attribute[Any], tp: Any) -> str:
    tp = _optional(tp)
    if typing.get_origin(tp) is tuple:
        tp = typing.get_args(tp)[0]
    options = choices(tp)
    if options:
        return ", ".join(f"`{o}`" for o in options)
    validator = field.validator
    bound = getattr(validator, "bound", None)
    if bound is not None:
        return f"{getattr(validator, 'compare_op', '>=')} {bound}"
    name = getattr(validator, "__name__", "")
    return RANGES.get(name, "")


def _keys(cls: type[Any]) -> tuple[Key, ...]:
    hints = typing.get_type_hints(cls)
    fields = attrs.fields_dict(cls)
    return tuple(
        Key(
            name=name,
            type=type_words(hints[name]),
            default=_default(fields[name]),
            allowed=_allowed(fields[name], hints[name]),
            meaning=meaning(cls, name),
        )
        for name in keys(cls)
    )


def _element(tp: Any) -> type[Any] | None:
    """The attrs class of a table-valued field, if any."""
    tp = _optional(tp)
    if typing.get_origin(tp) is tuple:
        tp = typing.get_args(tp)[0]
    return tp if isinstance(tp, type) and attrs.has(tp) else None


def tables(cls: type[Any], header: str = "", path: str = "") -> Iterator[Table]:
    """The tables of a file whose top table is ``cls``, depth first; ``path`` is the dotted
    key path without names (``tracks.phases``), which makes the anchor."""
    anchor = path.replace(".", "-") or "top-level-keys"
    yield Table(header=header, anchor=anchor, cls=cls, keys=_keys(cls))
    hints = typing.get_type_hints(cls)
    prefix = header.strip("[]")
    for name in keys(cls):
        sub = _element(hints[name])
        if sub is None:
            continue
        full = f"{prefix}.{name}" if prefix else name
        if sub in NAMED:
            child, full = f"[{full}.NAME]", f"{full}.NAME"
        elif typing.get_origin(_optional(hints[name])) is tuple:
            child = f"[[{full}]]"
        else:
            child = f"[{full}]"
        yield from tables(sub, child, f"{path}.{name}" if path else name)


# -- pages ----------------------------------------------------------------------------------


def _plain(text: str) -> str:
    """Docstring markup as Markdown: Sphinx roles (``:class:`~a.B```) and ``literals`` as
    code (`B`, `literals`); a leading ``~`` keeps the last name only, as Sphinx shows it."""

    def role(match: re.Match[str]) -> str:
        target = match[1]
        return f"`{target.rsplit('.', 1)[-1] if target.startswith('~') else target}`"

    text = re.sub(r":(?:py:)?(?:class|meth|func|data|attr|mod|obj|exc):`([^`]+)`", role, text)
    return text.replace("``", "`")


def _cell(text: str) -> str:
    return _plain(text).replace("|", "\\|").replace("\n", " ")


def _table_markdown(table: Table, title: str | None = None) -> list[str]:
    out = [f"## {title or table.header or 'Top-level keys'} {{#{table.anchor}}}", ""]
    doc = inspect.getdoc(table.cls) or ""
    out += [_plain(doc.split("\n\n")[0].replace("\n", " ")), ""]
    out += ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    out += [
        f"| `{k.name}` | {k.type} | {k.default} | {_cell(k.allowed)} | {_cell(k.meaning)} |"
        for k in table.keys
    ]
    return [*out, ""]


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v not in ([], {})}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _scalars(table: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in table.items() if not isinstance(v, list | dict)}


def _example(anchor: str, named: set[str]) -> str | None:
    """The first use of the table ``anchor`` in the example programs, as TOML."""
    from iopcore.io.files import load_program, program_to_dict

    parts = anchor.split("-")
    for path in sorted((ROOT / "examples/programs").glob("*.toml")):
        node_in: Any = _prune(program_to_dict(load_program(path)))
        wrapped: dict[str, Any] = {}
        node_out = wrapped
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            value = node_in.get(part) if isinstance(node_in, dict) else None
            if not value:
                break
            if "-".join(parts[: i + 1]) in named:
                name, value = next(iter(value.items()))
                if last:
                    node_out[part] = {name: value}
                    return tomli_w.dumps(wrapped).strip()
                node_out = node_out.setdefault(part, {}).setdefault(name, _scalars(value))
            elif isinstance(value, list):
                if last:
                    node_out[part] = value[:1]
                    return tomli_w.dumps(wrapped).strip()
                value = value[0]
                node_out[part] = [_scalars(value)]
                node_out = node_out[part][0]
            else:
                if last:
                    node_out[part] = value
                    return tomli_w.dumps(wrapped).strip()
                node_out = node_out.setdefault(part, _scalars(value))
            node_in = value
    return None


def program_files_page() -> str:
    """docs/program-files.md: every table and key of a program file."""
    out = [
        "# Program files",
        "",
        "A program file is TOML. This page is generated from the classes the loader decodes",
        "into, so every key the loader accepts is listed here with its type, default, allowed",
        "values and meaning (`iopcore check FILE` names the line and key of any problem and",
        "links to the section below). Complete examples:",
        "[example program files](examples.md).",
        "",
        "`NAME` in a header is a name you choose (`[tracks.evening]`); `[[x]]` is an array of",
        "tables (repeat it for each item). Unknown keys are errors that list the valid keys.",
        "",
    ]
    found = list(tables(Program))
    named = {t.anchor for t in found if t.header.endswith(".NAME]")}
    for table in found:
        out += _table_markdown(table)
        example = _example(table.anchor, named) if table.header else None
        if example:
            out += ["Example:", "", "```toml", example, "```", ""]
    return "\n".join(out)


def scenario_tables() -> list[tuple[Table, str]]:
    """(table, title) of every scenario-file table, models from the installed plugins."""
    from iopcore.plugins import create_plugin_host
    from iopcore.simulation.files import _TOP
    from iopcore.simulation.options import Exits, Options
    from iopcore.simulation.population import PopulationSpec
    from iopcore.simulation.scenario import Scenario

    top = Table(
        header="",
        anchor="top-level-keys",
        cls=Scenario,
        keys=tuple(
            Key(
                name=name,
                type="string (a path)" if name == "program" else "string or table",
                default="required" if name == "program" else '`"logistic"`',
                allowed="",
                meaning="The program file, relative to this file's folder."
                if name == "program"
                else "The attendance model: a name, or a table with `name` and its parameters "
                "(see the model sections).",
            )
            if name in ("program", "model")
            else Key(
                name=name,
                type="string or table",
                default='`"trend"`',
                allowed="",
                meaning="Simulated screens and assessment scores, read when phases change by "
                "criteria (`options.step_down_by`): a name, or a table with `name` and its "
                "parameters (see the progress sections).",
            )
            if name == "progress"
            else next(k for k in _keys(Scenario) if k.name == name)
            for name in _TOP
            if name not in ("population", "options", "exits")
        ),
    )
    out: list[tuple[Table, str]] = [(top, "Top-level keys")]
    for name, cls in (("population", PopulationSpec), ("options", Options), ("exits", Exits)):
        for table in tables(cls, f"[{name}]", name):
            out.append((table, table.header))
    host = create_plugin_host()
    for model in sorted(host.attendance_models()):
        made = type(host.attendance_model(model).create())  # its defaults: a parameter class
        if attrs.has(made):
            for table in tables(made, "[model]", f"model-{model}"):
                title = (
                    f'[model] name = "{model}"'
                    if table.header == "[model]"
                    else f'{table.header} of model "{model}"'
                )
                out.append((table, title))
    for progress in sorted(host.progress_models()):
        kind = type(host.progress_model(progress).create())
        if attrs.has(kind):
            for table in tables(kind, "[progress]", f"progress-{progress}"):
                out.append((table, f'[progress] name = "{progress}"'))
    return out


def _scenario_fields_meanings() -> None:
    """Scenario fields without comments get theirs here (kept with the others)."""
    MEANINGS.update(
        {
            "Scenario.name": "Name of the scenario (arms: required, and unique).",
            "Scenario.program": "The program simulated.",
            "Scenario.population": "Who is admitted.",
            "Scenario.options": "Program options under study.",
            "Scenario.exits": "Weekly hazards of leaving for other reasons.",
            "Scenario.model": "The attendance model.",
            "Scenario.participants": "Participants simulated per replication.",
            "Scenario.replications": "Independent replications (each with its own seed).",
            "Scenario.seed": "Seed of the random streams; same seed, same results.",
            "PopulationSpec.entry_path": "Shares of admissions by how they came (direct, "
            "stepping down from a higher level, stepping up); sum to 1.",
            "PopulationSpec.age_group": "Shares of admissions by age group; sum to 1.",
            "PopulationSpec.shift_hours": "The work shifts of employed participants (a "
            "session overlapping a participant's shift is a conflict).",
            "Shift.name": "Name of the shift (a key of shifts).",
            "Shift.start": "Shift start (HH:MM).",
            "Shift.end": "Shift end (HH:MM; earlier than start for a night shift).",
            "Shift.days": "Weekdays worked.",
            "Options.admission": "closed: a cohort starts together; rolling: admissions spread "
            "over admission_weeks.",
            "Exits.transferred": "Weekly hazard of transfer to another provider.",
            "Exits.terminated": "Weekly hazard of administrative discharge.",
            "Exits.other": "Weekly hazard of leaving for other reasons (moves, incarceration).",
            "LatentClassModel.intercepts": "Log-odds of attending in week 0, per class.",
            "LatentClassModel.engagement_sd": "Spread of personal engagement (log-odds).",
            "LatentClassModel.dropout": "How stays end as dropouts: the daily disengagement "
            "hazard and the clinic's rule (see [model.dropout]).",
            "LatentClassModel.hazards": "Log hazard ratios on the daily hazard of "
            "disengaging (see [model.hazards]).",
            "LogisticModel.hazards": "Log hazard ratios on the daily hazard of disengaging "
            "(see [model.hazards]).",
            "Effects.employed": "Log-odds shift of attending for employed participants "
            "(calibrated to TEDS-D 2004 completion, 47.1% employed vs 29.4%).",
            "Effects.cooccurring": "Log-odds shift of attending with a co-occurring "
            "psychiatric disorder (TEDS-D 2009-2011, Krawczyk et al. 2017).",
            "Hazards.reminders": "Log hazard ratio of disengaging with SMS reminders (no "
            "published estimate; range [-0.3, 0]).",
            "Hazards.transport_barrier": "Log hazard ratio with a transport barrier (no "
            "published estimate; range [0, 0.5]).",
            "Hazards.conflict": "Log hazard ratio times the share of visits overlapping work "
            "hours (no published estimate; range [0, 1]).",
            "Hazards.evening": "Log hazard ratio times the share of evening visits (no "
            "published estimate; range [-0.3, 0.3]).",
            "Hazards.session_hours": "Log hazard ratio per hour of mean visit length beyond "
            "3 h (Lappan 2020 found more dropout with longer sessions; range [0, 0.3]).",
            "Hazards.joined_mid_cycle": "Log hazard ratio for joining a running group (rolling "
            "admission; no published estimate; range [0, 0.5]).",
            "Hazards.group_size": "Log hazard ratio per participant of group size beyond the "
            "reference (no published estimate; range [-0.05, 0.05]).",
            "TrendProgress.negative_screen": "Probability that a screen is negative for an "
            "average participant at admission (illustrative; range [0.5, 0.95]; no source).",
            "TrendProgress.screen_weekly": "Change of the log-odds of a negative screen per "
            "program week (illustrative; range [0, 0.2]; no source).",
            "TrendProgress.score_max": "Top of the assessment scale (27: the PHQ-9's range).",
            "Scenario.progress": "Simulated screens and assessment scores (step-down by criteria).",
            "TrendProgress.screen_sd": "SD between participants of the log-odds of a negative "
            "screen (illustrative; range [0, 2]; no source).",
            "TrendProgress.score_start": "Mean assessment score at admission (illustrative: "
            "12, the PHQ-9's moderate band; no source).",
            "TrendProgress.score_sd": "SD of the admission score between participants "
            "(illustrative; no source).",
            "TrendProgress.score_weekly": "Change of the score per week in treatment "
            "(illustrative; range [-1, 0]; no source).",
            "TrendProgress.score_noise": "Noise of one assessment, in points (illustrative; "
            "no source).",
            "LatentClassModel.effects": "Shifts on the log-odds of attending (see "
            "[model.effects]).",
            "LogisticModel.effects": "Shifts on the log-odds of attending (see [model.effects]).",
            "MarkovModel.initial_engaged": "Share engaged at admission.",
            "MarkovModel.engaged_to_struggling": "Weekly probability engaged -> struggling.",
            "MarkovModel.struggling_to_engaged": "Weekly probability struggling -> engaged.",
            "MarkovModel.engaged_to_dropout": "Weekly probability engaged -> dropout.",
            "MarkovModel.attend_struggling": "Log-odds of attending when struggling.",
            "MarkovModel.effects": "Shifts on the log-odds of attending (see [model.effects]).",
            # stored records
            "Participant.id": "Pseudonymous participant id (never a name or an MRN).",
            "Participant.population": "Adult or adolescent.",
            "Participant.diagnoses": "Diagnosis codes (kept out of reprs, logs and exports).",
            "Participant.family": "Family contacts involved in care.",
            "Enrollment.id": "Enrollment id.",
            "Enrollment.participant_id": "The participant enrolled.",
            "Enrollment.program": "Name of the program (a saved program).",
            "Enrollment.track": "Track followed.",
            "Enrollment.start": "Admission day.",
            "Enrollment.level_of_care": "Level of care at admission.",
            "LevelOfCareChange.enrollment_id": "The enrollment changed.",
            "LevelOfCareChange.seq": "Position in the enrollment's history (append-only).",
            "LevelOfCareChange.kind": "What happened.",
            "LevelOfCareChange.effective": "Day it takes effect.",
            "LevelOfCareChange.level_of_care": "Level of care from that day.",
            "LevelOfCareChange.track": "Track from that day (transfers).",
            "LevelOfCareChange.phase": "Phase or stage from that day.",
            "LevelOfCareChange.reason": "Why (free text; keep it free of clinical detail).",
            "LevelOfCareChange.recorded_at": "When it was recorded.",
            "AttendanceRecord.participant_id": "Who.",
            "AttendanceRecord.occurrence_id": "Which session occurrence (stable across "
            "re-exports).",
            "AttendanceRecord.session_date": "Date of the occurrence (hours count on it).",
            "AttendanceRecord.status": "How they attended; see attendance statuses above.",
            "AttendanceRecord.recorded_at": "When it was recorded.",
            "AttendanceRecord.note": "Optional note.",
            "ScreeningOrder.id": "Order id.",
            "ScreeningOrder.participant_id": "Who is screened.",
            "ScreeningOrder.ordered_for": "Day of collection.",
            "ScreeningOrder.specimen": "Specimen type.",
            "ScreeningOrder.panel": "Test panel.",
            "ScreeningOrder.reason": "Why the screen was ordered.",
            "ScreeningOrder.provider": "Screening provider plugin that handles the order.",
            "ScreeningResult.order_id": "The order resulted.",
            "ScreeningResult.participant_id": "Who.",
            "ScreeningResult.results": "One result per analyte.",
            "ScreeningResult.collected_at": "When the specimen was collected.",
            "ScreeningResult.resulted_at": "When the result came back.",
            "Assessment.id": "Assessment id.",
            "Assessment.participant_id": "Who.",
            "Assessment.kind": "Check-in or assessment.",
            "Assessment.instrument": "Instrument (e.g. PHQ-9).",
            "Assessment.taken_on": "Day taken.",
            "Assessment.score": "Total score (none for a check-in without one).",
            "Decision.id": "Decision id.",
            "Decision.enrollment_id": "The enrollment decided on.",
            "Decision.decided_on": "Day of the decision.",
            "Decision.decided_by": "Clinician (a staff id).",
            "Decision.recommended": "What iopcore recommended.",
            "Decision.decided": "What the clinician decided (may differ; reason says why).",
            "Decision.reason": "Why.",
            "ScreeningDraw.participant_id": "Who.",
            "ScreeningDraw.period_start": "First day of the period drawn for.",
            "ScreeningDraw.period_end": "Last day of the period.",
            "ScreeningDraw.eligible": "Days that could be drawn.",
            "ScreeningDraw.selected": "Days drawn (append-only; never redrawn).",
            "ScreeningDraw.algorithm": "The keyed draw algorithm and its version.",
            "AftercarePlan.enrollment_id": "The enrollment the plan follows.",
            "AftercarePlan.items": "The plan's recurring meetings and contacts.",
        }
    )


_scenario_fields_meanings()


def scenario_files_page() -> str:
    """docs/scenario-files.md: every key of a scenario file, with arms and grids."""
    out = [
        "# Scenario files",
        "",
        "A scenario file describes simulations of a program (see the",
        "[researchers' guide](researchers.md)). It names its program file with `program`, a",
        "path relative to the scenario file; every other key has a default. This page is",
        "generated from the classes the loader decodes into. Load one with",
        "`iopcore.simulation.load_scenarios(path)` (one scenario per arm and grid point) or",
        "run it with `iopcore simulate FILE`.",
        "",
        "## Arms {#arms}",
        "",
        "`[[arms]]` are variants of the base scenario: each needs a unique `name` and may",
        "override any top-level key or table, including `program` (another program file)",
        "and `track`. Tables merge key by key; a new model `name` drops the old model's",
        "parameters.",
        "",
        "```toml",
        'program = "../programs/adult-evening.toml"',
        "participants = 2000",
        "",
        "[[arms]]",
        'name = "evening"',
        "",
        "[[arms]]",
        'name = "day program"',
        'program = "../programs/adult-day.toml"',
        'track = "day"',
        "options.reminders = true",
        "```",
        "",
        "## Grids {#grid}",
        "",
        "`[grid]` maps dotted keys to arrays of values; every arm runs at every combination,",
        'named after the values (`"evening reminders=true"`).',
        "",
        "```toml",
        "[grid]",
        '"options.reminders" = [false, true]',
        '"model.effects.conflict" = [0.0, -0.5]',
        "```",
        "",
        "Samples (random draws over ranges) are made in Python with",
        "`iopcore.simulation.sample(base, ranges, n, seed=...)`, and single changes with",
        "`with_overrides(base, {...})`; both take the same dotted keys as grids.",
        "",
    ]
    for table, title in scenario_tables():
        out += _table_markdown(table, title)
    return "\n".join(out)


def examples_page() -> str:
    """docs/examples.md: the example program and scenario files, comments included."""
    out = [
        "# Example files",
        "",
        "The example files shipped in `examples/`, as they are (comments included). Every",
        "key is described in [program files](program-files.md) and",
        "[scenario files](scenario-files.md).",
        "",
    ]
    for folder in ("programs", "scenarios"):
        out += [f"## {folder.capitalize()}", ""]
        for path in sorted((ROOT / "examples" / folder).glob("*.toml")):
            out += [f"### {path.name}", "", f"`examples/{folder}/{path.name}`", ""]
            out += ["```toml", path.read_text(encoding="utf-8").rstrip(), "```", ""]
    return "\n".join(out)


def records_page() -> str:
    """docs/records.md: stored record types, attendance statuses and the Store's methods."""
    from iopcore.core import attendance
    from iopcore.io import storage

    out = [
        "# Records",
        "",
        "What a store keeps. Every record is a frozen attrs value; this page is generated",
        "from the record classes and the `Store` API.",
        "",
        "## Attendance statuses {#attendance-statuses}",
        "",
        "| status | present (counts toward dose hours and the attendance rate) | excused |",
        "|---|---|---|",
    ]
    present = attendance.PRESENT
    excused = getattr(
        attendance,
        "EXCUSED",
        {attendance.AttendanceStatus.EXCUSED, attendance.AttendanceStatus.CANCELLED_BY_PROGRAM},
    )
    for status in attendance.AttendanceStatus:
        yes_present = "yes" if status in present else "no"
        yes_excused = "yes (left out of the rate)" if status in excused else "no"
        out.append(f"| `{status.value}` | {yes_present} | {yes_excused} |")
    out += ["", "## Record types {#record-types}", ""]
    for cls, kind in storage._KINDS.items():
        hints = typing.get_type_hints(cls)
        out += [f"### {cls.__name__} {{#{kind.name}}}", ""]
        doc = inspect.getdoc(cls) or ""
        out += [f"Stored as `{kind.name}`. " + doc.split("\n\n")[0].replace("\n", " "), ""]
        out += ["| field | type | default | allowed | meaning |", "|---|---|---|---|---|"]
        for field in attrs.fields(cls):
            if not field.init:
                continue
            tp = hints[field.name]
            words = type_words(tp) + (" or none" if _optional(tp) is not tp else "")
            out.append(
                f"| `{field.name}` | {_cell(words)} | {_default(field)} | "
                f"{_cell(_allowed(field, tp))} | {_cell(meaning(cls, field.name))} |"
            )
        out.append("")
    out += ["## Store methods {#store-methods}", ""]
    for task, names in store_methods().items():
        out += [f"### {task}", ""]
        for name in names:
            method = getattr(storage.Store, name)
            doc = (inspect.getdoc(method) or "").split("\n\n")[0].replace("\n", " ")
            params = ", ".join(list(inspect.signature(method).parameters)[1:])
            out.append(
                f"- [`Store.{name}({params})`](api-iopcore.md#iopcore.Store.{name})"
                + (f": {doc}" if doc else "")
            )
        out.append("")
    import iopcore.clinic

    out += [
        "### Services over a store (`iopcore.clinic`)",
        "",
        "Findings, plans and calendars are computed from the records, not stored; one call",
        "per task reads the store, computes in the pure domain and writes once.",
        "",
    ]
    for name in sorted(iopcore.clinic.__all__):
        doc = (inspect.getdoc(getattr(iopcore.clinic, name)) or "").split("\n\n")[0]
        out.append(
            f"- [`{name}`](api-clinic.md#iopcore.clinic.{name}): {doc.replace(chr(10), ' ')}"
        )
    out.append("")
    return "\n".join(out)


#: Store methods by task, in the order a clinic meets them (by name prefix or word).
TASKS = {
    "Programs": ("program",),
    "Participants and enrollments": ("participant", "enroll", "level_of_care", "history"),
    "Attendance": ("attendance",),
    "Screening": ("screening", "draws", "order"),
    "Assessments": ("assessment",),
    "Decisions and findings": ("decision", "finding"),
    "Aftercare and exports": ("aftercare", "export"),
    "Audit": ("audit", "check"),
    "The store itself": ("",),
}


def store_methods() -> dict[str, list[str]]:
    """Every public Store method, grouped by :data:`TASKS`."""
    from iopcore.io.storage import Store

    names = [n for n, _ in inspect.getmembers(Store, callable) if not n.startswith("_")]
    out: dict[str, list[str]] = {task: [] for task in TASKS}
    for name in names:
        task = next(t for t, words in TASKS.items() if any(w in name for w in words))
        out[task].append(name)
    return {task: found for task, found in out.items() if found}


#: API reference pages: module -> page file.
API_MODULES = {
    "iopcore": "api-iopcore.md",
    "iopcore.clinic": "api-clinic.md",
    "iopcore.simulation": "api-simulation.md",
    "iopcore.testing": "api-testing.md",
}


def public_names(module: str) -> list[str]:
    """A module's public names (its ``__all__``)."""
    import importlib

    return sorted(importlib.import_module(module).__all__)


def api_page(module: str) -> str:
    """An API reference page: one mkdocstrings section per public name of ``module``."""
    out = [
        f"# `{module}`",
        "",
        f"Every public name of `{module}` (its `__all__`), with signatures and fields.",
        "",
    ]
    for name in public_names(module):
        out += [f"::: {module}.{name}", ""]
    return "\n".join(out)


def pages() -> dict[str, str]:
    """Every generated page, by file name under docs/."""
    out = {
        "program-files.md": program_files_page(),
        "scenario-files.md": scenario_files_page(),
        "records.md": records_page(),
        "examples.md": examples_page(),
    }
    for module, page in API_MODULES.items():
        out[page] = api_page(module)
    return out


__all__ = [
    "API_MODULES",
    "MEANINGS",
    "Key",
    "Table",
    "api_page",
    "examples_page",
    "meaning",
    "pages",
    "program_files_page",
    "public_names",
    "records_page",
    "scenario_files_page",
    "scenario_tables",
    "store_methods",
    "tables",
]
