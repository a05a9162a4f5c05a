"""Load a program, check it, and print a participant's first two weeks.

Run from anywhere: ``python examples/first_schedule.py``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import iopcore

HERE = Path(__file__).resolve().parent


def main() -> None:
    program = iopcore.load_program(HERE / "programs" / "adult-evening.toml")
    findings = iopcore.check_program(program)
    verdict = "meets" if iopcore.meets_level_of_care(findings) else "does not meet"
    print(f"{program.title} {verdict} level {program.level_of_care.value}")
    for week, hours in iopcore.weekly_hours(
        iopcore.expand(program, "evening", start=date(2027, 5, 24), weeks=2)
    ).items():
        print(f"week of {week}: {hours:.1f} h")
    for o in iopcore.expand(program, "evening", start=date(2027, 5, 24), weeks=1):
        print(f"{o.start:%a %d %b %H:%M}-{o.end:%H:%M} {o.session_type}")


if __name__ == "__main__":
    main()
