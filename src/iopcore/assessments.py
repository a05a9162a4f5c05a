"""Check-ins and progress assessments: instrument-agnostic scores. Scores stay out of reprs."""

from __future__ import annotations

import enum
from datetime import date

import attrs
from attrs import frozen

from iopcore.records import record_id, text


class MeasureKind(enum.StrEnum):
    CHECK_IN = "check-in"
    ASSESSMENT = "assessment"


@frozen(kw_only=True)
class Assessment:
    """A completed check-in or assessment (instrument name, optional score)."""

    id: str = attrs.field(validator=record_id)
    participant_id: str = attrs.field(validator=record_id)
    kind: MeasureKind = attrs.field(converter=MeasureKind)
    instrument: str = attrs.field(validator=text)
    taken_on: date
    score: float | None = attrs.field(default=None, repr=False)
