"""Sweeps: scenarios x replications x chunks, run by a backend, assembled into tables.

Backends are plugins (``iopcore_sweep_backends``); the built-ins are ``serial`` (in this
process), ``process`` (a local process pool, the default) and ``dask`` (a Dask distributed
cluster: an existing ``client``, a scheduler ``address``, or a new ``LocalCluster``). A
backend's ``create(**options)`` returns a :class:`SweepExecutor`. Because every chunk's
random streams depend only on its (scenario, replicate, purpose, chunk) key, every backend
and every number of workers gives bit-identical tables.

A progress bar (tqdm) shows chunks done when there is more than one and stderr is a
terminal, or when asked for.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Protocol, runtime_checkable

from .engine import ChunkResult, ChunkTask, chunk_tasks, simulate_chunk
from .errors import SimulationError
from .results import SimulationResult, assemble
from .scenario import Scenario

Runner = Callable[[ChunkTask], ChunkResult]
_TRIM_KEY = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


@runtime_checkable
class SweepExecutor(Protocol):
    """Runs tasks and yields their results in any order; ``close`` frees what it created."""

    def run(self, fn: Runner, tasks: Sequence[ChunkTask]) -> Iterator[ChunkResult]: ...

    def close(self) -> None: ...


class SerialExecutor:
    """Runs every task in this process, in order."""

    def run(self, fn: Runner, tasks: Sequence[ChunkTask]) -> Iterator[ChunkResult]:
        return (fn(task) for task in tasks)

    def close(self) -> None:
        return None


class ProcessExecutor:
    """A local process pool (spawned workers: the same on Linux, macOS and Windows)."""

    def __init__(self, workers: int | None = None, start_method: str = "spawn") -> None:
        self.workers = workers or os.cpu_count() or 1
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context(start_method)
        )

    def run(self, fn: Runner, tasks: Sequence[ChunkTask]) -> Iterator[ChunkResult]:
        futures = [self._pool.submit(fn, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Tasks on a Dask distributed cluster (extra ``dask``).

    ``client``: use it; ``address``: connect to that scheduler; neither: start a
    ``LocalCluster`` of ``workers`` single-threaded worker processes (closed by ``close``).
    Tasks are submitted with ``pure=False`` (never deduplicated or cached by key), and new
    workers get ``MALLOC_TRIM_THRESHOLD_`` so glibc returns freed chunk arrays to the OS
    instead of letting worker memory creep up.
    """

    def __init__(
        self,
        workers: int | None = None,
        address: str | None = None,
        client: Any = None,
        malloc_trim_threshold: int = 65536,
    ) -> None:
        try:
            import dask
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise SimulationError(
                "the dask backend needs the dask extra: pip install 'iopcore[dask]'"
            ) from None
        self._own: list[Any] = []
        if client is not None:
            self.client = client
        elif address is not None:
            self.client = Client(address)  # type: ignore[no-untyped-call]
            self._own.append(self.client)
        else:
            with dask.config.set({_TRIM_KEY: malloc_trim_threshold}):  # for new nannies only
                cluster = LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=workers or os.cpu_count() or 1,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
            self.client = Client(cluster)  # type: ignore[no-untyped-call]
            self._own += [self.client, cluster]

    def run(self, fn: Runner, tasks: Sequence[ChunkTask]) -> Iterator[ChunkResult]:
        from dask.distributed import as_completed as dask_completed

        futures = self.client.map(fn, list(tasks), pure=False)
        for future in dask_completed(futures):  # type: ignore[no-untyped-call]
            result: ChunkResult = future.result()
            future.release()
            yield result

    def close(self) -> None:
        for thing in self._own:
            thing.close()
        self._own.clear()


def _progress(total: int, enabled: bool | None) -> Any:
    from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

    if enabled is None:
        enabled = total > 1 and sys.stderr.isatty()
    return tqdm(total=total, disable=not enabled, unit="chunk", desc="simulating", leave=False)


def run(
    scenarios: Scenario | Sequence[Scenario],
    *,
    replications: int | None = None,
    seed: int | None = None,
    backend: str | SweepExecutor = "process",
    workers: int | None = None,
    progress: bool | None = None,
    common_random_numbers: bool = True,
    backend_options: dict[str, Any] | None = None,
) -> SimulationResult:
    """Run scenarios x replications and assemble the result tables.

    ``replications`` and ``seed`` default to the first scenario's. With
    ``common_random_numbers`` (the default) every scenario of the sweep shares its replicate's
    streams (the same synthetic people meet each structure, so differences between scenarios
    are not sampling noise); otherwise each scenario has its own branch of the seed tree.
    ``backend`` is a registered sweep backend's name or an executor; ``workers=1`` with the
    ``process`` backend runs in this process (no pool to start).
    """
    items = (scenarios,) if isinstance(scenarios, Scenario) else tuple(scenarios)
    if not items:
        raise SimulationError("nothing to simulate: pass at least one scenario")
    reps = replications if replications is not None else items[0].replications
    root = seed if seed is not None else items[0].seed
    if isinstance(reps, bool) or reps < 1:
        raise SimulationError(f"replications must be >= 1, got {reps}")
    if isinstance(root, bool) or root < 0:
        raise SimulationError(f"seed must be >= 0, got {root}")
    tasks = [
        task
        for i, scenario in enumerate(items)
        for task in chunk_tasks(
            scenario,
            index=i,
            stream=0 if common_random_numbers else i,
            replications=reps,
            seed=root,
        )
    ]
    executor, owned = _executor(backend, workers, backend_options or {})
    results: list[ChunkResult] = []
    try:
        with _progress(len(tasks), progress) as bar:
            for result in executor.run(simulate_chunk, tasks):
                results.append(result)
                bar.update(1)
    finally:
        if owned:
            executor.close()
    return assemble(items, results, replications=reps, seed=root)


def _executor(
    backend: str | SweepExecutor, workers: int | None, options: dict[str, Any]
) -> tuple[SweepExecutor, bool]:
    if not isinstance(backend, str):
        return backend, False
    if backend == "process" and workers == 1:
        return SerialExecutor(), True
    from iopcore.plugins import create_plugin_host

    record = create_plugin_host().sweep_backend(backend)
    if workers is not None:
        options = {**options, "workers": workers}
    executor = record.create(**options)
    if not isinstance(executor, SweepExecutor):
        raise SimulationError(f"sweep backend {backend!r} did not return a SweepExecutor")
    return executor, True


def simulate(
    scenario: Scenario,
    *,
    replications: int | None = None,
    seed: int | None = None,
    progress: bool | None = False,
) -> SimulationResult:
    """Run one scenario in this process (no pool): the quickest way to try something."""
    return run(
        scenario, replications=replications, seed=seed, backend=SerialExecutor(), progress=progress
    )


__all__ = [
    "DaskExecutor",
    "ProcessExecutor",
    "SerialExecutor",
    "SimulationError",
    "SweepExecutor",
    "run",
    "simulate",
]
