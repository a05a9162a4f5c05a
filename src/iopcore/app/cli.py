"""The ``iopcore`` command. User errors exit 2 with one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from iopcore.core.accountability import Finding, ReviewedFinding
from iopcore.core.calendar import uid_secret_from_env
from iopcore.core.errors import IopcoreError
from iopcore.core.intensity import IntensityFinding, check_program, meets_level_of_care
from iopcore.core.program import Program
from iopcore.core.schedule import Occurrence, Status, expand
from iopcore.io.files import load_program
from iopcore.io.output import (
    Recognizer,
    check_output,
    is_calendar,
    is_json,
    starts_with,
    store_files,
    write_output,
)
from iopcore.io.storage import AUDIT_SECRET_ENV, AuditIntegrityWarning, Store
from iopcore.io.urls import mask_text, mask_url
from iopcore.simulation import cli as simulation_cli

EXIT_OK, EXIT_FAILS, EXIT_USAGE = 0, 1, 2


class UsageError(IopcoreError):
    """Bad command-line input."""


class _Exporters:
    """``--format`` choices: fixed ones, then every registered calendar exporter's name.

    Asked only when a format is checked or help is shown, so commands without ``--format``
    do not load the plugins.
    """

    def __init__(self, *fixed: str) -> None:
        self.fixed = fixed

    def _names(self) -> list[str]:
        from iopcore.plugins import default_host

        return [*self.fixed, *sorted(default_host().calendar_exporters())]

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse quotes what was typed: a storage URL there may carry a password
        raise UsageError(f"{mask_text(message)} (see '{self.prog} --help')")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        shape = len(text) == 10 and text[4] == text[7] == "-" and text.replace("-", "").isdigit()
        why = f" ({exc})" if shape else ""
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD){why}") from None


def _weeks(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of weeks >= 1")
    return int(text)


def _minutes(text: str) -> int:
    if not text.isdigit() or int(text) > 4 * 7 * 24 * 60:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of minutes (0 to 40320)")
    return int(text)


def _timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time with a UTC offset (e.g. 2027-01-01T00:00:00Z)"
        )
    return value


#: Environment variable with the clinic's secret for calendar UIDs (see docs/calendars.md).
UID_SECRET_ENV = "IOPCORE_UID_SECRET"
_CALENDAR_OPTIONS = (
    "expanded",
    "summary",
    "calendar_name",
    "location",
    "detail",
    "reminder",
    "previous",
    "dtstamp",
)


def _calendar_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "calendar",
        "Private by default: every event is a generic 'Appointment' with no treatment words, "
        f"names or location. Set ${UID_SECRET_ENV} (16+ characters, kept for good) so UIDs "
        "cannot be matched to a program's public schedule.",
    )
    group.add_argument(
        "--expanded", action="store_true", help="one event per session instead of weekly series"
    )
    group.add_argument("--summary", help="title of every event (default: Appointment)")
    group.add_argument("--calendar-name", help="name of the calendar (default: Appointments)")
    group.add_argument("--location", help="add this location to every event (default: none)")
    group.add_argument(
        "--detail",
        action="store_true",
        help="staff view: session types, phases and topics in the events",
    )
    group.add_argument(
        "--reminder",
        type=_minutes,
        action="append",
        metavar="MINUTES",
        help="a reminder MINUTES before a session (repeatable); back-to-back sessions of a "
        "day share the first one's reminder",
    )
    group.add_argument(
        "--previous",
        type=Path,
        metavar="FILE",
        help="the last export of this calendar, so SEQUENCE counts changes "
        "(default: the output file, if it exists)",
    )
    group.add_argument(
        "--dtstamp",
        type=_timestamp,
        metavar="TIME",
        help="DTSTAMP, e.g. 2027-01-01T00:00:00Z, for reproducible files "
        "(default: SOURCE_DATE_EPOCH if set, else now)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="iopcore",
        description="Intensive outpatient programs: check and schedule programs, "
        "review findings and step-down plans, export calendars, simulate.",
    )
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
    schedule.add_argument(
        "--format",
        choices=_Exporters("table", "json"),
        default="table",
        help="table, json, or a calendar exporter: ics (an iCalendar file for calendar apps) "
        "or one a plugin adds",
    )
    _output_options(schedule)
    _calendar_options(schedule)

    export = sub.add_parser(
        "export",
        help="export a participant's calendar (.ics) from a store",
        description="Write an iCalendar file of the participant's sessions (each enrollment "
        "as its level-of-care history went up to --as-of, its plan after that, nothing after "
        "a discharge) and its aftercare meetings, and record the export in the store's audit "
        "log first.",
    )
    _store_options(export, participant=True)
    export.add_argument(
        "--format",
        choices=_Exporters(),
        default="ics",
        help="a calendar exporter: ics (default) or one a plugin adds",
    )
    _output_options(export)
    _calendar_options(export)

    findings = sub.add_parser(
        "findings",
        help="list open accountability findings for everyone in a store",
        description="Evaluate every participant's latest enrollment with the installed "
        "accountability rules and list what needs a clinician's attention.",
    )
    _store_options(findings, participant=False)
    findings.add_argument("--json", action="store_true", help="print findings as JSON")
    findings.add_argument(
        "--status",
        choices=("unresolved", "open", "acknowledged", "resolved", "all"),
        default="unresolved",
        help="which findings to list (default unresolved: open and acknowledged)",
    )
    _purpose_option(findings)
    _review_parsers(sub)

    plan = sub.add_parser(
        "plan",
        help="recommend stay, step down, step up or transfer for a participant, with a dated plan",
        description="Evaluate the participant's latest enrollment as of a date: every step-down "
        "or step-up criterion the program declares, as met, unmet or unknown with its evidence, "
        "and the earliest dates of each stage to aftercare if the criteria are met on time.",
    )
    _store_options(plan, participant=True)
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    _purpose_option(plan)
    _timeline_parser(sub)

    demo = sub.add_parser(
        "demo",
        help="run the main job end to end on synthetic data in a SQLite store",
        description="Create (or reopen) a SQLite store in DIR, load the example programs, enroll "
        "synthetic participants, record attendance and screens, evaluate findings and "
        "step-down, export calendars and (with the sim and plot extras) simulate. Safe to "
        "run again.",
    )
    demo.add_argument(
        "--dir", type=Path, default=Path("iopcore-demo"), help="default ./iopcore-demo"
    )
    _add_disclosure_commands(sub)
    _audit_parser(sub)
    simulation_cli.add_parser(sub)
    _feed_parsers(sub)
    _publish_parser(sub)
    return parser


def _audit_parser(sub: Any) -> None:
    """``iopcore audit verify --store URL``: the audit log's hash chain and guards."""
    audit = sub.add_parser(
        "audit",
        help="check a store's audit log",
        description="Audit log tools. 'verify' checks the hash chain and the append-only guards.",
    )
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, parser_class=_Parser)
    verify = audit_sub.add_parser(
        "verify",
        help="verify the audit log's hash chain; exit 1 at the first broken link",
        description="Recompute every audit entry's digest from its predecessor's (keyed with "
        f"${AUDIT_SECRET_ENV} if the store uses one) and check the append-only triggers. "
        "Exit 0 when intact, 1 when altered (the first broken link is named), 2 for "
        "invalid input.",
    )
    verify.add_argument("--store", required=True, metavar="URL", help="e.g. sqlite:///clinic.db")


