"""Dose: treatment hours delivered per day and week, against the program's rules.

Hours count only attendance in which the participant was present (attended, late, left
early, telehealth), only for sessions whose type counts toward treatment hours and that
were not cancelled, and only the minutes actually attended, capped at the session's length
(a session off the schedule, such as a make-up, at the program's longest session type). A
record given twice counts once. H0015 bills a day only with >= 3 h of direct service.

    >>> from iopcore.io.files import load_program
    >>> from iopcore.core.schedule import expand
    >>> program = load_program("examples/programs/adult-evening.toml")
    >>> sessions = expand(program, "evening", start=date(2027, 3, 1), weeks=1)
    >>> records = [AttendanceRecord(participant_id="P-1", occurrence_id=o.id,
    ...            session_date=o.start.date(), status="attended", minutes_attended=o.minutes)
    ...            for o in sessions if o.start.weekday() != 1]   # missed Tuesday
    >>> week = weekly_dose(program, sessions, records)[0]
    >>> week.delivered_hours, week.scheduled_hours, [d.day.day for d in week.billable_days]
    (6.0, 9.0, [1, 4])
    >>> [r.rule for r in week.unmet]
    ['ASAM 2.1 adult', 'H0015', 'Medicare IOP']
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from attrs import frozen

from iopcore.core.attendance import AttendanceRecord
from iopcore.core.care import TOLERANCE, IntensityRule, Measure, check_week, intensity_rules
from iopcore.core.program import Program
from iopcore.core.schedule import Occurrence, Status


@frozen(kw_only=True)
class DayDose:
    day: date
    scheduled_hours: float
    delivered_hours: float
    #: Whether the day reaches the H0015 day minimum (>= 3 h delivered).
    billable: bool


@frozen(kw_only=True)
class RuleCheck:
    rule: str
    met: bool
    detail: str


@frozen(kw_only=True)
class WeekDose:
    """One participant's week (Monday to Sunday, local dates)."""

    week: date
    scheduled_hours: float
    delivered_hours: float
    days: tuple[DayDose, ...]
    checks: tuple[RuleCheck, ...]

    @property
    def billable_days(self) -> tuple[DayDose, ...]:
        return tuple(d for d in self.days if d.billable)

    @property
    def unmet(self) -> tuple[RuleCheck, ...]:
        return tuple(c for c in self.checks if not c.met)


#: H0015 bills a day with at least this many hours of direct service.
H0015_DAY_HOURS = 3.0


def attended_minutes(
    record: AttendanceRecord, occurrence: Occurrence | None, longest: int = 0
) -> int:
    """Minutes of treatment a record delivers: 0 if absent; the whole session if the
    minutes were not entered; never more than the session's length (for a session off the
    schedule, e.g. a make-up, never more than ``longest``, the program's longest type)."""
    if not record.present:
        return 0
    if occurrence is None:
        return min(record.minutes_attended or 0, longest)
    if record.minutes_attended is None:
        return occurrence.minutes
    return min(record.minutes_attended, occurrence.minutes)


def weekly_dose(
    program: Program, occurrences: Sequence[Occurrence], records: Sequence[AttendanceRecord]
) -> tuple[WeekDose, ...]:
    """Per calendar week of ``occurrences``: hours scheduled and delivered, rules met."""
    rules = intensity_rules(program.level_of_care, program.population, program.rule_sets)
    by_id = {o.id: o for o in occurrences}
    scheduled: dict[date, float] = {}
    for o in occurrences:
        if o.status is not Status.CANCELLED:
            scheduled[o.start.date()] = scheduled.get(o.start.date(), 0.0) + o.hours
    longest = max((t.minutes for t in program.session_types if t.counts_toward_hours), default=0)
    delivered: dict[date, float] = {}
    latest = {r.key: r for r in records}  # a record given twice counts once (the last)
    for r in latest.values():
        occurrence = by_id.get(r.occurrence_id)
        if not r.present or (
            occurrence is not None
            and (not occurrence.counts_toward_hours or occurrence.status is Status.CANCELLED)
        ):
            continue
        day = occurrence.start.date() if occurrence is not None else r.session_date
        delivered[day] = delivered.get(day, 0.0) + attended_minutes(r, occurrence, longest) / 60
    weeks: dict[date, list[date]] = {}
    for day in sorted(set(scheduled) | set(delivered)):
        weeks.setdefault(day - timedelta(days=day.weekday()), []).append(day)
    return tuple(_week(monday, days, scheduled, delivered, rules) for monday, days in weeks.items())


def _week(
    monday: date,
    days: list[date],
    scheduled: dict[date, float],
    delivered: dict[date, float],
    rules: Sequence[IntensityRule],
) -> WeekDose:
    day_doses = tuple(
        DayDose(
            day=d,
            scheduled_hours=round(scheduled.get(d, 0.0), 4),
            delivered_hours=round(delivered.get(d, 0.0), 4),
            billable=delivered.get(d, 0.0) >= H0015_DAY_HOURS - TOLERANCE,
        )
        for d in days
    )
    total = sum(d.delivered_hours for d in day_doses)
    checks = []
    for rule in rules:
        week = check_week(rule, (d.delivered_hours for d in day_doses))
        if rule.min_hours_week is not None:
            checks.append(
                RuleCheck(
                    rule=rule.name,
                    met=week.meets(Measure.WEEKLY_MINIMUM),
                    detail=f"{total:.2f} h delivered, needs >= {rule.min_hours_week:g} h",
                )
            )
        if rule.min_hours_day is not None and rule.min_days_week is not None:
            checks.append(
                RuleCheck(
                    rule=rule.name,
                    met=week.meets(Measure.FULL_DAYS),
                    detail=f"{week.full_days} day(s) with >= {rule.min_hours_day:g} h, "
                    f"needs {rule.min_days_week}",
                )
            )
    return WeekDose(
        week=monday,
        scheduled_hours=round(sum(d.scheduled_hours for d in day_doses), 4),
        delivered_hours=round(total, 4),
        days=day_doses,
        checks=tuple(checks),
    )
