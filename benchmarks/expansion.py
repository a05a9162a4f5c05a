"""Benchmark: expanding 10,000 participants' 12-week schedules, iopcore vs plain dateutil.

Run from the project root::

    .venv/bin/python benchmarks/expansion.py

It expands the ``evening`` track of ``examples/programs/adult-evening.toml`` for 10,000
participants with staggered start dates, with :func:`iopcore.expand` and with one dateutil
``rruleset`` per participant (one weekly ``rrule`` per slot, an ``exdate`` per closed slot),
checks that both give the same start instants for a sample of participants, and prints
occurrences per second and the ratio iopcore/dateutil, all measured in the same run.

:func:`iopcore.expand` derives each phase's calendar once per year (occurrences depend on the
date, not on the participant) and slices it per participant. Three iopcore figures:

* **staggered**: 10,000 start dates on random days of 2027; the calendar cache is cleared at
  the start of each repeat, so building it is inside the timed run (the issue's measure);
* **rolling admission**: the same with start dates on 52 weekly admission days;
* **nothing cached**: the calendar cache cleared before every call, the worst case for a
  single schedule (on fewer participants: each call then builds whole months).

dateutil has no cache, so its work is the same in every scenario.
"""

from __future__ import annotations

import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from dateutil.rrule import WEEKLY, rrule, rruleset

import iopcore
from iopcore.core.schedule import _phase_calendar

PROGRAM_FILE = Path(__file__).resolve().parent.parent / "examples/programs/adult-evening.toml"
TRACK = "evening"
PARTICIPANTS = 10_000
WEEKS = 12
ADMISSION_DAYS = 52
REPEATS = 2
SAMPLE = 200
TARGET = 1_000_000

# (weekday, hour, minute) of a slot -> its minutes; the dateutil side's lookup for ends.
SlotKey = tuple[int, int, int]
Span = tuple[datetime, datetime]


class DateutilExpander:
    """The same expansion with plain dateutil: an rruleset per participant, ends computed."""

    def __init__(self, program: iopcore.Program, track: str) -> None:
        phases = program.track(track).phases
        if len(phases) != 1:
            raise SystemExit(f"this benchmark expects a one-phase track, got {len(phases)}")
        phase = phases[0]
        self.tz: ZoneInfo = program.track(track).tz
        self.slots = tuple(
            (int(s.day), s.start.hour, s.start.minute, phase.slot_minutes(s, program))
            for s in phase.slots
        )
        self.minutes: dict[SlotKey, timedelta] = {
            (day, hour, minute): timedelta(minutes=length)
            for day, hour, minute, length in self.slots
        }
        # Every closed slot: closure date x each slot that meets on that weekday.
        self.closed_starts = tuple(
            datetime(c.date.year, c.date.month, c.date.day, hour, minute, tzinfo=self.tz)
            for c in program.closures
            for day, hour, minute, _ in self.slots
            if c.date.weekday() == day
        )

    def expand(self, start: date, weeks: int) -> list[Span]:
        tz = self.tz
        dtstart = datetime(start.year, start.month, start.day, tzinfo=tz)
        # rrule's until is inclusive; the last day of the range ends just before midnight.
        last = start + timedelta(weeks=weeks, days=-1)
        until = datetime(last.year, last.month, last.day, 23, 59, 59, tzinfo=tz)
        rules = rruleset()
        for day, hour, minute, _ in self.slots:
            rules.rrule(
                rrule(
                    WEEKLY,
                    byweekday=day,
                    byhour=hour,
                    byminute=minute,
                    bysecond=0,
                    dtstart=dtstart,
                    until=until,
                )
            )
        for closed in self.closed_starts:
            rules.exdate(closed)
        minutes = self.minutes
        # Aware + timedelta is wall-clock arithmetic in the same zone, like iopcore's ends.
        return [(s, s + minutes[s.weekday(), s.hour, s.minute]) for s in rules]


def best_of(repeats: int, run: Callable[[], int]) -> tuple[float, int]:
    """The best wall time of ``repeats`` runs of ``run`` and the occurrences it produced."""
    best = float("inf")
    count = 0
    for _ in range(repeats):
        began = time.perf_counter()
        count = run()
        best = min(best, time.perf_counter() - began)
    return best, count


def iopcore_uncached(program: iopcore.Program, starts: Sequence[date]) -> int:
    count = 0
    for start in starts:
        _phase_calendar.cache_clear()
        count += len(iopcore.expand(program, TRACK, start=start, weeks=WEEKS))
    return count


def iopcore_run(program: iopcore.Program, starts: Sequence[date]) -> int:
    _phase_calendar.cache_clear()  # each repeat builds the calendars inside the timed run
    count = 0
    for start in starts:
        count += len(iopcore.expand(program, TRACK, start=start, weeks=WEEKS))
    return count


