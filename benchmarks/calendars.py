"""Benchmark: participant calendars (.ics) per second for 12-week timelines.

Run from the project root::

    .venv/bin/python benchmarks/calendars.py

Each participant of ``examples/programs/adult-evening.toml`` (``evening`` track) starts on a
random day of 2027; a calendar is :func:`iopcore.expand` for 12 weeks (cancelled sessions
included) plus the ``ics`` export with a two-hour reminder (as the demo writes them; the day's
back-to-back sessions share it), timed together. Three ways, measured in the same run:

* **iopcore**: the exporter as shipped: content lines written directly, VTIMEZONE generation
  cached per zone and span (participants share a handful of spans);
* **iopcore, no zone cache**: the same with the zone caches cleared before every calendar;
* **baseline**: the same calendar hand-built naively with icalendar's object model (one
  ``Event`` per VEVENT, properties added one by one, ``to_ical()``), the VTIMEZONE
  computed afresh for every calendar.

A sample of calendars from each way is read back with icalendar + recurring-ical-events and
must give iopcore's own instants. Target: >= 500 calendars/s (series form) on one core.
"""

from __future__ import annotations

import platform
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import icalendar
import recurring_ical_events  # type: ignore[import-untyped]

import iopcore
from iopcore.core.calendar import _observances, event_uid, plan_events, span, year_transitions
from iopcore.core.schedule import Status, _phase_calendar
from iopcore_plugins import ics

PROGRAM_FILE = Path(__file__).resolve().parent.parent / "examples/programs/adult-evening.toml"
TRACK = "evening"
WEEKS = 12
PARTICIPANTS = 2_000
BASELINE_PARTICIPANTS = 200
REPEATS = 3
SAMPLE = 25
TARGET = 500
NOW = datetime(2027, 1, 1, tzinfo=UTC)
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
REMINDERS = (timedelta(hours=2),)


def clear_zone_caches() -> None:
    ics._vtimezone.cache_clear()
    _observances.cache_clear()
    year_transitions.cache_clear()


def ours(program: iopcore.Program, start: date, recurring: bool) -> bytes:
    sessions = iopcore.expand(program, TRACK, start=start, weeks=WEEKS, include_cancelled=True)
    return ics.export(sessions, recurring=recurring, now=NOW, reminders=REMINDERS)


def ours_uncached(program: iopcore.Program, start: date, recurring: bool) -> bytes:
    clear_zone_caches()
    return ours(program, start, recurring)


def naive(program: iopcore.Program, start: date, recurring: bool) -> bytes:
    """The same calendar with icalendar's object model and an uncached VTIMEZONE."""
    sessions = iopcore.expand(program, TRACK, start=start, weeks=WEEKS, include_cancelled=True)
    events = plan_events(sessions, recurring=recurring, reminders=REMINDERS)
    cal = icalendar.Calendar()
    for name, value in (
        ("version", "2.0"),
        ("prodid", ics.DEFAULT_PRODID),
        ("calscale", "GREGORIAN"),
        ("method", "PUBLISH"),
        ("name", ics.DEFAULT_CALENDAR_NAME),
        ("x-wr-calname", ics.DEFAULT_CALENDAR_NAME),
    ):
        cal.add(name, value)
    for key, (first, last) in sorted(span(events).items()):
        clear_zone_caches()
        lines = ics.vtimezone(key, first, last)
        cal.add_component(icalendar.Timezone.from_ical("\r\n".join(lines)))

    def component(
        uid: str,
        start: datetime,
        end: datetime,
        cancelled: bool,
        alarms: tuple[timedelta, ...],
    ) -> icalendar.Event:
        event = icalendar.Event()
        event.add("uid", uid)
        event.add("dtstamp", NOW)
        event.add("sequence", 0)
        event.add("dtstart", start)
        event.add("dtend", end)
        event.add("summary", ics.DEFAULT_SUMMARY)
        event.add("class", "PRIVATE")
        if cancelled:
            event.add("status", "CANCELLED")
        for reminder in alarms:
            alarm = icalendar.Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", ics.DEFAULT_SUMMARY)
            alarm.add("trigger", -reminder)
            event.add_component(alarm)
        return event

    for e in events:
        uid = event_uid(e.key)
        master = component(uid, e.start, e.end, e.cancelled, e.alarms)
        if e.until is not None:
            rule = {"freq": "weekly", "until": e.until, "byday": DAYS[e.start.weekday()]}
            master.add("rrule", rule)
            for x in e.exdates:
                master.add("exdate", x)
        cal.add_component(master)
        for o in e.overrides:
            override = component(uid, o.start, o.end, o.cancelled, o.alarms)
            override.add("recurrence-id", o.recurrence_id)
            cal.add_component(override)
    data: bytes = cal.to_ical()
    return data


