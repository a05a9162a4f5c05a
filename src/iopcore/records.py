"""Shared validators for the records clinic software keeps (ids, text, times)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from iopcore.errors import ValidationError

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
