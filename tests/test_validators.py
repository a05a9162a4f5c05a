"""One rule for numbers in every attrs class: a boolean is never a number, whole-number
fields take only whole numbers, and the error names Class.field and the fix."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import time
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from iopcore import ValidationError
from iopcore.core.cadence import Slot
from iopcore.core.policies import AccountabilitySettings, ScreeningPolicy, StepDownPolicy
from iopcore.core.program import Phase
from iopcore.core.records import number, whole
from iopcore.core.sessions import SessionType

SLOTS = (Slot(day="mon", start=time(18), session_type="g"),)

#: (class.field, a builder taking the value, a good value)
WHOLE_FIELDS: list[tuple[str, Callable[[Any], object], int]] = [
    ("SessionType.minutes", lambda v: SessionType(name="g", kind="group", minutes=v), 90),
    (
        "SessionType.capacity",
        lambda v: SessionType(name="g", kind="group", minutes=90, capacity=v),
        12,
    ),
    ("Slot.minutes", lambda v: Slot(day="mon", start=time(18), session_type="g", minutes=v), 90),
    ("Phase.min_weeks", lambda v: Phase(name="a", slots=SLOTS, min_weeks=v), 4),
    ("Phase.max_weeks", lambda v: Phase(name="a", slots=SLOTS, max_weeks=v), 4),
    ("ScreeningPolicy.count", lambda v: ScreeningPolicy(count=v), 2),
    ("AccountabilitySettings.rate_weeks", lambda v: AccountabilitySettings(rate_weeks=v), 2),
    (
        "AccountabilitySettings.overdue_after_days",
        lambda v: AccountabilitySettings(overdue_after_days=v),
        2,
    ),
    (
        "StepDownPolicy.min_weeks",
        lambda v: StepDownPolicy(from_phase="a", to="b", min_weeks=v, attendance_rate_at_least=0.8),
        4,
    ),
]


@pytest.mark.parametrize(("field", "build", "good"), WHOLE_FIELDS, ids=[f[0] for f in WHOLE_FIELDS])
@pytest.mark.parametrize("bad", [True, False, 90.5, 2.0, "2", -1])
def test_whole_number_fields_refuse_booleans_floats_text_and_negatives(
    field: str, build: Callable[[Any], object], good: int, bad: object
) -> None:
    build(good)
    with pytest.raises(ValidationError, match=rf"^{re.escape(field)} must be a whole number"):
        build(bad)


def test_the_error_says_why_and_how_to_fix() -> None:
    with pytest.raises(ValidationError) as caught:
        SessionType(name="g", kind="group", minutes=True)
    assert str(caught.value) == (
        "SessionType.minutes must be a whole number of minutes from 1 to 1440, got True "
        "(a boolean is not a number); write a whole number such as 1"
    )
    with pytest.raises(ValidationError, match=r"got 90\.5 \(float, not a whole number\)"):
        SessionType(name="g", kind="group", minutes=90.5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"from 1 to 1440 \(or omitted\), got 1441;"):
        Slot(day="mon", start=time(18), session_type="g", minutes=1441)


def test_fractions_are_numbers_from_zero_to_one() -> None:
    assert AccountabilitySettings(attendance_rate_below=1).attendance_rate_below == 1
    for bad in (True, 1.01, -0.1, float("nan"), "0.5"):
        with pytest.raises(
            ValidationError,
            match=r"AccountabilitySettings\.attendance_rate_below must be a finite number from "
            "0 to 1",
        ):
            AccountabilitySettings(attendance_rate_below=bad)  # type: ignore[arg-type]


@attrs.frozen
class _Probe:
    count: int | None = attrs.field(validator=whole(at_least=1, at_most=10, optional=True))
    share: float | None = attrs.field(
        default=0.5, validator=number(at_least=0, at_most=1, optional=True)
    )


@given(st.one_of(st.none(), st.booleans(), st.integers(-5, 15), st.floats(allow_nan=True)))
def test_whole_accepts_exactly_ints_in_range_or_none(value: object) -> None:
    ok = value is None or (type(value) is int and 1 <= value <= 10)
    if ok:
        _Probe(count=value)  # type: ignore[arg-type]
        return
    with pytest.raises(
        ValidationError, match=r"^_Probe\.count must be a whole number from 1 to 10"
    ):
        _Probe(count=value)  # type: ignore[arg-type]


@given(st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.floats(allow_nan=True)))
def test_number_accepts_finite_reals_in_range_or_none(value: object) -> None:
    ok = value is None or (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and 0 <= value <= 1  # NaN fails both comparisons
    )
    if ok:
        _Probe(count=1, share=value)  # type: ignore[arg-type]
        return
    with pytest.raises(
        ValidationError, match=r"^_Probe\.share must be a finite number from 0 to 1"
    ):
        _Probe(count=1, share=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["\x0c", "a\x1fb", "\x7f", "x\x0b"])
def test_text_refuses_control_characters_but_tabs_and_line_breaks(bad: str) -> None:
    from iopcore.core.records import check_text

    with pytest.raises(ValidationError, match="control character"):
        check_text(bad, where="note", max_length=100)
    assert check_text("a\tb\r\nc", where="note", max_length=100) == "a\tb\r\nc"
