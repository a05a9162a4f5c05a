"""Calendar planning: occurrences -> calendar events, and zone rules a calendar file can carry.

Pure (zoneinfo and hashlib only). Calendar exporters (the ``ics`` plugin) serialize what this
plans, so every exporter groups sessions, names them, places reminders and describes zones the
same way.

**Events.** :func:`plan_events` turns any sequence of occurrences (a track, a participant's
sessions, a staff view of a week) into :class:`CalendarEvent` objects, either one per
occurrence (``recurring=False``) or as weekly series (``recurring=True``): one series per
(program, track, phase, session type, weekday, local start), with

* an exception date for every week of the series without a session (closures, a gap in a
  staff view, a session handled on its own, see below);
* an :class:`Override` for a moved or cancelled session (the recurrence keeps its place, the
  override carries the new times or the cancellation);
* sessions on a day when the zone's UTC offset changes handled as single events: their local
  time may not exist or exist twice that day, and calendar readers resolve such times in
  different ways, so they never come from a recurrence rule.

Both forms describe exactly the same instants (the tests check this with independent readers).

**Reminders.** Given ``reminders`` (times before the start), every event and override carries
the ones its session keeps in :attr:`~CalendarEvent.alarms`. With ``share_reminders`` (the
participant's view) a session keeps only the reminders that go off after every earlier session
of its day has ended (:func:`kept_reminders`): back-to-back or overlapping sessions share the
first one's reminder instead of ringing during it. In the series form an instance whose
reminders differ from its series' (the session before it was cancelled or moved) gets an
override with the same times.

**Identity.** An event's :attr:`~CalendarEvent.key` is stable and opaque: a series is named by
its program, track, phase, session type, weekday and local start; a single event by the
occurrence id (itself a hash of program, track, session type, date and start); both are
prefixed by the occurrence's scope if given (``scopes``: a participant and enrollment), so
two people's calendars never share a UID. :func:`event_uid` hashes the key with a clinic
secret, so the scope is never readable from a file. **Without a
secret the hash is unkeyed**, and anyone holding a calendar file can confirm a guess of the
program (hash the public names of a program, compare the UIDs): a disclosure under 42 CFR
Part 2. The secret is optional here so the library stays usable in tests and tools, but a
clinic must set one and keep it; :func:`uid_secret_from_env` reads it and says when it is
missing or weak.

**Zones.** :func:`zone_observances` describes a zone over the span a calendar needs as the
form every reader understands, including Outlook: one STANDARD and one DAYLIGHT observance,
each an annual rule "n-th (or last) weekday of a month at a local time" (Outlook keeps only
that), with exact single onsets where the zone's rules change within the span.

>>> from datetime import date
>>> from iopcore.io.files import load_program
>>> from iopcore.core.schedule import expand
>>> program = load_program("examples/programs/adult-evening.toml")
>>> sessions = expand(program, "evening", start=date(2027, 1, 4), weeks=12, include_cancelled=True)
>>> events = plan_events(sessions)
>>> len(sessions), len(events), sum(len(e.exdates) for e in events)
(68, 6, 4)
>>> [(o.kind, o.onset.isoformat(), o.rule) for o in zone_observances(
...     "America/New_York", sessions[0].start, sessions[-1].end)]  # doctest: +NORMALIZE_WHITESPACE
[('STANDARD', '2026-11-01T02:00:00', YearlyRule(month=11, week=1, weekday=6)),
 ('DAYLIGHT', '2027-03-14T02:00:00', YearlyRule(month=3, week=2, weekday=6))]
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from attrs import frozen

from iopcore.core.cadence import regular_day, zone
from iopcore.core.errors import ValidationError
from iopcore.core.schedule import Occurrence, Status

WEEK = timedelta(weeks=1)


# -- zones ---------------------------------------------------------------------------------


def zone_name(value: datetime) -> str:
    """The IANA name of an aware datetime's zone (``datetime.UTC`` counts as ``"UTC"``)."""
    tz = value.tzinfo
    if isinstance(tz, ZoneInfo):
        return tz.key
    if tz is UTC:
        return "UTC"
    raise ValidationError(
        f"{value.isoformat()} is not in an IANA time zone (tzinfo {tz!r}); calendar exports "
        "need occurrences whose times carry a zoneinfo.ZoneInfo, as iopcore.expand makes them"
    )