def _output_kind(fmt: str) -> tuple[str, Recognizer]:
    """What an output format writes, and how to recognise an existing file of that kind (a
    plugin's format has no recognizer: replacing an existing file takes --force)."""
    known: dict[str, tuple[str, Recognizer]] = {
        "ics": ("calendar", is_calendar),
        "json": ("JSON schedule", is_json),
        "table": ("schedule table", starts_with(b"times are local to ")),
    }
    return known.get(fmt, (f"{fmt} export", lambda head: False))


def _output_options(parser: argparse.ArgumentParser) -> None:
    """-o/--output and --force: never onto an input, never over a file of another kind."""
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="write to FILE (0600, replaced atomically) instead of stdout; never the "
        "command's own input",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite FILE even if it exists and is not of the output's kind",
    )


# -- calendar feeds: iopcore serve, iopcore feed ------------------------


def _feed_parsers(sub: Any) -> None:
    serve = sub.add_parser(
        "serve",
        help="serve participants' calendar feeds (webcal) from a store",
        description="Run the feed server (needs the feeds extra): GET /feeds/TOKEN.ics returns "
        "the participant's current calendar. Tokens come from 'iopcore feed issue'. No access "
        "log (a feed URL is a secret); every fetch is audited in the store by token id.",
    )
    serve.add_argument("--store", required=True, metavar="URL", help="e.g. sqlite:///clinic.db")
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    feed = sub.add_parser(
        "feed",
        help="issue, revoke or rotate a participant's calendar feed link",
        description="issue prints a new feed token (once; the store keeps only its hash) and "
        "revokes the previous one; rotate does the same; revoke stops the link.",
    )
    feed.add_argument("action", choices=["issue", "revoke", "rotate"])
    feed.add_argument("--store", required=True, metavar="URL", help="e.g. sqlite:///clinic.db")
    feed.add_argument("--participant", required=True, metavar="ID", help="participant id")
    feed.add_argument(
        "--purpose", default="calendar", help="which link (default calendar); one per purpose"
    )
    feed.add_argument(
        "--base-url",
        default=None,
        metavar="URL",
        help="print the full feed URL under this base, e.g. https://clinic.example.org",
    )


