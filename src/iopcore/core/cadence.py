"""Weekly cadences: slots, closures, one-off changes, and the local-time rule.

Times are a local wall time plus an IANA zone. Two moments need a rule, and iopcore's is:

* **Nonexistent local time** (the spring-forward gap): the session moves forward by the length
  of the gap, so a 02:30 session on the night clocks jump 02:00 -> 03:00 starts at 03:30.
* **Ambiguous local time** (the fall-back fold): the first of the two instants (``fold=0``).

A session's *wall-clock* length is always its scheduled minutes: an 18:00-21:00 session is
18:00-21:00 local on every date, whatever the UTC offset.

    >>> from datetime import date, time
    >>> ny = zone("America/New_York")
    >>> localize(date(2027, 3, 14), time(2, 30), ny).isoformat()
    '2027-03-14T03:30:00-04:00'
    >>> localize(date(2027, 11, 7), time(1, 30), ny).isoformat()
    '2027-11-07T01:30:00-04:00'
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from attrs import frozen

from iopcore.core.errors import ValidationError, suggest
from iopcore.core.records import whole


class Weekday(enum.IntEnum):
    """Days of the week, Monday = 0 as in :meth:`datetime.date.weekday`."""

    MON = 0
    TUE = 1
    WED = 2
    THU = 3
    FRI = 4
    SAT = 5
    SUN = 6

    @classmethod
    def parse(cls, value: Weekday | int | str) -> Weekday:
        """Accept ``Weekday.MON``, ``0``, ``"mon"`` or ``"Monday"``."""
        if isinstance(value, Weekday):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
            return cls(value)
        if isinstance(value, str) and value[:3].upper() in cls.__members__:
            full = cls[value[:3].upper()]
            if len(value) == 3 or value.lower() == _FULL[full]:
                return full
        raise ValidationError(
            f"{value!r} is not a weekday: use one of mon, tue, wed, thu, fri, sat, sun"
        )

    @property
    def label(self) -> str:
        return _FULL[self].capitalize()


_FULL = dict(
    zip(
        Weekday,
        ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
        strict=True,
    )
)


def _weekday(value: Weekday | int | str) -> Weekday:
    return Weekday.parse(value)


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or a :class:`ValidationError` that suggests a close name."""
    if not isinstance(name, str):
        raise ValidationError(
            f"a time zone must be an IANA name such as 'America/New_York', got {name!r}"
        )
    try:
        if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        if len(name) > 64:
            raise ValidationError(
                f"a time zone name has at most 64 characters, got {len(name)}; use an IANA "
                "name like 'America/New_York'"
            ) from None
        import zoneinfo

        hint = suggest(name, zoneinfo.available_timezones())
        raise ValidationError(
            f"{name!r} is not an IANA time zone"
            + (hint or "; use a name like 'America/New_York' or 'Europe/London'")
        ) from None


