"""Typed errors. Every message says what is wrong, where, and how to fix it.

>>> err = ProgramFileError('"25:00" is not a time (HH:MM)', file="adult-evening.toml",
...                        key_path="tracks.evening.phases[0].slots[2].start")
>>> str(err)
'adult-evening.toml: tracks.evening.phases[0].slots[2].start: "25:00" is not a time (HH:MM)'
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable
from typing import TypeVar


class IopcoreError(Exception):
    """Base class of every error iopcore raises on purpose."""


class ValidationError(IopcoreError, ValueError):
    """A domain value breaks an invariant (e.g. a phase whose minimum exceeds its maximum).

    ``key_path`` (optional) names the field at fault relative to the value being built
    (e.g. ``step_down[0].assessments[0].instrument``), so a file loader can say where."""

    def __init__(self, message: str, *, key_path: str = "") -> None:
        super().__init__(message)
        self.key_path = key_path


class ProgramFileError(IopcoreError):
    """A program or scenario file is unreadable or invalid; names the file and key path."""

    def __init__(
        self, problem: str, *, file: str, key_path: str = "", line: int | None = None
    ) -> None:
        self.problem = problem
        self.file = file
        self.key_path = key_path
        self.line = line
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {key_path}: {problem}" if key_path else f"{where}: {problem}")


class ScheduleError(IopcoreError):
    """A schedule cannot be expanded as asked (unknown track, bad date range, ...)."""


class PluginError(IopcoreError):
    """A plugin failed to load, or two plugins claim the same name."""


class StorageError(IopcoreError):
    """A storage backend cannot open, read or write as asked."""


# Tracebacks name the public path (``iopcore.ValidationError``), not where the class lives.
for _error in (
    IopcoreError,
    ValidationError,
    ProgramFileError,
    ScheduleError,
    PluginError,
    StorageError,
):
    _error.__module__ = "iopcore"
del _error


def suggest(word: str, choices: Iterable[str]) -> str:
    """Return ``' (did you mean "x"?)'`` for the closest choice, or ``''``.

    >>> suggest("strat", ["start", "minutes"])
    ' (did you mean "start"?)'
    """
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def one_of(choices: Iterable[str]) -> str:
    """Render a sorted list of valid choices for an error message.

    >>> one_of(["b", "a"])
    'one of: a, b'
    """
    return "one of: " + ", ".join(sorted(choices))


C = TypeVar("C", bound="Choice")


class Choice(enum.StrEnum):
    """A string enum whose bad values raise a :class:`ValidationError` listing the choices.

    >>> class Color(Choice):
    ...     RED = "red"
    >>> Color("rde")
    Traceback (most recent call last):
    iopcore.ValidationError: 'rde' is not a valid color (did you mean "red"?); one of: red
    """

    @classmethod
    def _missing_(cls, value: object) -> None:
        choices = [member.value for member in cls]
        words = "".join(f" {c.lower()}" if c.isupper() else c for c in cls.__name__).strip()
        if getattr(cls, "_iopcore_private", False):  # neither the value nor a near choice
            raise ValidationError(
                f"not a valid {words} (not shown: may be clinical); " + one_of(choices)
            )
        raise ValidationError(
            f"{value!r} is not a valid {words}{suggest(str(value), choices)}; {one_of(choices)}"
        )


def private_choice(cls: type[C]) -> type[C]:
    """Mark a :class:`Choice` whose values may be clinical: its errors do not echo them.

    >>> @private_choice
    ... class Outcome(Choice):
    ...     POSITIVE = "positive"
    >>> Outcome("Positive ")
    Traceback (most recent call last):
    iopcore.ValidationError: not a valid outcome (not shown: may be clinical); one of: positive
    """
    type.__setattr__(cls, "_iopcore_private", True)
    return cls
