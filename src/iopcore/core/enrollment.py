"""Participants (pseudonymous), enrollments, and their append-only level-of-care history.

>>> p = Participant(id="P-0001")
>>> p
Participant(id='P-0001', population=<Population.ADULT: 'adult'>)
"""

from __future__ import annotations

import datetime as dt

import attrs
from attrs import frozen

from iopcore.core.care import LevelOfCare, Population
from iopcore.core.errors import Choice, ValidationError
from iopcore.core.records import aware, calendar_date, optional_id, record_id, text, whole_number


@frozen(kw_only=True)
class FamilyContact:
    """A family member or support person, by pseudonymous id, and whether they may be
    contacted (42 CFR Part 2: contact needs the participant's written consent)."""

    id: str = attrs.field(validator=record_id)
    relationship: str = attrs.field(validator=text, repr=False)
    consent_to_contact: bool = False


def _codes(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """A list of code strings: one string alone (``"F10.20"``) would become six
    one-character codes, and non-strings would be stored as their repr."""
    if isinstance(values, str | bytes):
        raise ValidationError(
            "diagnoses must be a list of codes, e.g. diagnoses=['F10.20'], not one string"
        )
    out = tuple(values)
    for code in out:
        if not isinstance(code, str) or not code.strip():
            raise ValidationError(
                f"diagnoses must be code strings such as 'F10.20', got a {type(code).__name__}"
            )
    return out


def _contacts(values: tuple[FamilyContact, ...] | list[FamilyContact]) -> tuple[FamilyContact, ...]:
    return tuple(values)


@frozen(kw_only=True)
class Participant:
    """A person in treatment, known to iopcore only by a pseudonymous id (never a name).

    ``diagnoses`` are codes (e.g. ICD-10 ``F10.20``, ``F33.1``) that rules read to notice
    co-occurring disorders; like ``family``, they never appear in a repr.
    """

    id: str = attrs.field(validator=record_id)
    population: Population = attrs.field(default=Population.ADULT, converter=Population)
    diagnoses: tuple[str, ...] = attrs.field(default=(), converter=_codes, repr=False)
    family: tuple[FamilyContact, ...] = attrs.field(default=(), converter=_contacts, repr=False)

    @property
    def co_occurring(self) -> bool:
        """A psychiatric diagnosis besides substance use (ICD-10 F20-F69, outside F10-F19)."""
        return any(_psychiatric(code) for code in self.diagnoses)


def _psychiatric(code: str) -> bool:
    code = code.upper().strip()
    if len(code) < 3 or code[0] != "F" or not code[1:3].isdigit():
        return False
    return 20 <= int(code[1:3]) <= 69


class TransitionKind(Choice):
    """Why the level-of-care history gained an entry."""

    ADMISSION = "admission"
    STEP_DOWN = "step-down"
    STEP_UP = "step-up"
    TRANSFER = "transfer"
    DISCHARGE = "discharge"


@frozen(kw_only=True)
class Enrollment:
    """A participant's enrollment in a program's track from ``start``."""

    id: str = attrs.field(validator=record_id)
    participant_id: str = attrs.field(validator=record_id)
    program: str = attrs.field(validator=record_id)
    track: str = attrs.field(validator=record_id)
    start: dt.date = attrs.field(validator=calendar_date)
    level_of_care: LevelOfCare = attrs.field(default=LevelOfCare.IOP, converter=LevelOfCare)


@frozen(kw_only=True)
class LevelOfCareChange:
    """One entry of an enrollment's history; entries are appended, never rewritten.

    ``seq`` orders the entries of one enrollment (0 is the admission).
    """

    enrollment_id: str = attrs.field(validator=record_id)
    seq: int = attrs.field(validator=whole_number)
    kind: TransitionKind = attrs.field(converter=TransitionKind)
    effective: dt.date = attrs.field(validator=calendar_date)
    level_of_care: LevelOfCare = attrs.field(converter=LevelOfCare)
    track: str | None = attrs.field(default=None, validator=optional_id)
    phase: str | None = attrs.field(default=None, validator=optional_id)
    reason: str = attrs.field(default="", validator=text, repr=False)
    recorded_at: dt.datetime | None = attrs.field(default=None, validator=aware)
