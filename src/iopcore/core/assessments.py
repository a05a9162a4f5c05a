"""Check-ins and progress assessments: instrument-agnostic scores. Scores stay out of reprs."""

from __future__ import annotations

from datetime import date

import attrs
from attrs import frozen

from iopcore.core.errors import Choice
from iopcore.core.records import calendar_date, optional_score, record_id, text


class MeasureKind(Choice):
    """A brief check-in or a scored progress assessment."""

    CHECK_IN = "check-in"
    ASSESSMENT = "assessment"


@frozen(kw_only=True)
class Assessment:
    """A completed check-in or assessment (instrument name, optional score)."""

    id: str = attrs.field(validator=record_id)
    participant_id: str = attrs.field(validator=record_id)
    kind: MeasureKind = attrs.field(converter=MeasureKind)
    instrument: str = attrs.field(validator=text)
    taken_on: date = attrs.field(validator=calendar_date)
    score: float | None = attrs.field(default=None, validator=optional_score, repr=False)
