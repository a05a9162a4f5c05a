"""The ics exporter: file format, privacy by default, stable UIDs and SEQUENCE, golden files, CLI.

Readers' views of the instants are in tests/test_calendar_readers.py.
Regenerate the golden files with
``IOPCORE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_calendar.py``.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import attrs
import icalendar
import pytest
from hypothesis import given, settings

from iopcore import (
    Change,
    Enrollment,
    LevelOfCareChange,
    Occurrence,
    Participant,
    Program,
    Status,
    TransitionKind,
    create_plugin_host,
    expand,
    load_program,
    loads_program,
    open_storage,
)
from iopcore.app.cli import main
from iopcore.core.calendar import (
    MIN_UID_SECRET_LENGTH,
    event_uid,
    kept_reminders,
    plan_events,
    uid_secret_from_env,
)
from iopcore.core.errors import ValidationError
from iopcore_plugins.ics import REMOVED, export, fold, read_previous
from tests.strategies import programs, start_dates
from tests.test_calendar_readers import expected, expected_alarms, python_alarms, python_instants

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "programs"
EVENING = EXAMPLES / "adult-evening.toml"
GOLDEN = Path(__file__).resolve().parent / "golden"
NOW = datetime(2027, 1, 1, tzinfo=UTC)

#: Words that would tell a reader the calendar belongs to substance-use treatment (42 CFR
#: Part 2: identifying someone as a patient is a disclosure). Matched anywhere, any case.
SENSITIVE = [
    "treat",
    "therap",
    "iop",
    "intensive",
    "outpatient",
    "addict",
    "substance",
    "recover",
    "relapse",
    "group",
    "counsel",
    "rehab",
    "drug",
    "alcohol",
    "sober",
    "detox",
    "withdraw",
    "clinic",
    "patient",
    "session",
    "screen",
    "dbt",
    "cbt",
    "asam",
    "h0015",
]


def evening(weeks: int = 12, start: date = date(2027, 1, 4)) -> tuple[Occurrence, ...]:
    return expand(
        load_program(EVENING), "evening", start=start, weeks=weeks, include_cancelled=True
    )


def names_in(program: Program) -> set[str]:
    """Everything a program is called: program, title, tracks, phases, session types."""
    out = {program.name, program.title}
    for track in program.tracks:
        out.add(track.name)
        out |= {p.name for p in track.phases}
    out |= {t.name for t in program.session_types}
    out |= {t.kind.value for t in program.session_types}
    out |= {t.modality.value for t in program.session_types}
    return {n for n in out if n and n not in ("other",)}


def leaks(data: bytes, names: set[str]) -> list[str]:
    """Sensitive words (substrings) and program names (whole words) found in ``data``."""
    text = data.decode().replace("\r\n ", "")  # unfolded
    found = [w for w in SENSITIVE if w in text.lower()]
    for name in names:
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.IGNORECASE):
            found.append(name)
    return found


def events(data: bytes) -> list[icalendar.Event]:
    return [
        e
        for e in icalendar.Calendar.from_ical(data).walk("VEVENT")
        if isinstance(e, icalendar.Event)
    ]


# -- the plugin ----------------------------------------------------------------------------


def test_the_plugin_host_offers_the_ics_exporter() -> None:
    exporter = create_plugin_host().calendar_exporter("ics")
    assert (exporter.media_type, exporter.extension) == ("text/calendar", "ics")
    assert exporter.export(evening(1), now=NOW) == export(evening(1), now=NOW)


# -- format --------------------------------------------------------------------------------


def test_lines_end_in_crlf_and_fold_at_75_octets_without_splitting_characters() -> None:
    summary = "Rendez-vous 🗓️ à l'hôpital, salle 3; porte B\\C\n2e étage " * 3
    data = export(evening(2), summary=summary, location="Café ☕ " * 20, now=NOW)
    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    physical = data.split(b"\r\n")[:-1]
    assert max(len(line) for line in physical) <= 75
    for line in physical:
        line.decode("utf-8")  # no character split across lines
    assert any(line.startswith(b" ") for line in physical)
    for event in events(data):
        assert str(event["SUMMARY"]) == summary  # escaped and unescaped intact
        assert str(event["LOCATION"]) == "Café ☕ " * 20


@pytest.mark.parametrize(
    "text", ["a,b;c\\d\ne", "\\", "x" * 74 + "\\,", "é" * 80, "ab\\n" * 30, "🗓️" * 30]
)
def test_folding_keeps_escapes_and_characters_whole(text: str) -> None:
    data = export(evening(1), summary=text, now=NOW)
    assert {str(e["SUMMARY"]) for e in events(data)} == {text}
    for line in data.split(b"\r\n"):
        assert len(line) <= 75
        line.decode("utf-8")
        assert not re.search(rb"(?<!\\)(\\\\)*\\$", line), line  # no escape split by a fold


def test_fold_leaves_short_lines_alone() -> None:
    assert fold("SUMMARY:Appointment") == "SUMMARY:Appointment"
    assert fold("X:" + "a" * 73) == "X:" + "a" * 73
    assert fold("X:" + "a" * 74) == "X:" + "a" * 73 + "\r\n a"


def test_every_date_time_is_anchored_to_a_zone() -> None:
    program = load_program(EVENING)
    track = program.track("evening")
    ambiguous = Change(date=date(2027, 11, 4), start=time(18), new_date=date(2027, 11, 7),
                       new_start=time(1, 30))  # fmt: skip
    program = attrs.evolve(program, tracks=(attrs.evolve(track, changes=(ambiguous,)),))
    sessions = expand(program, "evening", start=date(2027, 9, 6), weeks=12, include_cancelled=True)
    for recurring in (True, False):
        data = export(sessions, recurring=recurring, now=NOW).decode()
        body = data[data.index("BEGIN:VEVENT") :]
        times = re.findall(r"^(DTSTART|DTEND|EXDATE|RECURRENCE-ID)([;:][^\r]*)\r$", body, re.M)
        assert times
        for _, value in times:
            assert value.startswith(";TZID=America/New_York:") or value.endswith("Z"), value
        assert all(u.endswith("Z") for u in re.findall(r"UNTIL=([0-9TZ]+)", data))
        assert "DTSTART:20271107T053000Z" in body  # 01:30 on the fall-back night, first time
        assert re.findall(r"^DTSTAMP:(.*)\r$", data, re.M) == ["20270101T000000Z"] * body.count(
            "BEGIN:VEVENT"
        )
        tzids = set(re.findall(r"TZID=([^:;]+)", body))
        assert tzids == set(re.findall(r"^TZID:(.*)\r$", data, re.M))
        for line in ("METHOD:PUBLISH", "VERSION:2.0", "NAME;VALUE=TEXT:Appointments"):
            assert f"\r\n{line}\r\n" in data
        assert "\r\nX-WR-CALNAME;VALUE=TEXT:Appointments\r\n" in data


def test_vtimezone_is_the_outlook_form_with_yearly_rules() -> None:
    data = export(evening(), now=NOW).decode()
    zone = data[data.index("BEGIN:VTIMEZONE") : data.index("END:VTIMEZONE")]
    assert "RDATE" not in zone
    assert zone.count("BEGIN:STANDARD") == zone.count("BEGIN:DAYLIGHT") == 1
    assert "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU" in zone
    assert "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU" in zone


def test_series_and_single_forms_cover_the_same_sessions() -> None:
    sessions = evening()
    series, single = export(sessions, now=NOW), export(sessions, recurring=False, now=NOW)
    assert series.count(b"BEGIN:VEVENT") == 7  # 6 weekly series + 1 moved session
    assert single.count(b"BEGIN:VEVENT") == len(sessions) == 68
    assert python_instants(series) == python_instants(single) == expected(sessions)


# -- privacy -------------------------------------------------------------------------------

SENSITIVE_PROGRAM = """
name = "relapse-prevention-iop"
title = "Substance Use Treatment: Intensive Outpatient (IOP)"
[session_types.detox-group]
kind = "group"
modality = "relapse-prevention"
minutes = 90
[session_types.sober-living]
kind = "life-skills"
minutes = 60
[session_types.urine-drug-screen]
kind = "screening"
minutes = 15
[tracks.recovery-evening]
time_zone = "Europe/London"
[[tracks.recovery-evening.phases]]
name = "addiction-stabilization"
min_weeks = 2
slots = [
  { day = "mon", start = "18:00", session_type = "detox-group" },
  { day = "tue", start = "18:00", session_type = "sober-living" },
  { day = "tue", start = "19:00", session_type = "urine-drug-screen" },
]
[[tracks.recovery-evening.phases]]
name = "alcohol-aftercare"
min_weeks = 2
max_weeks = 4
slots = [{ day = "thu", start = "18:00", session_type = "detox-group" }]
[[tracks.recovery-evening.changes]]
date = 2027-03-09
start = "18:00"
cancelled = true
reason = "counselor at a rehab conference"
[[closures]]
date = 2027-03-01
reason = "Therapy staff training"
"""


def example_exports() -> Iterator[tuple[str, bytes, set[str]]]:
    from iopcore import loads_program

    sources = [load_program(p) for p in sorted(EXAMPLES.glob("*.toml"))]
    sources.append(loads_program(SENSITIVE_PROGRAM, file="sensitive.toml"))
    for program in sources:
        for track in program.tracks:
            sessions = expand(
                program, track.name, start=date(2027, 1, 4), weeks=52, include_cancelled=True
            )
            for recurring in (True, False):
                data = export(sessions, recurring=recurring, reminders=[30], now=NOW)
                yield f"{program.name}/{track.name}/{recurring}", data, names_in(program)


def test_default_exports_carry_no_treatment_words_or_program_names() -> None:
    checked = 0
    for label, data, names in example_exports():
        assert leaks(data, names) == [], label
        for event in events(data):
            assert str(event["SUMMARY"]) == "Appointment"
            assert str(event["CLASS"]) == "PRIVATE"
            for field in ("DESCRIPTION", "LOCATION", "ATTENDEE", "ORGANIZER", "CATEGORIES"):
                assert field not in event, (label, field)
        checked += 1
    assert checked == 8


def test_the_word_scan_would_catch_a_leak() -> None:
    program = load_program(EVENING)
    detailed = export(evening(), detail=True, programs=[program], now=NOW)
    assert {"group", "relapse", "iop"} <= set(leaks(detailed, set()))
    assert "evening" in leaks(detailed, names_in(program))


@settings(max_examples=30, deadline=None)
@given(program=programs(phases=2), start=start_dates)
def test_random_programs_export_no_names(program: Program, start: date) -> None:
    sessions = expand(program, "t", start=start, weeks=8, include_cancelled=True)
    names = {n for n in names_in(program) if len(n) > 2}  # "t", "p0": too short to scan for
    for recurring in (True, False):
        assert leaks(export(sessions, recurring=recurring, now=NOW), names) == []


def test_location_and_detail_are_opt_in() -> None:
    program = load_program(EVENING)
    sessions = evening(2)
    located = events(export(sessions, location="Suite 210, 5 Main St", now=NOW))
    assert {str(e["LOCATION"]) for e in located} == {"Suite 210, 5 Main St"}
    detailed = events(export(sessions, detail=True, programs=[program], now=NOW))
    summaries = {str(e["SUMMARY"]) for e in detailed}
    assert summaries == {
        "group (core)",
        "education (core)",
        "life-skills (core)",
        "relapse-prevention (core)",
        "individual (core)",
    }
    description = str(next(e for e in detailed if "relapse" in str(e["SUMMARY"]))["DESCRIPTION"])
    assert description.splitlines() == [
        "Session: relapse-prevention",
        "Kind: group; topic: relapse-prevention",
        "Program: Adult evening IOP",
        "Track: evening",
        "Phase: core",
    ]


def test_reminders_are_generic_and_skip_cancelled_sessions() -> None:
    sessions = list(evening(2))
    sessions[0] = attrs.evolve(sessions[0], status=Status.CANCELLED)  # Monday 18:00
    data = export(sessions, recurring=False, reminders=[timedelta(hours=1), 15, 1500], now=NOW)
    reminded = []
    for event in events(data):
        alarms = event.walk("VALARM")
        if event.get("STATUS") == "CANCELLED" or not alarms:
            assert alarms == []
            continue
        reminded.append(f"{event.decoded('DTSTART'):%a %H:%M}")
        assert [a["TRIGGER"].to_ical() for a in alarms] == [b"-PT15M", b"-PT1H", b"-P1DT1H"]
        assert {str(a["DESCRIPTION"]) for a in alarms} == {"Appointment"}
        assert {str(a["ACTION"]) for a in alarms} == {"DISPLAY"}
    # the first session of each day; on the first Monday that is 19:30, as 18:00 is cancelled
    first_week, second_week = reminded[:3], reminded[3:]
    assert first_week == ["Mon 19:30", "Tue 18:00", "Thu 18:00"]
    assert second_week == ["Mon 18:00", "Tue 18:00", "Thu 18:00"]


def alarm_times(data: bytes) -> list[datetime]:
    """When every reminder of every instance goes off (UTC)."""
    return sorted(start - r for (start, _, kept), n in python_alarms(data).items() for r in kept
                  for _ in range(n))  # fmt: skip


@pytest.mark.parametrize("recurring", [True, False], ids=["series", "single"])
def test_back_to_back_sessions_share_one_reminder(recurring: bool) -> None:
    """Monday 18:00-19:30 + 19:30-21:00, Thursday 18:00-20:00 + 20:00-21:00: a two-hour
    reminder of the second session would go off at the start of the first."""
    sessions = evening(12)
    data = export(sessions, recurring=recurring, reminders=[120], now=NOW)
    assert python_alarms(data) == expected_alarms(sessions, [timedelta(hours=2)])
    busy = [(o.start.astimezone(UTC), o.end.astimezone(UTC)) for o in sessions
            if o.status is not Status.CANCELLED]  # fmt: skip
    rings = alarm_times(data)
    assert not [t for t in rings for start, end in busy if start <= t < end]
    days = {o.start.date() for o in sessions if o.status is not Status.CANCELLED}
    assert len(rings) == len(days) == 35  # one reminder a session day
    # 2027-03-11: the Thursday 18:00 session moved to Wednesday, so 20:00 is first that day
    assert datetime(2027, 3, 11, 23, tzinfo=UTC) in rings  # 18:00 EST
    if recurring:  # an override of the 20:00 series with the same times, with a reminder
        override = [
            e
            for e in events(data)
            if e.get("RECURRENCE-ID") is not None
            and e.decoded("RECURRENCE-ID").date() == date(2027, 3, 11)
            and e.decoded("DTSTART").hour == 20
        ]
        assert len(override) == 1
        assert [a["TRIGGER"].to_ical() for a in override[0].walk("VALARM")] == [b"-PT2H"]
        # the first series of each day, 2027-03-11 20:00 and the moved 18:00 session
        assert data.count(b"BEGIN:VALARM") == 3 + 2
    # the staff view reminds of every session
    staff = export(sessions, recurring=recurring, reminders=[120], detail=True, now=NOW)
    assert len(alarm_times(staff)) == sum(o.status is not Status.CANCELLED for o in sessions)


GAPS = """
name = "gaps"
[session_types.a]
kind = "group"
minutes = 60
[session_types.b]
kind = "group"
minutes = 90
[tracks.t]
time_zone = "America/Chicago"
[[tracks.t.phases]]
name = "p"
min_weeks = 1
slots = [
  { day = "mon", start = "09:00", session_type = "a" },
  { day = "mon", start = "10:00", session_type = "a" },
  { day = "mon", start = "14:00", session_type = "a" },
  { day = "tue", start = "18:00", session_type = "b" },
  { day = "tue", start = "19:45", session_type = "a" },
]
"""


def test_a_session_keeps_the_reminders_that_ring_after_the_days_earlier_sessions() -> None:
    sessions = expand(loads_program(GAPS, file="gaps.toml"), "t", start=date(2027, 1, 4), weeks=1)
    reminders = [timedelta(minutes=15), timedelta(hours=1), timedelta(days=1)]
    kept = kept_reminders(sessions, reminders)
    assert [(f"{o.start:%a %H:%M}", [r.total_seconds() / 60 for r in kept[o.id]])
            for o in sessions] == [
        ("Mon 09:00", [15, 60, 1440]),
        ("Mon 10:00", []),  # straight after 09:00-10:00
        ("Mon 14:00", [15, 60]),  # the day-before reminder came with 09:00's
        ("Tue 18:00", [15, 60, 1440]),  # a new day
        ("Tue 19:45", []),  # 15 minutes before is when 18:00-19:30 ends: still there
    ]  # fmt: skip
    data = export(sessions, reminders=reminders, now=NOW)
    assert python_alarms(data) == expected_alarms(sessions, reminders)
    assert [e.alarms for e in plan_events(sessions, reminders=reminders, share_reminders=False)
            ] == [tuple(reminders)] * 5  # fmt: skip


# -- identity and updates ------------------------------------------------------------------


def test_uids_are_stable_opaque_and_keyed() -> None:
    first = events(export(evening(), now=NOW))
    again = events(export(evening(), now=NOW + timedelta(days=9)))
    assert [str(e["UID"]) for e in first] == [str(e["UID"]) for e in again]
    assert all(re.fullmatch(r"[0-9a-f]{32}", str(e["UID"])) for e in first)
    keyed = events(export(evening(), uid_secret="s3cret", uid_domain="example.org", now=NOW))
    assert all(str(e["UID"]).endswith("@example.org") for e in keyed)
    assert not {str(e["UID"]) for e in keyed} & {str(e["UID"]) + "@example.org" for e in first}
    assert event_uid("k", b"a") != event_uid("k", b"b")


def test_uid_secret_from_env_warns_when_the_uids_are_guessable() -> None:
    long_enough = "x" * MIN_UID_SECRET_LENGTH
    assert uid_secret_from_env({"IOPCORE_UID_SECRET": long_enough}) == (long_enough, None)
    for env in ({}, {"IOPCORE_UID_SECRET": ""}, {"IOPCORE_UID_SECRET": "  "}):
        secret, warning = uid_secret_from_env(env)
        assert secret == env.get("IOPCORE_UID_SECRET", "")
        assert warning is not None
        assert warning.startswith("IOPCORE_UID_SECRET is not set: ")
        assert "keep it" in warning
        assert "\n" not in warning
    secret, warning = uid_secret_from_env({"IOPCORE_UID_SECRET": "short"})
    assert secret == "short"  # still used: UIDs must not change under the clinic's feet
    assert warning is not None
    assert "shorter than 16 characters" in warning


def test_without_a_secret_a_uid_confirms_a_guessed_program() -> None:
    """Why the secret matters: the public program file is enough to recompute the UIDs."""
    guess = {event_uid(e.key) for e in plan_events(evening())}
    plain = {str(e["UID"]) for e in events(export(evening(), now=NOW))}
    keyed = {str(e["UID"]) for e in events(export(evening(), uid_secret=SECRET, now=NOW))}
    assert plain <= guess
    assert not keyed & guess


def test_a_later_start_keeps_series_uids_and_sessions_keep_theirs() -> None:
    """Series are named by their slot, not their dates; single events by the session id."""
    early = {str(e["UID"]) for e in events(export(evening(12), now=NOW)) if "RRULE" in e}
    late = evening(12, start=date(2027, 1, 11))
    assert early == {str(e["UID"]) for e in events(export(late, now=NOW)) if "RRULE" in e}
    singles = {str(e["UID"]) for e in events(export(late, recurring=False, now=NOW))}
    assert singles == {event_uid(f"o\x1f{o.id}") for o in late}


def test_the_same_inputs_give_the_same_bytes() -> None:
    assert export(evening(), now=NOW) == export(evening(), now=NOW)
    assert export(evening(), now=NOW) != export(evening(), now=NOW + timedelta(seconds=1))


def sequences(data: bytes) -> dict[tuple[str, str], int]:
    """SEQUENCE by (UID, RECURRENCE-ID as written, or "")."""
    out = {}
    for e in events(data):
        rid = e.get("RECURRENCE-ID")
        out[str(e["UID"]), "" if rid is None else rid.dt.strftime("%Y%m%dT%H%M%S")] = seq(e)
    return out


def seq(event: icalendar.Event) -> int:
    return int(str(event["SEQUENCE"]))


def test_sequence_counts_changes_since_the_previous_export() -> None:
    program = load_program(EVENING)
    v0 = export(evening(), now=NOW)
    assert set(sequences(v0).values()) == {0}
    same = export(evening(), now=NOW + timedelta(days=1), previous=v0)
    assert sequences(same) == sequences(v0)
    # a Tuesday session is cancelled: that series (master and overrides) goes to 1
    track = program.track("evening")
    cancel = Change(date=date(2027, 2, 2), start=time(18), cancelled=True)
    changed = attrs.evolve(program, tracks=(attrs.evolve(track, changes=(*track.changes, cancel)),))
    sessions = expand(changed, "evening", start=date(2027, 1, 4), weeks=12, include_cancelled=True)
    v1 = export(sessions, now=NOW + timedelta(days=2), previous=same)
    bumped = {uid for (uid, _), seq in sequences(v1).items() if seq == 1}
    assert len(bumped) == 1
    assert sequences(v1)[next(iter(bumped)), "20270202T180000"] == 1
    assert {seq for (uid, _), seq in sequences(v1).items() if uid not in bumped} == {0}
    v2 = export(sessions, now=NOW + timedelta(days=3), previous=v1)
    assert sequences(v2) == sequences(v1)


@pytest.mark.parametrize("recurring", [True, False], ids=["series", "single"])
def test_an_event_no_longer_exported_comes_back_cancelled_once(recurring: bool) -> None:
    old = evening(2)
    renamed = attrs.evolve(load_program(EVENING), name="adult-evening-2")  # say, a transfer
    new = expand(renamed, "evening", start=date(2027, 1, 4), weeks=2, include_cancelled=True)

    def uids(data: bytes, cancelled: bool | None = None) -> set[str]:
        return {str(e["UID"]) for e in events(data)
                if cancelled is None or (e.get("STATUS") == "CANCELLED") == cancelled}  # fmt: skip

    v0 = export(old, recurring=recurring, now=NOW)
    v1 = export(new, recurring=recurring, now=NOW, previous=v0)
    assert uids(v1, cancelled=True) == uids(v0)  # announced cancelled, at SEQUENCE 1
    assert {seq(e) for e in events(v1) if str(e["UID"]) in uids(v0)} == {1}
    assert all(str(e["SUMMARY"]) == "Appointment" for e in events(v1))
    gone = Counter({(start, end, True): n for (start, end, _), n in expected(old).items()})
    assert python_instants(v1) == expected(new) + gone  # readers see them cancelled
    # the next export does not announce them again, nor the one after
    v2 = export(new, recurring=recurring, now=NOW, previous=v1)
    assert uids(v2) == uids(v1, cancelled=False)
    assert python_instants(v2) == expected(new)
    assert export(new, recurring=recurring, now=NOW, previous=v2) == v2
    # but keeps their SEQUENCE: exported again (say, a readmission), they outrank the
    # cancelled copies in calendar apps
    withdrawn = re.findall(r"^X-REMOVED-UID;X-SEQUENCE=(\d+):(\w+)\r$", v2.decode(), re.M)
    assert sorted(uid for _, uid in withdrawn) == sorted(uids(v0))
    assert {sequence for sequence, _ in withdrawn} == {"1"}
    v3 = export(old, recurring=recurring, now=NOW, previous=v2)
    assert {seq(e) for e in events(v3) if str(e["UID"]) in uids(v0)} == {2}
    assert uids(v3, cancelled=True) == uids(v2)  # and now the others are withdrawn
    assert REMOVED.encode() not in v3


def test_three_exports_announce_a_withdrawn_event_once() -> None:
    """The same withdrawn events must not come back cancelled in export after export."""
    v0 = export(evening(2), recurring=False, now=NOW)
    v1 = export(evening(1), recurring=False, now=NOW, previous=v0)
    v2 = export(evening(1), recurring=False, now=NOW, previous=v1)
    v3 = export(evening(1), recurring=False, now=NOW, previous=v2)
    withdrawn = len(evening(2)) - len(evening(1))
    assert [v.count(b"STATUS:CANCELLED") for v in (v1, v2, v3)] == [withdrawn, 0, 0]
    assert python_instants(v2) == python_instants(v3) == expected(evening(1))
    assert v3 == v2
    assert [leaks(v, names_in(load_program(EVENING))) for v in (v1, v2)] == [[], []]


def test_previous_must_be_a_calendar() -> None:
    with pytest.raises(ValidationError, match="not an iCalendar file"):
        export(evening(1), previous=b"hello")
    events_by_uid, zones = read_previous(export(evening(1), now=NOW))
    assert set(zones) == {"America/New_York"}
    assert len(events_by_uid) == 6


def test_a_dropped_cancelled_session_is_not_announced_again() -> None:
    """A session exported as cancelled is already cancelled in the calendar app."""
    sessions = list(evening(1))
    sessions[-1] = attrs.evolve(sessions[-1], status=Status.CANCELLED)
    before = export(sessions, recurring=False, now=NOW)
    after = export(sessions[:-1], recurring=False, now=NOW, previous=before)
    assert b"STATUS:CANCELLED" not in after
    assert after.count(REMOVED.encode()) == 1
    previous, _ = read_previous(after)
    assert [(p.sequence, p.blocks, p.cancelled) for p in previous.values() if not p.blocks] == [
        (0, (), True)
    ]


# -- options and inputs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sumary": "x"}, 'no option .sumary. .did you mean "summary"'),
        ({"summary": ""}, "summary must not be empty"),
        ({"summary": "a\x07b"}, "without control characters"),
        ({"reminders": [-5]}, "from 0 to 4 weeks"),
        ({"now": datetime(2027, 1, 1)}, "aware datetime"),
        ({"uid_domain": "a b"}, "domain name"),
    ],
)
def test_bad_options_are_clear_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        export(evening(1), **options)


def test_occurrences_need_a_zone_and_one_version_each() -> None:
    first = evening(1)[0]
    naive_zone = attrs.evolve(first, start=first.start.astimezone(UTC).replace(tzinfo=None))
    with pytest.raises(ValidationError, match="not in an IANA time zone"):
        export([naive_zone])
    with pytest.raises(ValidationError, match="given twice with different details"):
        export([first, attrs.evolve(first, status=Status.CANCELLED)])
    assert export([first, first], now=NOW) == export([first], now=NOW)
    utc = attrs.evolve(
        first,
        start=first.start.astimezone(UTC),
        end=first.end.astimezone(UTC),
        slot_start=first.slot_start.astimezone(UTC),
    )
    assert b"TZID=UTC:" in export([utc], now=NOW)


def test_plan_events_for_an_empty_list() -> None:
    assert plan_events([]) == ()
    data = export([], now=NOW)
    assert b"BEGIN:VEVENT" not in data
    assert b"BEGIN:VTIMEZONE" not in data


# -- golden files --------------------------------------------------------------------------


def golden_cases() -> dict[str, bytes]:
    program = load_program(EVENING)
    track = program.track("evening")
    cancel = Change(date=date(2027, 3, 16), start=time(19, 30), cancelled=True)
    program = attrs.evolve(program, tracks=(attrs.evolve(track, changes=(*track.changes, cancel)),))
    sessions = expand(program, "evening", start=date(2027, 2, 1), weeks=8, include_cancelled=True)
    day = load_program(EXAMPLES / "adult-day.toml")
    week = expand(day, "day", start=date(2027, 3, 8), weeks=1, include_cancelled=True)
    staff = [o for o in week if o.session_type in ("group", "dbt-skills")]
    return {
        "evening-series.ics": export(sessions, reminders=[30], now=NOW),
        "evening-single.ics": export(sessions, recurring=False, now=NOW),
        "day-staff-week.ics": export(
            staff,
            detail=True,
            programs=[day],
            calendar_name="Group sessions, week of 8 March",
            location="Room 2",
            now=NOW,
        ),
    }


@pytest.mark.parametrize("name", sorted(golden_cases()))
def test_golden_files(name: str) -> None:
    data = golden_cases()[name]
    path = GOLDEN / name
    if os.environ.get("IOPCORE_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    assert data == path.read_bytes(), f"{name} changed; see the module docstring to regenerate"


# -- CLI -----------------------------------------------------------------------------------


#: The clinic secret the CLI tests run with (a test without one removes it).
SECRET = "a test clinic secret, long enough"


@pytest.fixture(autouse=True)
def clinic_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLI runs have a UID secret, as a clinic's must; the library never reads it."""
    monkeypatch.setenv("IOPCORE_UID_SECRET", SECRET)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


