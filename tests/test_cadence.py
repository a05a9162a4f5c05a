from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iopcore import Change, Slot, ValidationError, Weekday, localize, zone
from iopcore.core.cadence import parse_time
from tests.strategies import ZONES


@pytest.mark.parametrize(
    ("text", "expected"),
    [("mon", Weekday.MON), ("Monday", Weekday.MON), ("SUN", Weekday.SUN), (3, Weekday.THU)],
)
def test_weekday_parse_accepts_short_and_full_names(text: str | int, expected: Weekday) -> None:
    assert Weekday.parse(text) is expected


@pytest.mark.parametrize("bad", ["mo", "mondy", "funday", 7, -1, True])
def test_weekday_parse_rejects_with_the_valid_names(bad: str | int) -> None:
    with pytest.raises(ValidationError, match="mon, tue, wed"):
        Weekday.parse(bad)


def test_unknown_zone_suggests_a_close_name() -> None:
    with pytest.raises(ValidationError, match='did you mean "America/New_York"'):
        zone("America/New_Yrok")


@pytest.mark.parametrize("bad", ["", "/etc/passwd", "../x", "Not/AZone"])
def test_bad_zone_names_are_validation_errors(bad: str) -> None:
    with pytest.raises(ValidationError, match="is not an IANA time zone"):
        zone(bad)


def test_gap_time_moves_forward_by_the_gap() -> None:
    ny = zone("America/New_York")
    got = localize(date(2027, 3, 14), time(2, 30), ny)
    assert got.replace(tzinfo=None) == datetime(2027, 3, 14, 3, 30)
    assert got.utcoffset() == timedelta(hours=-4)


def test_fold_time_takes_the_first_instant() -> None:
    ny = zone("America/New_York")
    got = localize(date(2027, 11, 7), time(1, 30), ny)
    assert got.astimezone(UTC) == datetime(2027, 11, 7, 5, 30, tzinfo=UTC)


def test_southern_hemisphere_gap_and_fold() -> None:
    syd = zone("Australia/Sydney")
    # Sydney springs forward 2027-10-03 02:00 -> 03:00 and falls back 2027-04-04 03:00 -> 02:00.
    assert localize(date(2027, 10, 3), time(2, 15), syd).hour == 3
    first = localize(date(2027, 4, 4), time(2, 30), syd)
    assert first.utcoffset() == timedelta(hours=11)


@given(
    st.sampled_from(ZONES),
    st.dates(date(2020, 1, 1), date(2030, 12, 31)),
    st.times().map(lambda t: t.replace(second=0, microsecond=0)),
)
def test_localize_is_the_wall_time_whenever_it_exists(name: str, day: date, at: time) -> None:
    tz = zone(name)
    got = localize(day, at, tz)
    naive = datetime.combine(day, at)
    exists = naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive
    if exists:
        assert got.replace(tzinfo=None) == naive
        # the first of two instants when ambiguous
        assert got.astimezone(UTC) <= naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    else:
        gap = got.replace(tzinfo=None) - naive
        assert timedelta(0) < gap <= timedelta(hours=2)
    # the result always round-trips: it is a real instant in the zone
    assert got.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == got.replace(tzinfo=None)


@pytest.mark.parametrize("bad", ["25:00", "18:60", "6pm", "18", "1800", "18:0", " 8:00"])
def test_parse_time_is_strict(bad: str) -> None:
    with pytest.raises(ValidationError, match=r"is not a time \(HH:MM"):
        parse_time(bad)


def test_slot_rejects_seconds_and_bad_minutes() -> None:
    with pytest.raises(ValidationError, match="whole minutes"):
        Slot(day="mon", start=time(18, 0, 30), session_type="group")
    with pytest.raises(ValidationError, match="whole number of minutes from 1 to 1440"):
        Slot(day="mon", start=time(18), session_type="group", minutes=0)


def test_change_must_cancel_or_move_not_both() -> None:
    with pytest.raises(ValidationError, match="neither"):
        Change(date=date(2027, 1, 4), start=time(18))
    with pytest.raises(ValidationError, match="both"):
        Change(date=date(2027, 1, 4), start=time(18), cancelled=True, new_start=time(19))
    assert Change(date=date(2027, 1, 4), start=time(18), minutes=60).minutes == 60


