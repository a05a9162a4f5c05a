"""The main job, end to end on the embedded default store (``iopcore demo``).

Creates (or reopens) a SQLite store in a folder, loads the example programs, enrolls a few
dozen synthetic participants with staggered starts, records weeks of attendance and random
screens, evaluates findings and step-down recommendations, exports each participant's
calendar, and runs a small simulation with a plot. Everything is synthetic and seeded, so
running it again changes nothing (every write is idempotent).
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from attrs import frozen

from iopcore.clinic import census, participant_sessions
from iopcore.core.accountability import Finding, evaluate
from iopcore.core.assessments import Assessment
from iopcore.core.attendance import AttendanceRecord
from iopcore.core.enrollment import Enrollment, FamilyContact, Participant
from iopcore.core.program import Program
from iopcore.core.schedule import Status, expand
from iopcore.core.screening import Secret, SubstanceResult, orders_for, screening_draws
from iopcore.core.stepdown import evaluate_transition
from iopcore.io.files import load_program
from iopcore.io.output import is_calendar, private_folder, starts_with, write_output
from iopcore.io.storage import Store
from iopcore.plugins import PluginHost, default_host
from iopcore_plugins.manual import ManualScreening

#: The demo's screening secret. A real program keeps its own secret out of files and code.
DEMO_SECRET = Secret(b"iopcore-demo-secret-not-for-real-use")
#: The demo's calendar UID secret (a clinic sets IOPCORE_UID_SECRET and keeps it).
DEMO_UID_SECRET = "iopcore-demo-uid-secret-not-for-real-use"
_PACKAGED = Path(__file__).resolve().parents[1] / "example_programs"  # in a wheel
#: The example programs: shipped inside the wheel, or the repository's examples/programs.
EXAMPLES = (
    _PACKAGED
    if _PACKAGED.is_dir()
    else Path(__file__).resolve().parents[3] / "examples" / "programs"
)
TRACKS = {"adult-evening": "evening", "adult-day": "day", "adolescent-afterschool": "afterschool"}


@frozen(kw_only=True)
class DemoReport:
    store_url: str
    as_of: date
    first_participant: str
    participants: int
    attendance_records: int
    screens: int
    findings: tuple[Finding, ...]
    recommendations: dict[str, int]
    calendars: tuple[Path, ...]
    extras: tuple[str, ...]


def run_demo(
    folder: Path,
    *,
    as_of: date = date(2027, 3, 26),
    per_program: int = 12,
    seed: int = 2027,
    say: Callable[[str], None] = print,
    host: PluginHost | None = None,
) -> DemoReport:
    """Run the demo into ``folder`` and return what it made."""
    host = host or default_host()
    private_folder(folder, what="demo folder")
    url = f"sqlite:///{(folder / 'clinic.db').resolve()}"
    rng = random.Random(seed)
    with host.open_storage(url, actor="iopcore-demo") as store:
        programs = [load_program(EXAMPLES / f"{name}.toml") for name in TRACKS]
        for program in programs:
            store.save_program(program)
        say(f"store: {url} ({len(programs)} programs)")
        enrolled = _enroll(store, programs, per_program, as_of, rng)
        say(f"participants: {len(enrolled)} enrolled with staggered weekly starts")
        records = _attend(store, enrolled, as_of, rng)
        say(f"attendance: {records} records up to {as_of}")
        screens = _screen(store, host, enrolled, as_of, rng)
        say(f"random screens: {screens} ordered and resulted (manual provider)")
        findings, recommendations = _review(store, host, as_of)
        say(
            f"findings: {len(findings)} open; step-down review: "
            + ", ".join(f"{n} {k}" for k, n in sorted(recommendations.items()))
        )
        calendars = _calendars(store, host, enrolled, folder / "calendars", as_of)
        if calendars:
            say(f"calendars: {len(calendars)} .ics files in {folder / 'calendars'}")
    extras = _simulation(folder, say)
    return DemoReport(
        store_url=url,
        as_of=as_of,
        first_participant=enrolled[0][0].participant_id,
        participants=len(enrolled),
        attendance_records=records,
        screens=screens,
        findings=findings,
        recommendations=recommendations,
        calendars=tuple(calendars),
        extras=tuple(extras),
    )


def _enroll(
    store: Store, programs: list[Program], per_program: int, as_of: date, rng: random.Random
) -> list[tuple[Enrollment, Program]]:
    out = []
    first_monday = as_of - timedelta(days=as_of.weekday()) - timedelta(weeks=10)
    for program in programs:
        for n in range(per_program):
            initials = "".join(word[0] for word in program.name.split("-")).upper()
            pid = f"P-{initials}-{n + 1:03d}"
            diagnoses = ["F10.20"] + (["F33.1"] if rng.random() < 0.35 else [])
            family = (
                [FamilyContact(id=f"F-{pid}", relationship="partner", consent_to_contact=True)]
                if rng.random() < 0.4
                else []
            )
            store.add_participant(
                Participant(
                    id=pid, population=program.population, diagnoses=diagnoses, family=family
                )
            )
            enrollment = Enrollment(
                id=f"E-{pid}",
                participant_id=pid,
                program=program.name,
                track=TRACKS[program.name],
                start=first_monday + timedelta(weeks=n % 8),
            )
            store.enroll(enrollment)
            out.append((enrollment, program))
    return out


#: Each synthetic participant's chance of attending a session, by engagement.
_ENGAGEMENT = (0.95, 0.85, 0.6)


def _attend(
    store: Store, enrolled: list[tuple[Enrollment, Program]], as_of: date, rng: random.Random
) -> int:
    count = 0
    for enrollment, program in enrolled:
        p_attend = rng.choice(_ENGAGEMENT)
        sessions = [
            o
            for o in expand(program, enrollment.track, start=enrollment.start, until=as_of)
            if o.status is not Status.CANCELLED
        ]
        batch = []
        for o in sessions:
            draw = rng.random()
            status = (
                "attended"
                if draw < p_attend
                else "excused-absence"
                if draw < p_attend + (1 - p_attend) / 3
                else "unexcused-absence"
            )
            batch.append(
                AttendanceRecord(
                    participant_id=enrollment.participant_id,
                    occurrence_id=o.id,
                    session_date=o.start.date(),
                    status=status,
                )
            )
        store.record_attendance(batch)
        count += len(batch)
        _measures(store, program, enrollment, batch, rng)
    return count


def _measures(
    store: Store,
    program: Program,
    enrollment: Enrollment,
    attendance: list[AttendanceRecord],
    rng: random.Random,
) -> None:
    """Check-ins on most attended days; scheduled assessments with plausible scores."""
    attended = sorted({r.session_date for r in attendance if r.present})
    for measure in program.measures:
        if measure.every_weeks is None:
            days = [d for d in attended if rng.random() < 0.9]
        else:
            days = attended[:: max(1, 3 * measure.every_weeks)]
        for day in days:
            score = None if measure.every_weeks is None else float(rng.randint(2, 18))
            store.record_assessment(
                Assessment(
                    id=f"A-{enrollment.participant_id}-{measure.instrument}-{day.isoformat()}",
                    participant_id=enrollment.participant_id,
                    kind=measure.kind,
                    instrument=measure.instrument,
                    taken_on=day,
                    score=score,
                )
            )


def _screen(
    store: Store,
    host: PluginHost,
    enrolled: list[tuple[Enrollment, Program]],
    as_of: date,
    rng: random.Random,
) -> int:
    lab = host.screening_provider("manual").create()
    if not isinstance(lab, ManualScreening):  # staff type results in; another lab would not
        raise TypeError(f"the 'manual' screening provider is a {type(lab).__name__}")
    count = 0
    for enrollment, program in enrolled:
        sessions = expand(program, enrollment.track, start=enrollment.start, until=as_of)
        draws = screening_draws(
            DEMO_SECRET, enrollment.participant_id, program, sessions, through=as_of
        )
        store.record_draws(draws)  # kept so an auditor can re-derive every selection
        for order in orders_for(draws):
            if order.ordered_for > as_of:
                continue
            store.order_screening(order)
            lab.place_order(order)
            outcome = rng.choices(
                ["negative", "positive", "dilute", "missed"], weights=[88, 6, 3, 3]
            )[0]
            collected = datetime.combine(order.ordered_for, time(19), tzinfo=UTC)
            lab.enter(
                order.id,
                [SubstanceResult(substance="5-panel", result=outcome, loinc="24349-3")],
                collected_at=collected,
            )
            count += 1
    for result in lab.collect_results():
        store.record_screening_result(result)
    return count


def _review(
    store: Store, host: PluginHost, as_of: date
) -> tuple[tuple[Finding, ...], dict[str, int]]:
    rules = host.accountability_rules()
    findings: list[Finding] = []
    recommendations: dict[str, int] = {}
    for records in census(store, as_of=as_of):
        mine = evaluate(records, rules)
        findings.extend(mine)
        evaluation = evaluate_transition(records, records.history, mine)
        key = evaluation.recommendation.value
        recommendations[key] = recommendations.get(key, 0) + 1
    return tuple(findings), recommendations


def _calendars(
    store: Store,
    host: PluginHost,
    enrolled: list[tuple[Enrollment, Program]],
    folder: Path,
    as_of: date,
) -> list[Path]:
    """Each participant's calendar through the ``ics`` exporter, if one is installed: what
    was decided by ``as_of``, the current phase held (no projected step-down)."""
    if "ics" not in host.calendar_exporters():
        return []
    exporter = host.calendar_exporter("ics")
    private_folder(folder, what="calendar folder")
    written = []
    for enrollment, _program in enrolled:
        sessions = participant_sessions(store, enrollment.participant_id, as_of=as_of)
        path = folder / f"{enrollment.participant_id}.ics"
        # A fixed DTSTAMP keeps the files byte-identical when the demo runs again.
        data = exporter.export(
            sessions,
            uid_secret=DEMO_UID_SECRET,
            calendar_name="Appointments",
            now=_STAMP,
            reminders=[timedelta(hours=2)],
        )
        if not path.is_file() or path.read_bytes() != data:
            write_output(path, data, kind="calendar", recognize=is_calendar)
        store.record_export("calendar", enrollment.participant_id)
        written.append(path)
    return written


_STAMP = datetime(2027, 1, 1, tzinfo=UTC)


def _simulation(folder: Path, say: Callable[[str], None]) -> list[str]:
    """A small simulation with a retention plot, when the ``sim`` and ``plot`` extras are
    installed (skipped with a note otherwise)."""
    try:
        from matplotlib.figure import Figure

        from iopcore.simulation import Scenario, plot_retention, retention, run, summarize
    except ImportError:
        say("simulation: skipped (install the sim and plot extras: pip install 'iopcore[plot]')")
        return []
    scenarios = [
        Scenario(
            name="evening track",
            program=load_program(EXAMPLES / "adult-evening.toml"),
            track="evening",
            participants=2000,
        ),
        Scenario(
            name="day track",
            program=load_program(EXAMPLES / "adult-day.toml"),
            track="day",
            participants=2000,
        ),
    ]
    result = run(scenarios, replications=2, seed=2027, backend="serial", progress=False)
    table = summarize(result)
    done = table[table["metric"] == "completed"]
    completed = {str(k): float(v) for k, v in zip(done["scenario"], done["mean"], strict=True)}
    figure = Figure(figsize=(8, 5), layout="constrained")
    plot_retention(
        retention(result), title="Simulated retention: evening vs day track", ax=figure.subplots()
    )
    path = folder / "retention.png"
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=110)
    write_output(path, image.getvalue(), kind="PNG image", recognize=starts_with(b"\x89PNG"))
    shares = ", ".join(f"{name} {share:.0%}" for name, share in completed.items())
    say(f"simulation: 2 x 2,000 synthetic participants; completed: {shares or 'see plot'}")
    return [f"a plot:         {path}"]