SCHEDULE = ("schedule", str(EVENING), "--track", "evening", "--start", "2027-01-04")


def test_cli_schedule_writes_ics(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "evening.ics"
    stamp = ("--dtstamp", "2027-01-01T00:00:00Z")
    code, _, err = run(capsys, *SCHEDULE, "--format", "ics", "-o", str(out), *stamp)
    assert (code, err) == (0, f"wrote 68 sessions to {out}\n")
    assert out.read_bytes() == export(
        evening(), now=NOW, programs=[load_program(EVENING)], uid_secret=SECRET
    )
    # again into the same file: it is the previous export, nothing changed
    first = out.read_bytes()
    code, _, _ = run(capsys, *SCHEDULE, "--format", "ics", "-o", str(out), *stamp)
    assert (code, out.read_bytes()) == (0, first)
    code, _, _ = run(capsys, *SCHEDULE, "--format", "ics", "-o", str(out), *stamp, "--weeks", "11")
    assert code == 0
    assert max(sequences(out.read_bytes()).values()) == 1


def test_cli_schedule_ics_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        *SCHEDULE,
        "--weeks",
        "1",
        "--format",
        "ics",
        "--expanded",
        "--summary",
        "Meeting",
        "--calendar-name",
        "Mine",
        "--location",
        "Room 1",
        "--reminder",
        "10",
        "--reminder",
        "60",
    )
    assert code == 0
    cal = icalendar.Calendar.from_ical(out)
    assert str(cal["X-WR-CALNAME"]) == "Mine"
    found = events(out.encode())
    assert len(found) == 6
    assert {(str(e["SUMMARY"]), str(e["LOCATION"])) for e in found} == {("Meeting", "Room 1")}
    # each day's first session reminds of the day's back-to-back sessions
    assert [len(e.walk("VALARM")) for e in found] == [2, 0, 2, 0, 2, 0]