def dateutil_run(expander: DateutilExpander, starts: Sequence[date]) -> int:
    count = 0
    for start in starts:
        count += len(expander.expand(start, WEEKS))
    return count


def check_same(
    program: iopcore.Program, expander: DateutilExpander, starts: Sequence[date], rng: random.Random
) -> tuple[int, int]:
    """Assert both sides give the same (start, end) spans for a sample.

    Returns the number of participants checked and of moved sessions among them.

    iopcore applies the program's one-off changes (a moved session), dateutil does not, so the
    comparison uses iopcore's ``slot_start`` (where the cadence put it) and the session length.
    """
    sample = rng.sample(list(starts), min(SAMPLE, len(starts)))
    moved = 0
    for start in sample:
        _phase_calendar.cache_clear()
        occurrences = iopcore.expand(program, TRACK, start=start, weeks=WEEKS)
        moved += sum(o.status is iopcore.Status.MOVED for o in occurrences)
        ours = {(o.slot_start, o.slot_start + (o.end - o.start)) for o in occurrences}
        theirs = expander.expand(start, WEEKS)
        assert len(theirs) == len(set(theirs)), f"dateutil repeated an instant for {start}"
        assert ours == set(theirs), (
            f"start {start}: iopcore and dateutil differ: only iopcore {sorted(ours - set(theirs))}"
            f", only dateutil {sorted(set(theirs) - ours)}"
        )
    return len(sample), moved


def report(label: str, seconds: float, count: int, participants: int) -> float:
    rate = count / seconds
    print(
        f"  {label:<9} {participants:>7,} participants  {count:>9,} occurrences  "
        f"{seconds:7.3f} s  {rate:>11,.0f} occurrences/s"
    )
    return rate


def main() -> None:
    program = iopcore.load_program(PROGRAM_FILE)
    expander = DateutilExpander(program, TRACK)
    rng = random.Random(0)
    year = date(2027, 1, 1)
    cold_starts = [year + timedelta(days=rng.randrange(365)) for _ in range(PARTICIPANTS)]
    first_monday = date(2027, 1, 4)
    admission_days = [first_monday + timedelta(weeks=w) for w in range(ADMISSION_DAYS)]
    rolling_starts = [rng.choice(admission_days) for _ in range(PARTICIPANTS)]

    print("iopcore expansion benchmark")
    print(
        f"  measures: iopcore.expand(program, {TRACK!r}, start=..., weeks={WEEKS}) of "
        f"{PROGRAM_FILE.name},"
    )
    print(
        f"            {PARTICIPANTS:,} participants with staggered start dates, vs plain dateutil:"
    )
    print(
        "            an rruleset per participant (one WEEKLY rrule per slot, exdate per closed"
        " slot) + ends"
    )
    print(
        f"  python {platform.python_version()} ({platform.python_implementation()}) on "
        f"{sys.platform}; best of {REPEATS} repeats, time.perf_counter, random.Random(0)"
    )
    print(f"  target: >= {TARGET:,} occurrences/s on one core")

    cold_checked, cold_moved = check_same(program, expander, cold_starts, rng)
    warm_checked, warm_moved = check_same(program, expander, rolling_starts, rng)
    print(
        f"  check: same (start, end) instants (iopcore slot_start vs dateutil) for "
        f"{cold_checked + warm_checked} sampled participants"
    )
    print(f"         ({cold_moved + warm_moved} moved sessions among them): OK")

    rates: list[tuple[str, float]] = []
    scenarios = (
        ("staggered: start dates on random days of 2027", cold_starts, iopcore_run),
        (
            f"rolling admission: start dates on {ADMISSION_DAYS} weekly admission Mondays",
            rolling_starts,
            iopcore_run,
        ),
        (
            "nothing cached: the calendar cache cleared before every call (1,000 participants)",
            cold_starts[:1000],
            iopcore_uncached,
        ),
    )
    for title, starts, ours in scenarios:
        print()
        print(title)
        dateutil_seconds, dateutil_count = best_of(
            REPEATS,
            lambda starts=starts: dateutil_run(expander, starts),  # type: ignore[misc]
        )
        seconds, count = best_of(
            REPEATS,
            lambda starts=starts, ours=ours: ours(program, starts),  # type: ignore[misc]
        )
        assert count == dateutil_count, f"iopcore {count} vs dateutil {dateutil_count} occurrences"
        rate = report("iopcore", seconds, count, len(starts))
        baseline = report("dateutil", dateutil_seconds, dateutil_count, len(starts))
        print(f"  ratio iopcore/dateutil: {rate / baseline:.2f}x")
        rates.append((title.split(":")[0], rate))

    print()
    for label, rate in rates:
        verdict = "meets" if rate >= TARGET else "misses"
        print(f"  {label}: {rate:,.0f} occurrences/s {verdict} the target of {TARGET:,}")


if __name__ == "__main__":
    main()