def _tz(value: datetime) -> tzinfo:
    return value.tzinfo if isinstance(value.tzinfo, ZoneInfo) else zone(zone_name(value))


@frozen
class Transition:
    """A change of a zone's UTC offset: the instant (UTC), the offsets, the new abbreviation."""

    at: datetime
    offset_from: timedelta
    offset_to: timedelta
    name: str

    @property
    def onset(self) -> datetime:
        """The wall time when it happens, read on the clock before it (as VTIMEZONE wants)."""
        return (self.at + self.offset_from).replace(tzinfo=None)

    @property
    def kind(self) -> str:
        """``DAYLIGHT`` when clocks go forward (the larger offset), else ``STANDARD``."""
        return "DAYLIGHT" if self.offset_to > self.offset_from else "STANDARD"


@functools.lru_cache(maxsize=4096)
def year_transitions(key: str, year: int) -> tuple[Transition, ...]:
    """The offset changes of zone ``key`` in UTC year ``year``, found to the second."""
    tz = zone(key)
    step = 6 * 3600
    begin = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    stop = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp())

    def offset(t: int) -> timedelta:
        value = datetime.fromtimestamp(t, UTC).astimezone(tz).utcoffset()
        assert value is not None
        return value

    out: list[Transition] = []
    before = offset(begin - 1)
    low = begin - 1
    for high in [*range(begin, stop, step), stop - 1]:
        after = offset(high)
        if after != before:
            lo, hi = low, high  # offset(lo) == before, offset(hi) == after
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(mid) == before:
                    lo = mid
                else:
                    hi = mid
            at = datetime.fromtimestamp(hi, UTC)
            out.append(Transition(at, before, after, at.astimezone(tz).tzname() or ""))
            before = after
        low = high
    return tuple(out)


def days_in_month(year: int, month: int) -> int:
    """The number of days of ``month`` in ``year``.

    (Computed here rather than with ``calendar.monthrange``: this module shares its name.)

    >>> days_in_month(2028, 2), days_in_month(2027, 12)
    (29, 31)
    """
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


@frozen
class YearlyRule:
    """Every year, the ``week``-th (1-4, or -1: last) ``weekday`` (0 = Monday) of ``month``."""

    month: int
    week: int
    weekday: int

    def date_in(self, year: int) -> date:
        days = days_in_month(year, self.month)
        if self.week > 0:
            first = date(year, self.month, 1)
            days_in = (self.weekday - first.weekday()) % 7 + 7 * (self.week - 1)
            return first + timedelta(days=days_in)
        last = date(year, self.month, days)
        return last - timedelta(days=(last.weekday() - self.weekday) % 7)


@frozen
class Observance:
    """A STANDARD or DAYLIGHT sub-component of a VTIMEZONE.

    ``onset`` is the local wall time (on the clock before the change) of its first onset.
    With a ``rule`` it recurs every year, until ``until`` (UTC, inclusive) if set; without
    one it is a single onset.
    """

    kind: str
    onset: datetime
    offset_from: timedelta
    offset_to: timedelta
    name: str
    rule: YearlyRule | None = None
    until: datetime | None = None