def test_cli_source_date_epoch_and_uid_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(NOW.timestamp())))
    monkeypatch.delenv("IOPCORE_UID_SECRET")
    _, plain, _ = run(capsys, *SCHEDULE, "--weeks", "1", "--format", "ics")
    assert "DTSTAMP:20270101T000000Z" in plain
    assert plain.encode() == export(evening(1), now=NOW, programs=[load_program(EVENING)])
    monkeypatch.setenv("IOPCORE_UID_SECRET", "clinic secret")
    _, keyed, _ = run(capsys, *SCHEDULE, "--weeks", "1", "--format", "ics")
    assert re.findall("UID:(.*)", plain) != re.findall("UID:(.*)", keyed)
    assert keyed.encode() == export(
        evening(1), now=NOW, programs=[load_program(EVENING)], uid_secret="clinic secret"
    )


@pytest.mark.parametrize("secret", [None, "short"])
def test_cli_schedule_warns_without_a_strong_uid_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, secret: str | None
) -> None:
    if secret is None:
        monkeypatch.delenv("IOPCORE_UID_SECRET")
    else:
        monkeypatch.setenv("IOPCORE_UID_SECRET", secret)
    code, out, err = run(capsys, *SCHEDULE, "--weeks", "1", "--format", "ics")
    assert code == 0
    assert out.startswith("BEGIN:VCALENDAR")
    _, warning = uid_secret_from_env({} if secret is None else {"IOPCORE_UID_SECRET": secret})
    assert err == f"iopcore: warning: {warning}\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--summary", "x"), "--summary applies to calendars only; add --format ics"),
        (("--format", "ics", "--reminder", "soon"), "'soon' is not a whole number of minutes"),
        (("--format", "ics", "--dtstamp", "2027-01-01"), "is not a time with a UTC offset"),
        (("--format", "ics", "--previous", "/nonexistent.ics"), "cannot read"),
        (("--format", "ics", "--summary", ""), "summary must not be empty"),
    ],
)
def test_cli_calendar_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    code, out, err = run(capsys, *SCHEDULE, *argv)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert message in err


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    program = load_program(EVENING)
    with open_storage(url, actor="test") as store:
        store.save_program(program)
        store.add_participant(Participant(id="P-0001"))
        store.add_participant(Participant(id="P-0002"))
        store.enroll(
            Enrollment(
                id="E-0001",
                participant_id="P-0001",
                program=program.name,
                track="evening",
                start=date(2027, 1, 4),
            )
        )
    return url


