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
