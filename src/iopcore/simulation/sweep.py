"""Sweeps: scenarios x replications x chunks, run by a backend, assembled into tables.

Backends are plugins (``iopcore_sweep_backends``); the built-ins are ``serial`` (in this
process), ``process`` (a local process pool, the default) and ``dask`` (a Dask distributed
cluster: an existing ``client``, a scheduler ``address``, or a new ``LocalCluster``). A
backend's ``create(**options)`` returns a :class:`SweepExecutor`. Because every chunk's
random streams depend only on its (scenario, replicate, purpose, chunk) key, every backend
and every number of workers gives bit-identical tables.

A progress bar (tqdm) shows chunks done when there is more than one and stderr is a
terminal, or when asked for.

Worker processes (the process pool, a Dask ``LocalCluster``) are *spawned*: each starts by
re-importing the main script. A script that starts a sweep outside ``if __name__ ==
"__main__":`` would start it again in every worker, so :func:`run` and the executors check
first and raise one :class:`SimulationError` that says how to fix it; a pool whose workers
die anyway is reported the same way, not as ``BrokenProcessPool``.
"""

from __future__ import annotations

import ast
import inspect
import multiprocessing
import os
import sys
import tokenize
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from types import FrameType
from typing import Any

from iopcore.plugins.protocols import SweepExecutor

from .engine import ChunkResult, ChunkTask, chunk_tasks, simulate_chunk
from .errors import SimulationError
from .results import SimulationResult, assemble
from .scenario import LIMITS, Scenario

Runner = Callable[[ChunkTask], ChunkResult]
_TRIM_KEY = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
_GUARD = 'if __name__ == "__main__":'
_FIX = f'put the script\'s code under `{_GUARD}`, or pass backend="serial"'


def _module_frames() -> Iterator[FrameType]:
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_code.co_name == "<module>":
            yield frame
        frame = frame.f_back


def _guarded(path: str, line: int) -> bool:
    """Whether ``line`` of the script ``path`` lies inside an ``if`` on ``__name__`` and
    ``"__main__"`` (True when the source cannot be read: never refuse on a guess)."""
    try:
        with tokenize.open(path) as file:
            tree = ast.parse(file.read())
    except (OSError, SyntaxError, ValueError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and node.lineno <= line <= (node.end_lineno or line):
            parts = list(ast.walk(node.test))
            names = {n.id for n in parts if isinstance(n, ast.Name)}
            values = {n.value for n in parts if isinstance(n, ast.Constant)}
            if "__name__" in names and "__main__" in values:
                return True
    return False


def spawn_problem() -> str | None:
    """Why starting spawned worker processes from here would fail, or None if it is fine.

    Spawned workers re-import the main script (as ``__mp_main__``) before they run anything,
    exactly as :mod:`multiprocessing` decides to. So it is a problem when this is such a worker
    (module-level code of ``__mp_main__`` called us), when the main script's module-level code
    calls us outside ``if __name__ == "__main__":`` (every worker would start the sweep
    again), or when the main "script" was read from standard input (workers cannot re-import
    it). Interactive sessions, ``python -c``, notebooks and ``python -m package`` are fine.
    """
    if multiprocessing.parent_process() is not None:
        for frame in _module_frames():
            if frame.f_globals.get("__name__") == "__mp_main__":
                return (
                    "a worker process started by this sweep re-imported your script and "
                    "reached code that starts worker processes again: the script runs it "
                    f"outside `{_GUARD}`; {_FIX}"
                )
    main = sys.modules.get("__main__")
    if main is None or getattr(sys, "frozen", False):
        return None
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    if spec_name == "__main__" or str(spec_name).endswith(".__main__"):
        return None  # workers do not re-run a package's __main__ (multiprocessing.spawn)
    path = getattr(main, "__file__", None)
    if not isinstance(path, str):
        return None  # interactive, python -c, a notebook: nothing to re-import
    if spec_name is None and not os.path.isfile(path):
        return (
            f"code read from {path} (standard input) cannot start worker processes: each "
            "worker starts by re-importing the main script, and there is none. Save the code "
            f'as a script with its code under `{_GUARD}`, or pass backend="serial"'
        )
    for frame in _module_frames():
        if frame.f_globals is vars(main):
            if _guarded(path, frame.f_lineno):
                return None
            return (
                f"{os.path.basename(path)}, line {frame.f_lineno}, starts worker processes "
                f"outside `{_GUARD}`; each worker starts by re-importing the script, so it "
                f"would run this line again: {_FIX}"
            )
    return None


def _broken(cause: str) -> SimulationError:
    return SimulationError(
        f"{cause}. If the script that runs the sweep has code outside `{_GUARD}`, every "
        f"worker runs it again when it starts: {_FIX}. If a worker ran out of memory, lower "
        "chunk_size or workers"
    )


class SerialExecutor:
    """Runs every task in this process, in order."""

    def run(self, fn: Runner, tasks: Sequence[ChunkTask]) -> Iterator[ChunkResult]:
        return (fn(task) for task in tasks)

    def close(self) -> None:
        return None


class ProcessExecutor:
    """A local process pool (spawned workers: the same on Linux, macOS and Windows)."""

    def __init__(self, workers: int | None = None, start_method: str = "spawn") -> None:
        problem = None if start_method == "fork" else spawn_problem()
        if problem is not None:
            raise SimulationError(problem)  # here, for a short traceback
        self.workers = workers or os.cpu_count() or 1
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context(start_method)
        )

    def run(self, fn: Runner, tasks: Sequence[ChunkTask]) -> Iterator[ChunkResult]:
        try:
            futures = [self._pool.submit(fn, task) for task in tasks]
            for future in as_completed(futures):
                yield future.result()
        except BrokenProcessPool:
            raise _broken("a worker process of the process pool stopped abruptly") from None

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


