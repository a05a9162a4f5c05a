"""TEDS admission and discharge records: coded from the store, nothing invented, sent only
through the disclosure gate; the simulation's exits in the same coding."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import iopcore
from iopcore.clinic.disclosure import to_file
from iopcore.clinic.teds import COLUMNS, export_teds, simulated_discharges, teds_report
from iopcore.core.teds import (
    MISSING_ADMISSION_FIELDS,
    SIMULATION_OUTCOMES,
    DischargeReason,
    Period,
)

STATE = iopcore.Recipient(id="state-ssa", kind="state-agency")
PROGRAM = Path(__file__).resolve().parent.parent / "examples/programs/adult-evening.toml"


def _enroll(store: iopcore.Store, n: int, start: date) -> str:
    pid, eid = f"P-{n}", f"E-{n}"
    store.add_participant(iopcore.Participant(id=pid))
    store.enroll(
        iopcore.Enrollment(id=eid, participant_id=pid, program="p", track="t", start=start)
    )
    return eid


def _discharge(store: iopcore.Store, eid: str, on: date, reason: str = "") -> None:
    store.append_level_of_care(
        iopcore.LevelOfCareChange(
            enrollment_id=eid,
            seq=1,
            kind="discharge",
            effective=on,
            level_of_care="2.1",
            reason=reason,
        )
    )


def _consent(store: iopcore.Store, pid: str) -> None:
    store.record_consent(
        iopcore.Consent(
            id=f"C-{pid}",
            participant_id=pid,
            discloser="iop-clinic",
            recipients=["state-ssa"],  # a state agency is named (42 CFR 2.31(a)(4))
            purposes=["state-reporting"],
            categories=["identity", "enrollment", "discharge"],
            expires_on=date(2030, 1, 1),
            right_to_revoke_stated=True,
            signed_on=date(2026, 12, 1),
        )
    )


def _clinic(tmp_path: Path) -> iopcore.Store:
    store = iopcore.open_storage(f"sqlite:///{tmp_path / 'clinic.db'}", actor="test-teds")
    # 1: admitted in Q1, completed in Q1 (a decision to discharge to aftercare)
    e1 = _enroll(store, 1, date(2027, 1, 4))
    store.record_attendance(
        iopcore.AttendanceRecord(
            participant_id="P-1",
            occurrence_id=f"o{d}",
            session_date=date(2027, 2, d),
            status=status,
        )
        for d, status in ((1, "attended"), (8, "telehealth"), (15, "unexcused-absence"))
    )
    store.record_decision(
        iopcore.Decision(
            id="D-1",
            enrollment_id=e1,
            decided_on=date(2027, 3, 1),
            decided_by="clin-1",
            recommended="discharge-to-aftercare",
            decided="discharge-to-aftercare",
        )
    )
    _discharge(store, e1, date(2027, 3, 1))
    # 2: admitted before Q1, dropped out in Q1 (coded on the discharge entry)
    _discharge(store, _enroll(store, 2, date(2026, 11, 2)), date(2027, 2, 10), "dropped-out")
    # 3: admitted in Q1, still in treatment
    _enroll(store, 3, date(2027, 3, 29))
    # 4: discharged in Q1 without a coded reason
    _discharge(store, _enroll(store, 4, date(2026, 12, 1)), date(2027, 1, 20), "moved away")
    # 5: outside Q1 altogether
    _discharge(store, _enroll(store, 5, date(2026, 1, 5)), date(2026, 6, 1), "completed")
    return store


def test_records_are_coded_from_what_the_store_holds(tmp_path: Path) -> None:
    with _clinic(tmp_path) as store:
        records = teds_report(store, Period.parse("2027-Q1"))
    rows = {(r.client_id, r.record_type): r for r in records}
    assert sorted(rows) == [
        ("P-1", "admission"),
        ("P-1", "discharge"),
        ("P-2", "discharge"),
        ("P-3", "admission"),
        ("P-4", "discharge"),
    ]
    done = rows["P-1", "discharge"]
    assert (done.reason, done.reason.code if done.reason else 0) == ("completed", 1)
    assert (done.length_of_stay_days, done.last_contact) == (56, date(2027, 2, 8))
    assert (done.service_code, done.service_setting) == (6, "ambulatory, intensive outpatient")
    assert rows["P-2", "discharge"].reason is DischargeReason.DROPPED_OUT
    unknown = rows["P-4", "discharge"]
    assert unknown.reason is None
    assert unknown.last_contact is None
    assert unknown.missing[:2] == ("reason for discharge", "date of last contact")
    assert rows["P-3", "admission"].missing == MISSING_ADMISSION_FIELDS


def test_the_file_goes_through_the_gate(tmp_path: Path) -> None:
    out = tmp_path / "teds.csv"
    with _clinic(tmp_path) as store:
        for pid in ("P-1", "P-2", "P-3"):
            _consent(store, pid)
        with pytest.raises(
            iopcore.ConsentError, match="P-4: consent: no consent on file"
        ) as refused:
            export_teds(store, "2027-Q1", recipient=STATE, send=to_file(out))
        assert list(refused.value.decisions) == ["P-4"]
        assert not out.exists()
        assert all(store.disclosures(p) == () for p in ("P-1", "P-2", "P-3"))
        _consent(store, "P-4")
        now = datetime(2027, 4, 2, 9, tzinfo=UTC)
        export = export_teds(store, "2027-Q1", recipient=STATE, send=to_file(out), now=now)
        assert {d.participant_id for d in export.disclosures} == {"P-1", "P-2", "P-3", "P-4"}
        assert all(d.purpose == "state-reporting" for d in export.disclosures)
        assert store.disclosures("P-5") == ()
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 5
    assert {r["reason"] for r in rows} == {"", "completed", "dropped-out"}
    assert "reason for discharge" in export.missing
    assert "date of birth" in export.missing


def test_a_state_report_required_by_law_is_recorded_without_consent(tmp_path: Path) -> None:
    out = tmp_path / "teds.csv"
    with _clinic(tmp_path) as store:
        export = export_teds(
            store, "2027-Q1", recipient=STATE, send=to_file(out), consent_required=False
        )
        assert {d.basis for d in export.disclosures} == {"no-consent-required"}
    assert out.read_text().count("\n") == 6
    with iopcore.open_storage("memory://") as empty:
        sent: list[bytes] = []
        assert export_teds(empty, "2027", recipient=STATE, send=sent.append).records == ()
        assert sent == [(",".join(COLUMNS) + "\n").encode()]


@given(st.integers(2000, 2100), st.integers(1, 4))
def test_quarters_tile_the_year(year: int, quarter: int) -> None:
    period = Period.parse(f"{year}-Q{quarter}")
    assert period.start == date(year, 3 * quarter - 2, 1)
    if quarter < 4:
        following = Period.parse(f"{year}-Q{quarter + 1}")
        assert following.start.toordinal() == period.end.toordinal() + 1
    else:
        assert period.end == date(year, 12, 31)


@pytest.mark.parametrize("text", ["2027-Q5", "Q1-2027", "2027-13", "27", ""])
def test_bad_periods_say_how_to_write_one(text: str) -> None:
    with pytest.raises(iopcore.ValidationError, match="2027-Q1"):
        Period.parse(text)


def test_the_simulation_writes_its_exits_in_teds_coding() -> None:
    from iopcore.simulation import Scenario, simulate

    scenario = Scenario(
        name="evening", program=iopcore.load_program(PROGRAM), participants=300, seed=3
    )
    participants = simulate(scenario, replications=2).participants
    table = simulated_discharges(participants)
    exits = participants[participants["outcome"].astype(str) != "still_enrolled"]
    assert len(table) == len(exits) > 0
    assert set(table["reason"]) <= {r.value for r in SIMULATION_OUTCOMES.values()}
    for outcome, reason in SIMULATION_OUTCOMES.items():
        n = int((exits["outcome"].astype(str) == outcome).sum())
        assert int((table["reason_code"] == reason.code).sum()) == n
    assert (table["length_of_stay_weeks"] >= 1).all()
    with pytest.raises(iopcore.ValidationError, match="missing columns: exit_week"):
        simulated_discharges(participants.drop(columns=["exit_week"]))


def test_cells_a_spreadsheet_would_run_are_neutralised() -> None:
    """Ids are refused at the door, but a store written before that rule may still hold one:
    the CSV never lets a cell start a formula (OWASP CSV injection guidance)."""
    from iopcore.clinic.teds import teds_csv
    from iopcore.core.teds import TedsRecord

    record = TedsRecord(
        record_type="admission",
        client_id='=HYPERLINK("http://x","y")',
        episode_id="@E-1",
        admission_date=date(2027, 1, 4),
        service_code=6,
        service_setting="ambulatory, intensive outpatient",
    )
    (row,) = csv.DictReader(io.StringIO(teds_csv([record]).decode()))
    assert row["client_id"] == '\'=HYPERLINK("http://x","y")'
    assert row["episode_id"] == "'@E-1"
    assert row["admission_date"] == "2027-01-04"