def _check_zone(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    zone(value)


# -- zone names a program may use (clinic: program files checked for meaning) ----------------

#: Fixed offsets and POSIX-style names never follow a place's daylight saving rules as the
#: place does (MST has no DST; Etc/GMT+5 is UTC-5 all year): each with the zone to use.
_NOT_A_PLACE = {
    "EST": "America/New_York (or America/Panama, which has no DST)",
    "MST": "America/Denver (or America/Phoenix, which has no DST)",
    "HST": "Pacific/Honolulu",
    "EST5EDT": "America/New_York",
    "CST6CDT": "America/Chicago",
    "MST7MDT": "America/Denver",
    "PST8PDT": "America/Los_Angeles",
    "WET": "Europe/Lisbon",
    "CET": "Europe/Paris",
    "MET": "Europe/Paris",
    "EET": "Europe/Athens",
}

#: Legacy names (IANA "backward" links) and the canonical names written instead.
_CANONICAL = {
    "US/Eastern": "America/New_York",
    "US/Central": "America/Chicago",
    "US/Mountain": "America/Denver",
    "US/Pacific": "America/Los_Angeles",
    "US/Alaska": "America/Anchorage",
    "US/Hawaii": "Pacific/Honolulu",
    "US/Arizona": "America/Phoenix",
    "US/East-Indiana": "America/Indiana/Indianapolis",
    "US/Michigan": "America/Detroit",
    "US/Aleutian": "America/Adak",
    "US/Samoa": "Pacific/Pago_Pago",
    "Canada/Eastern": "America/Toronto",
    "Canada/Central": "America/Winnipeg",
    "Canada/Mountain": "America/Edmonton",
    "Canada/Pacific": "America/Vancouver",
    "Canada/Atlantic": "America/Halifax",
    "Canada/Newfoundland": "America/St_Johns",
    "Europe/Kiev": "Europe/Kyiv",
    "Asia/Calcutta": "Asia/Kolkata",
    "Asia/Saigon": "Asia/Ho_Chi_Minh",
    "Asia/Katmandu": "Asia/Kathmandu",
    "Asia/Rangoon": "Asia/Yangon",
    "America/Buenos_Aires": "America/Argentina/Buenos_Aires",
    "America/Indianapolis": "America/Indiana/Indianapolis",
    "Atlantic/Faeroe": "Atlantic/Faroe",
    "Pacific/Truk": "Pacific/Chuuk",
    "GB": "Europe/London",
    "Etc/UTC": "UTC",
    "Etc/UCT": "UTC",
    "UCT": "UTC",
    "Zulu": "UTC",
    "Universal": "UTC",
}


def canonical_zone(name: str) -> str:
    """The canonical IANA name of a place's zone (``Europe/Kiev`` -> ``Europe/Kyiv``).

    Fixed offsets (``Etc/GMT+5``, ``MST``) and POSIX-style names (``EST5EDT``) are refused
    with the zone to use: sessions follow the clinic's wall clock, daylight saving included.
    """
    zone(name)  # a ValidationError for a name that is not a zone at all
    if name in _NOT_A_PLACE or (name.startswith(("Etc/GMT", "GMT+", "GMT-")) and name != "Etc/GMT"):
        hint = _NOT_A_PLACE.get(name, "the zone of the clinic's place, e.g. America/Bogota")
        raise ValidationError(
            f"{name!r} is a fixed offset or a POSIX-style zone, not a place's time zone: it "
            f"does not follow local daylight saving rules; use {hint}",
            key_path="time_zone",
        )
    canonical = _CANONICAL.get(name, name)
    try:
        ZoneInfo(canonical)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # an older zone database
        return name
    return canonical


@functools.lru_cache(maxsize=65536)
def regular_day(tz: tzinfo, day: date) -> bool:
    """True when ``tz`` keeps one UTC offset all local ``day`` (every wall time is unique):
    the common case, where no DST rule is needed."""
    begin = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    offset = begin.utcoffset()
    if end.utcoffset() != offset or begin.replace(hour=12).utcoffset() != offset:
        return False
    # A change and its reversal on one day would leave midnight, noon and the next midnight
    # alike; the length of the day in real time settles it.
    return end.astimezone(UTC) - begin.astimezone(UTC) == timedelta(days=1)


def localize(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The aware datetime for local ``day`` and ``at`` in ``tz`` under iopcore's DST rule."""
    local = datetime.combine(day, at, tzinfo=tz)
    if regular_day(tz, day):
        return local
    # fold=0 is the first instant of an ambiguous time; a nonexistent time round-trips
    # through UTC to the wall time shifted forward by the gap.
    return local.astimezone(UTC).astimezone(tz)


def _minute_resolution(instance: object, attribute: attrs.Attribute[time], value: time) -> None:
    if not isinstance(value, time):
        raise ValidationError(
            f"{attribute.name} must be a time (datetime.time, e.g. time(18, 0); in a program "
            f'file "18:00"), got {type(value).__name__} {value!r}'
        )
    if value.tzinfo is not None or value.second or value.microsecond:
        raise ValidationError(
            f"{attribute.name} {value.isoformat()} must be a local wall time in whole minutes "
            "(HH:MM, no zone)"
        )


#: The days a program's calendar may name: wider dates are typing mistakes, and weeks around
#: them could not be computed.
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)


def _closure_date(instance: object, attribute: attrs.Attribute[dt.date], value: object) -> None:
    if type(value) is not dt.date:
        raise ValidationError(
            f"{type(instance).__name__.lower()} {attribute.name} must be a date (e.g. "
            f"date(2027, 5, 31)), got {type(value).__name__} {value!r}"
        )
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValidationError(
            f"{type(instance).__name__.lower()} {attribute.name} {value} is outside "
            f"{FIRST_DAY.year}-{LAST_DAY.year}; check the year",
            key_path=attribute.name,
        )


def _every_weeks(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 52:
        raise ValidationError(
            f"every_weeks must be a whole number of weeks from 1 to 52 (1: every week), "
            f"got {value!r}",
            key_path="every_weeks",
        )


#: A session's own length: 1 minute to a day, or None for its session type's.
_minutes = whole(at_least=1, at_most=24 * 60, unit="minutes", optional=True)


@frozen(kw_only=True)
class Slot:
    """A weekly session: every ``day`` at local ``start`` for ``minutes`` (default: the type's).

    ``every_weeks`` = N holds it every Nth week only, counted from the first week of the
    phase a participant is in (e.g. a family session every other week, from week 1).
    """

    day: Weekday = attrs.field(converter=_weekday)
    start: time = attrs.field(validator=_minute_resolution)
    session_type: str
    minutes: int | None = attrs.field(default=None, validator=_minutes)
    every_weeks: int = attrs.field(default=1, validator=_every_weeks)


@frozen(kw_only=True)
class Closure:
    """A date the program does not meet (a holiday); every session that day is skipped."""

    date: dt.date = attrs.field(validator=_closure_date)
    reason: str = "closure"


@frozen(kw_only=True)
class Change:
    """A one-off change to the session that would start at local ``date`` ``start``.

    Either ``cancelled`` or a move (any of ``new_date``, ``new_start``, ``minutes``).
    ``session_type`` narrows the match to one session type; it is optional.
    """

    date: dt.date = attrs.field(validator=_closure_date)
    start: time = attrs.field(validator=_minute_resolution)
    session_type: str | None = None
    cancelled: bool = False
    new_date: dt.date | None = attrs.field(
        default=None, validator=attrs.validators.optional(_closure_date)
    )
    new_start: time | None = None
    minutes: int | None = attrs.field(default=None, validator=_minutes)
    reason: str = ""

    def __attrs_post_init__(self) -> None:
        moved = self.new_date is not None or self.new_start is not None or self.minutes is not None
        if self.cancelled == moved:
            raise ValidationError(
                f"change for {self.date} {self.start:%H:%M}: set either cancelled = true or a "
                "move (new_date, new_start or minutes), not " + ("both" if moved else "neither")
            )

    def matches(self, day: dt.date, start: time, session_type: str) -> bool:
        return (
            self.date == day
            and self.start == start
            and (self.session_type is None or self.session_type == session_type)
        )


def parse_time(text: str) -> time:
    """Parse ``HH:MM`` (24-hour) strictly.

    >>> parse_time("18:00")
    datetime.time(18, 0)
    """
    hours, sep, minutes = text.partition(":")
    why = ""
    if sep and len(hours) == len(minutes) == 2 and (hours + minutes).isdigit() and text.isascii():
        if int(hours) < 24 and int(minutes) < 60:
            return time(int(hours), int(minutes))
        why = ": hours run 00-23" if int(hours) >= 24 else ": minutes run 00-59"
    raise ValidationError(f"{text!r} is not a time (HH:MM, 24-hour{why})")


__all__ = [
    "Change",
    "Closure",
    "Slot",
    "Weekday",
    "localize",
    "parse_time",
    "zone",
]