#: Seconds to wait for an existing Dask scheduler before giving up.
CONNECT_TIMEOUT = 10


def _connect(client_cls: Any, address: object) -> Any:
    """A client of the scheduler at ``address``, or a one-line SimulationError that names the
    address without its password."""
    from iopcore.io.urls import mask_url

    shown = mask_url(address) if isinstance(address, str) and address.strip() else repr(address)
    if not isinstance(address, str) or not address.strip():
        raise SimulationError(
            f"--scheduler {shown!s}: give the scheduler's address, e.g. tcp://10.0.0.5:8786"
        )
    try:
        return client_cls(address, timeout=CONNECT_TIMEOUT)
    except (OSError, ValueError, TypeError, TimeoutError) as exc:
        problem = str(exc).replace(address, shown)
        secret = _password(address)
        if not problem or (secret and secret in problem):
            problem = "cannot connect"
        raise SimulationError(
            f"--scheduler {shown}: no Dask scheduler reachable within {CONNECT_TIMEOUT} s "
            f"({type(exc).__name__}: {problem}); check the address (e.g. "
            "tcp://10.0.0.5:8786) and that `dask scheduler` runs there"
        ) from None


def _password(address: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(address).password
    except ValueError:
        return None


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
            self.client = _connect(Client, address)
            self._own.append(self.client)
        else:
            problem = spawn_problem()
            if problem is not None:
                raise SimulationError(problem)  # here, for a short traceback
            try:
                with dask.config.set({_TRIM_KEY: malloc_trim_threshold}):  # new nannies only
                    cluster = LocalCluster(  # type: ignore[no-untyped-call]
                        n_workers=workers or os.cpu_count() or 1,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=":0",  # any free port: sweeps side by side
                    )
            except RuntimeError as exc:  # "Nanny failed to start", ...
                raise _broken(f"the Dask LocalCluster did not start ({exc})") from None
            self.client = Client(cluster)  # type: ignore[no-untyped-call]
            self._own += [self.client, cluster]

    def run(self, fn: Runner, tasks: Sequence[ChunkTask]) -> Iterator[ChunkResult]:
        from dask.distributed import KilledWorker
        from dask.distributed import as_completed as dask_completed

        futures = self.client.map(fn, list(tasks), pure=False)
        try:
            for future in dask_completed(futures):  # type: ignore[no-untyped-call]
                result: ChunkResult = future.result()
                future.release()
                yield result
        except KilledWorker as exc:
            raise _broken(f"Dask workers died running a chunk ({exc})") from None

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
    dask_client: Any = None,
) -> SimulationResult:
    """Run scenarios x replications and assemble the result tables.

    ``replications`` and ``seed`` default to the first scenario's. With
    ``common_random_numbers`` (the default) every scenario of the sweep shares its replicate's
    streams (the same synthetic people meet each structure, so differences between scenarios
    are not sampling noise); otherwise each scenario has its own branch of the seed tree.
    ``backend`` is a registered sweep backend's name or an executor; ``workers=1`` with the
    ``process`` backend runs in this process (no pool to start). ``dask_client``: a
    ``distributed.Client`` of a cluster you already have (implies ``backend="dask"``; the
    client stays yours to close).

    The ``process`` and ``dask`` backends start worker processes that re-import the main
    script, so a script that calls this outside ``if __name__ == "__main__":`` gets a
    :class:`SimulationError` saying so (see :func:`spawn_problem`), before anything starts.
    """
    items = (scenarios,) if isinstance(scenarios, Scenario) else tuple(scenarios)
    if not items:
        raise SimulationError("nothing to simulate: pass at least one scenario")
    reps = replications if replications is not None else items[0].replications
    root = seed if seed is not None else items[0].seed
    top = LIMITS["replications"]
    if isinstance(reps, bool) or not isinstance(reps, int) or not 1 <= reps <= top:
        raise SimulationError(f"replications must be a whole number from 1 to {top:,}, got {reps}")
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
    options = backend_options or {}
    if dask_client is not None:
        backend, options = "dask", {**options, "client": dask_client}
    spawns = (
        backend == "process" and workers != 1 and options.get("start_method", "spawn") != "fork"
    ) or (backend == "dask" and options.get("address") is None and options.get("client") is None)
    if spawns:
        problem = spawn_problem()
        if problem is not None:
            raise SimulationError(problem)  # here, for a short traceback
    executor, owned = _executor(backend, workers, options)
    results: list[ChunkResult] = []
    try:
        with _progress(len(tasks), progress) as bar:
            for result in executor.run(simulate_chunk, tasks):
                results.append(result)
                bar.update(1)
    finally:
        if owned:
            executor.close()
    return assemble(
        items,
        results,
        replications=reps,
        seed=root,
        common_random_numbers=common_random_numbers,
    )


def _executor(
    backend: str | SweepExecutor, workers: int | None, options: dict[str, Any]
) -> tuple[SweepExecutor, bool]:
    if not isinstance(backend, str):
        return backend, False
    if backend == "process" and workers == 1:
        return SerialExecutor(), True
    from iopcore.plugins import default_host

    record = default_host().sweep_backend(backend)
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
    "spawn_problem",
]
