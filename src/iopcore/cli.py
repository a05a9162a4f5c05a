"""The ``iopcore`` command. User errors exit 2 with one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from iopcore.errors import IopcoreError
from iopcore.files import load_program
from iopcore.intensity import IntensityFinding, check_program, meets_level_of_care
from iopcore.schedule import Occurrence, Status, expand

EXIT_OK, EXIT_FAILS, EXIT_USAGE = 0, 1, 2


class UsageError(IopcoreError):
    """Bad command-line input."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _weeks(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of weeks >= 1")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="iopcore", description="Intensive outpatient programs: check, schedule.")
    from iopcore import __version__

    parser.add_argument("--version", action="version", version=f"iopcore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = sub.add_parser(
        "check",
        help="validate a program file and check its intensity against its level of care",
        description="Exit 0 when the program meets its level of care, 1 when it does not, "
        "2 for invalid input.",
    )
    check.add_argument("program", type=Path, metavar="PROGRAM.toml")
    check.add_argument("--json", action="store_true", help="print findings as JSON")

    schedule = sub.add_parser("schedule", help="print a track's sessions from a start date")
    schedule.add_argument("program", type=Path, metavar="PROGRAM.toml")
    schedule.add_argument("--track", required=True, help="track name, e.g. evening")
    schedule.add_argument("--start", required=True, type=_date, help="first day, YYYY-MM-DD")
    schedule.add_argument("--weeks", type=_weeks, default=12, help="how many weeks (default 12)")
    schedule.add_argument("--format", choices=["table", "json"], default="table")
    schedule.add_argument("-o", "--output", type=Path, help="write to FILE instead of stdout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``iopcore`` console script."""
    try:
        args = build_parser().parse_args(argv)
        if args.command == "check":
            return _check(args)
        return _schedule(args)
    except IopcoreError as exc:
        print(f"iopcore: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `iopcore schedule ... | head`
        return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    program = load_program(args.program)
    findings = check_program(program)
    ok = meets_level_of_care(findings)
    if args.json:
        print(
            json.dumps(
                {
                    "program": program.name,
                    "meets_level_of_care": ok,
                    "findings": [_finding_json(f) for f in findings],
                },
                indent=2,
            )
        )
    else:
        print(
            f"{program.name}: level {program.level_of_care.value} "
            f"({program.level_of_care.label}), {program.population.value}; rule sets: "
            + ", ".join(r.value for r in program.rule_sets)
        )
        for track in program.tracks:
            for phase in track.phases:
                print(
                    f"  {track.name} / {phase.name}: "
                    f"{phase.weekly_minutes(program) / 60:.1f} h in a regular week"
                )
        for f in findings:
            print(f"{f.severity.value}: {f.message}")
        errors = sum(f.severity == "error" for f in findings)
        warnings = len(findings) - errors
        verdict = "meets" if ok else "does not meet"
        print(
            f"{program.name} {verdict} its level of care ({errors} error(s), {warnings} warning(s))"
        )
    return EXIT_OK if ok else EXIT_FAILS


def _finding_json(f: IntensityFinding) -> dict[str, Any]:
    return {
        "severity": f.severity.value,
        "track": f.track,
        "phase": f.phase,
        "rule": f.rule,
        "week": f.week.isoformat() if f.week else None,
        "scheduled_hours": f.scheduled_hours,
        "shortfall": f.shortfall,
        "message": f.message,
    }


def _schedule(args: argparse.Namespace) -> int:
    program = load_program(args.program)
    occurrences = expand(
        program, args.track, start=args.start, weeks=args.weeks, include_cancelled=True
    )
    text = (
        _schedule_json(occurrences)
        if args.format == "json"
        else _schedule_table(occurrences, program.track(args.track).time_zone)
    )
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{args.output}: cannot write ({exc.strerror}); check the path") from None
    print(f"wrote {len(occurrences)} sessions to {args.output}", file=sys.stderr)
    return EXIT_OK


def occurrence_json(o: Occurrence) -> dict[str, Any]:
    """The JSON object for one occurrence (ISO 8601 with UTC offset)."""
    return {
        "id": o.id,
        "track": o.track,
        "phase": o.phase,
        "session_type": o.session_type,
        "start": o.start.isoformat(),
        "end": o.end.isoformat(),
        "minutes": o.minutes,
        "counts_toward_hours": o.counts_toward_hours,
        "status": o.status.value,
    }


def _schedule_json(occurrences: Sequence[Occurrence]) -> str:
    return json.dumps([occurrence_json(o) for o in occurrences], indent=2) + "\n"


def _schedule_table(occurrences: Sequence[Occurrence], zone: str) -> str:
    rows = [("date", "day", "start", "end", "phase", "session", "status", "id")]
    for o in occurrences:
        rows.append(
            (
                f"{o.start:%Y-%m-%d}",
                f"{o.start:%a}",
                f"{o.start:%H:%M}",
                f"{o.end:%H:%M}",
                o.phase,
                o.session_type,
                "" if o.status is Status.SCHEDULED else o.status.value,
                o.id,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"times are local to {zone}"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
