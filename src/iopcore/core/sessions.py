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

from iopcore.core.errors import Choice
from iopcore.core.records import whole


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


@frozen(kw_only=True)
class SessionType:
    """A named kind of session in a program, e.g. ``group`` (CBT group, 90 min, up to 12)."""

    name: str
    kind: SessionKind = attrs.field(converter=SessionKind)
    modality: Modality = attrs.field(default=Modality.OTHER, converter=Modality)
    minutes: int = attrs.field(validator=whole(at_least=1, at_most=24 * 60, unit="minutes"))
    #: Most participants a session takes (None: no limit).
    capacity: int | None = attrs.field(default=None, validator=whole(at_least=1, optional=True))
    counts_toward_hours: bool = attrs.field(default=attrs.Factory(_default_counts, takes_self=True))
