"""Shared validators for the records clinic software keeps (ids, text, times)."""

from __future__ import annotations

import math
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


def optional_id(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        record_id(instance, attribute, value)


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


def non_negative(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or value < 0
    ):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a number >= 0, got {value!r}"
        )


def calendar_date(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A ``datetime.date`` that is not a datetime (a day, not an instant)."""
    if type(value) is not date:
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a date (datetime.date, e.g. "
            f"date(2027, 1, 4)), got {type(value).__name__} {value!r}"
        )


def optional_date(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        calendar_date(instance, attribute, value)


def whole_number(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A whole number >= 0 (not a bool, not a float)."""
    if type(value) is not int or value < 0:
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a whole number >= 0, got {value!r}"
        )


def optional_whole_number(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        whole_number(instance, attribute, value)


def optional_score(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A finite number, or None."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a finite number or None, "
            f"got {value!r}"
        )