# -- exact messages and edges (mutation testing found these unguarded) --------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("24:00", "'24:00' is not a time (HH:MM, 24-hour: hours run 00-23)"),
        ("23:60", "'23:60' is not a time (HH:MM, 24-hour: minutes run 00-59)"),
        ("8:00", "'8:00' is not a time (HH:MM, 24-hour)"),
        ("18:00:00", "'18:00:00' is not a time (HH:MM, 24-hour)"),
        ("ab:00", "'ab:00' is not a time (HH:MM, 24-hour)"),
        ("1800", "'1800' is not a time (HH:MM, 24-hour)"),
        ("18:5", "'18:5' is not a time (HH:MM, 24-hour)"),
        ("18:5x", "'18:5x' is not a time (HH:MM, 24-hour)"),
    ],
)
def test_parse_time_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_time(text)
    assert str(caught.value) == message


def test_parse_time_edges() -> None:
    assert parse_time("00:00") == time(0)
    assert parse_time("23:59") == time(23, 59)


@pytest.mark.parametrize("bad", ["", "/etc/localtime", "./UTC", "America/../UTC", "."])
def test_zone_refuses_paths(bad: str) -> None:
    with pytest.raises(ValidationError, match="is not an IANA time zone"):
        zone(bad)


def test_zone_messages() -> None:
    with pytest.raises(ValidationError) as caught:
        zone(None)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "a time zone must be an IANA name such as 'America/New_York', got None"
    )
    with pytest.raises(ValidationError) as caught:
        zone("Qqqqqqqqqq")
    assert str(caught.value) == (
        "'Qqqqqqqqqq' is not an IANA time zone; use a name like 'America/New_York' or "
        "'Europe/London'"
    )


def test_time_and_date_field_messages() -> None:
    with pytest.raises(ValidationError) as caught:
        Slot(day="mon", start="18:00", session_type="g")  # type: ignore[arg-type]
    assert str(caught.value) == (
        'start must be a time (datetime.time, e.g. time(18, 0); in a program file "18:00"), '
        "got str '18:00'"
    )
    with pytest.raises(ValidationError) as caught:
        Slot(day="mon", start=time(18, tzinfo=UTC), session_type="g")
    assert str(caught.value) == (
        "start 18:00:00+00:00 must be a local wall time in whole minutes (HH:MM, no zone)"
    )
    with pytest.raises(ValidationError) as caught:
        Change(date=datetime(2027, 3, 1, 18), start=time(18), cancelled=True)
    assert str(caught.value) == (
        "change date must be a date (e.g. date(2027, 5, 31)), got datetime "
        "datetime.datetime(2027, 3, 1, 18, 0)"
    )


def test_slot_minutes_run_from_one_to_a_whole_day() -> None:
    assert Slot(day="mon", start=time(0), session_type="g", minutes=1440).minutes == 1440
    with pytest.raises(ValidationError, match="got 1441"):
        Slot(day="mon", start=time(0), session_type="g", minutes=1441)


def test_change_messages_and_matching() -> None:
    monday = date(2027, 3, 1)
    with pytest.raises(ValidationError) as caught:
        Change(date=monday, start=time(18))
    assert str(caught.value) == (
        "change for 2027-03-01 18:00: set either cancelled = true or a move (new_date, "
        "new_start or minutes), not neither"
    )
    with pytest.raises(ValidationError, match=r"minutes\), not both$"):
        Change(date=monday, start=time(18), cancelled=True, minutes=60)
    change = Change(date=monday, start=time(18), session_type="group", cancelled=True)
    assert change.matches(monday, time(18), "group")
    assert not change.matches(monday, time(18), "check-in")
    assert not change.matches(monday, time(19), "group")
    assert not change.matches(monday + timedelta(days=7), time(18), "group")
    anything = Change(date=monday, start=time(18), cancelled=True)
    assert anything.matches(monday, time(18), "check-in")
    assert not anything.matches(monday, time(17), "check-in")


def test_localize_on_a_transition_day_keeps_the_wall_time_and_zone() -> None:
    ny = zone("America/New_York")
    evening = localize(date(2027, 3, 14), time(18), ny)
    assert (evening.isoformat(), evening.tzinfo) == ("2027-03-14T18:00:00-04:00", ny)
