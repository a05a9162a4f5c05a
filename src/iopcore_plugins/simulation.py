"""Built-in simulation plugins: attendance models, progress models and sweep backends.

Importing this module needs nothing beyond iopcore: numpy and friends are imported when a
model or backend is created, so the plugin host works without the ``sim`` extra.

>>> from iopcore import create_plugin_host
>>> host = create_plugin_host()
>>> sorted(host.attendance_models()), sorted(host.sweep_backends())
(['latent-class', 'logistic', 'markov'], ['dask', 'process', 'serial'])
>>> sorted(host.progress_models())
['trend']
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from iopcore.plugins.hookspecs import hookimpl
from iopcore.plugins.records import AttendanceModel, ProgressModel, SweepBackend


def _logistic(**params: Any) -> Any:
    from iopcore.simulation.models import create_logistic

    return create_logistic(**params)


def _latent_class(**params: Any) -> Any:
    from iopcore.simulation.models import create_latent_class

    return create_latent_class(**params)


def _markov(**params: Any) -> Any:
    from iopcore.simulation.models import create_markov

    return create_markov(**params)


def _trend(**params: Any) -> Any:
    from iopcore.simulation.progress import create_trend

    return create_trend(**params)


def _serial(**options: Any) -> Any:
    from iopcore.simulation.sweep import SerialExecutor

    options.pop("workers", None)
    if options:
        raise TypeError(f"the serial backend takes no options, got {sorted(options)}")
    return SerialExecutor()


def _process(**options: Any) -> Any:
    from iopcore.simulation.sweep import ProcessExecutor

    return ProcessExecutor(**options)


def _dask(**options: Any) -> Any:
    from iopcore.simulation.sweep import DaskExecutor

    return DaskExecutor(**options)


@hookimpl
def iopcore_attendance_models() -> Iterable[AttendanceModel]:
    return [
        AttendanceModel(
            name="logistic",
            create=_logistic,
            description="latent engagement, miss-streak penalty, schedule-conflict, session-"
            "length and option effects on the log-odds of attending (the default)",
        ),
        AttendanceModel(
            name="latent-class",
            create=_latent_class,
            description="steady, titrating and dropping attenders",
        ),
        AttendanceModel(
            name="markov",
            create=_markov,
            description="weekly Markov chain: engaged, struggling, absorbing dropout",
        ),
    ]


@hookimpl
def iopcore_progress_models() -> Iterable[ProgressModel]:
    return [
        ProgressModel(
            name="trend",
            create=_trend,
            description="screens negative with a per-participant probability that may trend "
            "over the weeks; assessment scores with a linear trend and noise (the default)",
        )
    ]


@hookimpl
def iopcore_sweep_backends() -> Iterable[SweepBackend]:
    return [
        SweepBackend(name="serial", create=_serial, description="in this process, in order"),
        SweepBackend(
            name="process",
            create=_process,
            description="a local process pool (the default); options: workers",
        ),
        SweepBackend(
            name="dask",
            create=_dask,
            description="Dask distributed (extra dask); options: workers, address, client",
        ),
    ]
