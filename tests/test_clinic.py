"""The clinic calls over a real SQLite store: a participant's calendar carries their course
and their aftercare meetings, privately, and readers see exactly those instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import icalendar
import recurring_ical_events  # type: ignore[import-untyped]

import iopcore
from iopcore.core.aftercare import AftercareItem, AftercarePlan

GROUP = AftercareItem(
    id="AC-1",
    kind="support-group",
    title="SMART Recovery",
    owner="peer",
    starts=date(2027, 3, 29),
    weekday="tue",
    at=time(19),
    time_zone="America/New_York",
    place="Library room 2",
)


def _store(tmp_path: Path) -> iopcore.Store:
    store = iopcore.open_storage(f"sqlite:///{tmp_path / 'clinic.db'}", actor="test")
    program = iopcore.load_program("examples/programs/adult-evening.toml")
    store.save_program(program)
    store.add_participant(iopcore.Participant(id="P-1"))
    store.enroll(
        iopcore.Enrollment(
            id="E-1",
            participant_id="P-1",
            program=program.name,
            track="evening",
            start=date(2027, 1, 4),
        )
    )
    store.save_aftercare(AftercarePlan(enrollment_id="E-1", items=[GROUP]))
    return store


def test_a_participant_calendar_carries_aftercare_privately(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        sessions = iopcore.participant_sessions(store, "P-1", as_of=date(2027, 1, 4))
        data = iopcore.export_calendar(
            store, "P-1", as_of=date(2027, 1, 4), uid_secret="a-long-test-secret-value"
        )
        exports = [e for e in store.audit_log() if e.change == "export"]
    meetings = [o for o in sessions if o.program == "aftercare"]
    assert len(meetings) == 12  # weekly for 12 weeks after the last session
    assert {o.start.strftime("%a %H:%M") for o in meetings} == {"Tue 19:00"}
    for word in (b"SMART", b"Library", b"support", b"aftercare", b"Recovery"):
        assert word not in data
    calendar = icalendar.Calendar.from_ical(data)
    seen = recurring_ical_events.of(calendar).between(
        datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
    )
    live = sorted(e["DTSTART"].dt for e in seen if str(e.get("STATUS", "")) != "CANCELLED")
    assert live == sorted(o.start for o in sessions)
    assert [(e.kind, e.key) for e in exports] == [("calendar", "P-1")]


def test_no_aftercare_plan_means_program_sessions_only(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        store.add_participant(iopcore.Participant(id="P-2"))
        store.enroll(
            iopcore.Enrollment(
                id="E-2",
                participant_id="P-2",
                program="adult-evening",
                track="evening",
                start=date(2027, 1, 4),
            )
        )
        sessions = iopcore.participant_sessions(store, "P-2", as_of=date(2027, 1, 4))
    assert sessions
    assert all(o.program == "adult-evening" for o in sessions)
