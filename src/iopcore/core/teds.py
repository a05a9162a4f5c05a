"""TEDS (Treatment Episode Data Set) admission and discharge records, from what iopcore
keeps, with the minimum data set fields it does not keep listed rather than invented.

Codes follow SAMHSA's TEDS: type of service (SERVICES) 6 "ambulatory, intensive
outpatient", 7 "ambulatory, non-intensive outpatient"; reason for discharge (REASON)
1 treatment completed, 2 dropped out (left against professional advice), 3 terminated by
facility, 4 transferred to another program or facility, 5 incarcerated, 6 death, 7 other.
States publish their own crosswalks to these; the column names here are iopcore's.

>>> Period.parse("2027-Q1")
Period(start=datetime.date(2027, 1, 1), end=datetime.date(2027, 3, 31))
>>> DischargeReason.DROPPED_OUT.code
2
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import attrs
from attrs import frozen

from iopcore.core.attendance import AttendanceRecord
from iopcore.core.care import LevelOfCare
from iopcore.core.decisions import Decision, Recommendation
from iopcore.core.enrollment import Enrollment, LevelOfCareChange, TransitionKind
from iopcore.core.errors import Choice, ValidationError


class DischargeReason(Choice):
    """TEDS reason for discharge, transfer or discontinuance of treatment."""

    COMPLETED = "completed"
    DROPPED_OUT = "dropped-out"
    TERMINATED = "terminated"
    TRANSFERRED = "transferred"
    INCARCERATED = "incarcerated"
    DIED = "died"
    OTHER = "other"

    @property
    def code(self) -> int:
        """The TEDS REASON code (1-7)."""
        return list(DischargeReason).index(self) + 1


#: TEDS type of service by ASAM level: partial hospitalization has no TEDS setting of its
#: own and is reported as intensive outpatient (as most state crosswalks do).
SERVICE_SETTING = {
    LevelOfCare.IOP: (6, "ambulatory, intensive outpatient"),
    LevelOfCare.PARTIAL_HOSPITALIZATION: (6, "ambulatory, intensive outpatient"),
    LevelOfCare.OUTPATIENT: (7, "ambulatory, non-intensive outpatient"),
}

#: TEDS minimum data set items iopcore does not keep: listed with every export, never filled.
MISSING_ADMISSION_FIELDS = (
    "state (STFIPS) and provider identifier",
    "date of birth",
    "sex",
    "race",
    "ethnicity",
    "education",
    "employment status",
    "pregnant at admission",
    "veteran status",
    "living arrangement",
    "number of prior treatment episodes",
    "principal source of referral",
    "primary, secondary and tertiary substance problem",
    "usual route of administration",
    "frequency of use",
    "age at first use",
    "medication-assisted opioid therapy",
)
MISSING_DISCHARGE_FIELDS = (
    "state (STFIPS) and provider identifier",
    "substance use frequency at discharge",
    "employment status at discharge",
    "living arrangement at discharge",
    "arrests in the past 30 days",
    "attendance at self-help groups",
)

#: A discharge entry's reason text that is exactly one of these codes is taken as coded.
_DECIDED = {
    Recommendation.DISCHARGE_TO_AFTERCARE: DischargeReason.COMPLETED,
    Recommendation.TRANSFER: DischargeReason.TRANSFERRED,
}


@frozen(kw_only=True)
class Period:
    """A reporting period, both ends included."""

    start: date
    end: date

    @classmethod
    def parse(cls, text: str) -> Period:
        """``2027-Q1`` (a quarter), ``2027-03`` (a month) or ``2027`` (a year)."""
        try:
            if len(text) == 7 and text[4:6].upper() == "-Q" and text[6] in "1234":
                year, quarter = int(text[:4]), int(text[6])
                start = date(year, 3 * quarter - 2, 1)
                end = date(year + quarter // 4, (3 * quarter) % 12 + 1, 1) - timedelta(days=1)
            elif len(text) == 7 and text[4] == "-":
                start = date(int(text[:4]), int(text[5:]), 1)
                end = (start + timedelta(days=31)).replace(day=1) - timedelta(days=1)
            elif len(text) == 4:
                start, end = date(int(text), 1, 1), date(int(text), 12, 31)
            else:
                raise ValueError(text)
        except ValueError:
            raise ValidationError(
                f"{text!r} is not a reporting period: use 2027-Q1 (a quarter), 2027-03 (a "
                "month) or 2027 (a year)"
            ) from None
        return cls(start=start, end=end)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


@frozen(kw_only=True)
class TedsRecord:
    """One TEDS admission or discharge record. ``None`` means iopcore does not hold it."""

    record_type: str = attrs.field(validator=attrs.validators.in_(("admission", "discharge")))
    client_id: str
    episode_id: str
    admission_date: date
    service_code: int
    service_setting: str
    discharge_date: date | None = None
    reason: DischargeReason | None = None
    length_of_stay_days: int | None = None
    last_contact: date | None = None

    @property
    def missing(self) -> tuple[str, ...]:
        """The minimum data set items this record lacks (iopcore's and the ones it never
        keeps), so a state submission can be completed elsewhere, not guessed."""
        if self.record_type == "admission":
            return MISSING_ADMISSION_FIELDS
        lacking = [
            label
            for label, value in (
                ("reason for discharge", self.reason),
                ("date of last contact", self.last_contact),
            )
            if value is None
        ]
        return (*lacking, *MISSING_DISCHARGE_FIELDS)


def discharge_reason(
    discharge: LevelOfCareChange, decisions: Sequence[Decision]
) -> DischargeReason | None:
    """The coded reason of a discharge: the entry's reason if it is exactly a TEDS reason
    (``completed``, ``dropped-out``, ...), else the decision that discharged to aftercare
    (completed) or transferred (on or before the discharge, the latest), else unknown."""
    if discharge.reason.strip() in {r.value for r in DischargeReason}:
        return DischargeReason(discharge.reason.strip())
    decided = [d for d in decisions if d.decided_on <= discharge.effective]
    if decided:
        latest = max(decided, key=lambda d: (d.decided_on, d.id))
        return _DECIDED.get(latest.decided)
    return None


def teds_records(
    enrollment: Enrollment,
    history: Sequence[LevelOfCareChange],
    decisions: Sequence[Decision],
    attendance: Sequence[AttendanceRecord],
    period: Period,
    *,
    client_id: str,
) -> tuple[TedsRecord, ...]:
    """The admission record (if admitted in ``period``) and the discharge record (if
    discharged in it) of one enrollment."""
    code, setting = SERVICE_SETTING[enrollment.level_of_care]
    base = {
        "client_id": client_id,
        "episode_id": enrollment.id,
        "admission_date": enrollment.start,
        "service_code": code,
        "service_setting": setting,
    }
    out = []
    if enrollment.start in period:
        out.append(TedsRecord(record_type="admission", **base))  # type: ignore[arg-type]
    discharge = next((h for h in history if h.kind is TransitionKind.DISCHARGE), None)
    if discharge is not None and discharge.effective in period:
        contacts = [
            r.session_date
            for r in attendance
            if r.present and enrollment.start <= r.session_date <= discharge.effective
        ]
        out.append(
            TedsRecord(
                record_type="discharge",
                discharge_date=discharge.effective,
                reason=discharge_reason(discharge, decisions),
                length_of_stay_days=(discharge.effective - enrollment.start).days,
                last_contact=max(contacts, default=None),
                **base,  # type: ignore[arg-type]
            )
        )
    return tuple(out)


#: The simulation's outcome categories in TEDS discharge coding (``still_enrolled`` has no
#: discharge in the horizon).
SIMULATION_OUTCOMES = {
    "completed": DischargeReason.COMPLETED,
    "dropped_out": DischargeReason.DROPPED_OUT,
    "terminated": DischargeReason.TERMINATED,
    "transferred": DischargeReason.TRANSFERRED,
    "other": DischargeReason.OTHER,
}
