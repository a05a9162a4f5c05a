"""What plugins implement, in one place: the signature of every callable a registration
record carries and the protocol of every object those callables return.

=========================  ===============================  ===============================
record                     callable                          returns
=========================  ===============================  ===============================
``StorageBackend``         ``open(url)`` (:data:`OpenBackend`)  a :class:`Backend`
``CalendarExporter``       ``export(occurrences, **options)``   ``bytes`` (:class:`ExportCalendar`)
``ScreeningProvider``      ``create(**options)``                a :class:`Provider`
``AccountabilityRule``     ``evaluate(records)`` (:data:`Rule`) :class:`~iopcore.Finding` s
``AttendanceModel``        ``create(**params)``                 an :class:`AttendanceModelImpl`
``SweepBackend``           ``create(**options)``                a :class:`SweepExecutor`
=========================  ===============================  ===============================

``Backend`` (with ``Transaction`` and ``Row``) is defined next to the ``Store`` that uses it
and ``Provider`` next to the screening domain, both lower layers; they are re-exported here.
The simulation's two protocols are defined here and re-exported by ``iopcore.simulation``; so
this module needs no numpy, their array types are written for type checkers only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from iopcore.core.accountability import Finding, ParticipantRecords
from iopcore.core.schedule import Occurrence
from iopcore.core.screening import Provider
from iopcore.io.storage import Backend, Row, Transaction

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats: TypeAlias = npt.NDArray[np.float64]
    Bools: TypeAlias = npt.NDArray[np.bool_]

#: ``StorageBackend.open``: the whole URL in, an open :class:`Backend` out.
OpenBackend: TypeAlias = Callable[[str], Backend]

#: ``AccountabilityRule.evaluate``: one participant's records in, findings out (a generator
#: is fine). A rule that raises is skipped and reported (``PluginHost.rule_failures``).
Rule: TypeAlias = Callable[[ParticipantRecords], Iterable[Finding]]


class ExportCalendar(Protocol):
    """``CalendarExporter.export``: the file (bytes) for these occurrences.

    ``options`` are the ones the caller has (the CLI passes its calendar options: ``detail``,
    ``programs``, ``reminders``, ``summary``, ``now``, ...): use those you understand and
    ignore the rest.
    """

    def __call__(self, occurrences: Sequence[Occurrence], **options: Any) -> bytes: ...


#: ``ScreeningProvider.create``: the provider's own options (an account, a folder) in.
CreateProvider: TypeAlias = Callable[..., Provider]


@runtime_checkable
class AttendanceModelImpl(Protocol):
    """A simulation attendance model, on arrays (see :mod:`iopcore.simulation.effects`).

    ``design`` is an :class:`iopcore.simulation.Design` (people, calendar, conflict masks,
    options) and ``dropout`` an :class:`iopcore.simulation.Dropout` (the simulation is a
    higher layer than this module, hence ``Any``).
    """

    @property
    def dropout(self) -> Any:
        """How stays end by dropping out: a daily hazard and the clinic's rule."""

    def prepare(self, design: Any, rng: np.random.Generator) -> object:
        """Draw the per-participant state for the cohort in ``design``."""

    def start_week(
        self, state: object, week: int, active: Bools, rng: np.random.Generator
    ) -> Bools | None:
        """Move people between states; return a mask of who drops out now (or None)."""

    def probability(self, state: object, visit: int, streak: Floats, out: Floats) -> Floats:
        """Write each participant's probability of attending visit ``visit`` into ``out``."""

    def disengaged(self, state: object) -> Floats:
        """Each participant's day of disengagement (from admission; inf: never)."""


#: ``AttendanceModel.create``: the model's parameters (from a scenario's ``model`` table) in.
CreateAttendanceModel: TypeAlias = Callable[..., AttendanceModelImpl]


@runtime_checkable
class ProgressModelImpl(Protocol):
    """Simulated screen results and assessment scores, on arrays (see
    :mod:`iopcore.simulation.progress`): the evidence a program's step-down and step-up
    criteria read when the simulation moves people by criteria."""

    def prepare(self, n: int, rng: np.random.Generator) -> object:
        """Draw the per-participant state of a cohort of ``n`` participants."""

    def screen(self, state: object, week: int, rng: np.random.Generator) -> Bools:
        """Whether each participant's screen would be negative in program week ``week``
        (0 is the admission week): a bool array of shape ``(n,)``; the engine reads it only
        for those screened."""

    def score(self, state: object, week: int, rng: np.random.Generator) -> Floats:
        """Each participant's assessment score on an assessment taken ``week`` weeks after
        admission (0: at admission); NaN for one not taken (the latest earlier score counts)."""


#: ``ProgressModel.create``: the model's parameters (a scenario's ``progress`` table) in.
CreateProgressModel: TypeAlias = Callable[..., ProgressModelImpl]


@runtime_checkable
class SweepExecutor(Protocol):
    """Runs a sweep's chunks (``fn(task)`` for every task, results in any order)."""

    def run(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[Any]:
        """Yield ``fn(task)`` for every task."""

    def close(self) -> None:
        """Release workers the executor started."""


#: ``SweepBackend.create``: the backend's options (``workers``, an address) in.
CreateSweepExecutor: TypeAlias = Callable[..., SweepExecutor]

__all__ = [
    "AttendanceModelImpl",
    "Backend",
    "CreateAttendanceModel",
    "CreateProgressModel",
    "CreateProvider",
    "CreateSweepExecutor",
    "ExportCalendar",
    "OpenBackend",
    "ProgressModelImpl",
    "Provider",
    "Row",
    "Rule",
    "SweepExecutor",
    "Transaction",
]