def instants(data: bytes) -> Counter[tuple[datetime, datetime, bool]]:
    cal = icalendar.Calendar.from_ical(data)
    return Counter(
        (
            e["DTSTART"].dt.astimezone(UTC),
            e["DTEND"].dt.astimezone(UTC),
            str(e.get("STATUS", "")) == "CANCELLED",
        )
        for e in recurring_ical_events.of(cal).all()
    )


def check(program: iopcore.Program, starts: Sequence[date]) -> int:
    """Every way gives the instants of iopcore's occurrences; returns calendars checked."""
    for start in starts:
        sessions = iopcore.expand(program, TRACK, start=start, weeks=WEEKS, include_cancelled=True)
        want = Counter(
            (o.start.astimezone(UTC), o.end.astimezone(UTC), o.status is Status.CANCELLED)
            for o in sessions
        )
        for make in (ours, ours_uncached, naive):
            for recurring in (True, False):
                got = instants(make(program, start, recurring))
                assert got == want, f"{make.__name__} recurring={recurring} start={start}"
    return len(starts)


def best_of(run: Callable[[], int]) -> tuple[float, int]:
    best, size = float("inf"), 0
    for _ in range(REPEATS):
        _phase_calendar.cache_clear()
        clear_zone_caches()
        began = time.perf_counter()
        size = run()
        best = min(best, time.perf_counter() - began)
    return best, size


def rate(
    make: Callable[[iopcore.Program, date, bool], bytes],
    program: iopcore.Program,
    starts: Sequence[date],
    recurring: bool,
) -> tuple[float, float]:
    """Calendars per second and mean bytes per calendar."""
    seconds, size = best_of(lambda: sum(len(make(program, s, recurring)) for s in starts))
    return len(starts) / seconds, size / len(starts)


def main() -> None:
    program = iopcore.load_program(PROGRAM_FILE)
    rng = random.Random(0)
    starts = [date(2027, 1, 1) + timedelta(days=rng.randrange(365)) for _ in range(PARTICIPANTS)]
    print("iopcore calendar export benchmark")
    print(
        f"  measures: expand({TRACK!r}, {WEEKS} weeks, cancelled included) + ics export of "
        f"{PROGRAM_FILE.name}, per participant,"
    )
    print(f"            start dates on random days of 2027; target >= {TARGET} calendars/s")
    print(
        f"  python {platform.python_version()} ({platform.python_implementation()}) on "
        f"{sys.platform}; best of {REPEATS} repeats, time.perf_counter, random.Random(0);"
        " all caches cleared before each repeat"
    )
    checked = check(program, rng.sample(starts, SAMPLE))
    print(
        f"  check: {checked} sampled calendars x 3 ways x 2 forms read back with icalendar + "
        "recurring-ical-events give iopcore's instants: OK"
    )
    verdicts = []
    for recurring, form in (
        (True, "series (RRULE + EXDATE + overrides)"),
        (False, "single events"),
    ):
        print()
        print(f"{form}:")
        ours_rate, ours_size = rate(ours, program, starts, recurring)
        uncached_rate, _ = rate(ours_uncached, program, starts[:BASELINE_PARTICIPANTS], recurring)
        naive_rate, naive_size = rate(naive, program, starts[:BASELINE_PARTICIPANTS], recurring)
        print(
            f"  iopcore                {PARTICIPANTS:>6,} calendars  {ours_rate:>8,.0f} calendars/s"
            f"  ({ours_size:,.0f} bytes each)"
        )
        print(
            f"  iopcore, no zone cache {BASELINE_PARTICIPANTS:>6,} calendars  "
            f"{uncached_rate:>8,.0f} calendars/s"
        )
        print(
            f"  baseline (naive)       {BASELINE_PARTICIPANTS:>6,} calendars  "
            f"{naive_rate:>8,.0f} calendars/s  ({naive_size:,.0f} bytes each)"
        )
        print(
            f"  ratio iopcore/baseline: {ours_rate / naive_rate:.1f}x; zone cache alone: "
            f"{ours_rate / uncached_rate:.1f}x"
        )
        verdict = "meets" if ours_rate >= TARGET else "misses"
        verdicts.append(f"  {form}: {ours_rate:,.0f} calendars/s {verdict} the target of {TARGET}")
    print()
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
