"""iCalendar exports read back by independent readers give exactly iopcore's instants.

Readers:

* **icalendar + recurring-ical-events** (Python): once with the IANA TZIDs as written (it then
  uses zoneinfo), once with the TZIDs renamed so it must use our VTIMEZONEs (dateutil's
  VTIMEZONE engine);
* **ical.js** (JavaScript, Mozilla's parser as in Thunderbird), run by node: it always uses
  the VTIMEZONEs in the file. Install it with ``make icaljs`` (``npm install --prefix
  .venv/node ical.js@2.2.1``); without it these tests skip, and fail under CI;
* **Outlook's reading of VTIMEZONE** as [MS-OXCICAL] 2.1.3.1.1.19 specifies it (one STANDARD
  and one DAYLIGHT observance, the latest of each, as a yearly n-th weekday rule), emulated;
* **vobject** (the parser of Radicale and other CalDAV servers), which takes a VTIMEZONE whose
  offsets match UTC's over 2000-2019 for UTC.

Properties run on random one- and two-phase programs in zones of both hemispheres (see
tests/strategies.py), with closures, moved and cancelled sessions, start dates near DST
changes, random subsets (a staff view), in both the series and the single-event forms.
Readers also report each instance's reminders (VALARM triggers), which must be the ones the
participant's view keeps (:func:`expected_alarms`, written here independently of
:func:`iopcore.core.calendar.kept_reminders`) or, in a staff view, all of them.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import icalendar
import pytest
import recurring_ical_events  # type: ignore[import-untyped]
import vobject  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iopcore import (
    Change,
    Occurrence,
    Phase,
    Program,
    SessionKind,
    SessionType,
    Slot,
    Status,
    Track,
    ValidationError,
    expand,
    load_program,
)
from iopcore.core.calendar import (
    days_in_month,
    outlook_readable,
    plan_events,
    year_transitions,
    zone_observances,
)
from iopcore_plugins.ics import export, vtimezone
from tests.strategies import ZONES, programs, start_dates

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "programs"
ICALJS_VERSION = "2.2.1"
ICALJS_SETUP = f"make icaljs (npm install --prefix .venv/node ical.js@{ICALJS_VERSION})"
NOW = datetime(2027, 1, 1, tzinfo=UTC)

#: (start, end, cancelled) in UTC, counted.
Instants = Counter[tuple[datetime, datetime, bool]]
#: (start, end) in UTC of instances that are not cancelled, with their reminders (sorted
#: times before the start), counted.
Alarms = Counter[tuple[datetime, datetime, tuple[timedelta, ...]]]


def expected(occurrences: Iterable[Occurrence]) -> Instants:
    unique = {o.id: o for o in occurrences}.values()
    return Counter(
        (o.start.astimezone(UTC), o.end.astimezone(UTC), o.status is Status.CANCELLED)
        for o in unique
    )


def expected_alarms(
    occurrences: Iterable[Occurrence], reminders: Iterable[timedelta], *, shared: bool = True
) -> Alarms:
    """The reminders each session should have: in a participant's view (``shared``) those
    that go off after every earlier session of the same local day has ended; else all."""
    unique = [
        o for o in {o.id: o for o in occurrences}.values() if o.status is not Status.CANCELLED
    ]
    wanted = sorted(set(reminders))

    def order(o: Occurrence) -> tuple[datetime, datetime, str]:
        return o.start.astimezone(UTC), o.end.astimezone(UTC), o.id

    out: Alarms = Counter()
    for o in unique:
        start = o.start.astimezone(UTC)
        earlier = [p for p in unique if p.start.date() == o.start.date() and order(p) < order(o)]
        kept = tuple(
            r
            for r in wanted
            if not shared or all(start - r > p.end.astimezone(UTC) for p in earlier)
        )
        out[start, o.end.astimezone(UTC), kept] += 1
    return out


# -- Python reader -------------------------------------------------------------------------


_renamed = itertools.count()


def own_zones(data: bytes, keep: Sequence[bytes] = ()) -> bytes:
    """Rename every TZID (but ``keep``) so readers cannot look the zone up and must use the
    VTIMEZONE.

    Each name is new: icalendar caches the zones it builds by TZID.
    """
    names = sorted(set(re.findall(rb"\nTZID:([^\r\n]+)", data)) - set(keep))
    for name in names:
        pattern = rb"(TZID[=:]|X-LIC-LOCATION:)" + re.escape(name) + rb"(?=[:;\r])"
        data = re.sub(pattern, rb"\g<1>X-Test-Zone-" + str(next(_renamed)).encode(), data)
    return data


def python_instants(data: bytes) -> Instants:
    cal = icalendar.Calendar.from_ical(data)
    out: Instants = Counter()
    for event in recurring_ical_events.of(cal).all():
        start, end = event["DTSTART"].dt, event["DTEND"].dt
        assert isinstance(start, datetime)
        assert start.utcoffset() is not None
        out[
            start.astimezone(UTC),
            end.astimezone(UTC),
            str(event.get("STATUS", "")) == "CANCELLED",
        ] += 1
    return out


def python_alarms(data: bytes) -> Alarms:
    """Each instance that is not cancelled, with the reminders of its VALARMs."""
    cal = icalendar.Calendar.from_ical(data)
    out: Alarms = Counter()
    for event in recurring_ical_events.of(cal).all():
        alarms = event.walk("VALARM")
        if str(event.get("STATUS", "")) == "CANCELLED":
            assert alarms == []
            continue
        triggers = tuple(sorted(-a["TRIGGER"].dt for a in alarms))
        out[event["DTSTART"].dt.astimezone(UTC), event["DTEND"].dt.astimezone(UTC), triggers] += 1
    return out


# -- vobject (Radicale's parser) -----------------------------------------------------------


def vobject_instants(data: bytes) -> Instants:
    """Instances as vobject reads them: its rule sets, with overrides replacing instances.

    vobject keeps the first VTIMEZONE it sees under a TZID for the rest of the process, so
    each file's TZIDs are renamed first (as a server would see each zone once), but UTC:
    vobject knows that one, and takes a VTIMEZONE equal to UTC under another name for none.
    """
    cal = vobject.readOne(own_zones(data, keep=[b"UTC"]).decode())
    comps: dict[str, list[Any]] = {}
    for event in getattr(cal, "vevent_list", []):
        comps.setdefault(event.uid.value, []).append(event)
    out: Instants = Counter()

    def add(event: Any, start: datetime, length: timedelta | None = None) -> None:
        end = event.dtend.value if length is None else start + length
        gone = getattr(getattr(event, "status", None), "value", "") == "CANCELLED"
        out[start.astimezone(UTC), end.astimezone(UTC), gone] += 1

    for events in comps.values():
        masters = [e for e in events if not hasattr(e, "recurrence_id")]
        overrides = {
            e.recurrence_id.value.astimezone(UTC): e for e in events if hasattr(e, "recurrence_id")
        }
        (master,) = masters
        start = master.dtstart.value
        assert start.utcoffset() is not None
        rules = master.getrruleset(addRDate=True)
        if rules is None:
            add(master, start)
            continue
        length = master.dtend.value.astimezone(UTC) - start.astimezone(UTC)
        for instance in rules:
            override = overrides.pop(instance.astimezone(UTC), None)
            if override is None:
                add(master, instance.astimezone(UTC), length)
            else:
                add(override, override.dtstart.value)
        assert not overrides, "an override matches no instance"
    return out


# -- ical.js -------------------------------------------------------------------------------

READER_JS = r"""
const ICAL = (await import(process.env.ICALJS_URL)).default;
const readline = await import('node:readline');
const rl = readline.createInterface({input: process.stdin});
const status = (e) => e.component.getFirstPropertyValue('status') || '';
const alarms = (e) => e.component.getAllSubcomponents('valarm')
  .map((a) => a.getFirstPropertyValue('trigger').toSeconds());