def _publish_parser(sub: Any) -> None:
    publish = sub.add_parser(
        "publish",
        help="publish a participant's calendar to a CalDAV collection",
        description="Put the participant's calendar (as 'iopcore export' writes it) into the "
        "CalDAV collection at --caldav, creating, updating (SEQUENCE) and deleting only what "
        "changed since the last publish. Needs the caldav extra. The user name and password "
        "come from IOPCORE_CALDAV_USERNAME and IOPCORE_CALDAV_PASSWORD.",
    )
    _store_options(publish, participant=True)
    publish.add_argument(
        "--caldav", required=True, metavar="URL", help="the collection, e.g. https://server/cal/p1/"
    )


def _publish(args: argparse.Namespace) -> int:
    try:
        from iopcore.clinic.publish import publish_calendar
    except ImportError:  # pragma: no cover - the module imports caldav lazily
        raise UsageError(
            "publishing needs the caldav extra: pip install 'iopcore[caldav]'"
        ) from None
    options: dict[str, Any] = {}
    secret, warning = uid_secret_from_env(os.environ)
    if warning is not None:
        print(f"iopcore: warning: {warning}", file=sys.stderr)
    if secret:
        options["uid_secret"] = secret
    with open_existing(args.store, actor="iopcore publish") as store:
        try:
            summary = publish_calendar(
                store,
                args.participant,
                args.caldav,
                as_of=_as_of(args),
                username=os.environ.get("IOPCORE_CALDAV_USERNAME"),
                password=os.environ.get("IOPCORE_CALDAV_PASSWORD"),
                **options,
            )
        except ImportError:
            raise UsageError(
                "publishing needs the caldav extra: pip install 'iopcore[caldav]'"
            ) from None
        except OSError as exc:
            raise UsageError(f"{args.caldav}: cannot publish ({exc}); check the URL") from None
    print(
        f"created {summary.created}, updated {summary.updated}, deleted {summary.deleted}, "
        f"unchanged {summary.unchanged}"
    )
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from iopcore.app.feeds import create_app
    except ImportError:
        raise UsageError(
            "the feed server needs the feeds extra: pip install 'iopcore[feeds]'"
        ) from None
    open_existing(args.store, actor="iopcore serve").close()  # fail early on a bad URL
    app = create_app(lambda: open_existing(args.store, actor="iopcore serve"))
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        access_log=False,  # URLs carry bearer tokens
        server_header=False,
        log_level="warning",
    )
    return EXIT_OK


def _feed(args: argparse.Namespace) -> int:
    from iopcore.clinic.feeds import issue_feed_token, revoke_feed_token, rotate_feed_token

    with open_existing(args.store, actor="iopcore feed") as store:
        if args.action == "revoke":
            count = revoke_feed_token(store, args.participant, purpose=args.purpose)
            print(f"revoked {count} feed link(s)", file=sys.stderr)
            return EXIT_OK
        act = issue_feed_token if args.action == "issue" else rotate_feed_token
        token = act(store, args.participant, purpose=args.purpose)
    path = f"/feeds/{token}.ics"
    print(args.base_url.rstrip("/") + path if args.base_url else path)
    print(
        "iopcore: this link is a secret: anyone holding it can read the calendar; it is shown once",
        file=sys.stderr,
    )
    return EXIT_OK


def _store_options(parser: argparse.ArgumentParser, *, participant: bool) -> None:
    """--store, --as-of and (for one person's commands) --participant."""
    parser.add_argument("--store", required=True, metavar="URL", help="e.g. sqlite:///clinic.db")
    if participant:
        parser.add_argument("--participant", required=True, metavar="ID", help="participant id")
    parser.add_argument(
        "--as-of", type=_date, default=None, help="YYYY-MM-DD, the day to judge (default today)"
    )


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Warnings (e.g. an altered audit log found on open) as one line each."""
    print(f"iopcore: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``iopcore`` console script."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", AuditIntegrityWarning)
        warnings.showwarning = _show_warning
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return _commands()[args.command](args)
    except IopcoreError as exc:
        print(f"iopcore: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `iopcore schedule ... | head`
        return EXIT_OK


def _commands() -> dict[str, Callable[[argparse.Namespace], int]]:
    """Each subcommand's function (one table, so a new command is one line here)."""
    return {
        "check": _check,
        "schedule": _schedule,
        "export": _export,
        "findings": _findings,
        "acknowledge": _review,
        "resolve": _review,
        "timeline": _timeline,
        "plan": _plan,
        "demo": _demo,
        "audit": _audit_verify,
        "serve": _serve,
        "feed": _feed,
        "publish": _publish,
        "simulate": simulation_cli.run,
        "sensitivity": simulation_cli.run,
        **_DISCLOSURE_COMMANDS,
    }


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
        for line in _finding_lines(findings):
            print(line)
        errors = sum(f.severity == "error" for f in findings)
        warnings = len(findings) - errors
        verdict = "meets" if ok else "does not meet"
        print(
            f"{program.name} {verdict} its level of care ({errors} error(s), {warnings} warning(s))"
        )
    return EXIT_OK if ok else EXIT_FAILS


