"""The ``ics`` calendar exporter: iCalendar files that calendar apps read correctly, privately.

Registered through the ``iopcore_calendar_exporters`` hook; use it through the plugin host:

>>> from datetime import UTC, date, datetime
>>> import iopcore
>>> program = iopcore.load_program("examples/programs/adult-evening.toml")
>>> sessions = iopcore.expand(program, "evening", start=date(2027, 1, 4), weeks=12,
...                           include_cancelled=True)
>>> ics = iopcore.create_plugin_host().calendar_exporter("ics")
>>> data = ics.export(sessions, now=datetime(2027, 1, 1, tzinfo=UTC))
>>> data.splitlines()[:4]
[b'BEGIN:VCALENDAR', b'VERSION:2.0', b'PRODID:-//Appointments//Calendar//EN', b'CALSCALE:GREGORIAN']
>>> data.count(b"BEGIN:VEVENT"), data.count(b"SUMMARY:Appointment")
(7, 7)

**Set a UID secret.** Without ``uid_secret=`` the UIDs are unkeyed hashes of the program's
names, and anyone holding a participant's file can confirm a guess of which program they
attend (42 CFR Part 2 protects identification "through verification"). The option stays
optional for tests and tools; a clinic must pass a long random secret and keep it for good
(the command line reads ``$IOPCORE_UID_SECRET``, see
:func:`iopcore.core.calendar.uid_secret_from_env`).

What it writes (RFC 5545, RFC 7986):

* **Series or single events**, the caller's choice (``recurring=``): weekly RRULE series with
  EXDATE for closures and RECURRENCE-ID overrides for moved or cancelled sessions, or one
  VEVENT per session. Both describe the same instants (:mod:`iopcore.core.calendar` plans them).
* **Zones**: every DATE-TIME has a TZID or is UTC (RRULE UNTIL; the times of a session that
  straddles a DST change or starts at a wall time that occurs twice). TZIDs are IANA names,
  which Google, Apple and Thunderbird map to their own zone data, and each comes with a
  VTIMEZONE in the form Outlook needs: one STANDARD and one DAYLIGHT observance with a
  yearly ``BYMONTH``/``BYDAY=nSU`` rule (no RDATE lists, which Outlook misreads), exact over
  the exported range.
* **Format**: CRLF line ends, lines folded at 75 octets without splitting a UTF-8 character
  or an escape, TEXT escaped, METHOD:PUBLISH, NAME and X-WR-CALNAME.
* **Reminders**: ``reminders=`` become VALARMs. In the participant's (default) view a session
  keeps only the reminders that go off after the earlier sessions of its day have ended, so
  back-to-back sessions share the first one's reminder instead of ringing during it; a staff
  view (``detail=True``) reminds of every session. Cancelled events have none.
* **Updates**: UIDs are keyed hashes of program and series (or session) identity and of the
  ``uid_scope`` (whose calendar; a participant and enrollment from the store), so they are
  stable across re-exports yet never shared by two people's calendars. Pass the previous
  export as ``previous=`` and SEQUENCE goes up by one for each
  event whose content changed since (and stays for the others). An event that is no longer
  exported comes back once as STATUS:CANCELLED, so an imported copy does not linger; the
  export after that leaves it out and keeps only its UID and SEQUENCE in an
  ``X-REMOVED-UID`` line, so that if it is ever exported again it gets a higher SEQUENCE
  than the cancelled copy. Pass ``now=`` to fix DTSTAMP and get byte-identical files.
* **Privacy (42 CFR Part 2)**: by default every event is a generic ``summary``
  ("Appointment"), CLASS:PRIVATE, with no description, location, attendee, session type,
  phase, track or program name anywhere, the calendar name and PRODID included. ``location=``
  opts into a location; ``detail=True`` is the staff view with session types and topics.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from attrs import frozen

from iopcore.core.calendar import (
    CalendarEvent,
    Observance,
    event_uid,
    plan_events,
    span,
    zone_observances,
)
from iopcore.core.errors import ValidationError, suggest
from iopcore.core.program import Program
from iopcore.core.schedule import Occurrence
from iopcore.plugins import CalendarExporter, hookimpl

MEDIA_TYPE = "text/calendar"
DEFAULT_SUMMARY = "Appointment"
DEFAULT_CALENDAR_NAME = "Appointments"
#: Says nothing about the software or the kind of service (an identifying product name in a
#: patient's calendar would disclose as much as a treatment word).
DEFAULT_PRODID = "-//Appointments//Calendar//EN"
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
MAX_REMINDER = timedelta(weeks=4)


def _text(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str):
        raise ValidationError(f"{attribute.name} must be text, got {type(value).__name__}")
    if len(value) > 1000 or any((c < " " and c not in "\n\t") or c == "\x7f" for c in value):
        raise ValidationError(
            f"{attribute.name} {value[:40]!r} must be at most 1000 characters without control "
            "characters"
        )


def _nonempty_text(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    _text(instance, attribute, value)
    if not value.strip():
        raise ValidationError(f"{attribute.name} must not be empty")


def _optional_text(instance: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        _nonempty_text(instance, attribute, value)


def _reminders(values: Iterable[timedelta | int]) -> tuple[timedelta, ...]:
    out = []
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            value = timedelta(minutes=value)
        if not isinstance(value, timedelta) or not timedelta(0) <= value <= MAX_REMINDER:
            raise ValidationError(
                f"reminder {value!r} must be a timedelta (or whole minutes) from 0 to 4 weeks "
                "before the start"
            )
        out.append(value)
    return tuple(sorted(set(out)))


def _bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _secret(value: bytes | str | None) -> bytes:
    return _bytes(value) or b""


def _aware(instance: object, attribute: attrs.Attribute[Any], value: datetime | None) -> None:
    if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
        raise ValidationError(f"{attribute.name} must be an aware datetime, got {value!r}")


def _programs(values: Program | Iterable[Program] | None) -> tuple[Program, ...]:
    if values is None:
        return ()
    return (values,) if isinstance(values, Program) else tuple(values)


class _EveryScope(Mapping[str, str]):
    """The same scope for every occurrence id."""

    def __init__(self, scope: str) -> None:
        self.scope = scope

    def __getitem__(self, key: str) -> str:
        return self.scope

    def get(self, key: str, default: Any = None) -> str:
        return self.scope

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _scope(value: str | Mapping[str, str] | None) -> Mapping[str, str] | None:
    if value is None or isinstance(value, Mapping):
        return value
    if not isinstance(value, str):
        raise ValidationError(
            f"uid_scope must be text or a mapping of occurrence ids to text, got "
            f"{type(value).__name__}"
        )
    return _EveryScope(value) if value else None


def _domain(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value and not all(c.isalnum() or c in "-." for c in value):
        raise ValidationError(f"uid_domain {value!r} must be a domain name like example.org")


@frozen(kw_only=True)
class IcsOptions:
    """Options of the ``ics`` exporter (keyword arguments of ``export``)."""

    #: Weekly series (RRULE) when True, one event per session when False.
    recurring: bool = True
    #: The title of every event; the clinic's choice, generic by default.
    summary: str = attrs.field(default=DEFAULT_SUMMARY, validator=_nonempty_text)
    #: The calendar's name (NAME and X-WR-CALNAME).
    calendar_name: str = attrs.field(default=DEFAULT_CALENDAR_NAME, validator=_nonempty_text)
    #: LOCATION of every event; omitted unless the clinic opts in.
    location: str | None = attrs.field(default=None, validator=_optional_text)
    #: The staff view: session type, phase, track and program in SUMMARY and DESCRIPTION.
    detail: bool = False
    #: Programs the occurrences come from, for topics (kind, modality) in detailed exports.
    programs: tuple[Program, ...] = attrs.field(default=(), converter=_programs)
    #: VALARM reminders, as time before the start (a timedelta or whole minutes). Without
    #: ``detail``, sessions of a day share them (see :func:`iopcore.core.calendar.kept_reminders`).
    reminders: tuple[timedelta, ...] = attrs.field(default=(), converter=_reminders)
    #: DTSTAMP (default: the current time); pass it for byte-identical exports.
    now: datetime | None = attrs.field(default=None, validator=_aware)
    #: The previous export of this calendar: SEQUENCE counts changes since.
    previous: bytes | None = attrs.field(default=None, converter=_bytes)
    #: A clinic secret mixed into UIDs, so UIDs cannot be matched to guessed program names.
    #: Empty (the default) leaves UIDs unkeyed and confirmable: clinics must set a long random
    #: one and keep it, since a new secret changes every UID.
    uid_secret: bytes = attrs.field(default=b"", converter=_secret, repr=False)
    #: Whose calendar this is, for UIDs: a scope (e.g. an opaque participant and enrollment
    #: key) for every session, or a mapping from occurrence id to scope. Events of different
    #: scopes never share a UID, so two people's calendars imported into one (a family
    #: calendar) do not replace each other's events; the same scope keeps UIDs stable.
    uid_scope: Mapping[str, str] | None = attrs.field(default=None, converter=_scope, repr=False)
    #: ``@domain`` suffix of UIDs (none by default).
    uid_domain: str = attrs.field(default="", validator=_domain)
    prodid: str = attrs.field(default=DEFAULT_PRODID, validator=_nonempty_text)


_OPTION_NAMES = tuple(a.name for a in attrs.fields(IcsOptions))


def options(**values: Any) -> IcsOptions:
    """Validate exporter options; an unknown name is an error that suggests the close one."""
    for name in values:
        if name not in _OPTION_NAMES:
            raise ValidationError(
                f"the ics exporter has no option {name!r}{suggest(name, _OPTION_NAMES)}; "
                f"options: {', '.join(_OPTION_NAMES)}"
            )
    return IcsOptions(**values)


# -- content lines -------------------------------------------------------------------------


def escape(value: str) -> str:
    r"""TEXT escaping (RFC 5545 3.3.11): backslash, semicolon, comma and newlines.

    >>> escape("a,b;c\\d\r\ne")
    'a\\,b\\;c\\\\d\\ne'
    """
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: str) -> str:
    r"""Fold a content line at 75 octets, never inside a UTF-8 character or a backslash escape.

    >>> folded = fold("DESCRIPTION:" + "é" * 40).encode()
    >>> [len(line) for line in folded.split(b"\r\n")]  # 12 + 31 * 2, then " " + 9 * 2
    [74, 19]
    """
    if len(line) <= 75 and line.isascii():
        return line
    data = line.encode()
    if len(data) <= 75:
        return line
    parts = []
    start, limit = 0, 75
    while start < len(data):
        end = min(start + limit, len(data))
        if end < len(data):
            while end > start + 1 and data[end] & 0xC0 == 0x80:  # inside a UTF-8 character
                end -= 1
            slashes = 0
            while slashes < end - start and data[end - 1 - slashes] == 0x5C:
                slashes += 1
            if slashes % 2 and end - 1 > start:  # a backslash that starts an escape
                end -= 1
        parts.append(data[start:end].decode())
        start, limit = end, 74  # a continuation line starts with one space
    return "\r\n ".join(parts)


def _stamp(value: datetime) -> str:
    return (
        f"{value.year:04d}{value.month:02d}{value.day:02d}"
        f"T{value.hour:02d}{value.minute:02d}{value.second:02d}"
    )


def _utc(value: datetime) -> str:
    return _stamp(value.astimezone(UTC)) + "Z"


def _local(name: str, value: datetime, tzid: str) -> str:
    """``name`` as a wall time in ``tzid`` (which the value must be in)."""
    return f"{name};TZID={tzid}:{_stamp(value)}"


def _unique(value: datetime) -> bool:
    """Whether the wall time of ``value`` occurs exactly once in its zone."""
    return value.replace(fold=0).utcoffset() == value.replace(fold=1).utcoffset()


def _times(start: datetime, end: datetime, tzid: str) -> list[str]:
    """DTSTART and DTEND as wall times in their zone; in UTC if they straddle a DST change.

    Readers resolve a wall time that occurs twice (or never) in different ways, and some
    derive the end as start + duration in wall-clock time; both instants in UTC leave no
    room for either.
    """
    if _unique(start) and _unique(end) and start.utcoffset() == end.utcoffset():
        return [_local("DTSTART", start, tzid), _local("DTEND", end, tzid)]
    return _utc_times(start, end)


def _utc_times(start: datetime, end: datetime) -> list[str]:
    return [f"DTSTART:{_utc(start)}", f"DTEND:{_utc(end)}"]


def _offset(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{seconds:02d}" if seconds else "")


def _duration(value: timedelta) -> str:
    """A negative (before the start) DURATION, e.g. ``-PT15M``, ``-P1DT2H``."""
    minutes = int(value.total_seconds()) // 60
    if not minutes:
        return "PT0M"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return "-P" + (f"{days}D" if days else "") + (f"T{clock}" if clock else "")


# -- VTIMEZONE -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _vtimezone(key: str, observances: tuple[Observance, ...]) -> tuple[str, ...]:
    lines = ["BEGIN:VTIMEZONE", f"TZID:{key}", f"X-LIC-LOCATION:{key}"]
    for o in observances:
        lines += [
            f"BEGIN:{o.kind}",
            f"TZNAME:{escape(o.name)}",
            f"TZOFFSETFROM:{_offset(o.offset_from)}",
            f"TZOFFSETTO:{_offset(o.offset_to)}",
            f"DTSTART:{_stamp(o.onset)}",
        ]
        if o.rule is not None:
            week = o.rule.week
            rule = f"RRULE:FREQ=YEARLY;BYMONTH={o.rule.month};BYDAY={week}{DAYS[o.rule.weekday]}"
            if o.until is not None:
                # A day after the last onset, not at it: UNTIL is UTC while DTSTART is local
                # here (RFC 5545 3.3.10), and some readers (dateutil) compare the two as if
                # both were local, which east of UTC would drop the last onset.
                rule += f";UNTIL={_utc(o.until + timedelta(days=1))}"
            lines.append(rule)
        lines.append(f"END:{o.kind}")
    lines.append("END:VTIMEZONE")
    return tuple(lines)


def vtimezone(key: str, first: datetime, last: datetime) -> tuple[str, ...]:
    """VTIMEZONE content lines for zone ``key``, exact from ``first`` to ``last`` (cached)."""
    return _vtimezone(key, zone_observances(key, first, last))


# -- previous exports ----------------------------------------------------------------------

_VOLATILE = ("DTSTAMP", "SEQUENCE")
_KEEP_IN_TOMBSTONE = ("UID", "RECURRENCE-ID", "DTSTART", "DTEND", "RRULE", "EXDATE", "RDATE")


def _name(line: str) -> str:
    cut = min((i for i in (line.find(":"), line.find(";")) if i >= 0), default=len(line))
    return line[:cut].upper()


def _fingerprint(blocks: Iterable[Sequence[str]]) -> str:
    """A hash of an event's content, blind to the order of components and of their lines
    (which carries no meaning, and which servers such as Radicale rewrite)."""
    digest = hashlib.blake2b(digest_size=16)
    parts = sorted(
        "\n".join(sorted(x for x in block if x is not _SEQUENCE and _name(x) not in _VOLATILE))
        for block in blocks
    )
    for part in parts:
        digest.update(part.encode() + b"\x00")
    return digest.hexdigest()


@frozen
class _Previous:
    """An event (a UID) of the previous export."""

    sequence: int
    fingerprint: str
    #: Its components; empty for a UID the previous export only listed as removed.
    blocks: tuple[tuple[str, ...], ...]
    #: Every component is STATUS:CANCELLED: its cancellation has been announced.
    cancelled: bool


#: A calendar property listing the UID and SEQUENCE of an event withdrawn and announced
#: cancelled in an earlier export. Readers ignore X- properties; the next export reads it back.
#: (Not "withdrawn": in a patient's file that word could read as drug withdrawal.)
REMOVED = "X-REMOVED-UID"


def _removed(uid: str, sequence: int) -> str:
    return f"{REMOVED};X-SEQUENCE={sequence}:{uid}"


def _read_removed(line: str) -> tuple[str, int]:
    head, _, uid = line.partition(":")
    sequence = 0
    for param in head.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.upper() == "X-SEQUENCE" and value.isdigit():
            sequence = int(value)
    return uid, sequence


def read_previous(data: bytes) -> tuple[dict[str, _Previous], dict[str, tuple[str, ...]]]:
    """Events (by UID) and VTIMEZONE blocks (by TZID) of a previous export.

    UIDs it lists as removed (``X-REMOVED-UID``) come as cancelled events without
    components.
    """
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.replace("\n ", "").replace("\n\t", "").split("\n")
    if not lines or lines[0].strip().upper() != "BEGIN:VCALENDAR":
        raise ValidationError(
            "the previous export is not an iCalendar file (it does not start with "
            "BEGIN:VCALENDAR); pass the .ics file this calendar was last exported to"
        )
    events: dict[str, list[tuple[str, ...]]] = {}
    sequences: dict[str, int] = {}
    cancelled: dict[str, bool] = {}
    zones: dict[str, tuple[str, ...]] = {}
    block: list[str] | None = None
    fields: dict[str, str] = {}  # the block's own properties, not its VALARMs'
    depth = 0
    for line in lines:
        upper = line.upper()
        if block is None:
            if upper in ("BEGIN:VEVENT", "BEGIN:VTIMEZONE"):
                block, depth, fields = [line], 1, {}
            elif _name(line) == REMOVED:
                uid, seq = _read_removed(line)
                if uid:
                    sequences[uid] = max(sequences.get(uid, 0), seq)
                    cancelled.setdefault(uid, True)
            continue
        block.append(line)
        if upper.startswith("BEGIN:"):
            depth += 1
        elif upper.startswith("END:"):
            depth -= 1
        elif depth == 1:
            fields.setdefault(_name(line), line.partition(":")[2])
        if depth:
            continue
        if block[0].upper() == "BEGIN:VTIMEZONE":
            zones[fields.get("TZID", "")] = tuple(block)
        else:
            uid = fields.get("UID", "")
            try:
                seq = int(fields.get("SEQUENCE", "0"))
            except ValueError:
                seq = 0
            sequences[uid] = max(sequences.get(uid, 0), seq)
            gone = fields.get("STATUS", "").strip().upper() == "CANCELLED"
            # all its components cancelled (a removed line for it too does not count)
            cancelled[uid] = gone and (uid not in events or cancelled[uid])
            events.setdefault(uid, []).append(tuple(block))
        block = None
    return (
        {
            uid: _Previous(
                sequences[uid],
                _fingerprint(events[uid]) if uid in events else "",
                tuple(events.get(uid, ())),
                cancelled[uid],
            )
            for uid in sequences
        },
        zones,
    )


# -- export --------------------------------------------------------------------------------


_SEQUENCE = "\x00SEQUENCE"


class _Calendar:
    """Builds the content lines of one export."""

    def __init__(self, opts: IcsOptions) -> None:
        self.opts = opts
        now = opts.now if opts.now is not None else datetime.now(UTC)
        self.dtstamp = f"DTSTAMP:{_utc(now.replace(microsecond=0))}"
        self.summary = escape(opts.summary)
        self.location = None if opts.location is None else escape(opts.location)
        self.types = {(p.name, t.name): (p, t) for p in opts.programs for t in p.session_types}
        self._alarms: dict[tuple[timedelta, ...], list[str]] = {}

    def alarms(self, reminders: tuple[timedelta, ...]) -> list[str]:
        """VALARM components for ``reminders`` (times before the start)."""
        lines = self._alarms.get(reminders)
        if lines is None:
            lines = []
            for reminder in reminders:
                lines += [
                    "BEGIN:VALARM",
                    "ACTION:DISPLAY",
                    f"DESCRIPTION:{self.summary}",
                    f"TRIGGER:{_duration(reminder)}",
                    "END:VALARM",
                ]
            self._alarms[reminders] = lines
        return lines

    def describe(self, o: Occurrence) -> tuple[str, str | None]:
        """SUMMARY and DESCRIPTION of an event about ``o``."""
        if not self.opts.detail:
            return self.summary, None
        found = self.types.get((o.program, o.session_type))
        title = o.program
        lines = [f"Session: {o.session_type}"]
        if found is not None:
            program, kind = found
            title = program.title or program.name
            lines.append(f"Kind: {kind.kind.value}; topic: {kind.modality.value}")
        lines += [f"Program: {title}", f"Track: {o.track}", f"Phase: {o.phase}"]
        return escape(f"{o.session_type} ({o.phase})"), escape("\n".join(lines))

    def component(
        self,
        uid: str,
        tzid: str,
        o: Occurrence,
        times: list[str],
        cancelled: bool,
        alarms: tuple[timedelta, ...],
    ) -> list[str]:
        summary, description = self.describe(o)
        lines = ["BEGIN:VEVENT", f"UID:{uid}", self.dtstamp, _SEQUENCE, *times]
        lines.append(f"SUMMARY:{summary}")
        if description is not None:
            lines.append(f"DESCRIPTION:{description}")
        if self.location is not None:
            lines.append(f"LOCATION:{self.location}")
        lines.append("CLASS:PRIVATE")
        if cancelled:
            lines += ["STATUS:CANCELLED", "TRANSP:TRANSPARENT"]
        else:
            lines += ["TRANSP:OPAQUE", *self.alarms(alarms)]
        lines.append("END:VEVENT")
        return lines

    def event(self, e: CalendarEvent) -> tuple[str, list[list[str]]]:
        opts = self.opts
        uid = event_uid(e.key, opts.uid_secret, opts.uid_domain)
        tzid = e.zone
        times = _utc_times(e.start, e.end) if e.utc else _times(e.start, e.end, tzid)
        if e.until is not None:
            times.append(f"RRULE:FREQ=WEEKLY;UNTIL={_utc(e.until)};BYDAY={DAYS[e.start.weekday()]}")
            times += [_local("EXDATE", x, tzid) for x in e.exdates]
        blocks = [self.component(uid, tzid, e.occurrence, times, e.cancelled, e.alarms)]
        for o in e.overrides:
            when = [_local("RECURRENCE-ID", o.recurrence_id, tzid), *_times(o.start, o.end, tzid)]
            blocks.append(self.component(uid, tzid, o.occurrence, when, o.cancelled, o.alarms))
        return uid, blocks

    def tombstone(self, old: _Previous) -> list[list[str]]:
        """A withdrawn event: its times from the previous export, now STATUS:CANCELLED."""
        out = []
        for block in old.blocks:
            keep = [x for x in block[1:] if _name(x) in _KEEP_IN_TOMBSTONE]
            uid = [x for x in keep if _name(x) == "UID"]
            times = [x for x in keep if _name(x) != "UID"]
            lines = ["BEGIN:VEVENT", *uid, self.dtstamp, _SEQUENCE, *times]
            lines += [f"SUMMARY:{self.summary}", "CLASS:PRIVATE", "STATUS:CANCELLED"]
            lines += ["TRANSP:TRANSPARENT", "END:VEVENT"]
            out.append(lines)
        return out


def _sequenced(blocks: list[list[str]], old: _Previous | None) -> list[str]:
    sequence = 0
    if old is not None:
        sequence = old.sequence + (_fingerprint(blocks) != old.fingerprint)
    line = f"SEQUENCE:{sequence}"
    return [line if x is _SEQUENCE else x for block in blocks for x in block]


def _tzids(blocks: Iterable[Sequence[str]]) -> set[str]:
    out = set()
    for block in blocks:
        for line in block:
            head = line.partition(":")[0]
            for param in head.split(";")[1:]:
                name, _, value = param.partition("=")
                if name.upper() == "TZID":
                    out.add(value.strip('"'))
    return out


def export(occurrences: Iterable[Occurrence], **values: Any) -> bytes:
    """An iCalendar file (bytes) of ``occurrences``; options as :class:`IcsOptions`."""
    opts = options(**values)
    events = plan_events(
        occurrences,
        recurring=opts.recurring,
        reminders=opts.reminders,
        share_reminders=not opts.detail,
        scopes=opts.uid_scope,
    )
    previous, old_zones = read_previous(opts.previous) if opts.previous else ({}, {})
    name = escape(opts.calendar_name)
    head = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{escape(opts.prodid)}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        # VALUE=TEXT: ical.js and icalendar unescape an escaped comma or semicolon of
        # NAME and X-WR-CALNAME only when told the value is TEXT (else they show "a\\, b").
        f"NAME;VALUE=TEXT:{name}",
        f"X-WR-CALNAME;VALUE=TEXT:{name}",
    ]
    cal = _Calendar(opts)
    body: list[str] = []
    seen = set()
    for e in events:
        uid, blocks = cal.event(e)
        if uid in seen:  # pragma: no cover - keys are unique, so are their hashes
            raise ValidationError(f"two events share UID {uid}; report this as a bug")
        seen.add(uid)
        body += _sequenced(blocks, previous.get(uid))
    zones = sorted(span([e for e in events if not e.utc]).items())
    withdrawn: list[list[str]] = []
    for uid in sorted(set(previous) - seen):
        old = previous[uid]
        if old.cancelled:
            # Announced cancelled already (by the previous export, or it was a cancelled
            # session): not again, but its SEQUENCE is kept for the day it comes back.
            head.append(_removed(uid, old.sequence))
            continue
        blocks = cal.tombstone(old)
        withdrawn += blocks
        body += _sequenced(blocks, old)
    lines = head
    for key, (first, last) in zones:
        lines += vtimezone(key, first, last)
    for tzid in sorted(_tzids(withdrawn) - {key for key, _ in zones}):
        if tzid in old_zones:
            lines += old_zones[tzid]
    lines += body
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines).encode()


@hookimpl
def iopcore_calendar_exporters() -> list[CalendarExporter]:
    return [
        CalendarExporter(
            name="ics",
            media_type=MEDIA_TYPE,
            extension="ics",
            export=export,
            description="iCalendar (RFC 5545) for Google, Outlook, Apple Calendar, Thunderbird: "
            "weekly series or single events, private by default",
        )
    ]


__all__ = [
    "DEFAULT_CALENDAR_NAME",
    "DEFAULT_PRODID",
    "DEFAULT_SUMMARY",
    "REMOVED",
    "IcsOptions",
    "escape",
    "export",
    "fold",
    "options",
    "read_previous",
    "vtimezone",
]
