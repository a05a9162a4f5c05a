"""Benchmark: evaluating every built-in accountability rule over a whole census.

Run from the project root::

    .venv/bin/python benchmarks/accountability.py            # the benchmark
    .venv/bin/python benchmarks/accountability.py --profile  # and where the time goes

1,000 synthetic participants of the adult evening program (rolling admission on 4 Mondays),
each 12 weeks in: an attendance record for every past session (a seeded mix of statuses, some
participants attending much less than others), two random screens a week (HMAC draws, mostly
negative, some positive, dilute or missed), a check-in on most attended session days and a
PHQ-9 every 4 weeks; a third have a co-occurring diagnosis, a third a consenting family
contact. Measured: ``evaluate_census(census, rules)`` with the rules the plugin host finds,
best of 3. Target: < 0.5 s. Baseline, measured in the same run on the same census: a plain
Python loop computing only each participant's attendance rate over the last 2 weeks (the
least any accountability pass must do: read every participant's attendance once).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import platform
import pstats
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import iopcore
from iopcore import (
    Assessment,
    AttendanceRecord,
    Enrollment,
    Occurrence,
    Participant,
    Program,
    ScreeningResult,
    SubstanceResult,
)
from iopcore.core.accountability import (
    Finding,
    ParticipantRecords,
    evaluate_census,
    planned_schedule,
)
from iopcore.core.enrollment import FamilyContact
from iopcore.core.screening import Secret, orders_for, screening_draws

PROGRAM_FILE = Path(__file__).resolve().parent.parent / "examples/programs/adult-evening.toml"
PARTICIPANTS = 1_000
WEEKS = 12
ADMISSIONS = [date(2027, 3, 1) + timedelta(weeks=w) for w in range(4)]
REPEATS = 3
TARGET = 0.5
SEED = 2027
STATUSES = (
    ("attended", 78),
    ("late", 5),
    ("left-early", 3),
    ("telehealth", 4),
    ("excused-absence", 5),
    ("unexcused-absence", 4),
    ("cancelled-by-program", 1),
)
OUTCOMES = (("negative", 92), ("positive", 5), ("missed", 2), ("dilute", 1))
SUBSTANCES = ("amphetamines", "cannabinoids", "opiates", "cocaine")


def weighted(rng: random.Random, choices: Sequence[tuple[str, int]]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def participant(
    rng: random.Random, n: int, program: Program, schedules: dict[date, tuple[Occurrence, ...]]
) -> ParticipantRecords:
    pid = f"P-{n:04d}"
    start = ADMISSIONS[n % len(ADMISSIONS)]
    as_of = start + timedelta(weeks=WEEKS, days=-1)
    schedule = schedules[start]
    struggling = rng.random() < 0.15  # attends about half the time
    attendance, days_attended = [], set()
    for o in schedule:
        if o.start.date() > as_of:
            break
        status = weighted(rng, STATUSES)
        if struggling and rng.random() < 0.5:
            status = "unexcused-absence"
        minutes = 0
        if status in ("attended", "telehealth"):
            minutes = o.minutes
        elif status in ("late", "left-early"):
            minutes = o.minutes - rng.randrange(10, 40)
        if minutes:
            days_attended.add(o.start.date())
        attendance.append(
            AttendanceRecord(
                participant_id=pid,
                occurrence_id=o.id,
                session_date=o.start.date(),
                status=status,
                minutes_attended=minutes,
            )
        )
    orders = orders_for(screening_draws(SECRET, pid, program, schedule, through=as_of))
    results = []
    for order in orders:
        if order.ordered_for > as_of:
            continue
        day = order.ordered_for
        outcome = weighted(rng, OUTCOMES)
        substances = rng.sample(SUBSTANCES, 1) if outcome != "negative" else list(SUBSTANCES)
        results.append(
            ScreeningResult(
                order_id=order.id,
                participant_id=pid,
                results=[SubstanceResult(substance=s, result=outcome) for s in substances],
                collected_at=datetime(day.year, day.month, day.day, 23, tzinfo=UTC),
            )
        )
    assessments = [
        Assessment(
            id=f"C-{pid}-{d}",
            participant_id=pid,
            kind="check-in",
            instrument="check-in",
            taken_on=d,
        )
        for d in sorted(days_attended)
        if rng.random() < 0.9
    ]
    for k in range(0, WEEKS, 4):
        assessments.append(
            Assessment(
                id=f"A-{pid}-{k}",
                participant_id=pid,
                kind="assessment",
                instrument="PHQ-9",
                taken_on=start + timedelta(weeks=k, days=1),
                score=float(rng.randrange(0, 28)),
            )
        )
    family = []
    if rng.random() < 1 / 3:
        family = [FamilyContact(id=f"F-{pid}", relationship="partner", consent_to_contact=True)]
    return ParticipantRecords(
        participant=Participant(
            id=pid,
            diagnoses=["F10.20", "F33.1"] if rng.random() < 1 / 3 else ["F10.20"],
            family=family,
        ),
        enrollment=Enrollment(
            id=f"E-{pid}", participant_id=pid, program=program.name, track="evening", start=start
        ),
        program=program,
        occurrences=schedule,
        attendance=tuple(attendance),
        orders=tuple(orders),
        results=tuple(results),
        assessments=tuple(assessments),
        as_of=as_of,
    )


SECRET = Secret(b"benchmark-only-synthetic-secret!")


def census(program: Program) -> list[ParticipantRecords]:
    rng = random.Random(SEED)
    schedules = {
        start: planned_schedule(
            program,
            Enrollment(
                id="E", participant_id="P", program=program.name, track="evening", start=start
            ),
        )
        for start in ADMISSIONS
    }
    return [participant(rng, n, program, schedules) for n in range(PARTICIPANTS)]


def plain_attendance_rates(people: Sequence[ParticipantRecords]) -> list[float | None]:
    """The baseline: each participant's attendance rate over the last 2 weeks, plain Python."""
    rates: list[float | None] = []
    for records in people:
        since = records.as_of - timedelta(weeks=2)
        by_occurrence = {r.occurrence_id: r for r in records.attendance}
        expected = attended = 0
        for o in records.occurrences:
            day = o.start.date()
            if since < day <= records.as_of and o.id in by_occurrence:
                status = by_occurrence[o.id].status
                if status not in ("excused-absence", "cancelled-by-program"):
                    expected += 1
                    attended += status in ("attended", "late", "left-early", "telehealth")
        rates.append(attended / expected if expected else None)
    return rates


