"""Typed registration records that plugins return from registration hooks (as in conda).

Each record names what it registers; the host collects them by name and refuses a name that
two plugins claim. The signatures of their callables are in :mod:`iopcore.plugins.protocols`.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
from attrs import frozen

from iopcore.core.errors import ValidationError
from iopcore.plugins.protocols import (
    CreateAttendanceModel,
    CreateProgressModel,
    CreateProvider,
    CreateSweepExecutor,
    ExportCalendar,
    OpenBackend,
    Rule,
)


def _plugin_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value or not all(c.isalnum() or c in "-_." for c in value):
        raise ValidationError(
            f"{type(instance).__name__}.name {value!r} must be letters, digits, '-', '_' or '.'"
        )


def _schemes(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@frozen(kw_only=True)
class StorageBackend:
    """A storage backend opened by URL: ``open(url)`` returns a ``Backend``."""

    name: str = attrs.field(validator=_plugin_name)
    schemes: tuple[str, ...] = attrs.field(converter=_schemes)
    open: OpenBackend
    description: str = ""


@frozen(kw_only=True)
class CalendarExporter:
    """Turns occurrences into a calendar file: ``export(occurrences, **options) -> bytes``."""

    name: str = attrs.field(validator=_plugin_name)
    media_type: str
    extension: str
    export: ExportCalendar
    description: str = ""


@frozen(kw_only=True)
class ScreeningProvider:
    """Orders screens and receives results: ``create(**options)`` returns a ``Provider``."""

    name: str = attrs.field(validator=_plugin_name)
    create: CreateProvider
    description: str = ""


@frozen(kw_only=True)
class AccountabilityRule:
    """A rule that reads one participant's records and yields findings: ``evaluate(records)``."""

    name: str = attrs.field(validator=_plugin_name)
    evaluate: Rule
    description: str = ""


@frozen(kw_only=True)
class AttendanceModel:
    """A simulation attendance model on arrays: ``create(**params)`` returns an
    ``AttendanceModelImpl``."""

    name: str = attrs.field(validator=_plugin_name)
    create: CreateAttendanceModel
    description: str = ""


@frozen(kw_only=True)
class ProgressModel:
    """Simulated screen results and assessment scores on arrays: ``create(**params)``
    returns a ``ProgressModelImpl``."""

    name: str = attrs.field(validator=_plugin_name)
    create: CreateProgressModel
    description: str = ""


@frozen(kw_only=True)
class SweepBackend:
    """Runs simulation sweeps (a process pool, a Dask cluster): ``create(**options)`` returns
    a ``SweepExecutor``."""

    name: str = attrs.field(validator=_plugin_name)
    create: CreateSweepExecutor
    description: str = ""