for await (const line of rl) {
  try {
    const root = new ICAL.Component(ICAL.parse(JSON.parse(line)));
    const byUid = new Map();
    for (const v of root.getAllSubcomponents('vevent')) {
      const uid = v.getFirstPropertyValue('uid');
      if (!byUid.has(uid)) byUid.set(uid, []);
      byUid.get(uid).push(v);
    }
    const out = [];
    for (const [uid, comps] of byUid) {
      const masters = comps.filter((c) => !c.hasProperty('recurrence-id'));
      const exceptions = comps.filter((c) => c.hasProperty('recurrence-id'));
      if (masters.length !== 1) throw new Error(`UID ${uid} has ${masters.length} masters`);
      const event = new ICAL.Event(masters[0], {exceptions, strictExceptions: true});
      if (!event.isRecurring()) {
        if (exceptions.length) throw new Error(`UID ${uid}: overrides of a single event`);
        out.push([event.startDate.toUnixTime(), event.endDate.toUnixTime(), status(event),
                  alarms(event)]);
        continue;
      }
      const it = event.iterator();
      let next, n = 0;
      while ((next = it.next())) {
        if (++n > 100000) throw new Error(`UID ${uid} does not end`);
        const d = event.getOccurrenceDetails(next);
        out.push([d.startDate.toUnixTime(), d.endDate.toUnixTime(), status(d.item),
                  alarms(d.item)]);
      }
      for (const id of Object.keys(event.exceptions)) {
        // an override must replace an instance the rule generates
        if (!out.length) throw new Error(`UID ${uid}: override ${id} matches nothing`);
      }
    }
    console.log(JSON.stringify({ok: true, instances: out}));
  } catch (e) {
    console.log(JSON.stringify({ok: false, error: String((e && e.stack) || e)}));
  }
}
"""


def icaljs_path() -> Path | None:
    configured = os.environ.get("IOPCORE_ICALJS")
    base = Path(configured) if configured else ROOT / ".venv/node/node_modules/ical.js"
    dist = base / "dist" / "ical.js" if base.is_dir() else base
    return dist if dist.is_file() else None


class IcalJs:
    """One node process reading calendars line by line (JSON in, JSON out)."""

    def __init__(self, node: str, dist: Path) -> None:
        self.proc = subprocess.Popen(
            [node, "--input-type=module", "-e", READER_JS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "ICALJS_URL": dist.as_uri()},
        )

    def read(self, data: bytes) -> list[tuple[datetime, datetime, bool, list[int]]]:
        """Each instance: start, end, cancelled, VALARM triggers (seconds, negative before)."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(data.decode()) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline() or '{"ok": false, "error": "node died"}')
        assert reply["ok"], reply["error"]
        return [
            (
                datetime.fromtimestamp(start, UTC),
                datetime.fromtimestamp(end, UTC),
                state == "CANCELLED",
                triggers,
            )
            for start, end, state, triggers in reply["instances"]
        ]

    def instants(self, data: bytes) -> Instants:
        return Counter((start, end, gone) for start, end, gone, _ in self.read(data))

    def alarms(self, data: bytes) -> Alarms:
        out: Alarms = Counter()
        for start, end, gone, triggers in self.read(data):
            if gone:
                assert triggers == []
            else:
                out[start, end, tuple(sorted(timedelta(seconds=-t) for t in triggers))] += 1
        return out

    def close(self) -> None:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def icaljs() -> Iterator[IcalJs]:
    node, dist = shutil.which("node"), icaljs_path()
    if node is None or dist is None:
        missing = "node" if node is None else f"ical.js {ICALJS_VERSION}"
        message = f"{missing} is not installed; run {ICALJS_SETUP}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    reader = IcalJs(node, dist)
    yield reader
    reader.close()


