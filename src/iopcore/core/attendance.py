"""Attendance records: who attended which occurrence, how, and for how long.

>>> r = AttendanceRecord(participant_id="P-1", occurrence_id="a2a7a7c0b3a3c1f5",
...                      session_date=date(2027, 1, 4), status="attended", minutes_attended=90)
>>> r.present
True
"""

from __future__ import annotations

from datetime import date, datetime

import attrs
from attrs import frozen

from iopcore.core.errors import Choice
from iopcore.core.records import (
    aware,
    calendar_date,
    optional_whole_number,
    record_id,
    text,
)


class AttendanceStatus(Choice):
    """How a participant attended a session (or why they did not)."""

    ATTENDED = "attended"
    LATE = "late"
    LEFT_EARLY = "left-early"
    EXCUSED = "excused-absence"
    UNEXCUSED = "unexcused-absence"
    TELEHEALTH = "telehealth"
    CANCELLED_BY_PROGRAM = "cancelled-by-program"

    @property
    def present(self) -> bool:
        """The participant received (some of) the session: attended, late, left early or
        by telehealth."""
        return self in PRESENT

    @property
    def excused(self) -> bool:
        """The participant was not expected: an excused absence (notice was given) or a
        session the program cancelled. Excused sessions count neither for nor against."""
        return self in EXCUSED


#: Statuses in which the participant received (some of) the session.
PRESENT = frozenset(
    {
        AttendanceStatus.ATTENDED,
        AttendanceStatus.LATE,
        AttendanceStatus.LEFT_EARLY,
        AttendanceStatus.TELEHEALTH,
    }
)
#: Statuses in which the participant was not expected (notice given, or the program cancelled).
EXCUSED = frozenset({AttendanceStatus.EXCUSED, AttendanceStatus.CANCELLED_BY_PROGRAM})


@frozen(kw_only=True)
class AttendanceRecord:
    """Attendance of one participant at one occurrence; (participant, occurrence) is its key."""

    participant_id: str = attrs.field(validator=record_id)
    occurrence_id: str = attrs.field(validator=record_id)
    session_date: date = attrs.field(validator=calendar_date)
    status: AttendanceStatus = attrs.field(converter=AttendanceStatus)
    #: Minutes actually attended; None means "the whole session" when present. Dose caps it
    #: at the session's length, so a typo cannot create a billable day.
    minutes_attended: int | None = attrs.field(default=None, validator=optional_whole_number)
    recorded_at: datetime | None = attrs.field(default=None, validator=aware)
    note: str = attrs.field(default="", validator=text, repr=False)

    @property
    def present(self) -> bool:
        """See :attr:`AttendanceStatus.present`."""
        return self.status.present

    @property
    def key(self) -> str:
        return f"{self.participant_id}/{self.occurrence_id}"
