"""Session types: what happens in a session, how long it lasts, and whether it counts as treatment.

>>> group = SessionType(name="group", kind=SessionKind.GROUP, modality=Modality.CBT,
...                     minutes=90, capacity=12)
>>> group.counts_toward_hours
True
>>> SessionType(name="uds", kind=SessionKind.SCREENING, minutes=15).counts_toward_hours
False
"""

from __future__ import annotations

import attrs
from attrs import frozen

from iopcore.core.errors import Choice, ValidationError


class SessionKind(Choice):
    """What kind of contact a session is (SAMHSA TIP 47: the components of an IOP)."""

    INDIVIDUAL = "individual"
    GROUP = "group"
    FAMILY = "family"
    EDUCATION = "education"
    LIFE_SKILLS = "life-skills"
    MEDICATION_MANAGEMENT = "medication-management"
    CHECK_IN = "check-in"
    SCREENING = "screening"


class Modality(Choice):
    """The therapeutic approach of a session (CBT, DBT, MI, trauma-informed, relapse prevention)."""

    CBT = "cbt"
    DBT = "dbt"
    MOTIVATIONAL_INTERVIEWING = "motivational-interviewing"
    TRAUMA_INFORMED = "trauma-informed"
    RELAPSE_PREVENTION = "relapse-prevention"
    OTHER = "other"


#: Kinds that are not direct treatment service, so do not count toward hours by default
#: (H0015: "breaks, recreation and passive video do not count"; a urine collection or a
#: five-minute check-in is not a therapeutic service hour).
NON_TREATMENT_KINDS = frozenset({SessionKind.CHECK_IN, SessionKind.SCREENING})


def _default_counts(instance: SessionType) -> bool:
    return instance.kind not in NON_TREATMENT_KINDS


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 24 * 60:
        raise ValidationError(
            f"session type {getattr(instance, 'name', '?')!r}: {attribute.name} must be a "
            f"positive number of minutes up to 1440 (a day), got {value}",
            key_path=attribute.name,
        )


def _capacity(
    instance: SessionType, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is not None and value < 1:
        raise ValidationError(
            f"session type {instance.name!r}: capacity must be at least 1 (or omitted for no "
            f"limit), got {value}"
        )


@frozen(kw_only=True)
class SessionType:
    """A named kind of session in a program, e.g. ``group`` (CBT group, 90 min, up to 12)."""

    name: str
    kind: SessionKind = attrs.field(converter=SessionKind)
    modality: Modality = attrs.field(default=Modality.OTHER, converter=Modality)
    minutes: int = attrs.field(validator=_positive)
    capacity: int | None = attrs.field(default=None, validator=_capacity)
    counts_toward_hours: bool = attrs.field(default=attrs.Factory(_default_counts, takes_self=True))
