"""Privacy by default: reprs never carry names, diagnoses, results, scores or notes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from iopcore import (
    Assessment,
    AttendanceRecord,
    Participant,
    ScreeningResult,
    SubstanceResult,
)
from iopcore.core.accountability import Concern, Evidence, Finding
from iopcore.core.aftercare import AftercareItem
from iopcore.core.enrollment import FamilyContact
from iopcore.core.screening import Secret

SENSITIVE = [
    "cocaine",
    "opiates",
    "positive",
    "F33",
    "F10",
    "19359-9",
    "mother",
    "relapsed",
    "screen-review",
    "high",
    "co-occurring",
    "27.0",
    "SMART Recovery",
    "Library",
    "case manager",
    "topsecretvalue",
]

VALUES = [
    SubstanceResult(substance="cocaine", result="positive", loinc="19359-9"),
    ScreeningResult(
        order_id="S-1",
        participant_id="P-1",
        results=(SubstanceResult(substance="opiates", result="positive"),),
        collected_at=datetime(2027, 1, 5, tzinfo=UTC),
    ),
    Participant(
        id="P-1",
        diagnoses=["F33.1", "F10.20"],
        family=[FamilyContact(id="F-1", relationship="mother", consent_to_contact=True)],
    ),
    AttendanceRecord(
        participant_id="P-1",
        occurrence_id="o",
        session_date=date(2027, 1, 4),
        status="unexcused-absence",
        note="relapsed",
    ),
    Assessment(
        id="A-1",
        participant_id="P-1",
        kind="assessment",
        instrument="PHQ-9",
        taken_on=date(2027, 1, 4),
        score=27.0,
    ),
    Finding(
        participant_id="P-1",
        rule="screen-review",
        concern=Concern.HIGH,
        as_of=date(2027, 1, 6),
        summary="a screen result needs review",
        action="co-occurring review",
        evidence=[Evidence(kind="screening-result", id="S-1", on=date(2027, 1, 5))],
    ),
    AftercareItem(
        id="AC-1",
        kind="support-group",
        title="SMART Recovery",
        owner="case manager",
        starts=date(2027, 2, 1),
        weekday="tue",
        at=time(19),
        time_zone="America/Chicago",
        place="Library",
    ),
    Secret(b"topsecretvalue-0123456789"),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_reprs_carry_nothing_sensitive(value: object) -> None:
    text = repr(value) + str(value)
    assert [word for word in SENSITIVE if word in text] == []
