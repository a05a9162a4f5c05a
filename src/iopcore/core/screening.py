"""Drug and alcohol screening: orders and results. Results never appear in reprs.

LOINC codes (loinc.org): 24349-3 drugs of abuse 5 panel (urine); answers LA6576-8 positive,
LA6577-6 negative.

    >>> r = ScreeningResult(order_id="S-1", participant_id="P-1",
    ...     results=(SubstanceResult(substance="cocaine", result="positive"),))
    >>> "positive" in repr(r)
    False
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Protocol

import attrs
from attrs import frozen

from iopcore.core.errors import Choice, ValidationError, private_choice
from iopcore.core.policies import Design, EligibleDays, Period
from iopcore.core.program import Program
from iopcore.core.records import aware, calendar_date, optional_id, record_id, text
from iopcore.core.schedule import Occurrence, Status


@private_choice
class Specimen(Choice):
    """What a screen tests: urine, oral fluid, or breath."""

    URINE = "urine"
    ORAL_FLUID = "oral-fluid"
    BREATH = "breath"


@private_choice
class SubstanceOutcome(Choice):
    """One substance's result in a screen."""

    NEGATIVE = "negative"
    POSITIVE = "positive"
    DILUTE = "dilute"
    INVALID = "invalid"
    REFUSED = "refused"
    MISSED = "missed"


class OrderReason(Choice):
    """Why a screen was ordered: a random draw, a schedule, or a clinical reason."""

    RANDOM = "random"
    SCHEDULED = "scheduled"
    CLINICAL = "clinical"


@frozen(kw_only=True)
class ScreeningOrder:
    """A screen ordered for a participant on a date (e.g. selected by the random draw)."""

    id: str = attrs.field(validator=record_id)
    participant_id: str = attrs.field(validator=record_id)
    ordered_for: date = attrs.field(validator=calendar_date)
    specimen: Specimen = attrs.field(default=Specimen.URINE, converter=Specimen)
    panel: str = attrs.field(default="5-panel", validator=text, repr=False)
    reason: OrderReason = attrs.field(default=OrderReason.RANDOM, converter=OrderReason)
    provider: str = attrs.field(default="manual", validator=record_id)


@frozen(kw_only=True)
class SubstanceResult:
    """One substance's result; neither the substance nor the outcome appears in a repr."""

    substance: str = attrs.field(validator=text, repr=False)
    result: SubstanceOutcome = attrs.field(converter=SubstanceOutcome, repr=False)
    loinc: str | None = attrs.field(default=None, validator=optional_id, repr=False)


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


def result_day(result: ScreeningResult, orders: Sequence[ScreeningOrder] = ()) -> date | None:
    """When a result happened: collected, else resulted, else its order's date (if known)."""
    when = result.collected_at or result.resulted_at
    if when is not None:
        return when.date()
    order = next((o for o in orders if o.id == result.order_id), None)
    return None if order is None else order.ordered_for


def is_negative(result: ScreeningResult) -> bool:
    """Every substance tested, and every one negative (an empty result is not negative)."""
    return bool(result.results) and all(
        s.result is SubstanceOutcome.NEGATIVE for s in result.results
    )


# -- random selection ----------------------------------------------------------------------

#: Names the selection algorithm in each draw record, so auditors know how to re-derive it.
ALGORITHM = "hmac-sha256-lowest-k/v1"
#: The per-day design: each eligible day drawn on its own keyed uniform number.
PER_DAY_ALGORITHM = "hmac-sha256-per-day/v1"


@frozen(kw_only=True)
class ScreeningDraw:
    """One period's random draw for one participant: who was eligible and who was picked.

    An auditor holding the program secret re-derives the whole draw (eligible days, count,
    selection) from the program and the participant's schedule with :func:`verify_draw`.
    The draw depends on nothing else: not the wall clock, not a global random generator,
    not other participants.
    """

    participant_id: str = attrs.field(validator=record_id)
    period_start: date
    period_end: date
    #: Screens drawn this period: with the fixed-count design the policy's count, scaled to
    #: the share of a full period this one has (a closure week, the first and last weeks)
    #: by keyed rounding; with the per-day design, however many days the draw selected.
    count: int
    eligible: tuple[date, ...]
    selected: tuple[date, ...] = attrs.field(repr=False)
    #: The policy's count for a full period.
    policy_count: int = 0
    algorithm: str = ALGORITHM

    @property
    def key(self) -> str:
        return f"{self.participant_id}/{self.period_start.isoformat()}"


