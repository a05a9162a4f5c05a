"""The clinic calls over a real SQLite store: a participant's calendar carries their course
and their aftercare meetings, privately, and readers see exactly those instants."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest
import recurring_ical_events  # type: ignore[import-untyped]

import iopcore
from iopcore.core.accountability import FindingStatus, ReviewedFinding
from iopcore.core.aftercare import AftercareItem, AftercarePlan
from iopcore.core.course import HELD_WEEKS
from iopcore.core.decisions import Decision

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


# -- calendars follow what was decided ---------------------------------------------------------

DAY_START = date(2027, 8, 2)  # a Monday


def _day_store(tmp_path: Path) -> iopcore.Store:
    store = iopcore.open_storage(f"sqlite:///{tmp_path / 'day.db'}", actor="test")
    store.save_program(iopcore.load_program("examples/programs/adult-day.toml"))
    store.add_participant(iopcore.Participant(id="P-1"))
    store.enroll(
        iopcore.Enrollment(
            id="E-1", participant_id="P-1", program="adult-day", track="day", start=DAY_START
        )
    )
    return store


def test_without_a_decision_the_calendar_holds_the_phase_to_its_max_weeks(tmp_path: Path) -> None:
    as_of = DAY_START + timedelta(weeks=5)  # past the earliest step-down (4 weeks)
    with _day_store(tmp_path) as store:
        store.record_decision(
            Decision(
                id="D-1",
                enrollment_id="E-1",
                decided_on=DAY_START + timedelta(weeks=4),
                decided_by="clinician-1",
                recommended="step-down",
                decided="stay",
            )
        )
        sessions = iopcore.participant_sessions(store, "P-1", as_of=as_of)
        plan = iopcore.plan_for(store, "P-1", as_of=as_of).plan
    assert {o.phase for o in sessions} == {"intensive"}
    last = max(o.slot_start.date() for o in sessions)
    assert (
        DAY_START + timedelta(weeks=6) - timedelta(days=7) <= last < DAY_START + timedelta(weeks=6)
    )
    # the step-down is only in the plan, and marked as projected there
    assert [(s.name, s.projected) for s in plan.stages][:2] == [
        ("intensive", False),
        ("step-down", True),
    ]
    assert all(s.projected for s in plan.stages[1:])


def test_past_max_weeks_without_a_decision_the_phase_is_still_held(tmp_path: Path) -> None:
    as_of = DAY_START + timedelta(weeks=9)
    with _day_store(tmp_path) as store:
        sessions = iopcore.participant_sessions(store, "P-1", as_of=as_of)
    assert {o.phase for o in sessions} == {"intensive"}
    assert max(o.slot_start.date() for o in sessions) >= as_of + timedelta(weeks=HELD_WEEKS - 1)


def test_a_re_export_after_a_decision_cancels_and_adds_through_sequence(tmp_path: Path) -> None:
    secret = "a-long-test-secret-value"
    decided = DAY_START + timedelta(weeks=4)
    with _day_store(tmp_path) as store:
        first = iopcore.export_calendar(store, "P-1", as_of=decided, uid_secret=secret)
        store.append_level_of_care(
            iopcore.LevelOfCareChange(
                enrollment_id="E-1",
                seq=1,
                kind="step-down",
                effective=decided,
                level_of_care="2.1",
                track="day",
                phase="step-down",
            )
        )
        sessions = iopcore.participant_sessions(store, "P-1", as_of=decided)
        second = iopcore.export_calendar(
            store, "P-1", as_of=decided, uid_secret=secret, previous=first
        )
    assert {o.phase for o in sessions if o.slot_start.date() >= decided} == {"step-down"}
    assert {o.phase for o in sessions if o.slot_start.date() < decided} == {"intensive"}

    def live(data: bytes) -> set[datetime]:
        seen = recurring_ical_events.of(icalendar.Calendar.from_ical(data)).between(
            datetime(2027, 1, 1, tzinfo=UTC), datetime(2029, 1, 1, tzinfo=UTC)
        )
        return {e["DTSTART"].dt for e in seen if str(e.get("STATUS", "")) != "CANCELLED"}

    after = datetime.combine(decided, time(), tzinfo=UTC)
    held = {t for t in live(first) if t >= after}
    assert held  # the first export held the intensive phase past the decision day
    assert live(second) == {o.start for o in sessions if o.status.value != "cancelled"}
    # the changed events keep their UIDs with a higher SEQUENCE, so calendars update them
    uids = {str(e["UID"]) for e in icalendar.Calendar.from_ical(first).walk("VEVENT")}
    changed = [
        e
        for e in icalendar.Calendar.from_ical(second).walk("VEVENT")
        if str(e["UID"]) in uids and int(str(e["SEQUENCE"])) >= 1
    ]
    assert changed


# -- findings are reviewed, not silently expired ---------------------------------------------

EVENING_START = date(2027, 1, 4)


def _screen(store: iopcore.Store, order_id: str, day: date, outcome: str) -> None:
    store.order_screening(
        iopcore.ScreeningOrder(id=order_id, participant_id="P-1", ordered_for=day)
    )
    store.record_screening_result(
        iopcore.ScreeningResult(
            order_id=order_id,
            participant_id="P-1",
            results=(iopcore.SubstanceResult(substance="cocaine", result=outcome),),
            collected_at=datetime.combine(day, time(19), tzinfo=UTC),
        )
    )


def _attend_all(store: iopcore.Store, until: date) -> None:
    sessions = iopcore.participant_sessions(store, "P-1", as_of=until)
    store.record_attendance(
        iopcore.AttendanceRecord(
            participant_id="P-1",
            occurrence_id=o.id,
            session_date=o.slot_start.date(),
            status="attended",
        )
        for o in sessions
        if o.program != "aftercare"
        and o.slot_start.date() <= until
        and o.status.value != "cancelled"
    )


def _screen_findings(store: iopcore.Store, as_of: date, **kw: Any) -> list[ReviewedFinding]:
    return [
        r
        for r in iopcore.review_findings(store, as_of=as_of, **kw)
        if r.finding.rule == "screen-review"
    ]


def test_a_positive_screen_stays_open_until_a_person_resolves_it(tmp_path: Path) -> None:
    screened = EVENING_START + timedelta(days=8)
    with _store(tmp_path) as store:
        _attend_all(store, EVENING_START + timedelta(weeks=8))
        _screen(store, "S-1", screened, "positive")
        (raised,) = _screen_findings(store, screened)
        # weeks later, past the rule's review window, nobody has looked at it: still open
        later = screened + timedelta(weeks=6)
        (still,) = _screen_findings(store, later)
        assert still.status is FindingStatus.OPEN
        assert still.finding.id == raised.finding.id
        assert raised.finding in iopcore.open_findings(store, as_of=later)

        store_as = iopcore.open_storage(store.url, actor="clinician-7")
        ack = iopcore.acknowledge_finding(store_as, raised.finding.id, note="discussed at group")
        (acked,) = _screen_findings(store_as, later)
        assert acked.status is FindingStatus.ACKNOWLEDGED
        with pytest.raises(iopcore.ValidationError, match="already acknowledged"):
            iopcore.acknowledge_finding(store_as, raised.finding.id)
        done = iopcore.resolve_finding(store_as, raised.finding.id, note="plan changed")
        assert _screen_findings(store_as, later) == []
        (resolved,) = _screen_findings(store_as, later, statuses=["resolved"])
        assert resolved.resolved_by == "clinician-7"
        assert [r.seq for r in resolved.reviews] == [1, 2]
        with pytest.raises(iopcore.ValidationError, match="already resolved"):
            iopcore.resolve_finding(store_as, raised.finding.id)
        with pytest.raises(iopcore.StorageError, match="no finding"):
            iopcore.resolve_finding(store_as, "0000000000000000")
        audit = [e for e in store_as.audit_log() if e.kind == "finding-review"]
        store_as.close()
    # the note is kept but never shown in reprs or the audit log
    for text in (repr(ack), repr(done), repr(resolved), repr(audit)):
        assert "discussed" not in text
        assert "plan changed" not in text
    assert [(e.actor, e.change.value) for e in audit] == [
        ("clinician-7", "insert"),
        ("clinician-7", "insert"),
    ]


def test_a_later_negative_screen_resolves_a_screen_finding_with_the_reason(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        _attend_all(store, EVENING_START + timedelta(weeks=4))
        _screen(store, "S-1", EVENING_START + timedelta(days=8), "positive")
        assert _screen_findings(store, EVENING_START + timedelta(days=8))
        _screen(store, "S-2", EVENING_START + timedelta(days=15), "negative")
        on = EVENING_START + timedelta(days=16)
        assert _screen_findings(store, on) == []
        (item,) = _screen_findings(store, on, statuses=["resolved"])
    assert item.resolved_by == f"newer evidence: negative screen S-2 on {on - timedelta(days=1)}"


def test_missing_attendance_is_a_finding_and_makes_criteria_unknown(tmp_path: Path) -> None:
    as_of = EVENING_START + timedelta(weeks=5)
    with _store(tmp_path) as store:
        missing = [
            r
            for r in iopcore.review_findings(store, as_of=as_of)
            if r.finding.rule == "records-missing"
        ]
        evaluation = iopcore.plan_for(store, "P-1", as_of=as_of).evaluation
        assert evaluation.recommendation.value == "stay"
        _attend_all(store, as_of)
        after = [
            r
            for r in iopcore.review_findings(store, as_of=as_of, statuses=["resolved"])
            if r.finding.rule == "records-missing"
        ]
    assert len(missing) == 1
    assert missing[0].finding.concern is iopcore.Concern.MEDIUM
    statuses = {c.name: c.status.value for c in evaluation.criteria}
    assert statuses["no open high-concern findings"] == "unknown"
    assert "met" not in {s for name, s in statuses.items() if not name.startswith("at least")}
    assert [r.resolved_by for r in after] == ["newer evidence: attendance recorded for the session"]


def test_the_cli_lists_acknowledges_and_resolves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from iopcore.app.cli import main

    with _store(tmp_path) as store:
        _attend_all(store, EVENING_START + timedelta(weeks=4))
        _screen(store, "S-1", EVENING_START + timedelta(days=8), "positive")
        url = store.url
    when = ["--as-of", str(EVENING_START + timedelta(days=10))]
    assert main(["findings", "--store", url, *when, "--json"]) == 0
    (row,) = [r for r in json.loads(capsys.readouterr().out) if r["rule"] == "screen-review"]
    assert row["status"] == "open"
    assert main(["acknowledge", row["id"], "--store", url, "--by", "clinician-7"]) == 0
    assert f"finding {row['id']} acknowledged by clinician-7" in capsys.readouterr().out
    assert main(["findings", "--store", url, *when]) == 0
    assert "acknowledged" in capsys.readouterr().out
    assert main(["resolve", row["id"], "--store", url, "--by", "clinician-7", "--note", "x"]) == 0
    capsys.readouterr()
    assert main(["findings", "--store", url, *when, "--json"]) == 0
    assert row["id"] not in {r["id"] for r in json.loads(capsys.readouterr().out)}
    assert main(["findings", "--store", url, *when, "--status", "resolved", "--json"]) == 0
    (done,) = [r for r in json.loads(capsys.readouterr().out) if r["id"] == row["id"]]
    assert done["resolved_by"] == "clinician-7"
    assert main(["resolve", row["id"], "--store", url, "--by", "clinician-7"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("iopcore: error: finding")
    assert "Traceback" not in err


# -- one call per participant view; reads are disclosures too --------------------------------


def test_the_timeline_has_everything_in_local_day_order(tmp_path: Path) -> None:
    as_of = DAY_START + timedelta(weeks=5)
    with _day_store(tmp_path) as store:
        store.record_decision(
            Decision(
                id="D-1",
                enrollment_id="E-1",
                decided_on=DAY_START + timedelta(weeks=4),
                decided_by="clinician-1",
                recommended="step-down",
                decided="stay",
            )
        )
        store.order_screening(
            iopcore.ScreeningOrder(id="S-1", participant_id="P-1", ordered_for=DAY_START)
        )
        timeline = iopcore.timeline_for(store, "P-1", as_of=as_of, purpose="treatment")
        reads = [e for e in store.audit_log() if e.change.value == "read"]
    kinds = {i.kind.value for i in timeline.items}
    assert {"session", "screening", "measure-due", "stage", "decision"} <= kinds
    types = {i.occurrence.session_type for i in timeline.items if i.occurrence}
    assert {"individual", "family", "group"} <= types
    assert [i.sort_key() for i in timeline.items] == sorted(i.sort_key() for i in timeline.items)
    assert all(
        i.start.date() == i.day for i in timeline.items if i.start is not None
    )  # local days: a session's day is its local date
    stages = [i.detail for i in timeline.items if i.kind.value == "stage"]
    assert not stages[0].endswith("projected")
    assert all(d.endswith("projected") for d in stages[1:])
    assert {i.occurrence.phase for i in timeline.items if i.occurrence} == {"intensive"}
    assert [(e.actor, e.kind, e.key) for e in reads] == [("test", "timeline/treatment", "P-1")]


def test_findings_plan_timeline_and_export_reads_are_audited_without_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from iopcore.app.cli import main

    with _store(tmp_path) as store:
        url = store.url
    when = ["--as-of", str(EVENING_START + timedelta(weeks=3))]
    person = ["--participant", "P-1"]
    assert main(["findings", "--store", url, *when, "--purpose", "operations"]) == 0
    assert main(["plan", "--store", url, *person, *when]) == 0
    assert main(["timeline", "--store", url, *person, *when, "--json"]) == 0
    assert main(["export", "--store", url, *person, *when, "-o", str(tmp_path / "c.ics")]) == 0
    out = capsys.readouterr().out
    assert '"items"' in out
    with iopcore.open_storage(url) as store:
        log = store.audit_log()
    reads = [(e.actor, e.kind, e.key, e.change.value) for e in log if e.change.value != "insert"]
    assert ("iopcore findings", "findings/operations", "P-1", "read") in reads
    assert ("iopcore plan", "plan/treatment", "P-1", "read") in reads
    assert ("iopcore timeline", "timeline/treatment", "P-1", "read") in reads
    assert ("iopcore export", "calendar", "P-1", "export") in reads
    assert all(e.at.tzinfo is not None for e in log)
    assert main(["timeline", "--store", url, *person, "--purpose", "no such purpose!"]) == 2


# -- continuing-care stages with their own slots ----------------------------------------------

STAGE_SLOTS = """
slots = [
  { day = "tue", start = "17:00", session_type = "group" },
  { day = "thu", start = "17:00", session_type = "group", every_weeks = 2 },
]
"""


def test_a_stage_with_slots_reaches_the_calendar_and_the_dose(tmp_path: Path) -> None:
    text = Path("examples/programs/adult-day.toml").read_text(encoding="utf-8")
    # The outpatient stage's own slots replaced by a weekly and an every-other-week one.
    text = re.sub(r"weeks = 5\n(#.*\n)?slots = \[\n(.*\n)*?\]\n", "weeks = 5\n" + STAGE_SLOTS, text)
    program = iopcore.loads_program(text)
    (stage,) = [s for s in program.continuing_care if s.slots]
    assert iopcore.loads_program(iopcore.dump_program(program)) == program
    discharged = DAY_START + timedelta(weeks=8)
    with iopcore.open_storage(f"sqlite:///{tmp_path / 'stage.db'}", actor="test") as store:
        store.save_program(program)
        store.add_participant(iopcore.Participant(id="P-1"))
        store.enroll(
            iopcore.Enrollment(
                id="E-1", participant_id="P-1", program="adult-day", track="day", start=DAY_START
            )
        )
        store.append_level_of_care(
            iopcore.LevelOfCareChange(
                enrollment_id="E-1",
                seq=1,
                kind="discharge",
                effective=discharged,
                level_of_care="1",
                track="day",
                phase=stage.name,
            )
        )
        sessions = iopcore.participant_sessions(store, "P-1", as_of=discharged)
    after = [o for o in sessions if o.slot_start.date() >= discharged]
    assert {o.phase for o in after} == {stage.name}
    assert max(o.slot_start.date() for o in after) < discharged + timedelta(weeks=stage.weeks)
    tuesdays = [o for o in after if o.slot_start.weekday() == 1]
    thursdays = [o for o in after if o.slot_start.weekday() == 3]
    assert len(tuesdays) == stage.weeks  # weekly
    assert len(thursdays) == (stage.weeks + 1) // 2  # every other week, from the first
    dose = iopcore.weekly_dose(program, after, [])
    assert sum(w.scheduled_hours for w in dose) > 0