def check_all_readers(
    data: bytes, want: Instants, js: IcalJs, alarms: Alarms | None = None
) -> None:
    assert python_instants(data) == want, "icalendar + recurring-ical-events (zoneinfo)"
    assert python_instants(own_zones(data)) == want, "icalendar + recurring-ical-events (VTIMEZONE)"
    assert js.instants(data) == want, "ical.js"
    if alarms is not None:
        assert python_alarms(data) == alarms, "reminders: icalendar + recurring-ical-events"
        assert js.alarms(data) == alarms, "reminders: ical.js"


# -- Outlook's reading of VTIMEZONE ([MS-OXCICAL] 2.1.3.1.1.19) ----------------------------


@attrs.frozen
class OutlookZone:
    """The one rule pair Outlook keeps: standard offset, and DST dates if any."""

    standard: timedelta
    daylight: timedelta | None = None
    #: (month, week 1-5 with 5 = last, weekday 0 = Monday, local time) of each onset
    dst_onset: tuple[int, int, int, time] | None = None
    std_onset: tuple[int, int, int, time] | None = None

    def offset(self, instant: datetime) -> timedelta:
        if self.daylight is None or self.dst_onset is None or self.std_onset is None:
            return self.standard
        year = (instant + self.standard).year
        begin = _onset(year, self.dst_onset) - self.standard
        end = _onset(year, self.std_onset) - self.daylight
        naive = instant.astimezone(UTC).replace(tzinfo=None)
        if begin < end:
            return self.daylight if begin <= naive < end else self.standard
        return self.daylight if naive >= begin or naive < end else self.standard


