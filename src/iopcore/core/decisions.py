"""Step-down and step-up decisions as recorded: who decided, when, recommended vs decided."""

from __future__ import annotations

from datetime import date

import attrs
from attrs import frozen

from iopcore.core.errors import Choice
from iopcore.core.records import calendar_date, record_id, text


class Recommendation(Choice):
    """What to do with an enrollment: stay, step down or up, transfer, or go to aftercare."""

    STAY = "stay"
    STEP_DOWN = "step-down"
    STEP_UP = "step-up"
    DISCHARGE_TO_AFTERCARE = "discharge-to-aftercare"
    TRANSFER = "transfer"


@frozen(kw_only=True)
class Decision:
    """A clinician's decision on an enrollment; it appends to the level-of-care history."""

    id: str = attrs.field(validator=record_id)
    enrollment_id: str = attrs.field(validator=record_id)
    decided_on: date = attrs.field(validator=calendar_date)
    decided_by: str = attrs.field(validator=record_id)
    recommended: Recommendation = attrs.field(converter=Recommendation)
    decided: Recommendation = attrs.field(converter=Recommendation)
    reason: str = attrs.field(default="", validator=text, repr=False)