def best_of(repeats: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def profile(run: Callable[[], object], top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--profile", action="store_true", help="print the top hotspots too")
    args = parser.parse_args()

    program = iopcore.load_program(PROGRAM_FILE)
    rules = iopcore.create_plugin_host().accountability_rules()
    people = census(program)
    counts = {
        "attendance": sum(len(p.attendance) for p in people),
        "screening orders": sum(len(p.orders) for p in people),
        "screening results": sum(len(p.results) for p in people),
        "assessments": sum(len(p.assessments) for p in people),
    }

    findings: tuple[Finding, ...] = ()

    def evaluate() -> None:
        nonlocal findings
        findings = evaluate_census(people, rules)

    seconds = best_of(REPEATS, evaluate)
    baseline = best_of(REPEATS, lambda: plain_attendance_rates(people))
    by_rule: dict[str, int] = {}
    for f in findings:
        by_rule[f.rule] = by_rule.get(f.rule, 0) + 1

    print("iopcore accountability benchmark")
    print(f"  measures: evaluate_census(census, rules) over {PROGRAM_FILE.name}, rules:")
    print(f"            {', '.join(sorted(rules))}")
    print(
        f"  python {platform.python_version()} ({platform.python_implementation()}) on "
        f"{sys.platform}; best of {REPEATS}, time.perf_counter, random.Random({SEED})"
    )
    print(f"  census: {len(people):,} participants x {WEEKS} weeks")
    print(
        f"  records: {sum(counts.values()):,} ("
        + ", ".join(f"{v:,} {k}" for k, v in counts.items())
        + ")"
    )
    print(
        f"  findings: {len(findings):,} ("
        + ", ".join(f"{v:,} {k}" for k, v in sorted(by_rule.items()))
        + ")"
    )
    print()
    verdict = "OK" if seconds < TARGET else "MISSED"
    print(f"  evaluate_census: {seconds:.3f} s   target < {TARGET} s: {verdict}")
    print(f"  baseline (plain-Python 2-week attendance rate per participant): {baseline:.4f} s")
    print(f"  ratio: {seconds / baseline:.1f}x the baseline")
    if args.profile or seconds >= TARGET:
        print()
        print("top hotspots (cProfile, one run, by own time):")
        print(profile(evaluate, 15))


if __name__ == "__main__":
    main()
