"""Benchmark: step-down by the program's criteria against the phase plan, measured in one run.

Run from the project root (needs the ``sim`` extra; about a minute)::

    .venv/bin/python benchmarks/criteria.py

With ``step_down_by = "criteria"`` every participant still enrolled is reassessed every week
by the clinic's evaluator; the engine calls it once per distinct (course, evidence) row, so
the cost grows with the number of cohorts (one per admission week) and weeks, not with
people. Printed: seconds for 50,000 participants of the adult day program, closed and
rolling (12 and 52 weekly intakes), by plan and by criteria, and the ratio criteria / plan.
Each configuration runs once cold (empty caches, as a fresh process) after one warm-up of
the imports.
"""

from __future__ import annotations

import time

from iopcore import load_program
from iopcore.simulation import Options, Scenario, calendar, criteria, simulate

PEOPLE = 50_000


def seconds(scenario: Scenario) -> float:
    for cached in (criteria.recommend, criteria._frame, calendar._build):
        cached.cache_clear()
    start = time.perf_counter()
    simulate(scenario)
    return time.perf_counter() - start


def main() -> None:
    program = load_program("examples/programs/adult-day.toml")
    simulate(Scenario(program=program, participants=100, options=Options(step_down_by="criteria")))
    print(f"{'admission':<22}{'plan s':>8}{'criteria s':>12}{'ratio':>8}")
    for label, options in [
        ("closed", {}),
        ("rolling, 12 intakes", {"admission": "rolling", "admission_weeks": 12}),
        ("rolling, 52 intakes", {"admission": "rolling", "admission_weeks": 52}),
    ]:
        plan, by_criteria = (
            seconds(
                Scenario(
                    program=program,
                    participants=PEOPLE,
                    seed=1,
                    options=Options(step_down_by=by, **options),  # type: ignore[arg-type]
                )
            )
            for by in ("plan", "criteria")
        )
        print(f"{label:<22}{plan:>8.2f}{by_criteria:>12.2f}{by_criteria / plan:>8.0f}")


if __name__ == "__main__":
    main()