def _onset(year: int, rule: tuple[int, int, int, time]) -> datetime:
    month, week, weekday, at = rule
    days = days_in_month(year, month)
    first = date(year, month, 1)
    day = first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (week - 1))
    while day.day > days or day.month != month:  # week 5: the last such weekday
        day -= timedelta(weeks=1)
    return datetime.combine(day, at)


def _offset(text: str) -> timedelta:
    sign = -1 if text[0] == "-" else 1
    return sign * timedelta(hours=int(text[1:3]), minutes=int(text[3:5]))


def outlook_zone(lines: Sequence[str]) -> OutlookZone:
    """Import a VTIMEZONE as Outlook does: the observances with the latest DTSTART."""
    subs: dict[str, list[dict[str, str]]] = {"STANDARD": [], "DAYLIGHT": []}
    current: dict[str, str] | None = None
    for line in lines:
        if line in ("BEGIN:STANDARD", "BEGIN:DAYLIGHT"):
            current = {"KIND": line[6:]}
        elif line.startswith("END:") and current is not None:
            subs[current["KIND"]].append(current)
            current = None
        elif current is not None:
            name, _, value = line.partition(":")
            current[name] = value
    standard = max(subs["STANDARD"], key=lambda s: s["DTSTART"], default=None)
    daylight = max(subs["DAYLIGHT"], key=lambda s: s["DTSTART"], default=None)
    if daylight is None:
        assert standard is not None
        return OutlookZone(standard=_offset(standard["TZOFFSETTO"]))
    if standard is None:
        return OutlookZone(standard=_offset(daylight["TZOFFSETTO"]))

    def rule(sub: dict[str, str]) -> tuple[int, int, int, time] | None:
        if "RRULE" not in sub:
            return None  # Outlook then has no usable recurrence
        parts = dict(p.split("=") for p in sub["RRULE"].split(";"))
        assert parts["FREQ"] == "YEARLY"
        assert "BYMONTHDAY" not in parts
        byday = parts["BYDAY"]
        week = int(byday[:-2])
        weekday = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"].index(byday[-2:])
        start = datetime.strptime(sub["DTSTART"], "%Y%m%dT%H%M%S")
        return int(parts["BYMONTH"]), 5 if week == -1 else week, weekday, start.time()

    return OutlookZone(
        standard=_offset(standard["TZOFFSETTO"]),
        daylight=_offset(daylight["TZOFFSETTO"]),
        dst_onset=rule(daylight),
        std_onset=rule(standard),
    )


# -- strategies ----------------------------------------------------------------------------


@st.composite
def near_a_change(draw: st.DrawFn, zone: str) -> date:
    """A start date one to three weeks before one of the zone's offset changes."""
    changes = [t for y in range(2021, 2030) for t in year_transitions(zone, y)]
    if not changes:
        return draw(start_dates)
    change = draw(st.sampled_from(changes))
    return change.at.date() - timedelta(days=draw(st.integers(0, 21)))