def test_cli_export_from_a_store_is_audited(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IOPCORE_UID_SECRET", "a-long-clinic-secret-for-tests")
    out = tmp_path / "P-0001.ics"
    code, _, err = run(
        capsys, "export", "--store", store_url, "--participant", "P-0001", "-o", str(out),
        "--dtstamp", "2027-01-01T00:00:00Z",
    )  # fmt: skip
    assert (code, err) == (0, f"wrote 68 sessions to {out}\n")
    assert python_instants(out.read_bytes()) == expected(evening(12))
    monkeypatch.delenv("IOPCORE_UID_SECRET")
    code, _, err = run(capsys, "export", "--store", store_url, "--participant", "P-0001",
                       "-o", str(tmp_path / "plain.ics"))  # fmt: skip
    assert code == 0
    warned = [line for line in err.splitlines() if line.startswith("iopcore: warning: ")]
    assert len(warned) == 1  # once, before or after the "wrote" line
    assert warned[0].startswith("iopcore: warning: IOPCORE_UID_SECRET is not set")
    assert leaks(out.read_bytes(), names_in(load_program(EVENING)) | {"P-0001", "E-0001"}) == []
    with open_storage(store_url) as store:
        exports = [e for e in store.audit_log() if e.change == "export"]
    assert [(e.kind, e.key, e.actor) for e in exports] == [
        ("calendar", "P-0001", "iopcore export")
    ] * 2


def test_cli_export_stops_at_a_discharge(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, store_url: str
) -> None:
    with open_storage(store_url, actor="test") as store:
        store.append_level_of_care(
            LevelOfCareChange(
                enrollment_id="E-0001",
                seq=1,
                kind=TransitionKind.DISCHARGE,
                effective=date(2027, 2, 1),
                level_of_care="2.1",
            )
        )
    code, out, _ = run(capsys, "export", "--store", store_url, "--participant", "P-0001")
    assert code == 0
    want = expected(o for o in evening(12) if o.slot_start.date() < date(2027, 2, 1))
    assert python_instants(out.encode()) == want


@pytest.mark.parametrize(
    ("participant", "message"),
    [("P-0002", "has no enrollment"), ("P-9999", "P-9999")],
)
def test_cli_export_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], store_url: str, participant: str, message: str
) -> None:
    code, out, err = run(capsys, "export", "--store", store_url, "--participant", participant)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert message in err
    with open_storage(store_url) as store:
        assert [e for e in store.audit_log() if e.change == "export"] == []