def _finding_lines(findings: Sequence[IntensityFinding]) -> list[str]:
    """Errors one per rule; a calendar week's warnings on one line, its rules listed."""
    lines: list[str] = []
    weeks: dict[tuple[str, str, date], list[IntensityFinding]] = {}
    for f in findings:
        if f.week is None:
            lines.append(f"{f.severity.value}: {f.message}")
        else:
            weeks.setdefault((f.track, f.phase, f.week), []).append(f)
    for group in weeks.values():
        where = group[0].message.split(": ", 1)[0]
        causes = "; ".join(group[0].causes)
        rules = ", ".join(f.rule for f in group)
        lines.append(
            f"warning: {where}: {group[0].scheduled_hours:.1f} h scheduled, misses {rules}"
            + (f" ({causes})" if causes else "")
        )
    return lines


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
    if args.format in ("table", "json"):
        given = [n for n in _CALENDAR_OPTIONS if getattr(args, n) not in (None, False)]
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise UsageError(f"{flag} applies to calendars only; add --format ics")
    program = load_program(args.program)
    occurrences = expand(
        program, args.track, start=args.start, weeks=args.weeks, include_cancelled=True
    )
    kind, recognize = _output_kind(args.format)
    if args.output is not None:  # before any work, and before --previous reads it
        check_output(
            args.output, kind=kind, recognize=recognize, reads=[args.program], force=args.force
        )
    if args.format == "json":
        data: bytes | str = _schedule_json(occurrences)
    elif args.format == "table":
        data = _schedule_table(occurrences, program.track(args.track).time_zone)
    else:
        data = _calendar(args, occurrences, [program])
    _write(args, data, len(occurrences), kind=kind, recognize=recognize, reads=[args.program])
    return EXIT_OK


def _write(
    args: argparse.Namespace,
    data: bytes | str,
    sessions: int,
    *,
    kind: str,
    recognize: Recognizer,
    reads: Sequence[Path],
) -> None:
    output: Path | None = args.output
    if output is None:
        if isinstance(data, str):
            sys.stdout.write(data)
        else:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        return
    write_output(output, data, kind=kind, recognize=recognize, reads=reads, force=args.force)
    print(f"wrote {sessions} sessions to {output}", file=sys.stderr)


def _calendar(
    args: argparse.Namespace,
    occurrences: Sequence[Occurrence],
    programs: Sequence[Program],
    uid_scope: dict[str, str] | None = None,
) -> bytes:
    """Export ``occurrences`` with the ``--format`` exporter and the calendar options (an
    exporter uses those it understands)."""
    from iopcore.plugins import default_host

    options: dict[str, Any] = {
        "uid_scope": uid_scope,
        "recurring": not args.expanded,
        "detail": args.detail,
        "programs": programs,
        "reminders": [timedelta(minutes=m) for m in args.reminder or ()],
    }
    for name in ("summary", "calendar_name", "location"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.dtstamp is not None:
        options["now"] = args.dtstamp
    elif os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        options["now"] = datetime.fromtimestamp(int(os.environ["SOURCE_DATE_EPOCH"]), UTC)
    secret, warning = uid_secret_from_env(os.environ)
    if warning is not None:
        print(f"iopcore: warning: {warning}", file=sys.stderr)
    if secret:
        options["uid_secret"] = secret
    previous: Path | None = args.previous
    if previous is None and args.output is not None and args.output.is_file():
        previous = args.output
    if previous is not None:
        try:
            data = previous.read_bytes()
        except OSError as exc:
            raise UsageError(f"{previous}: cannot read ({exc.strerror}); check the path") from None
        # An output file that is not a calendar is overwritten, not read as a previous export.
        if args.previous is not None or data.lstrip().upper().startswith(b"BEGIN:VCALENDAR"):
            options["previous"] = data
    exporter = default_host().calendar_exporter(args.format)
    return exporter.export(occurrences, **options)


def _export(args: argparse.Namespace) -> int:
    from iopcore.clinic import participant_sessions, session_scopes

    reads = _store_files(args.store)
    kind, recognize = _output_kind(args.format)
    if args.output is not None:  # refuse before the export is audited
        check_output(args.output, kind=kind, recognize=recognize, reads=reads, force=args.force)
    with open_existing(args.store, actor="iopcore export") as store:
        sessions = participant_sessions(store, args.participant, as_of=_as_of(args))
        scopes = session_scopes(store, args.participant, as_of=_as_of(args))
        if not sessions:
            raise UsageError(
                f"participant {args.participant!r} has no enrollment in {mask_url(args.store)}; "
                "enroll them first"
            )
        programs = {store.program(e.program) for e in store.enrollments(args.participant)}
        data = _calendar(args, sessions, sorted(programs, key=lambda p: p.name), scopes)
        store.record_export("calendar", args.participant)  # audited before it leaves
    _write(args, data, len(sessions), kind=kind, recognize=recognize, reads=reads)
    return EXIT_OK


def _store_files(url: str) -> list[Path]:
    """The files a store URL reads (a SQLite file and its companions), for output checks."""
    from iopcore_plugins.sqlite import path_of

    return list(store_files(path_of(url))) if url.startswith("sqlite:") else []


def open_existing(url: str, *, actor: str) -> Store:
    """Open a store that must already exist (a mistyped SQLite path must not make a new one,
    and an existing empty file is not turned into a store)."""
    from iopcore.plugins import default_host
    from iopcore_plugins.sqlite import parse_url

    if url.startswith("sqlite:"):
        path, mode = parse_url(url)
        if not path.is_file() or path.stat().st_size == 0:
            empty = " (an empty file)" if path.is_file() else ""
            raise UsageError(
                f"no store at {path}{empty} ({mask_url(url)}); check the path, or create one "
                "with 'iopcore demo'"
            )
        if mode == "rwc":  # and if the file is emptied meanwhile, the backend refuses too
            url += "&mode=rw" if "?" in url else "?mode=rw"
    return default_host().open_storage(url, actor=actor)


def _audit_verify(args: argparse.Namespace) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AuditIntegrityWarning)  # the full check says it all
        store = open_existing(args.store, actor="iopcore audit")
    with store:
        found = store.verify_audit()
    print(found.summary())
    return EXIT_OK if found.ok else EXIT_FAILS


