"""The validators of iopcore's attrs classes, in one place: ids, text, times and numbers.

Numbers are checked by validators from two factories, :func:`whole` and :func:`number`, so
every class follows one rule: a boolean is never a number, a whole-number field takes only
an ``int`` (90.5 and 90.0 are refused), and each error names ``Class.field``, the value and
the fix.

    >>> @attrs.frozen
    ... class Visit:
    ...     minutes: int = attrs.field(validator=whole(at_least=1, unit="minutes"))
    >>> Visit(True)
    Traceback (most recent call last):
    iopcore.ValidationError: Visit.minutes must be a whole number of minutes >= 1, got True (a boolean is not a number); write a whole number such as 1
"""  # noqa: E501

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import attrs

from iopcore.core.errors import ValidationError

#: Longest id or short text iopcore accepts; ids are pseudonymous keys, not prose.
MAX_ID = 200
MAX_TEXT = 10_000


def record_id(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A pseudonymous id: a non-empty printable string without surrounding space."""
    where = f"{type(instance).__name__}.{attribute.name}"
    if not isinstance(value, str):
        raise ValidationError(f"{where} must be a string, got {type(value).__name__}")
    if not value or len(value) > MAX_ID or value != value.strip() or not value.isprintable():
        raise ValidationError(
            f"{where} must be 1-{MAX_ID} printable characters without surrounding spaces, "
            f"got {len(value)} characters; use a pseudonymous id such as 'P-0001'"
        )


def text(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Free text: a string of at most MAX_TEXT characters with no NUL byte."""
    where = f"{type(instance).__name__}.{attribute.name}"
    if not isinstance(value, str):
        raise ValidationError(f"{where} must be a string, got {type(value).__name__}")
    if len(value) > MAX_TEXT or "\x00" in value:
        raise ValidationError(
            f"{where} must be at most {MAX_TEXT} characters with no NUL byte "
            f"(got {len(value)} characters)"
        )


def aware(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A datetime with a UTC offset (an instant), or None."""
    if value is None:
        return
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be an aware datetime (with a "
            f"zone or offset), got {value!r}"
        )


def calendar_date(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A ``datetime.date`` that is not a datetime (a day, not an instant)."""
    if type(value) is not date:
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a date (datetime.date, e.g. "
            f"date(2027, 1, 4)), got {type(value).__name__} {value!r}"
        )


Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _bounds(at_least: float | None, at_most: float | None) -> str:
    if at_least is not None and at_most is not None:
        return f"from {at_least:g} to {at_most:g}"
    if at_least is not None:
        return f">= {at_least:g}"
    return "" if at_most is None else f"<= {at_most:g}"


def _outside(value: float, at_least: float | None, at_most: float | None) -> bool:
    return (at_least is not None and value < at_least) or (at_most is not None and value > at_most)


def whole(
    *,
    at_least: int | None = 0,
    at_most: int | None = None,
    unit: str = "",
    optional: bool = False,
) -> Validator:
    """A validator for a whole number (an ``int``, never a bool or a float) within bounds;
    with ``optional``, None is allowed too (it usually means "no limit" or "the default")."""
    parts = ["a whole number", f"of {unit}" if unit else "", _bounds(at_least, at_most)]
    what = " ".join(p for p in parts if p) + (" (or omitted)" if optional else "")
    example = at_least if at_least is not None else 0

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None and optional:
            return
        if isinstance(value, bool):
            why = " (a boolean is not a number)"
        elif type(value) is not int:
            why = f" ({type(value).__name__}, not a whole number)"
        elif _outside(value, at_least, at_most):
            why = ""
        else:
            return
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be {what}, got {value!r}{why}; "
            f"write a whole number such as {example}"
        )

    return check


def number(
    *, at_least: float | None = None, at_most: float | None = None, optional: bool = False
) -> Validator:
    """A validator for a finite real number (``int`` or ``float``, never a bool) within
    bounds; with ``optional``, None is allowed too."""
    parts = ["a finite number", _bounds(at_least, at_most)]
    what = " ".join(p for p in parts if p) + (" (or omitted)" if optional else "")

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None and optional:
            return
        if isinstance(value, bool):
            why = " (a boolean is not a number)"
        elif (
            isinstance(value, int | float)
            and math.isfinite(value)
            and not _outside(value, at_least, at_most)
        ):
            return
        else:
            why = ""
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be {what}, got {value!r}{why}"
        )

    return check


#: An id, or None.
optional_id = attrs.validators.optional(record_id)
#: A date, or None.
optional_date = attrs.validators.optional(calendar_date)
#: A whole number >= 0 (a count, minutes attended), or that or None.
whole_number = whole(at_least=0)
optional_whole_number = whole(at_least=0, optional=True)
#: A number >= 0, or None.
non_negative = number(at_least=0, optional=True)
#: A finite number, or None (a score).
optional_score = number(optional=True)
