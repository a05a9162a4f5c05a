"""Shared validators for the records clinic software keeps (ids, text, times)."""

from __future__ import annotations

import math
import unicodedata
from datetime import date, datetime
from typing import Any

import attrs

from iopcore.core.errors import ValidationError

#: Longest id or short text iopcore accepts; ids are pseudonymous keys, not prose.
MAX_ID = 200
MAX_TEXT = 10_000
#: Longest name (program, track, phase, session type): names appear in ids and file names.
MAX_NAME = 64


def check_text(value: object, *, where: str, max_length: int, empty: bool = True) -> str:
    """The one rule for text iopcore accepts: a str, at most ``max_length`` characters,
    with no NUL and no lone surrogate (text that cannot be encoded as UTF-8, so no database
    could store it). Messages give lengths and positions, never the text (it may be
    clinical).

    >>> check_text("ok", where="note", max_length=10)
    'ok'
    >>> check_text("a" + chr(0xD800), where="note", max_length=10)
    Traceback (most recent call last):
    iopcore.ValidationError: note has a lone surrogate at character 2 (not valid Unicode text)
    """
    if not isinstance(value, str):
        raise ValidationError(f"{where} must be a string, got {type(value).__name__}")
    if not value and not empty:
        raise ValidationError(f"{where} must not be empty")
    if len(value) > max_length:
        raise ValidationError(f"{where} must be at most {max_length} characters, got {len(value)}")
    if "\x00" in value:
        raise ValidationError(f"{where} has a NUL character at {value.index(chr(0)) + 1}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(
            f"{where} has a lone surrogate at character {exc.start + 1} (not valid Unicode text)"
        ) from None
    return value


def _scripts(value: str) -> set[str]:
    """The scripts of ``value``'s letters (LATIN, CYRILLIC, GREEK, ...)."""
    return {unicodedata.name(c, "?").split(" ")[0] for c in value if c.isalpha()}


def check_name(value: object, *, where: str) -> str:
    """A name used in ids (program, track, phase, session type): 1-MAX_NAME letters,
    digits, '-' or '_', all letters of one script, so a name cannot pass for another (a
    Cyrillic U+0430 for the 'a' of 'adult-day')."""
    text_ = check_text(value, where=where, max_length=MAX_NAME, empty=False)
    if not text_.replace("-", "").replace("_", "").isalnum():
        raise ValidationError(
            f"{where} must be a short id of letters, digits, '-' or '_' (it is used in stable ids)"
        )
    scripts = _scripts(text_)
    if len(scripts) > 1:
        raise ValidationError(
            f"{where} mixes scripts ({', '.join(sorted(scripts)).lower()}), so it can look "
            "like another name; write it in one script"
        )
    return text_


#: First characters a spreadsheet reads as a formula (OWASP "CSV injection"): an id is a
#: pseudonymous code and never starts with one, so ids are safe in any CSV cell.
FORMULA_STARTS = ("=", "+", "-", "@")


def record_id(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A pseudonymous id: a non-empty printable string without surrounding space, not
    starting with a character a spreadsheet reads as a formula."""
    where = f"{type(instance).__name__}.{attribute.name}"
    value = check_text(value, where=where, max_length=MAX_ID)
    if not value or len(value) > MAX_ID or value != value.strip() or not value.isprintable():
        raise ValidationError(
            f"{where} must be 1-{MAX_ID} printable characters without surrounding spaces, "
            f"got {len(value)} characters; use a pseudonymous id such as 'P-0001'"
        )
    if value.startswith(FORMULA_STARTS):
        raise ValidationError(
            f"{where} must not start with {value[0]!r} (spreadsheets read it as a formula); "
            "use a pseudonymous id such as 'P-0001'"
        )


def optional_id(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        record_id(instance, attribute, value)


def text(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Free text: a string of at most MAX_TEXT characters with no NUL byte."""
    check_text(value, where=f"{type(instance).__name__}.{attribute.name}", max_length=MAX_TEXT)


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