def _as_of(args: argparse.Namespace) -> date:
    return args.as_of if args.as_of is not None else date.today()


def _findings(args: argparse.Namespace) -> int:
    from iopcore.clinic import review_findings

    as_of = _as_of(args)
    statuses = {
        "unresolved": ("open", "acknowledged"),
        "all": ("open", "acknowledged", "resolved"),
    }.get(args.status, (args.status,))
    label = "open" if args.status == "unresolved" else args.status
    with open_existing(args.store, actor="iopcore findings") as store:
        from iopcore.plugins import default_host

        failures = len(default_host().rule_failures)
        items = review_findings(store, as_of=as_of, statuses=statuses, purpose=args.purpose)
    _warn_plugin_failures(failures)
    if args.json:
        print(json.dumps([_reviewed_json(r) for r in items], indent=2))
        return EXIT_OK
    if not items:
        print(f"no {label} findings as of {as_of}" + _nobody_hint(args.store, as_of))
        return EXIT_OK
    for item in items:
        f = item.finding
        print(f"{f.participant_id}  {f.concern.value:<6}  {item.status.value:<12}  {f.id}")
        print(f"    {f.rule}: {f.summary} (since {f.as_of})")
        print(f"    next step: {f.action}")
        if f.evidence:
            shown = ", ".join(f"{e.kind} {e.id} ({e.on})" for e in f.evidence[:4])
            more = f" and {len(f.evidence) - 4} more" if len(f.evidence) > 4 else ""
            print(f"    evidence: {shown}{more}")
        if item.resolved_by:
            print(f"    resolved by: {item.resolved_by}")
    people = len({r.finding.participant_id for r in items})
    print(f"{len(items)} {label} finding(s) for {people} participant(s) as of {as_of}")
    return EXIT_OK


def _reviewed_json(item: ReviewedFinding) -> dict[str, Any]:
    return {
        **_accountability_json(item.finding),
        "status": item.status.value,
        "resolved_by": item.resolved_by or None,
        "reviews": [
            {"seq": r.seq, "status": r.status.value, "actor": r.actor, "at": r.at.isoformat()}
            for r in item.reviews
        ],
    }


# -- reads are disclosures too; the timeline (clinic) ----------------------------------------


def _purpose_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--purpose",
        default="treatment",
        help="why you read it, written to the audit log with who and when (default treatment)",
    )


def _timeline_parser(sub: Any) -> None:
    timeline = sub.add_parser(
        "timeline",
        help="print a participant's whole timeline in local-day order",
        description="Track sessions (individual and family ones included) as the "
        "participant's history went and the current phase held until a decision, screens "
        "drawn and ordered, check-ins and assessments due, decisions, the step-down plan "
        "(later stages marked projected) and aftercare, in local-day order. The read is "
        "recorded in the store's audit log (who, purpose, when; never the data).",
    )
    _store_options(timeline, participant=True)
    timeline.add_argument("--json", action="store_true", help="print the timeline as JSON")
    _purpose_option(timeline)