def test_cli_export_needs_a_known_store(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "export", "--store", "nosuch://x", "--participant", "P-1")
    assert code == 2
    assert "unknown scheme" in err


# -- the guide -----------------------------------------------------------------------------

GUIDE = ROOT / "docs" / "calendars.md"


def test_the_calendar_guide_prints_what_it_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each block runs on its own, as tests/test_docs.py runs it; here the output counts."""
    blocks = re.findall(r"^```python\n(.*?)^```", GUIDE.read_text(), re.S | re.M)
    assert len(blocks) >= 6
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, str(GUIDE), "exec"), {"__name__": "calendars_md"})
    assert (tmp_path / "participant.ics").read_bytes().startswith(b"BEGIN:VCALENDAR\r\n")
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "text/calendar 7 events for 68 sessions"
    assert printed[1:] == [
        "7 68",
        "4 1",
        "3",
        "6 3 6",  # sessions; reminders for the participant (one a day), for staff
        "[]",
        "8 8",  # 7 series and overrides + 2027-03-11 20:00, first of its day, with a reminder
        "5",
        "True",
        "'' IOPCORE_UID_SECRET is not set",
        "2 1",
        "True 0",  # withdrawn events announced cancelled once, not again
        "8 events; False",  # 7 program series + 1 aftercare series; nothing says "support"
        "True True",  # a feed has refresh hints and events
        "None",  # a revoked token finds nothing
    ]


# -- UIDs per participant and enrollment (issue 16) -------------------------------------------


def uids(data: bytes) -> set[str]:
    return set(re.findall(r"\r\nUID:([^\r]+)", data.decode()))


def test_uid_scopes_keep_peoples_calendars_apart_and_stable() -> None:
    sessions = evening(12)
    secret = "a-long-clinic-secret-for-tests"
    mine = export(sessions, uid_scope="P-1/E-1", uid_secret=secret, now=NOW)
    theirs = export(sessions, uid_scope="P-2/E-2", uid_secret=secret, now=NOW)
    assert uids(mine)
    assert uids(theirs)
    assert not uids(mine) & uids(theirs)
    assert export(sessions, uid_scope="P-1/E-1", uid_secret=secret, now=NOW) == mine
    assert b"P-1" not in mine
    assert b"E-1" not in mine
    by_id = {o.id: ("P-1/E-1" if i % 2 else "P-1/E-2") for i, o in enumerate(sessions)}
    split = export(sessions, uid_scope=by_id, now=NOW)
    assert python_instants(split) == expected(sessions)


def test_two_participants_aftercare_meetings_never_share_a_uid(tmp_path: Path) -> None:
    """Same program, same aftercare item id, different places: a family calendar that
    imports both keeps both (UIDs differ), and a re-export keeps each one's UIDs."""
    from iopcore.clinic import export_calendar
    from iopcore.core.aftercare import AftercareItem, AftercarePlan

    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    program = load_program(EVENING)
    with open_storage(url, actor="test") as store:
        store.save_program(program)
        for n, place in ((1, "Library room 2"), (2, "Church hall")):
            store.add_participant(Participant(id=f"P-{n}"))
            store.enroll(
                Enrollment(
                    id=f"E-{n}",
                    participant_id=f"P-{n}",
                    program=program.name,
                    track="evening",
                    start=date(2027, 1, 4),
                )
            )
            item = AftercareItem(
                id="AC-1",
                kind="support-group",
                title="group",
                owner="peer",
                starts=date(2027, 6, 1),
                weekday="tue",
                at=time(19),
                time_zone="America/New_York",
                place=place,
            )
            store.save_aftercare(AftercarePlan(enrollment_id=f"E-{n}", items=(item,)))
        first = export_calendar(store, "P-1", as_of=date(2027, 1, 4), now=NOW)
        second = export_calendar(store, "P-2", as_of=date(2027, 1, 4), now=NOW)
        again = export_calendar(store, "P-1", as_of=date(2027, 1, 4), now=NOW)
    assert len(uids(first)) > 1
    assert not uids(first) & uids(second)
    assert again == first
