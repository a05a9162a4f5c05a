"""Typed registration records that plugins return from registration hooks (as in conda).

Each record names what it registers; the host collects them by name and refuses a name that
two plugins claim.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs
from attrs import frozen

from iopcore.core.errors import ValidationError


def _plugin_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value or not all(c.isalnum() or c in "-_." for c in value):
        raise ValidationError(
            f"{type(instance).__name__}.name {value!r} must be letters, digits, '-', '_' or '.'"
        )


def _schemes(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@frozen(kw_only=True)
class StorageBackend:
    """A storage backend opened by URL: ``open(url)`` returns a storage ``Backend``."""

    name: str = attrs.field(validator=_plugin_name)
    schemes: tuple[str, ...] = attrs.field(converter=_schemes)
    open: Callable[[str], Any]
    description: str = ""


@frozen(kw_only=True)
class CalendarExporter:
    """Turns occurrences into a calendar file: ``export(occurrences, **options) -> bytes``."""

    name: str = attrs.field(validator=_plugin_name)
    media_type: str
    extension: str
    export: Callable[..., bytes]
    description: str = ""


@frozen(kw_only=True)
class ScreeningProvider:
    """Orders screens and receives results: ``create(**options)`` returns the provider."""

    name: str = attrs.field(validator=_plugin_name)
    create: Callable[..., Any]
    description: str = ""


@frozen(kw_only=True)
class AccountabilityRule:
    """A rule that reads a participant's records and yields findings."""

    name: str = attrs.field(validator=_plugin_name)
    evaluate: Callable[..., Iterable[Any]]
    description: str = ""


@frozen(kw_only=True)
class AttendanceModel:
    """A simulation attendance model on arrays: ``create(**params)`` returns the model."""

    name: str = attrs.field(validator=_plugin_name)
    create: Callable[..., Any]
    description: str = ""


@frozen(kw_only=True)
class SweepBackend:
    """Runs simulation sweeps (a process pool, a Dask cluster): ``create(**options)``."""

    name: str = attrs.field(validator=_plugin_name)
    create: Callable[..., Any]
    description: str = ""