def _timeline(args: argparse.Namespace) -> int:
    from iopcore.clinic import timeline_for

    as_of = _as_of(args)
    with open_existing(args.store, actor="iopcore timeline") as store:
        timeline = timeline_for(store, args.participant, as_of=as_of, purpose=args.purpose)
    rows = [
        {
            "kind": i.kind.value,
            "day": i.day.isoformat(),
            "start": i.start.isoformat() if i.start else None,
            "end": i.end.isoformat() if i.end else None,
            "ref": i.ref,
            "detail": i.detail,
        }
        for i in timeline.items
    ]
    if args.json:
        print(
            json.dumps(
                {"participant": args.participant, "as_of": as_of.isoformat(), "items": rows},
                indent=2,
            )
        )
        return EXIT_OK
    for row in rows:
        at = row["start"][11:16] if row["start"] else "     "
        print(f"{row['day']}  {at}  {row['kind']:<11}  {row['detail']}")
    print(f"{len(rows)} item(s) for {args.participant} as of {as_of}")
    return EXIT_OK


# -- acknowledge / resolve (clinic: findings are reviewed) -----------------------------------


def _review_parsers(sub: Any) -> None:
    for name, what in (
        ("acknowledge", "record that you have seen a finding and are acting on it"),
        ("resolve", "record that a finding is resolved (it leaves the default findings list)"),
    ):
        parser = sub.add_parser(
            name,
            help=what,
            description=f"Append a review to a stored finding: {what}. The review names you "
            "(--by), is timestamped and audited; the note is kept in the store, never printed "
            "in logs.",
        )
        parser.add_argument(
            "finding", metavar="FINDING", help="finding id (from 'iopcore findings')"
        )
        parser.add_argument(
            "--store", required=True, metavar="URL", help="e.g. sqlite:///clinic.db"
        )
        parser.add_argument(
            "--by", required=True, metavar="ACTOR", help="who reviews, e.g. clinician-7"
        )
        parser.add_argument("--note", default="", help="a note kept with the review")


def _review(args: argparse.Namespace) -> int:
    from iopcore.clinic import acknowledge_finding, resolve_finding

    act = acknowledge_finding if args.command == "acknowledge" else resolve_finding
    with open_existing(args.store, actor=args.by) as store:
        review = act(store, args.finding, note=args.note)
    when = review.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    print(f"finding {review.finding_id} {review.status.value} by {review.actor} at {when} UTC")
    return EXIT_OK


def _nobody_hint(url: str, as_of: date) -> str:
    """Say so when no one was in treatment on ``as_of`` (an easy mistake with --as-of)."""
    from iopcore.clinic import census

    with open_existing(url, actor="iopcore findings") as store:
        if census(store, as_of=as_of):
            return ""
        starts = [e.start for p in store.participants() for e in store.enrollments(p.id)]
    if not starts:
        return " (the store has no enrollments yet)"
    return (
        f" (no one was in treatment then: enrollments run from {min(starts)}; try a later --as-of)"
    )


def _accountability_json(f: Finding) -> dict[str, Any]:
    return {
        "id": f.id,
        "participant": f.participant_id,
        "rule": f.rule,
        "concern": f.concern.value,
        "as_of": f.as_of.isoformat(),
        "summary": f.summary,
        "action": f.action,
        "evidence": [{"kind": e.kind, "id": e.id, "on": e.on.isoformat()} for e in f.evidence],
    }


def _warn_plugin_failures(rule_failures_before: int) -> None:
    """One line on stderr per plugin that failed to load and per rule that failed since
    ``rule_failures_before``: the output is incomplete, and the reader must know."""
    from iopcore.plugins import default_host

    host = default_host()
    for failure in host.failures:
        where = f" from {failure.distribution}" if failure.distribution else ""
        print(
            f"iopcore: warning: plugin {failure.name!r}{where} failed to load and was skipped; "
            "its rules did not run",
            file=sys.stderr,
        )
    for failure in host.rule_failures[rule_failures_before:]:  # skipped; the others ran
        print(f"iopcore: warning: plugin {failure.name!r}: {failure.error}", file=sys.stderr)


