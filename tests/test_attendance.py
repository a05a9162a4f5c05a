"""Attendance statuses: which are present and which excused lives on the status itself."""

from __future__ import annotations

from datetime import date

import pytest

from iopcore.core.attendance import EXCUSED, PRESENT, AttendanceRecord, AttendanceStatus

S = AttendanceStatus


@pytest.mark.parametrize(
    ("status", "present", "excused"),
    [
        (S.ATTENDED, True, False),
        (S.LATE, True, False),
        (S.LEFT_EARLY, True, False),
        (S.TELEHEALTH, True, False),
        (S.EXCUSED, False, True),
        (S.CANCELLED_BY_PROGRAM, False, True),
        (S.UNEXCUSED, False, False),
    ],
)
def test_each_status_is_present_excused_or_a_miss(
    status: AttendanceStatus, present: bool, excused: bool
) -> None:
    assert (status.present, status.excused) == (present, excused)
    assert (status in PRESENT, status in EXCUSED) == (present, excused)
    record = AttendanceRecord(
        participant_id="P-1", occurrence_id="o-1", session_date=date(2027, 1, 4), status=status
    )
    assert record.present is present


def test_every_status_is_classified() -> None:
    assert PRESENT.isdisjoint(EXCUSED)
    assert set(S) == PRESENT | EXCUSED | {S.UNEXCUSED}
