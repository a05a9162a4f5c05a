"""Drug and alcohol screening: orders and results. Results never appear in reprs.

LOINC codes (DOMAIN.md): 24349-3 drugs of abuse 5 panel (urine); answers LA6576-8 positive,
LA6577-6 negative.

>>> r = ScreeningResult(order_id="S-1", participant_id="P-1",
...     results=(SubstanceResult(substance="cocaine", result="positive"),))
>>> "positive" in repr(r)
False
"""

from __future__ import annotations

import enum
from datetime import date, datetime

import attrs
from attrs import frozen

from iopcore.records import aware, optional_id, record_id, text


class Specimen(enum.StrEnum):
    URINE = "urine"
    ORAL_FLUID = "oral-fluid"
    BREATH = "breath"


class SubstanceOutcome(enum.StrEnum):
    NEGATIVE = "negative"
    POSITIVE = "positive"
    DILUTE = "dilute"
    INVALID = "invalid"
    REFUSED = "refused"
    MISSED = "missed"


class OrderReason(enum.StrEnum):
    RANDOM = "random"
    SCHEDULED = "scheduled"
    CLINICAL = "clinical"


@frozen(kw_only=True)
class ScreeningOrder:
    """A screen ordered for a participant on a date (e.g. selected by the random draw)."""

    id: str = attrs.field(validator=record_id)
    participant_id: str = attrs.field(validator=record_id)
    ordered_for: date
    specimen: Specimen = attrs.field(default=Specimen.URINE, converter=Specimen)
    panel: str = attrs.field(default="5-panel", validator=text)
    reason: OrderReason = attrs.field(default=OrderReason.RANDOM, converter=OrderReason)
    provider: str = attrs.field(default="manual", validator=record_id)


@frozen(kw_only=True)
class SubstanceResult:
    substance: str = attrs.field(validator=text)
    result: SubstanceOutcome = attrs.field(converter=SubstanceOutcome)
    loinc: str | None = attrs.field(default=None, validator=optional_id)


def _results(
    values: tuple[SubstanceResult, ...] | list[SubstanceResult],
) -> tuple[SubstanceResult, ...]:
    return tuple(values)


@frozen(kw_only=True)
class ScreeningResult:
    """The result of an order; per-substance outcomes are kept out of the repr."""

    order_id: str = attrs.field(validator=record_id)
    participant_id: str = attrs.field(validator=record_id)
    results: tuple[SubstanceResult, ...] = attrs.field(converter=_results, repr=False)
    collected_at: datetime | None = attrs.field(default=None, validator=aware)
    resulted_at: datetime | None = attrs.field(default=None, validator=aware)