def _plan(args: argparse.Namespace) -> int:
    from iopcore.clinic import plan_for
    from iopcore.plugins import default_host

    as_of = _as_of(args)
    failures = len(default_host().rule_failures)
    with open_existing(args.store, actor="iopcore plan") as store:
        result = plan_for(store, args.participant, as_of=as_of, purpose=args.purpose)
    _warn_plugin_failures(failures)
    evaluation, plan = result.evaluation, result.plan
    if args.json:
        print(
            json.dumps(
                {
                    "participant": evaluation.participant_id,
                    "enrollment": evaluation.enrollment_id,
                    "as_of": as_of.isoformat(),
                    "track": evaluation.position.track,
                    "phase": evaluation.position.phase,
                    "since": evaluation.position.since.isoformat(),
                    "recommendation": evaluation.recommendation.value,
                    "target": evaluation.target,
                    "needs_signoff": evaluation.needs_signoff,
                    "criteria": [
                        {"name": c.name, "status": c.status.value, "evidence": c.evidence}
                        for c in evaluation.criteria
                    ],
                    "plan": [
                        {
                            "stage": st.name,
                            "level_of_care": st.level_of_care,
                            "hours_per_week": st.hours_per_week,
                            "starts": st.starts.isoformat(),
                            "ends": st.ends.isoformat() if st.ends else None,
                            "projected": st.projected,
                        }
                        for st in plan.stages
                    ],
                },
                indent=2,
            )
        )
        return EXIT_OK
    where = evaluation.position
    print(
        f"{evaluation.participant_id} ({evaluation.enrollment_id}), as of {as_of}: "
        f"{where.track} track, phase {where.phase} since {where.since}"
    )
    target = f" -> {evaluation.target}" if evaluation.target else ""
    signoff = " (needs clinician sign-off)" if evaluation.needs_signoff else ""
    print(f"recommendation: {evaluation.recommendation.value}{target}{signoff}")
    for c in evaluation.criteria:
        print(f"  [{c.status.value:<7}] {c.name}: {c.evidence}")
    print("plan if criteria are met on time:")
    for st in plan.stages:
        until = f"until {st.ends}" if st.ends else "ongoing"
        projected = ", projected: not decided" if st.projected else ""
        print(
            f"  {st.starts}  {st.name:<18} {st.hours_per_week:5.1f} h/week  "
            f"(level {st.level_of_care}, {until}{projected})"
        )
    return EXIT_OK


def _launcher() -> str:
    """How this command was started, for copy-paste (``.venv/bin/iopcore`` off the PATH)."""
    argv0 = Path(sys.argv[0])
    return str(argv0) if argv0.name == "iopcore" else "iopcore"


def _demo(args: argparse.Namespace) -> int:
    from iopcore.app.demo import run_demo

    report = run_demo(args.dir)
    print()
    print("What to open next:")
    print(f"  the store:      {report.store_url}  (a SQLite file; pass it as --store)")
    if report.calendars:
        print(f"  a calendar:     {report.calendars[0]}  (import it into any calendar app)")
    for extra in report.extras:
        print(f"  {extra}")
    as_of = report.as_of.isoformat()
    first = report.first_participant
    exe = "iopcore" if shutil.which("iopcore") else _launcher()
    print("Try:")
    print(f"  {exe} findings --store {report.store_url} --as-of {as_of}")
    print(f"  {exe} plan --store {report.store_url} --participant {first} --as-of {as_of}")
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


# -- disclosures (42 CFR Part 2): fhir, teds, disclosures ------------------------------------

#: Environment variable with the clinic's secret for pseudonyms in FHIR bundles.
PSEUDONYM_SECRET_ENV = "IOPCORE_PSEUDONYM_SECRET"


def _add_disclosure_commands(sub: Any) -> None:
    from iopcore.clinic.teds import COLUMNS
    from iopcore.core.consent import Purpose, RecipientKind
    from iopcore.fhir import FHIR_CATEGORIES

    fhir = sub.add_parser(
        "fhir",
        help="send a participant's FHIR R4 Bundle to a recipient, if their consent allows it",
        description="Check the participant's consent for this recipient, purpose and "
        "information, build a FHIR R4 Bundle (Part 2 security labels and the redisclosure "
        "notice on every resource), record the disclosure in the accounting, then write it. "
        "Refused without a matching consent: nothing is written. Needs the fhir extra.",
    )
    _store_options(fhir, participant=True)
    fhir.add_argument("--recipient", required=True, metavar="ID", help="who receives it")
    fhir.add_argument(
        "--recipient-kind",
        required=True,
        choices=[k.value for k in RecipientKind],
        help="what the recipient is: a consent covers them by name, or as 'treating-provider' "
        "(or 'payer' in a single TPO consent), the only classes 42 CFR 2.31 lets a consent "
        "designate; 'patient' sends to the participant themselves",
    )
    fhir.add_argument(
        "--purpose", required=True, choices=[p.value for p in Purpose], help="why it is sent"
    )
    fhir.add_argument(
        "--category",
        action="append",
        choices=[c.value for c in FHIR_CATEGORIES],
        help="send only this kind of information (repeatable; default: everything a bundle "
        "carries); without 'identity' the patient is pseudonymous",
    )
    _output_options(fhir)

    teds = sub.add_parser(
        "teds",
        help="write a period's TEDS admission and discharge records for the state",
        description="Admission and discharge records of the period ("
        + ", ".join(COLUMNS)
        + "), sent through the disclosure gate: each participant in the file needs a consent "
        "covering the state agency, state-reporting and identity, enrollment and discharge, "
        "unless --without-consent. Minimum data set items iopcore does not keep are listed on "
        "stderr, never invented.",
    )
    teds.add_argument("--store", required=True, metavar="URL", help="e.g. sqlite:///clinic.db")
    teds.add_argument(
        "--period", required=True, help="2027-Q1 (a quarter), 2027-03 (a month) or 2027"
    )
    teds.add_argument(
        "--recipient",
        default="state",
        metavar="ID",
        help="the state agency, as consents name it (default state)",
    )
    teds.add_argument(
        "--without-consent",
        action="store_true",
        help="the state's law requires this report without consent (each disclosure is still "
        "recorded, with that basis)",
    )
    teds.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        metavar="FILE",
        help="the CSV file to write (0600, replaced atomically); never the store",
    )
    teds.add_argument(
        "--force",
        action="store_true",
        help="overwrite FILE even if it exists and is not a TEDS file",
    )

    disclosures = sub.add_parser(
        "disclosures",
        help="list the disclosures of a participant's records in the past 3 years",
        description="The accounting of disclosures a participant may request (42 CFR 2.24): "
        "to whom, when, what kinds of information, for what purpose, under which consent.",
    )
    _store_options(disclosures, participant=True)
    disclosures.add_argument("--json", action="store_true", help="print the list as JSON")


