"""Intensity check: scheduled treatment hours per track, phase and week against the rules.

A phase whose regular week misses a rule is an **error** (the cadence never reaches it). A
calendar week that a closure or one-off change pulls below a rule the regular week meets is
a **warning**. Hours count only sessions whose type counts toward treatment hours.

    >>> from iopcore.io.files import load_program
    >>> findings = check_program(load_program("examples/programs/adult-evening.toml"))
    >>> meets_level_of_care(findings)
    True
    >>> print(next(f.message for f in findings if f.week and f.week.isoformat() == "2027-05-31"))
    evening track, week of 2027-05-31: 6.0 h scheduled, ASAM 2.1 adult needs >= 9 h (closure: Memorial Day)
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import attrs
from attrs import frozen

from iopcore.core.care import IntensityRule, Measure, check_week, intensity_rules
from iopcore.core.errors import Choice
from iopcore.core.program import Phase, Program, Track
from iopcore.core.schedule import Occurrence, Status, expand_phase


class Severity(Choice):
    """An intensity finding's weight: an error fails the level of care, a warning does not."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@frozen(kw_only=True)
class IntensityFinding:
    """One rule missed (or nearly) by a track's phase, in a regular week or a calendar week."""

    severity: Severity
    track: str
    phase: str
    rule: str
    #: Monday of the calendar week, or ``None`` for the phase's regular week.
    week: date | None
    scheduled_hours: float
    #: How far off the rule: hours short (or over, for an upper bound), or days short.
    shortfall: float
    message: str
    #: For a calendar week: the closures and one-off changes that pulled it down.
    causes: tuple[str, ...] = ()


def meets_level_of_care(findings: Iterable[IntensityFinding]) -> bool:
    """True when no finding is an error (warnings do not fail a program)."""
    return all(f.severity is not Severity.ERROR for f in findings)


def check_program(program: Program) -> tuple[IntensityFinding, ...]:
    """Check every track and phase of ``program`` against its selected rule sets."""
    rules = intensity_rules(program.level_of_care, program.population, program.rule_sets)
    findings: list[IntensityFinding] = []
    for track in program.tracks:
        for phase in track.phases:
            regular = _regular_week(program, phase)
            failed = set()
            for rule in rules:
                for severity, shortfall, text in _misses(rule, regular, program):
                    failed.add(rule.name)
                    findings.append(
                        _finding(
                            program, track, phase, rule, None, regular, severity, shortfall, text
                        )
                    )
            for monday, hours, notes in _disturbed_weeks(program, track, phase):
                for rule in rules:
                    if rule.name in failed:
                        continue
                    for _, shortfall, text in _misses(rule, hours, program):
                        suffix = f" ({'; '.join(notes)})" if notes else ""
                        finding = _finding(
                            program,
                            track,
                            phase,
                            rule,
                            monday,
                            hours,
                            Severity.WARNING,
                            shortfall,
                            text + suffix,
                        )
                        findings.append(attrs.evolve(finding, causes=tuple(notes)))
    return tuple(findings)


def _finding(
    program: Program,
    track: Track,
    phase: Phase,
    rule: IntensityRule,
    week: date | None,
    hours_by_day: dict[int, float],
    severity: Severity,
    shortfall: float,
    text: str,
) -> IntensityFinding:
    where = f"{track.name} track"
    if len(track.phases) > 1:
        where += f", phase {phase.name}"
    where += f", week of {week.isoformat()}" if week else ", regular week"
    return IntensityFinding(
        severity=severity,
        track=track.name,
        phase=phase.name,
        rule=rule.name,
        week=week,
        scheduled_hours=round(sum(hours_by_day.values()), 2),
        shortfall=round(shortfall, 2),
        message=f"{where}: {text}",
    )


def _misses(
    rule: IntensityRule, hours_by_day: dict[int, float], program: Program
) -> list[tuple[Severity, float, str]]:
    """How a week (hours per weekday) misses ``rule``: (severity, by how much, words)."""
    check = check_week(rule, hours_by_day.values())
    out: list[tuple[Severity, float, str]] = []
    for miss in check.misses:
        if miss.measure is Measure.WEEKLY_MINIMUM:
            text = f"{check.hours:.1f} h scheduled, {rule.name} needs >= {rule.min_hours_week:g} h"
        elif miss.measure is Measure.WEEKLY_CEILING:
            text = (
                f"{check.hours:.1f} h scheduled, {rule.name} must stay below "
                f"{rule.below_hours_week:g} h ({program.level_of_care.label} ends there)"
            )
        else:
            text = (
                f"{check.full_days} day(s) with >= {rule.min_hours_day:g} h scheduled, "
                f"{rule.name} needs >= {rule.min_hours_day:g} h/day on >= "
                f"{rule.min_days_week} days"
            )
        out.append((Severity.ERROR, miss.by, text))
    return out


def _regular_week(program: Program, phase: Phase) -> dict[int, float]:
    hours: dict[int, float] = {}
    for slot in phase.slots:
        if program.session_type(slot.session_type).counts_toward_hours:
            hours[slot.day] = hours.get(slot.day, 0.0) + phase.slot_minutes(slot, program) / 60
    return hours


def _disturbed_weeks(
    program: Program, track: Track, phase: Phase
) -> list[tuple[date, dict[int, float], list[str]]]:
    """Calendar weeks touched by a closure or change, with the phase's hours per weekday."""
    notes: dict[date, list[str]] = {}
    for closure in program.closures:
        notes.setdefault(_monday(closure.date), []).append(f"closure: {closure.reason}")
    for change in track.changes:
        what = "cancelled" if change.cancelled else "moved"
        label = f"{what}: {change.date} {change.start:%H:%M}" + (
            f" ({change.reason})" if change.reason else ""
        )
        notes.setdefault(_monday(change.date), []).append(label)
        if change.new_date is not None:
            notes.setdefault(_monday(change.new_date), [])
    weeks = []
    for monday in sorted(notes):
        said = list(dict.fromkeys(notes[monday]))  # one note per closure reason
        occurrences: list[Occurrence] = []
        expand_phase(
            program,
            track,
            phase,
            monday - timedelta(days=7),
            monday + timedelta(days=14),
            occurrences,
        )
        hours: dict[int, float] = {}
        for o in occurrences:
            local = o.start.date()
            if o.status is not Status.CANCELLED and monday <= local < monday + timedelta(days=7):
                hours[local.weekday()] = hours.get(local.weekday(), 0.0) + o.hours
        weeks.append((monday, hours, said))
    return weeks


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())