class Secret:
    """A program's screening secret (bytes). Never shown in reprs or logs.

    >>> Secret(b"k" * 32)
    Secret(<hidden>)
    """

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if not isinstance(value, bytes) or len(value) < 16:
            raise ValidationError(
                "the screening secret must be at least 16 random bytes (e.g. "
                "secrets.token_bytes(32)); keep it out of program files and version control"
            )
        self._value = value

    def __repr__(self) -> str:
        return "Secret(<hidden>)"

    def score(self, participant_id: str, day: date) -> bytes:
        """The keyed score of one (participant, date) pair; lower scores are selected."""
        message = f"{ALGORITHM}|{participant_id}|{day.isoformat()}".encode()
        return hmac.new(self._value, message, hashlib.sha256).digest()

    def day_uniform(self, participant_id: str, day: date) -> float:
        """A keyed number in [0, 1) for one (participant, date) pair (the per-day design)."""
        message = f"{PER_DAY_ALGORITHM}|{participant_id}|{day.isoformat()}".encode()
        digest = hmac.new(self._value, message, hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def uniform(self, participant_id: str, period_start: date) -> float:
        """A keyed number in [0, 1) for one participant's period (to round a scaled count)."""
        message = f"{ALGORITHM}|round|{participant_id}|{period_start.isoformat()}".encode()
        digest = hmac.new(self._value, message, hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") / 2**64


def draw(
    secret: Secret,
    participant_id: str,
    period: tuple[date, date],
    eligible: Iterable[date],
    count: int,
) -> ScreeningDraw:
    """Select ``count`` of the ``eligible`` days in ``period`` (``[start, end]``)."""
    days = tuple(sorted({d for d in eligible if period[0] <= d <= period[1]}))
    chosen = sorted(days, key=lambda d: secret.score(participant_id, d))[:count]
    return ScreeningDraw(
        participant_id=participant_id,
        period_start=period[0],
        period_end=period[1],
        count=count,
        eligible=days,
        selected=tuple(sorted(chosen)),
    )


def draw_per_day(
    secret: Secret,
    participant_id: str,
    period: tuple[date, date],
    eligible: Iterable[date],
    probability: float,
) -> ScreeningDraw:
    """Select each ``eligible`` day in ``period`` independently with ``probability``."""
    days = tuple(sorted({d for d in eligible if period[0] <= d <= period[1]}))
    chosen = tuple(d for d in days if secret.day_uniform(participant_id, d) < probability)
    return ScreeningDraw(
        participant_id=participant_id,
        period_start=period[0],
        period_end=period[1],
        count=len(chosen),
        eligible=days,
        selected=chosen,
        algorithm=PER_DAY_ALGORITHM,
    )


def verify_draw(
    secret: Secret,
    recorded: ScreeningDraw,
    *,
    program: Program,
    occurrences: Sequence[Occurrence],
) -> bool:
    """True when ``recorded`` is exactly the draw the program, the participant's schedule
    (``occurrences``) and the secret give for its period: the eligible days, the count and
    the selection are all re-derived, none is taken from the record (a draw forged to
    ``count=0``, or with a day removed from ``eligible``, fails)."""
    again = screening_draws(
        secret, recorded.participant_id, program, occurrences, through=recorded.period_end
    )
    return any(d == recorded for d in again if d.period_start == recorded.period_start)


#: Fortnights are counted from this Monday, so every program and auditor agrees on them.
FORTNIGHT_EPOCH = date(2001, 1, 1)


def periods(first: date, last: date, period: Period) -> Iterator[tuple[date, date]]:
    """Calendar periods (Monday weeks, fortnights from FORTNIGHT_EPOCH, months) covering
    ``[first, last]``."""
    if period is Period.MONTH:
        start = first.replace(day=1)
        while start <= last:
            following = (start + timedelta(days=32)).replace(day=1)
            yield start, following - timedelta(days=1)
            start = following
        return
    length = 7 if period is Period.WEEK else 14
    start = first - timedelta(days=first.weekday())
    if period is Period.FORTNIGHT:
        start -= timedelta(days=(start - FORTNIGHT_EPOCH).days % 14)
    while start <= last:
        yield start, start + timedelta(days=length - 1)
        start += timedelta(days=length)


def screening_draws(
    secret: Secret,
    participant_id: str,
    program: Program,
    occurrences: Sequence[Occurrence],
    *,
    through: date,
) -> tuple[ScreeningDraw, ...]:
    """Every period's draw for a participant's schedule, up to and including ``through``.

    A period belongs to the phase the participant is in on its first scheduled day; its
    policy (:meth:`Program.screening_policy`) sets the count and which days are eligible.
    Periods are clipped to the participant's schedule: no screens before the first session
    or after the last. A period with fewer eligible days than a full one (a closure week,
    the first and last weeks) draws the count scaled to its share, rounded up or down by a
    keyed coin, so its screens stay unpredictable and the rate holds on average.
    """
    scheduled = [o for o in occurrences if o.status is not Status.CANCELLED]
    if not scheduled:
        return ()
    first, last = scheduled[0].start.date(), min(scheduled[-1].start.date(), through)
    by_day: dict[date, str] = {}
    for o in scheduled:
        by_day.setdefault(o.start.date(), o.phase)
    track = program.track(scheduled[0].track)
    period = _period_of(program)
    out = []
    for start, end in periods(first, last, period):
        in_period = sorted(d for d in by_day if start <= d <= end)
        if not in_period:
            continue
        policy = program.screening_policy(by_day[in_period[0]])
        if policy is None:
            continue
        window = (max(start, first), min(end, scheduled[-1].start.date()))
        period_days = (end - start).days + 1
        if policy.days is EligibleDays.ATTENDANCE:
            eligible: list[date] = in_period
            phase = track.phase(by_day[in_period[0]])
            full = len({slot.day for slot in phase.slots}) * period_days / 7
        else:
            eligible = [
                window[0] + timedelta(days=i) for i in range((window[1] - window[0]).days + 1)
            ]
            full = period_days
        if policy.design is Design.PER_DAY:
            chance = min(1.0, policy.count / full) if full else 1.0
            result = draw_per_day(secret, participant_id, window, eligible, chance)
        else:
            share = min(1.0, len(eligible) / full) if full else 1.0
            scaled = policy.count * share
            count = int(scaled) + (secret.uniform(participant_id, window[0]) < scaled - int(scaled))
            result = draw(secret, participant_id, window, eligible, min(count, len(eligible)))
        if result.period_start <= through:
            out.append(attrs.evolve(result, policy_count=policy.count))
    return tuple(out)


def _period_of(program: Program) -> Period:
    kinds = {p.period for p in program.screening}
    if len(kinds) > 1:
        raise ValidationError(
            f"program {program.name!r}: screening policies use different periods "
            f"({', '.join(sorted(k.value for k in kinds))}); use one period and vary the count"
        )
    return kinds.pop() if kinds else Period.WEEK


class Provider(Protocol):
    """What a screening provider plugin's ``create()`` returns."""

    def place_order(self, order: ScreeningOrder) -> str:
        """Send the order; return the provider's reference for it."""

    def collect_results(self) -> list[ScreeningResult]:
        """Results that arrived since the last call (each handed over once)."""


def orders_for(
    draws: Iterable[ScreeningDraw],
    *,
    provider: str = "manual",
    specimen: Specimen = Specimen.URINE,
    panel: str = "5-panel",
) -> list[ScreeningOrder]:
    """One order per selected day; the order id is derived from participant and date."""
    return [
        ScreeningOrder(
            id=f"S-{d.participant_id}-{day.isoformat()}",
            participant_id=d.participant_id,
            ordered_for=day,
            specimen=specimen,
            panel=panel,
            provider=provider,
        )
        for d in draws
        for day in d.selected
    ]