@st.composite
def changed(draw: st.DrawFn, program: Program, start: date, weeks: int) -> Program:
    """``program`` with up to four moved or cancelled sessions in the range (not on closures,
    where there is no session to change)."""
    track = program.tracks[0]
    closed = {c.date for c in program.closures}
    changes: dict[tuple[date, time], Change] = {}
    for _ in range(draw(st.integers(0, 4))):
        phase = draw(st.sampled_from(track.phases))
        slot = draw(st.sampled_from(phase.slots))
        day = start + timedelta(weeks=draw(st.integers(0, weeks - 1)))
        day += timedelta(days=(slot.day - day.weekday()) % 7)
        if day in closed:
            continue
        if draw(st.booleans()):
            change = Change(date=day, start=slot.start, cancelled=True)
        else:
            new_date = day + timedelta(days=draw(st.integers(-3, 3)))
            new_start = time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45])))
            which = draw(st.sampled_from(["date", "start", "minutes", "all"]))
            change = Change(
                date=day,
                start=slot.start,
                new_date=new_date if which in ("date", "all") else None,
                new_start=new_start if which in ("start", "all") else None,
                minutes=draw(st.integers(1, 240)) if which in ("minutes", "all") else None,
            )
        trial = {**changes, (day, slot.start): change}
        try:  # a move that lands on another session is refused by the program: skip it
            attrs.evolve(program, tracks=(attrs.evolve(track, changes=tuple(trial.values())),))
        except ValidationError:
            continue
        changes = trial
    return attrs.evolve(program, tracks=(attrs.evolve(track, changes=tuple(changes.values())),))


@st.composite
def schedules(draw: st.DrawFn) -> tuple[Program, tuple[Occurrence, ...]]:
    """A program's occurrences over a range (cancelled ones included), maybe a subset."""
    program = draw(programs(phases=draw(st.integers(1, 2))))
    zone = program.tracks[0].time_zone
    start = draw(st.one_of(start_dates, near_a_change(zone)))
    weeks = draw(st.integers(1, 16))
    program = draw(changed(program, start, weeks))
    occurrences = expand(program, "t", start=start, weeks=weeks, include_cancelled=True)
    staff_view = draw(st.booleans())  # some of them
    if occurrences and staff_view:
        keep = draw(st.lists(st.booleans(), min_size=len(occurrences), max_size=len(occurrences)))
        occurrences = tuple(o for o, k in zip(occurrences, keep, strict=True) if k)
    return program, occurrences