def _weeks(day: date) -> frozenset[int]:
    """Which ``week`` values of a YearlyRule describe ``day``: its n-th, and -1 if last."""
    out = {(day.day - 1) // 7 + 1}
    if day.day + 7 > days_in_month(day.year, day.month):
        out.add(-1)
    return frozenset(out)


def _follows(a: Transition, b: Transition, weeks: frozenset[int]) -> frozenset[int]:
    """The rule weeks that make ``b`` next year's onset of ``a``'s rule (empty: it is not)."""
    x, y = a.onset, b.onset
    if (
        y.year != x.year + 1
        or (y.month, y.weekday(), y.time()) != (x.month, x.weekday(), x.time())
        or (b.offset_from, b.offset_to, b.name) != (a.offset_from, a.offset_to, a.name)
    ):
        return frozenset()
    return weeks & _weeks(y.date())


#: Where a VTIMEZONE of a zone with a UTC+0 period starts (see :func:`zone_observances`).
IDENTIFIABLE_FROM = datetime(2000, 1, 1, tzinfo=UTC)


def _changes(key: str, first: datetime, last: datetime) -> list[Transition]:
    years = range(first.year - 1, last.year + 2)
    return [t for year in years for t in year_transitions(key, year)]


def zone_observances(key: str, first: datetime, last: datetime) -> tuple[Observance, ...]:
    """Observances of zone ``key`` that give the right UTC offset from ``first`` to ``last``.

    They start at the last offset change at or before ``first`` and run to the first change
    after ``last``; results are cached by zone and by those bounding changes, so calendars of
    many participants share them.

    A zone that is at UTC+0 for part of the span (Europe/London, Lisbon, Dublin,
    Africa/Casablanca, Antarctica/Troll) is described from :data:`IDENTIFIABLE_FROM` on:
    vobject (and so Radicale and other servers built on it) takes a VTIMEZONE whose offsets
    match UTC's over 2000-2019 for UTC itself, which would put every session after a clock
    change an hour off. Its clock changes in those years tell it apart. Zones with a
    nonzero offset throughout are told apart already and keep the short form.
    """
    changes = _changes(key, first, last)
    if first > IDENTIFIABLE_FROM and any(
        not t.offset_from or not t.offset_to for t in changes if t.at <= last
    ):
        first = IDENTIFIABLE_FROM
        changes = _changes(key, first, last)
    begin = max((i for i, t in enumerate(changes) if t.at <= first), default=0)
    end = min((i for i, t in enumerate(changes) if t.at > last), default=len(changes) - 1)
    window = tuple(changes[begin : end + 1])
    if not window:
        tz = zone(key)
        at = first.astimezone(tz)
        offset = at.utcoffset()
        assert offset is not None
        return (Observance("STANDARD", datetime(1970, 1, 1), offset, offset, at.tzname() or ""),)
    return _observances(key, window, first.year - 1 if window[0].at > first else None)


@functools.lru_cache(maxsize=4096)
def _observances(
    key: str, window: tuple[Transition, ...], initial_year: int | None
) -> tuple[Observance, ...]:
    out: list[Observance] = []
    if initial_year is not None:
        # No change at or before the span's start: say which offset was in force before.
        head = window[0]
        name = (head.at - timedelta(seconds=1)).astimezone(zone(key)).tzname() or ""
        kind = "DAYLIGHT" if head.kind == "STANDARD" else "STANDARD"
        onset = datetime(initial_year, 1, 1)
        out.append(Observance(kind, onset, head.offset_from, head.offset_from, name))
    for kind in ("STANDARD", "DAYLIGHT"):
        changes = [t for t in window if t.kind == kind]
        runs: list[tuple[list[Transition], frozenset[int]]] = []
        for change in changes:
            if runs:
                run, weeks = runs[-1]
                joined = _follows(run[-1], change, weeks)
                if joined:
                    run.append(change)
                    runs[-1] = (run, joined)
                    continue
            runs.append(([change], _weeks(change.onset.date())))
        for i, (run, weeks) in enumerate(runs):
            out.append(_observance(key, run, weeks, last=i == len(runs) - 1))
    out.sort(key=lambda o: o.onset)
    return _outlook_rules(out)


def _outlook_rules(observances: list[Observance]) -> tuple[Observance, ...]:
    """Give the latest onset of each kind a yearly rule if clocks change back after it.

    Outlook reads only the latest STANDARD and the latest DAYLIGHT observance, and only
    their yearly rule ([MS-OXCICAL] 2.1.3.1.1.19). A one-off onset followed by a change back
    (a zone whose rule dates wander, like Chile's "first Sunday on or after the 2nd") gets
    the rule of its own date, ending at that onset: the same single onset to RFC 5545
    readers, and to Outlook the rule pair of the exported months.
    """
    out = list(observances)
    for kind in ("STANDARD", "DAYLIGHT"):
        mine = [i for i, o in enumerate(out) if o.kind == kind]
        if not mine:
            continue
        i = mine[-1]
        o = out[i]
        back = any(x.kind != kind and x.onset > o.onset for x in out)
        if o.rule is None and o.offset_from != o.offset_to and back:
            weeks = _weeks(o.onset.date())
            rule = YearlyRule(o.onset.month, -1 if -1 in weeks else min(weeks), o.onset.weekday())
            until = (o.onset - o.offset_from).replace(tzinfo=UTC)
            out[i] = Observance(o.kind, o.onset, o.offset_from, o.offset_to, o.name, rule, until)
    return tuple(out)


def _observance(
    key: str, run: list[Transition], weeks: frozenset[int], *, last: bool
) -> Observance:
    """The observance of a run of yearly changes; only the ``last`` run of its kind may go
    on past the window (an earlier one would generate onsets over the later ones)."""
    first, final = run[0], run[-1]
    later = [t for t in year_transitions(key, final.at.year + 1) if t.kind == final.kind]
    going_on: frozenset[int] = frozenset()
    if last:
        going_on = frozenset().union(*(_follows(final, t, weeks) for t in later))
    if going_on:
        weeks = going_on
    base = Observance(first.kind, first.onset, first.offset_from, first.offset_to, first.name)
    if len(run) == 1 and not going_on:
        return base  # a single onset
    onset = first.onset
    rule = YearlyRule(onset.month, -1 if -1 in weeks else min(weeks), onset.weekday())
    return Observance(
        base.kind,
        base.onset,
        base.offset_from,
        base.offset_to,
        base.name,
        rule,
        None if going_on else final.at,
    )


def outlook_readable(observances: Sequence[Observance]) -> bool:
    """Whether Outlook reads ``observances`` right over their span.

    Outlook keeps only the latest STANDARD and the latest DAYLIGHT observance, as a yearly
    rule ([MS-OXCICAL] 2.1.3.1.1.19). That is exact when both carry a rule (or the zone
    keeps one offset); not when daylight saving ends or begins for good within the span
    (Sao Paulo 2018-19, Mexico City 2022) or the standard offset itself changes: no rule
    pair says "this season and never again".
    """
    standard = [o for o in observances if o.kind == "STANDARD"]
    daylight = [o for o in observances if o.kind == "DAYLIGHT"]
    if not daylight:
        return len({o.offset_to for o in standard}) <= 1
    if not standard:
        return False
    latest = (max(standard, key=lambda o: o.onset), max(daylight, key=lambda o: o.onset))
    return all(o.rule is not None for o in latest)


# -- events --------------------------------------------------------------------------------


@frozen(kw_only=True)
class Override:
    """One instance of a series that differs from its rule: moved, resized or cancelled."""

    #: The instance's place in the series: the session's slot start (local, aware).
    recurrence_id: datetime
    start: datetime
    end: datetime
    cancelled: bool
    occurrence: Occurrence
    #: Reminders of this instance, as time before its start (none when cancelled).
    alarms: tuple[timedelta, ...] = ()


@frozen(kw_only=True)
class CalendarEvent:
    """A single event, or the master of a weekly series with its exceptions and overrides."""

    #: Stable, opaque identity (hash it with :func:`event_uid`); never personal data.
    key: str
    zone: str
    start: datetime
    end: datetime
    cancelled: bool
    #: A session the event stands for (the first of a series), for detailed exports.
    occurrence: Occurrence
    #: Last instance of a weekly series (UTC); None for a single event.
    until: datetime | None = None
    #: Local starts of the series' weeks without an instance.
    exdates: tuple[datetime, ...] = ()
    overrides: tuple[Override, ...] = ()
    #: Reminders of the event (of each instance a series generates), as time before the
    #: start; none when cancelled.
    alarms: tuple[timedelta, ...] = ()
    #: Write its times in UTC, not in its zone: Outlook cannot read the zone's rules over
    #: the export (see :func:`outlook_readable`). Such events are single, never a series.
    utc: bool = False

    @property
    def recurring(self) -> bool:
        return self.until is not None


def event_uid(key: str, secret: bytes = b"", domain: str = "") -> str:
    """The calendar UID of an event key: a hash keyed with the clinic's ``secret``.

    Without a secret the hash is unkeyed: anyone can recompute it from guessed program
    names, so a clinic must pass one (see :func:`uid_secret_from_env`).

    >>> event_uid("o\\x1fe148b5382d6be69c")
    'b3bf85dd0d1b28e5a16490a95eb7dcd9'
    >>> event_uid("o\\x1fe148b5382d6be69c", b"clinic secret", "calendar.example.org")[-21:]
    '@calendar.example.org'
    """
    digest = hashlib.blake2b(key.encode(), digest_size=16, key=secret[:64]).hexdigest()
    return f"{digest}@{domain}" if domain else digest


#: The environment variable that holds a clinic's UID secret (read by the command line).
UID_SECRET_ENV = "IOPCORE_UID_SECRET"
#: Shorter secrets get a warning: few enough to try them all against guessed program names.
MIN_UID_SECRET_LENGTH = 16


def uid_secret_from_env(environ: Mapping[str, str]) -> tuple[str, str | None]:
    """The clinic's UID secret from ``environ["IOPCORE_UID_SECRET"]``, and a warning if unsafe.

    The caller passes the environment (``os.environ`` at the edge, a dict in tests): the
    domain reads none.

    Returns ``(secret, warning)``. ``secret`` is the variable's value as is (``""`` when it is
    unset); pass it on as the exporter's ``uid_secret`` when it is not empty. ``warning`` is
    None for a secret of at least :data:`MIN_UID_SECRET_LENGTH` characters, else one line to
    show the user: with no secret, or a short one, the UIDs in a calendar file let anyone
    confirm a guess of which program a participant attends.

    >>> uid_secret_from_env({"IOPCORE_UID_SECRET": "a long random value, kept for good"})
    ('a long random value, kept for good', None)
    >>> secret, warning = uid_secret_from_env({})
    >>> secret, warning.split(":")[0]
    ('', 'IOPCORE_UID_SECRET is not set')
    """
    value = environ.get(UID_SECRET_ENV, "")
    advice = (
        "set it to a long random value (e.g. python -c 'import secrets; "
        "print(secrets.token_hex(32))') and keep it for good: a new secret changes every UID "
        "(see docs/calendars.md)"
    )
    if not value.strip():
        return value, (
            f"{UID_SECRET_ENV} is not set: calendar UIDs are unkeyed hashes of program and "
            f"slot names, so anyone with the file can confirm which program it is for; {advice}"
        )
    if len(value) < MIN_UID_SECRET_LENGTH:
        return value, (
            f"{UID_SECRET_ENV} is shorter than {MIN_UID_SECRET_LENGTH} characters: calendar "
            f"UIDs could be matched to guessed program names by trying secrets; {advice}"
        )
    return value, None


def kept_reminders(
    occurrences: Iterable[Occurrence], reminders: Sequence[timedelta]
) -> dict[str, tuple[timedelta, ...]]:
    """For each occurrence id, the ``reminders`` it keeps when a day's sessions share them.

    A reminder of a session is kept only if it goes off after every earlier session of the
    same (local) day has ended: a session straight after another (or overlapping it) keeps
    none, so a two-hour reminder of the second session of an evening does not ring during
    the first, and a participant gets one "tomorrow" reminder for the day, not one per
    session. A cancelled session keeps none and does not count as earlier.

    >>> from datetime import date
    >>> from iopcore.io.files import load_program
    >>> from iopcore.core.schedule import expand
    >>> program = load_program("examples/programs/adult-evening.toml")
    >>> monday = expand(program, "evening", start=date(2027, 1, 4), weeks=1)[:2]
    >>> [(f"{o.start:%H:%M}", kept) for o, kept in zip(
    ...     monday, kept_reminders(monday, [timedelta(hours=2)]).values())]
    [('18:00', (datetime.timedelta(seconds=7200),)), ('19:30', ())]
    """
    out: dict[str, tuple[timedelta, ...]] = {}
    days: dict[date, list[Occurrence]] = {}
    for o in occurrences:
        out[o.id] = ()
        if o.status is not Status.CANCELLED:
            days.setdefault(o.start.date(), []).append(o)
    wanted = tuple(reminders)
    for sessions in days.values():
        sessions.sort(key=lambda o: (o.start.astimezone(UTC), o.end.astimezone(UTC), o.id))
        busy: datetime | None = None  # when the day's sessions so far have all ended (UTC)
        for o in sessions:
            start = o.start.astimezone(UTC)  # reminders are exact durations before the start
            out[o.id] = tuple(r for r in wanted if busy is None or start - r > busy)
            end = o.end.astimezone(UTC)
            busy = end if busy is None else max(busy, end)
    return out


def _unique(occurrences: Iterable[Occurrence]) -> list[Occurrence]:
    seen: dict[str, Occurrence] = {}
    for o in occurrences:
        if not isinstance(o, Occurrence):
            raise ValidationError(
                f"calendar exports take Occurrence objects (from iopcore.expand), got "
                f"{type(o).__name__}"
            )
        other = seen.setdefault(o.id, o)
        if other != o:
            raise ValidationError(
                f"occurrence {o.id} is given twice with different details ({other.start} "
                f"{other.status.value} and {o.start} {o.status.value}); pass each session once"
            )
        for value in (o.start, o.end, o.slot_start):
            zone_name(value)
        if _exact(o) <= timedelta(0):
            raise ValidationError(f"occurrence {o.id} ends ({o.end}) before it starts ({o.start})")
    return list(seen.values())


def _exact(o: Occurrence) -> timedelta:
    return o.end.astimezone(UTC) - o.start.astimezone(UTC)


Alarms = dict[str, tuple[timedelta, ...]]


def _single(o: Occurrence, key: str, alarms: Alarms, *, utc: bool = False) -> CalendarEvent:
    return CalendarEvent(
        key=key,
        zone=zone_name(o.start),
        start=o.start,
        end=o.end,
        cancelled=o.status is Status.CANCELLED,
        occurrence=o,
        alarms=alarms[o.id],
        utc=utc,
    )


def _outlook_unreadable(occurrences: Sequence[Occurrence]) -> set[str]:
    """Zones (of these occurrences) whose rules over their span Outlook cannot read."""
    bounds: dict[str, tuple[datetime, datetime]] = {}
    for o in occurrences:
        key = zone_name(o.start)
        low, high = min(o.start, o.slot_start), max(o.end, o.slot_start)
        if key in bounds:
            low, high = min(low, bounds[key][0]), max(high, bounds[key][1])
        bounds[key] = (low, high)
    return {
        key
        for key, (low, high) in bounds.items()
        if not outlook_readable(zone_observances(key, low, high))
    }


def _scoped(scope: str, key: str) -> str:
    return f"{scope}\x1e{key}" if scope else key


def plan_events(
    occurrences: Iterable[Occurrence],
    *,
    recurring: bool = True,
    reminders: Sequence[timedelta] = (),
    share_reminders: bool = True,
    scopes: Mapping[str, str] | None = None,
) -> tuple[CalendarEvent, ...]:
    """Plan calendar events for ``occurrences``: weekly series, or one event per session.

    Cancelled occurrences become cancelled events or overrides (pass
    ``include_cancelled=True`` to :func:`iopcore.expand`), never gaps. The same session given
    twice is kept once. Events come ordered by start.

    ``reminders`` (times before the start) become each event's and override's ``alarms``:
    with ``share_reminders`` (a participant's view) as :func:`kept_reminders` keeps them, so
    back-to-back sessions share one reminder; without it (a staff view) every session that
    is not cancelled has them all.

    ``scopes`` maps occurrence ids to the scope of their identity (a participant and
    enrollment, as :func:`iopcore.clinic.services.participant_sessions` gives them): events
    of different scopes never share a series or a key, so two participants' calendars (or
    one participant's two enrollments) never share a UID, while each stays stable across
    re-exports. Occurrences without a scope share the empty one.

    Sessions in a zone whose rules Outlook cannot read over their span
    (:func:`outlook_readable`) become single events with UTC times (``utc``).
    """
    unique = _unique(occurrences)
    if share_reminders and reminders:
        alarms = kept_reminders(unique, reminders)
    else:
        every = tuple(reminders)
        alarms = {o.id: () if o.status is Status.CANCELLED else every for o in unique}
    scope = scopes if scopes is not None else {}
    in_utc = _outlook_unreadable(unique)
    groups: dict[tuple[str, ...], list[Occurrence]] = {}
    events = []
    for o in unique:
        slot, where = o.slot_start, scope.get(o.id, "")
        utc = zone_name(o.start) in in_utc
        if recurring and not utc and regular_day(_tz(slot), slot.date()):
            series = (o.program, o.track, o.phase, o.session_type, zone_name(slot))
            key = (where, *series, str(slot.weekday()), f"{slot:%H:%M}")
            groups.setdefault(key, []).append(o)
        else:
            events.append(_single(o, _scoped(where, f"o\x1f{o.id}"), alarms, utc=utc))
    for (where, *series_key), members in groups.items():
        events += _series(where, "s\x1f" + "\x1f".join(series_key), members, alarms)
    events.sort(key=lambda e: (e.start, e.key))
    return tuple(events)


def _regular_days(tz: tzinfo, start: datetime, end: datetime) -> bool:
    """Whether every local day from ``start`` to ``end`` keeps one UTC offset."""
    day, last = start.date(), end.date()
    while day <= last:
        if not regular_day(tz, day):
            return False
        day += timedelta(days=1)
    return True


def _generated(o: Occurrence) -> bool:
    """Whether a reader can derive ``o`` from the rule: as scheduled, no offset change on any
    day it touches.

    Readers derive an instance's end from the rule's duration, some (ical.js) on the wall
    clock: a session that crosses midnight into a day whose offset changes (Saturday 23:30
    for two hours into a fall-back night) would end an hour later there. Such an instance is
    an override with its own exact times.
    """
    return (
        o.status is Status.SCHEDULED
        and o.start == o.slot_start
        and _regular_days(_tz(o.start), o.start, o.end)
    )


def _series(scope: str, key: str, members: list[Occurrence], alarms: Alarms) -> list[CalendarEvent]:
    """One series (plus single events for sessions it cannot start with), by slot start."""
    key = _scoped(scope, key)
    members.sort(key=lambda o: o.slot_start)
    singles: list[CalendarEvent] = []
    regular = [o for o in members if _generated(o)]
    length = _exact(regular[0] if regular else members[0])
    tz = _tz(members[0].slot_start)
    # The master's own DTSTART..DTEND must not contain an offset change, or readers would
    # disagree about the length of every instance; a first session that does stands alone.
    while members and not _regular_days(tz, members[0].slot_start, members[0].slot_start + length):
        alone = members.pop(0)
        singles.append(_single(alone, _scoped(scope, f"o\x1f{alone.id}"), alarms))
    if len(members) <= 1:
        return singles + [_single(o, key, alarms) for o in members]
    first, last = members[0], members[-1]
    # The rule's instances carry the reminders most of its regular sessions keep (ties: the
    # earliest's); a session that keeps others is an override with its own.
    usual = Counter(alarms[o.id] for o in members if _generated(o) and _exact(o) == length)
    rule_alarms = usual.most_common(1)[0][0] if usual else ()
    overrides = tuple(
        Override(
            recurrence_id=o.slot_start,
            start=o.start,
            end=o.end,
            cancelled=o.status is Status.CANCELLED,
            occurrence=o,
            alarms=alarms[o.id],
        )
        for o in members
        if not (_generated(o) and _exact(o) == length and alarms[o.id] == rule_alarms)
    )
    taken = {o.slot_start.date() for o in members}
    exdates = []
    wall = first.slot_start.time()
    day = first.slot_start.date()
    while day < last.slot_start.date():
        day += WEEK
        if day not in taken:
            exdates.append(datetime.combine(day, wall, tzinfo=tz))
    begin = first.slot_start
    master = CalendarEvent(
        key=key,
        zone=zone_name(begin),
        start=begin,
        end=(begin.astimezone(UTC) + length).astimezone(tz),
        cancelled=False,
        occurrence=first,
        until=last.slot_start.astimezone(UTC),
        exdates=tuple(exdates),
        overrides=overrides,
        alarms=rule_alarms,
    )
    return [*singles, master]


def span(events: Sequence[CalendarEvent]) -> dict[str, tuple[datetime, datetime]]:
    """Per zone, the earliest and latest instant any event (or its overrides) touches."""
    out: dict[str, tuple[datetime, datetime]] = {}
    for e in events:
        times = [e.start, e.end, *e.exdates]
        if e.until is not None:
            times.append(e.until + (e.end - e.start))
        for o in e.overrides:
            times += [o.recurrence_id, o.start, o.end]
        low, high = min(times), max(times)
        if e.zone in out:
            old_low, old_high = out[e.zone]
            low, high = min(low, old_low), max(high, old_high)
        out[e.zone] = (low, high)
    return out


__all__ = [
    "IDENTIFIABLE_FROM",
    "MIN_UID_SECRET_LENGTH",
    "UID_SECRET_ENV",
    "CalendarEvent",
    "Observance",
    "Override",
    "Transition",
    "YearlyRule",
    "event_uid",
    "kept_reminders",
    "outlook_readable",
    "plan_events",
    "regular_day",
    "span",
    "uid_secret_from_env",
    "year_transitions",
    "zone_name",
    "zone_observances",
]
