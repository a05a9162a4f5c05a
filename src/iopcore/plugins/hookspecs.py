"""Hook specifications of the ``iopcore`` plugin host.

Registration hooks return iterables of typed records (:mod:`iopcore.plugins.records`).
Event hooks are called with keyword arguments (declare them as ordinary parameters: pluggy
does not see keyword-only ones) and return nothing; they run after the fact (after the
write committed, after the export was made).

A plugin is a module (or object) with functions named like these hooks, marked with
:data:`hookimpl`, registered through the entry-point group ``iopcore``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pluggy

from iopcore.plugins.records import (
    AccountabilityRule,
    AttendanceModel,
    CalendarExporter,
    ProgressModel,
    ScreeningProvider,
    StorageBackend,
    SweepBackend,
)

PROJECT = "iopcore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def iopcore_storage_backends() -> Iterable[StorageBackend]:  # type: ignore[empty-body]
    """Register storage backends, each for one or more URL schemes.

    >>> from iopcore_plugins.memory import MemoryBackend
    >>> @hookimpl
    ... def iopcore_storage_backends():
    ...     return [StorageBackend(name="scratch", schemes=["scratch"],
    ...                            open=lambda url: MemoryBackend(url))]
    >>> [b.name for b in iopcore_storage_backends()]
    ['scratch']
    """


@hookspec
def iopcore_calendar_exporters() -> Iterable[CalendarExporter]:  # type: ignore[empty-body]
    """Register calendar exporters (e.g. iCalendar).

    >>> @hookimpl
    ... def iopcore_calendar_exporters():
    ...     return [CalendarExporter(name="csv", media_type="text/csv", extension="csv",
    ...             export=lambda occurrences, **_: b"".join(
    ...                 f"{o.start.isoformat()}\\r\\n".encode() for o in occurrences))]
    >>> iopcore_calendar_exporters()[0].extension
    'csv'
    """


@hookspec
def iopcore_screening_providers() -> Iterable[ScreeningProvider]:  # type: ignore[empty-body]
    """Register screening providers that order screens and deliver results.

    ``create(**options)`` returns a :class:`~iopcore.plugins.protocols.Provider`.

    >>> from iopcore_plugins.manual import ManualScreening
    >>> @hookimpl
    ... def iopcore_screening_providers():
    ...     return [ScreeningProvider(name="lab", create=ManualScreening)]
    >>> lab = iopcore_screening_providers()[0].create()
    >>> lab.collect_results()
    []
    """


@hookspec
def iopcore_accountability_rules() -> Iterable[AccountabilityRule]:  # type: ignore[empty-body]
    """Register accountability rules that turn a participant's records into findings.

    ``evaluate(records)`` gets one participant's ``ParticipantRecords`` and yields
    ``Finding`` s; a rule that raises is skipped and reported (``host.rule_failures``).

    >>> @hookimpl
    ... def iopcore_accountability_rules():
    ...     return [AccountabilityRule(name="always-fine", evaluate=lambda records: [])]
    >>> iopcore_accountability_rules()[0].name
    'always-fine'
    """


@hookspec
def iopcore_attendance_models() -> Iterable[AttendanceModel]:  # type: ignore[empty-body]
    """Register simulation attendance models (arrays in, probabilities out).

    ``create(**params)`` returns an :class:`~iopcore.plugins.protocols.AttendanceModelImpl`.

    >>> from iopcore.plugins.protocols import AttendanceModelImpl
    >>> class Coin:
    ...     dropout = None  # an iopcore.simulation.Dropout in a real model
    ...     def prepare(self, design, rng): return None
    ...     def disengaged(self, state): return state
    ...     def start_week(self, state, week, active, rng): return None
    ...     def probability(self, state, visit, streak, out): return out.fill(0.5) or out
    >>> @hookimpl
    ... def iopcore_attendance_models():
    ...     return [AttendanceModel(name="coin", create=Coin)]
    >>> isinstance(iopcore_attendance_models()[0].create(), AttendanceModelImpl)
    True
    """


@hookspec
def iopcore_progress_models() -> Iterable[ProgressModel]:  # type: ignore[empty-body]
    """Register simulated screen results and assessment scores (arrays in, arrays out): the
    evidence step-down and step-up criteria read when a scenario moves people by criteria.

    ``create(**params)`` returns a :class:`~iopcore.plugins.protocols.ProgressModelImpl`.

    >>> import numpy as np
    >>> from iopcore.plugins.protocols import ProgressModelImpl
    >>> class AlwaysNegative:
    ...     def prepare(self, n, rng): return n
    ...     def screen(self, state, week, rng): return np.ones(state, bool)
    ...     def score(self, state, week, rng): return np.zeros(state)
    >>> @hookimpl
    ... def iopcore_progress_models():
    ...     return [ProgressModel(name="always-negative", create=AlwaysNegative)]
    >>> isinstance(iopcore_progress_models()[0].create(), ProgressModelImpl)
    True
    """


@hookspec
def iopcore_sweep_backends() -> Iterable[SweepBackend]:  # type: ignore[empty-body]
    """Register backends that run simulation sweeps.

    ``create(**options)`` returns a :class:`~iopcore.plugins.protocols.SweepExecutor`.

    >>> class InOrder:
    ...     def run(self, fn, tasks): return map(fn, tasks)
    ...     def close(self): pass
    >>> @hookimpl
    ... def iopcore_sweep_backends():
    ...     return [SweepBackend(name="in-order", create=InOrder)]
    >>> list(iopcore_sweep_backends()[0].create().run(abs, [-1]))
    [1]
    """


@hookspec
def iopcore_attendance_recorded(records: tuple[Any, ...], store_url: str) -> None:
    """Attendance was recorded (after commit). ``records`` are the AttendanceRecords written.

    >>> seen = []
    >>> @hookimpl
    ... def iopcore_attendance_recorded(records, store_url):
    ...     seen.append(len(records))
    >>> iopcore_attendance_recorded(records=(), store_url="memory://"); seen
    [0]
    """


@hookspec
def iopcore_finding_raised(finding: Any) -> None:
    """An accountability finding was raised.

    >>> @hookimpl
    ... def iopcore_finding_raised(finding):
    ...     print("finding:", finding)
    >>> iopcore_finding_raised(finding="x")
    finding: x
    """


@hookspec
def iopcore_stepdown_recommended(recommendation: Any) -> None:
    """A step-down (or step-up) was recommended for a participant.

    >>> @hookimpl
    ... def iopcore_stepdown_recommended(recommendation):
    ...     print("recommended:", recommendation)
    >>> iopcore_stepdown_recommended(recommendation="step-down")
    recommended: step-down
    """


@hookspec
def iopcore_export_made(what: str, key: str, store_url: str) -> None:
    """Something left a store (e.g. a participant's calendar); ``key`` is pseudonymous.

    >>> @hookimpl
    ... def iopcore_export_made(what, key, store_url):
    ...     print(what, key)
    >>> iopcore_export_made(what="calendar", key="P-1", store_url="memory://")
    calendar P-1
    """