PROPERTY = settings(
    max_examples=int(os.environ.get("IOPCORE_CALENDAR_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- properties ----------------------------------------------------------------------------


@PROPERTY
@given(schedule=schedules())
def test_series_and_single_events_give_iopcores_instants_in_every_reader(
    schedule: tuple[Program, tuple[Occurrence, ...]], icaljs: IcalJs
) -> None:
    _, occurrences = schedule
    want = expected(occurrences)
    reminders = [timedelta(0), timedelta(minutes=15), timedelta(hours=2)]
    alarms = expected_alarms(occurrences, reminders)
    for recurring in (True, False):
        data = export(occurrences, recurring=recurring, now=NOW, reminders=reminders)
        check_all_readers(data, want, icaljs, alarms)


@PROPERTY
@given(first=schedules(), second=schedules())
def test_a_staff_view_across_zones_gives_the_same_instants(
    first: tuple[Program, tuple[Occurrence, ...]],
    second: tuple[Program, tuple[Occurrence, ...]],
    icaljs: IcalJs,
) -> None:
    other = attrs.evolve(second[0], name="other")
    occurrences = first[1] + tuple(
        attrs.evolve(o, program=other.name, id=o.id[::-1]) for o in second[1]
    )
    reminders = [timedelta(minutes=30)]
    data = export(
        occurrences, detail=True, programs=[first[0], other], reminders=reminders, now=NOW
    )
    alarms = expected_alarms(occurrences, reminders, shared=False)  # staff: every session
    check_all_readers(data, expected(occurrences), icaljs, alarms)


@PROPERTY
@given(schedule=schedules())
def test_outlook_reads_the_vtimezone_right_when_it_has_a_rule_pair(
    schedule: tuple[Program, tuple[Occurrence, ...]],
) -> None:
    _, occurrences = schedule
    if not occurrences:
        return
    zone = occurrences[0].start.tzinfo
    assert isinstance(zone, ZoneInfo)
    first = min(o.start for o in occurrences)
    last = max(o.end for o in occurrences)
    if not outlook_readable(zone_observances(zone.key, first, last)):
        # DST ends or begins for good within the range: no yearly rule pair can say so,
        # and the sessions are written in UTC instead
        assert b"TZID=" not in export(occurrences, now=NOW)
        return
    lines = vtimezone(zone.key, first, last)
    outlook = outlook_zone(lines)
    assert outlook.daylight is None or None not in (outlook.dst_onset, outlook.std_onset)
    for o in occurrences:
        for instant in (o.start, o.end):
            assert outlook.offset(instant) == instant.utcoffset(), (zone.key, instant)


# -- examples ------------------------------------------------------------------------------

#: Zones whose rules in 2021-2030 are one n-th weekday rule per kind. Not so: Chile ("first
#: Sunday on or after the 2nd"), Israel ("Friday before the last Sunday"), Morocco (Ramadan):
#: Outlook cannot hold those in one rule pair; RFC 5545 readers get them exactly.
REGULAR_ZONES = [z for z in ZONES if z not in ("America/Santiago",)] + [
    "Europe/Dublin",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Havana",
]


@pytest.mark.parametrize("zone", REGULAR_ZONES)
def test_outlook_reads_every_12_week_range_of_regular_zones_right(zone: str) -> None:
    tz = ZoneInfo(zone)
    for month in range(2021 * 12, 2030 * 12):
        first = datetime(month // 12, month % 12 + 1, 1, 18, tzinfo=tz)
        instants = [first + timedelta(days=d) for d in range(84)]
        lines = vtimezone(zone, instants[0], instants[-1])
        assert sum(line == "BEGIN:STANDARD" for line in lines) == 1, lines
        assert sum(line == "BEGIN:DAYLIGHT" for line in lines) <= 1, lines
        outlook = outlook_zone(lines)
        for instant in instants:
            local = instant.astimezone(UTC).astimezone(tz)
            assert outlook.offset(local) == local.utcoffset(), (zone, local)


TRICKY_ZONES = [
    *ZONES,
    "Africa/Casablanca",
    "Asia/Tehran",
    "America/Asuncion",
    "Africa/Cairo",
    "Asia/Amman",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Antarctica/Troll",
    "America/Mexico_City",
    "Europe/Dublin",
    "America/Nuuk",
    "Asia/Jerusalem",
]


def _wall_times(zone: str, year: int) -> list[datetime]:
    """Every 61 hours 7 minutes through a year, plus around each offset change."""
    tz = ZoneInfo(zone)
    out = []
    t = datetime(year, 1, 1, tzinfo=UTC)
    while t.year == year:
        out.append(t)
        t += timedelta(hours=61, minutes=7)
    for change in year_transitions(zone, year):
        out += [change.at + timedelta(minutes=m) for m in (-61, -1, 0, 1, 30, 61)]
    return [t.astimezone(tz) for t in out]


@pytest.mark.parametrize("zone", TRICKY_ZONES)
def test_vtimezone_gives_zoneinfo_offsets_in_every_reader(zone: str, icaljs: IcalJs) -> None:
    """One-minute events all over 2021-2030 land on the same instants in every reader."""
    program = load_program(EXAMPLES / "adult-evening.toml")
    for year in (2022, 2029):
        occurrences = [
            Occurrence(
                id=f"{i:016x}",
                program=program.name,
                track="evening",
                phase="core",
                session_type="group",
                start=t,
                end=(t.astimezone(UTC) + timedelta(minutes=1)).astimezone(t.tzinfo),
                slot_start=t,
                minutes=1,
                counts_toward_hours=True,
            )
            for i, t in enumerate(_wall_times(zone, year))
        ]
        data = export(occurrences, recurring=False, now=NOW)
        want = expected(occurrences)
        assert python_instants(own_zones(data)) == want, (zone, year)
        assert icaljs.instants(data) == want, (zone, year)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
@pytest.mark.parametrize("recurring", [True, False], ids=["series", "single"])
def test_example_programs_for_a_year_in_every_reader(
    path: Path, recurring: bool, icaljs: IcalJs
) -> None:
    program = load_program(path)
    for track in program.tracks:
        occurrences = expand(
            program, track.name, start=date(2027, 1, 4), weeks=52, include_cancelled=True
        )
        reminders = [timedelta(minutes=15), timedelta(hours=2), timedelta(days=1)]
        data = export(
            occurrences, recurring=recurring, now=NOW, programs=[program], reminders=reminders
        )
        check_all_readers(
            data, expected(occurrences), icaljs, expected_alarms(occurrences, reminders)
        )


def test_the_series_form_is_compact_and_uses_exdate_and_overrides() -> None:
    program = load_program(EXAMPLES / "adult-evening.toml")
    track = program.track("evening")
    cancel = Change(date=date(2027, 3, 16), start=time(18), cancelled=True)
    program = attrs.evolve(program, tracks=(attrs.evolve(track, changes=(*track.changes, cancel)),))
    occurrences = expand(
        program, "evening", start=date(2027, 1, 4), weeks=12, include_cancelled=True
    )
    events = plan_events(occurrences)
    assert len(events) == 6  # one series per weekly slot
    assert sum(len(e.exdates) for e in events) == 4  # MLK day and Presidents' day x 2
    overrides = [o for e in events for o in e.overrides]
    assert sorted((o.recurrence_id.date(), o.cancelled) for o in overrides) == [
        (date(2027, 3, 11), False),
        (date(2027, 3, 16), True),
    ]
    data = export(occurrences, now=NOW)
    assert data.count(b"RECURRENCE-ID;TZID=America/New_York:") == 2
    assert data.count(b"STATUS:CANCELLED") == 1


# -- the reader disagreements of issue 16 ---------------------------------------------------


def one_slot(zone: str, day: int, at: time, minutes: int) -> Program:
    """A program with one weekly session of ``minutes`` at local ``day`` ``at``."""
    return Program(
        name="one",
        session_types=(SessionType(name="group", kind=SessionKind.GROUP, minutes=minutes),),
        tracks=(
            Track(
                name="t",
                time_zone=zone,
                phases=(
                    Phase(
                        name="p0",
                        slots=(Slot(day=day, start=at, session_type="group", minutes=minutes),),
                        min_weeks=1,
                    ),
                ),
            ),
        ),
    )


@pytest.mark.parametrize(
    ("zone", "night", "minutes"),
    [
        ("America/New_York", date(2027, 11, 6), 120),  # ends 01:30, first of two
        ("Australia/Sydney", date(2027, 4, 3), 180),  # ends 02:30, first of two
        ("Australia/Lord_Howe", date(2027, 4, 3), 120),  # 30-minute fall-back: 01:30
        ("Europe/London", date(2027, 10, 30), 120),  # 01:30 BST, then GMT
        ("America/Santiago", date(2027, 4, 3), 60),  # change at midnight: 00:30 is doubled
    ],
)
def test_a_session_ending_in_a_repeated_hour_ends_alike_in_every_reader(
    zone: str, night: date, minutes: int, icaljs: IcalJs
) -> None:
    """Saturday 23:30 into a fall-back night: ical.js adds a rule's duration on the wall
    clock, so that instance is an override with exact times."""
    program = one_slot(zone, night.weekday(), time(23, 30), minutes)
    sessions = expand(program, "t", start=night - timedelta(weeks=3), weeks=6)
    crossing = [o for o in sessions if o.start.date() == night]
    assert len(crossing) == 1
    data = export(sessions, now=NOW)
    check_all_readers(data, expected(sessions), icaljs)
    assert vobject_instants(data) == expected(sessions)
    # never an instance the rule generates: an override, or a single event of its own
    events = plan_events(sessions)
    exact = [o.occurrence for e in events for o in e.overrides]
    exact += [e.occurrence for e in events if not e.recurring]
    assert crossing[0] in exact


FALL_BACK_ZONES = [
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "America/Santiago",
    "America/Asuncion",
]


@st.composite
def midnight_sessions(draw: st.DrawFn) -> tuple[Occurrence, ...]:
    """A weekly late-evening session, often crossing midnight, around an offset change."""
    zone = draw(st.sampled_from(FALL_BACK_ZONES))
    changes = [t for y in range(2022, 2030) for t in year_transitions(zone, y)]
    change = draw(st.sampled_from(changes))
    night = change.at.date() - timedelta(days=draw(st.integers(0, 2)))
    at = time(draw(st.integers(20, 23)), draw(st.sampled_from([0, 15, 30, 45])))
    program = one_slot(zone, night.weekday(), at, draw(st.integers(30, 300)))
    return expand(program, "t", start=night - timedelta(weeks=draw(st.integers(0, 4))), weeks=8)


@PROPERTY
@given(sessions=midnight_sessions())
def test_sessions_across_midnight_near_a_change_agree_in_every_reader(
    sessions: tuple[Occurrence, ...], icaljs: IcalJs
) -> None:
    for recurring in (True, False):
        check_all_readers(
            export(sessions, recurring=recurring, now=NOW), expected(sessions), icaljs
        )


UTC_PLUS_0 = [
    "Europe/London",
    "Europe/Lisbon",
    "Europe/Dublin",
    "Africa/Casablanca",
    "Antarctica/Troll",
    "Atlantic/Azores",
]


@pytest.mark.parametrize("zone", UTC_PLUS_0)
@pytest.mark.parametrize("start", [date(2027, 1, 4), date(2027, 6, 7), date(2029, 10, 1)])
def test_vobject_and_radicale_tell_utc_plus_0_zones_from_utc(zone: str, start: date) -> None:
    """vobject compares a VTIMEZONE with UTC over 2000-2019; one that starts in the export's
    year looks like UTC, and it would drop the zone (Radicale stores it so)."""
    program = one_slot(zone, 1, time(18), 60)
    sessions = expand(program, "t", start=start, weeks=30)
    data = export(sessions, now=NOW)
    assert vobject_instants(data) == expected(sessions)
    lines = vtimezone(zone, sessions[0].start, sessions[-1].end)
    text = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:x", *lines, "END:VCALENDAR"])
    tz = vobject.readOne(own_zones(text.encode()).decode()).vtimezone.gettzinfo()
    assert not vobject.icalendar.tzinfo_eq(tz, vobject.icalendar.utc)


@PROPERTY
@given(schedule=schedules())
def test_vobject_reads_series_of_random_programs(
    schedule: tuple[Program, tuple[Occurrence, ...]],
) -> None:
    _, occurrences = schedule
    for recurring in (True, False):
        data = export(occurrences, recurring=recurring, now=NOW)
        assert vobject_instants(data) == expected(occurrences)


@pytest.mark.parametrize(
    ("zone", "start", "weeks"),
    [
        ("America/Sao_Paulo", date(2018, 9, 3), 40),  # the last season: Nov 2018 - Feb 2019
        ("America/Sao_Paulo", date(2019, 1, 7), 52),
        ("America/Mexico_City", date(2022, 8, 1), 20),  # DST ended for good on 2022-10-30
        ("America/Mexico_City", date(2022, 1, 3), 52),
    ],
)
def test_a_zones_last_dst_season_is_right_in_outlook_and_every_reader(
    zone: str, start: date, weeks: int, icaljs: IcalJs
) -> None:
    """No Outlook rule pair says "this season and never again": such sessions are written
    in UTC (single events), which every reader, Outlook included, reads exactly."""
    program = one_slot(zone, 2, time(19), 90)
    sessions = expand(program, "t", start=start, weeks=weeks)
    observances = zone_observances(zone, sessions[0].start, sessions[-1].end)
    assert not outlook_readable(observances)
    data = export(sessions, now=NOW)
    assert b"TZID=" not in data
    assert b"RRULE" not in data
    check_all_readers(data, expected(sessions), icaljs)
    assert vobject_instants(data) == expected(sessions)


@pytest.mark.parametrize("name", ["Mon, Wed; Fri", "a\\b, c", "Family; shared, 2027"])
def test_calendar_names_with_commas_and_semicolons_read_cleanly(name: str) -> None:
    program = one_slot("Europe/Berlin", 1, time(18), 60)
    sessions = expand(program, "t", start=date(2027, 1, 4), weeks=2)
    data = export(sessions, calendar_name=name, now=NOW)
    cal = icalendar.Calendar.from_ical(data)
    assert str(cal["NAME"]) == name
    assert str(cal["X-WR-CALNAME"]) == name
    parsed = vobject.readOne(data.decode())
    assert parsed.contents["name"][0].value == name
    assert parsed.contents["x-wr-calname"][0].value == name
    node, dist = shutil.which("node"), icaljs_path()
    if node is None or dist is None:
        pytest.skip("ical.js is not installed")
    script = (
        "const ICAL = (await import(process.env.ICALJS_URL)).default;"
        f"const c = new ICAL.Component(ICAL.parse({json.dumps(data.decode())}));"
        "console.log(JSON.stringify([c.getFirstPropertyValue('name'),"
        " c.getFirstPropertyValue('x-wr-calname')]));"
    )
    shown = subprocess.run(
        [node, "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "ICALJS_URL": dist.as_uri()},
    ).stdout
    assert json.loads(shown) == [name, name]