def _disclosure_output(args: argparse.Namespace, kind: str, recognize: Recognizer) -> Any:
    """Where a disclosure goes: -o FILE through the output checks (refused now, before the
    store is opened: never the store's own files, another kind only with --force), else
    stdout."""
    from iopcore.clinic.disclosure import to_file

    if args.output is not None:
        send = to_file(
            args.output,
            kind=kind,
            recognize=recognize,
            reads=_store_files(args.store),
            force=args.force,
        )
        send.check()
        return send

    def to_stdout(data: bytes) -> None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

    return to_stdout


def _fhir(args: argparse.Namespace) -> int:
    from iopcore.core.consent import Recipient
    from iopcore.fhir import FHIR_CATEGORIES, export_fhir

    recipient = Recipient(id=args.recipient, kind=args.recipient_kind)
    secret = os.environ.get(PSEUDONYM_SECRET_ENV) or None
    send = _disclosure_output(args, "FHIR bundle", is_json)
    with open_existing(args.store, actor="iopcore fhir") as store:
        record = export_fhir(
            store,
            args.participant,
            recipient=recipient,
            purpose=args.purpose,
            categories=args.category or FHIR_CATEGORIES,
            as_of=_as_of(args),
            secret=secret,
            send=send,
            now=datetime.now(UTC),  # consent is judged on the day it is sent, not --as-of
        )
    if args.output is not None:
        basis = f"consent {record.consent_id}" if record.consent_id else record.basis.value
        print(
            f"wrote a FHIR bundle to {args.output} ({basis}; disclosure {record.id})",
            file=sys.stderr,
        )
    return EXIT_OK


def _teds(args: argparse.Namespace) -> int:
    from iopcore.clinic.teds import export_teds, is_teds
    from iopcore.core.consent import Recipient

    recipient = Recipient(id=args.recipient, kind="state-agency")
    send = _disclosure_output(args, "TEDS file", is_teds)
    with open_existing(args.store, actor="iopcore teds") as store:
        export = export_teds(
            store,
            args.period,
            recipient=recipient,
            consent_required=not args.without_consent,
            send=send,
            now=datetime.now(UTC),
        )
    admissions = sum(r.record_type == "admission" for r in export.records)
    print(
        f"wrote {admissions} admission(s) and {len(export.records) - admissions} discharge(s) "
        f"to {args.output}",
        file=sys.stderr,
    )
    if export.missing:
        print(
            "not held by iopcore (add them from other systems): " + "; ".join(export.missing),
            file=sys.stderr,
        )
    return EXIT_OK


def _disclosures(args: argparse.Namespace) -> int:
    from iopcore.clinic.disclosure import disclosures_for

    as_of = _as_of(args)
    with open_existing(args.store, actor="iopcore disclosures") as store:
        records = disclosures_for(store, args.participant, on=as_of)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": d.id,
                        "at": d.at.isoformat(),
                        "recipient": d.recipient.id,
                        "recipient_kind": d.recipient.kind.value,
                        "purpose": d.purpose.value,
                        "categories": [c.value for c in d.categories],
                        "basis": d.basis.value,
                        "consent": d.consent_id,
                        "what": d.what,
                        "by": d.actor,
                        "notice": d.notice,
                    }
                    for d in records
                ],
                indent=2,
            )
        )
        return EXIT_OK
    for d in records:
        basis = f"consent {d.consent_id}" if d.consent_id else d.basis.value
        kinds = ", ".join(c.value for c in d.categories)
        print(
            f"{d.at.astimezone(UTC):%Y-%m-%d %H:%M}Z  "
            f"to {d.recipient.id} ({d.recipient.kind.value})  for {d.purpose.value}: {kinds}  "
            f"[{d.what}, {basis}]"
        )
    print(f"{len(records)} disclosure(s) of {args.participant} in the 3 years to {as_of}")
    return EXIT_OK


_DISCLOSURE_COMMANDS = {"fhir": _fhir, "teds": _teds, "disclosures": _disclosures}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
