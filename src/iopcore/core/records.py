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
import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import attrs

from iopcore.core.errors import ValidationError

#: Longest id or short text iopcore accepts; ids are pseudonymous keys, not prose.
MAX_ID = 200
MAX_TEXT = 10_000
#: Longest name (program, track, phase, session type): names appear in ids and file names.
MAX_NAME = 64
#: The longest span, in weeks, any program setting may name (ten years): longer spans are
#: typing mistakes, and calendars past the year 9999 cannot be computed.
MAX_WEEKS = 520


#: Control characters no text may hold (tab, line feed and carriage return are fine).
_CONTROL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_text(value: object, *, where: str, max_length: int, empty: bool = True) -> str:
    """The one rule for text iopcore accepts: a str, at most ``max_length`` characters,
    with no NUL, no other control character but tab and line breaks, and no lone surrogate
    (text that cannot be encoded as UTF-8, so no database could store it). Messages give
    lengths and positions, never the text (it may be clinical).

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
    control = _CONTROL.search(value)
    if control is not None:  # FHIR, XML and iCalendar text cannot carry these
        raise ValidationError(
            f"{where} has a control character (U+{ord(control.group()):04X}) at "
            f"{control.start() + 1}; only tab, line feed and carriage return are allowed"
        )
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
            f"write a whole number such as {example}",
            key_path=attribute.name,
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
        if at_least == 0 and at_most == 1 and isinstance(value, int | float) and 1 < value <= 100:
            why += f" (a fraction: write {value / 100:g} for {value:g}%)"
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be {what}, got {value!r}{why}",
            key_path=attribute.name,
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
