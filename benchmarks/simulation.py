"""Benchmark: the simulation engine against a bare NumPy kernel, SimPy and Mesa; sweep scaling;
Dask against the process pool. Every ratio is measured in the same run, on the same machine.

Run from the project root (needs the ``bench`` extra: simpy, mesa, dask; a minute or two)::

    .venv/bin/python benchmarks/simulation.py

The model, the same everywhere (the default model's structure): 36 sessions (Mon/Wed/Fri
for 12 weeks, one 3-hour session a day, no closures), logistic latent engagement
(``intercept + z``), a daily hazard of disengaging (proportional hazards, engagement lowering
it), dropout after 30 days without an attended session, no other exits. Every contender
prints its mean sessions attended, so that one can see they simulate the same model.

* **engine vs kernel**: one call of ``iopcore.simulation.run`` (serial backend) against the
  bare kernel, at 10,000 and at 1,000,000 participants, both in chunks of 32,768. The engine's
  time is everything a user waits for: people drawn with their covariates, the program's
  calendar expanded, the model prepared, the visit loop, the result tables assembled in
  pandas. The kernel is only the arrays and the loop, written as one would by hand: the same
  draws (engagement, day of disengaging, one uniform per participant and session), the
  probability of attending computed once per participant (the engine caches it too), the
  same dropout rule, one count of sessions attended. Rates are participant-sessions per
  second; each side's time is its best of several runs, the two interleaved (best of 20 at
  10,000, of 3 at 1,000,000), and the median is printed beside it because other processes
  share the cores. Target: the engine >= 50% of the kernel's rate at both sizes. At 10,000
  the engine's fixed cost per call (population, calendar, tables) weighs most.
* **memory**: peak RSS of a fresh process that simulates 1,000,000 participants. Target:
  under 1 GiB.
* **vs SimPy and Mesa**: the same model as one SimPy process per participant and as one Mesa
  agent per participant (scheduled per session), all three at the same population size
  (20,000), each its best of several runs. Targets: the engine >= 100x SimPy and >= 30x
  Mesa.
* **sweep scaling**: a sweep on a pool of 2 worker processes vs a pool of 1 (pools started
  before timing). Target: >= 1.7x.
* **Dask**: the same sweep on a ``LocalCluster`` of 2 single-threaded worker processes.
  Target: within 15% of the process pool; and bit-identical tables.
"""

from __future__ import annotations

import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from datetime import time as clock
from typing import TypeVar

import numpy as np

from iopcore import Phase, Program, SessionKind, SessionType, Slot, Track
from iopcore.simulation import (
    DaskExecutor,
    Dropout,
    Effects,
    Exits,
    Hazards,
    LogisticModel,
    ProcessExecutor,
    Scenario,
    SerialExecutor,
    run,
)

T = TypeVar("T")
PARTICIPANTS = 1_000_000
CHUNK = 32_768
SESSIONS = 36
INTERCEPT = 1.6
DAILY_HAZARD = 0.006
ENGAGEMENT = -0.5
DROP_AFTER_DAYS = 30
#: Days of the sessions since admission (Monday): Mon/Wed/Fri for 12 weeks.
DAYS = [7 * w + d for w in range(12) for d in (0, 2, 4)]
PEERS_PARTICIPANTS = 20_000
PEER_REPEATS = 3
SWEEP_PARTICIPANTS = 400_000
SWEEP_CHUNK = 100_000
SWEEP_REPLICATIONS = 4

PROGRAM = Program(
    name="bench",
    session_types=(SessionType(name="group", kind=SessionKind.GROUP, minutes=180),),
    tracks=(
        Track(
            name="core",
            time_zone="America/New_York",
            phases=(
                Phase(
                    name="core",
                    min_weeks=12,
                    max_weeks=12,
                    slots=tuple(
                        Slot(day=d, start=clock(18), session_type="group")
                        for d in ("mon", "wed", "fri")
                    ),
                ),
            ),
        ),
    ),
)
NO_EXITS = Exits(transferred=0.0, terminated=0.0, other=0.0)
SIMPLE = LogisticModel(
    intercept=INTERCEPT,
    engagement_sd=1.0,
    dropout=Dropout(days=DROP_AFTER_DAYS, daily_hazard=DAILY_HAZARD, engagement=ENGAGEMENT),
    effects=Effects(),
    hazards=Hazards(employed=0.0, cooccurring=0.0, incentives=0.0),
)
RATE = -math.log1p(-DAILY_HAZARD)


def scenario(participants: int, chunk: int) -> Scenario:
    return Scenario(
        name="simple",
        program=PROGRAM,
        model=SIMPLE,
        exits=NO_EXITS,
        participants=participants,
        chunk_size=chunk,
        seed=1,
    )


def kernel(participants: int, chunk: int, seed: int = 1) -> tuple[int, float]:
    """The bare kernel; returns participant-sessions and the mean sessions attended."""
    rng = np.random.default_rng(seed)
    done = attended_total = 0
    for first in range(0, participants, chunk):
        n = min(chunk, participants - first)
        z = rng.standard_normal(n)
        p = 1.0 / (1.0 + np.exp(-(INTERCEPT + z)))  # each participant's, once
        leaves = -np.log1p(-rng.random(n)) / (RATE * np.exp(ENGAGEMENT * z))
        last = np.zeros(n)
        active = np.ones(n, bool)
        attended = np.zeros(n, np.int32)
        for day in DAYS:
            came = (rng.random(n) < p) & active & (day < leaves)
            last = np.where(came, day, last)
            attended += came
            active &= day - last < DROP_AFTER_DAYS
        done += n * SESSIONS
        attended_total += int(attended.sum())
    return done, attended_total / participants


def draw_person(rng: random.Random) -> tuple[float, float]:
    """Engagement and the day of disengaging for one participant (SimPy and Mesa)."""
    z = rng.gauss(0.0, 1.0)
    return INTERCEPT + z, -math.log1p(-rng.random()) / (RATE * math.exp(ENGAGEMENT * z))


def simpy_model(participants: int, seed: int = 1) -> tuple[int, float]:
    import simpy  # type: ignore[import-not-found,unused-ignore]

    rng = random.Random(seed)
    env = simpy.Environment()
    attended = [0]
    # hours from Monday 00:00 to each session (Mon/Wed/Fri 18:00 for 12 weeks)
    times = [day * 24 + 18 for day in DAYS]

    def participant(env: simpy.Environment, engagement: float, leaves: float) -> object:
        last = 0
        p = 1.0 / (1.0 + math.exp(-engagement))
        for at, day in zip(times, DAYS, strict=True):
            yield env.timeout(at - env.now)
            if day < leaves and rng.random() < p:
                attended[0] += 1
                last = day
            elif day - last >= DROP_AFTER_DAYS:
                return None
        return None

    for _ in range(participants):
        env.process(participant(env, *draw_person(rng)))  # type: ignore[arg-type,unused-ignore]
    env.run()
    return participants * SESSIONS, attended[0] / participants


def mesa_model(participants: int, seed: int = 1) -> tuple[int, float]:
    import mesa  # type: ignore[import-untyped,import-not-found,unused-ignore]

    class Person(mesa.Agent):  # type: ignore[misc,unused-ignore]
        def __init__(self, model: mesa.Model, engagement: float, leaves: float) -> None:
            super().__init__(model)
            self.p = 1.0 / (1.0 + math.exp(-engagement))
            self.leaves = leaves
            self.last = 0
            self.active = True
            self.attended = 0

        def step(self) -> None:
            if not self.active:
                return
            day = self.model.day
            if day < self.leaves and self.random.random() < self.p:
                self.attended += 1
                self.last = day
            else:
                self.active = day - self.last < DROP_AFTER_DAYS

    class Clinic(mesa.Model):  # type: ignore[misc,unused-ignore]
        def __init__(self, n: int) -> None:
            super().__init__(seed=seed)
            self.day = 0
            for _ in range(n):
                Person(self, *draw_person(self.random))

        def step(self) -> None:
            self.agents.do("step")

    model = Clinic(participants)
    for day in DAYS:
        model.day = day
        model.step()
    total = sum(agent.attended for agent in model.agents)
    return participants * SESSIONS, total / participants


def peak_rss_mib(participants: int) -> float:
    """Peak RSS of a fresh process simulating ``participants`` (MiB)."""
    import subprocess

    code = (
        "import resource, sys; sys.path.insert(0, 'benchmarks'); import simulation as b; "
        "from iopcore.simulation import run, SerialExecutor; "
        f"r = run(b.scenario({participants}, b.CHUNK), backend=SerialExecutor(), progress=False); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def engine_vs_kernel(participants: int, repeats: int) -> float:
    """Engine and kernel at one size, interleaved, each its best of ``repeats`` after a
    warm-up run; prints them; returns the engine's participant-sessions per second."""
    sc = scenario(participants, CHUNK)
    kernel_times: list[float] = []
    engine_times: list[float] = []
    kernel(participants, CHUNK)  # warm-up: first calls pay for imports and caches
    run(sc, backend=SerialExecutor(), progress=False)
    for _ in range(repeats):
        seconds, (kernel_work, kernel_mean) = timed(lambda: kernel(participants, CHUNK))
        kernel_times.append(seconds)
        seconds, result = timed(lambda: run(sc, backend=SerialExecutor(), progress=False))
        engine_times.append(seconds)
    table = result.participants
    engine_work = int(table["sessions_scheduled"].count()) * SESSIONS
    engine_mean = float(table["sessions_attended"].mean())
    kernel_s, engine_s = min(kernel_times), min(engine_times)
    kernel_rate, engine_rate = kernel_work / kernel_s, engine_work / engine_s
    ratio = engine_rate / kernel_rate
    print(
        f"engine vs bare NumPy kernel ({participants:,} participants, chunks of {CHUNK:,}, "
        f"best of {repeats}, interleaved)"
    )
    print(
        f"  kernel  {kernel_s * 1e3:8.1f} ms (median {median(kernel_times) * 1e3:8.1f})  "
        f"{kernel_rate:>13,.0f} participant-sessions/s  (mean sessions attended "
        f"{kernel_mean:.2f})"
    )
    print(
        f"  engine  {engine_s * 1e3:8.1f} ms (median {median(engine_times) * 1e3:8.1f})  "
        f"{engine_rate:>13,.0f} participant-sessions/s  (mean sessions attended "
        f"{engine_mean:.2f}; incl. population, calendar, tables)"
    )
    print(f"  ratio engine/kernel {ratio:.2f}: {verdict(ratio >= 0.5)} the target of >= 0.50")
    return engine_rate


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    began = time.perf_counter()
    value = fn()
    return time.perf_counter() - began, value


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def main() -> None:
    print("iopcore simulation benchmark")
    print(
        f"  python {platform.python_version()} on {sys.platform}, {os.cpu_count()} cores, "
        f"numpy {np.__version__}; load average before the run {load()}"
    )
    print(
        f"  model: {SESSIONS} sessions, logistic engagement, daily disengagement hazard "
        f"{DAILY_HAZARD}, dropout after {DROP_AFTER_DAYS} days without an attended session"
    )

    # -- engine vs bare kernel -------------------------------------------------------------
    print()
    engine_vs_kernel(10_000, repeats=20)
    print()
    engine_vs_kernel(PARTICIPANTS, repeats=3)
    rss = peak_rss_mib(PARTICIPANTS)
    print(
        f"  memory: peak RSS of a fresh process simulating {PARTICIPANTS:,} participants "
        f"{rss:.0f} MiB: {verdict(rss < 1024)} the target of < 1024 MiB"
    )

    # -- vs SimPy and Mesa ------------------------------------------------------------------
    print()
    n = PEERS_PARTICIPANTS
    print(f"engine vs agent-based frameworks (the same model, {n:,} participants for each)")
    sc = scenario(n, CHUNK)
    runs = [timed(lambda: run(sc, backend=SerialExecutor(), progress=False)) for _ in range(5)]
    engine_s = min(seconds for seconds, _ in runs)
    engine_rate = n * SESSIONS / engine_s
    engine_mean = float(runs[0][1].participants["sessions_attended"].mean())
    print(
        f"  engine {engine_s:6.3f} s  {engine_rate:>13,.0f} participant-sessions/s  "
        f"(mean sessions attended {engine_mean:.2f}; best of 5)"
    )
    for label, fn, target in (("SimPy", simpy_model, 100.0), ("Mesa", mesa_model, 30.0)):
        peer = [timed(lambda fn=fn: fn(n)) for _ in range(PEER_REPEATS)]  # type: ignore[misc]
        seconds = min(s for s, _ in peer)
        work, mean = peer[0][1]
        rate = work / seconds
        print(
            f"  {label:<6} {seconds:6.2f} s  {rate:>13,.0f} participant-sessions/s  "
            f"(mean sessions attended {mean:.2f}; best of {PEER_REPEATS})"
        )
        speedup = engine_rate / rate
        print(
            f"  engine/{label} {speedup:,.0f}x: {verdict(speedup >= target)} the target of "
            f">= {target:.0f}x"
        )

    # -- sweep scaling and Dask ------------------------------------------------------------
    sweep = [
        attrs_evolve(scenario(SWEEP_PARTICIPANTS, SWEEP_CHUNK), name=f"s{i}", seed=1)
        for i in range(2)
    ]
    tasks = 2 * SWEEP_REPLICATIONS * math.ceil(SWEEP_PARTICIPANTS / SWEEP_CHUNK)
    print()
    print(
        f"sweep: 2 scenarios x {SWEEP_REPLICATIONS} replications x "
        f"{SWEEP_PARTICIPANTS:,} participants ({tasks} chunks of {SWEEP_CHUNK:,})"
    )
    times: dict[str, float] = {}
    tables = {}
    for label, make in (
        ("process pool, 1 worker", lambda: ProcessExecutor(workers=1)),
        ("process pool, 2 workers", lambda: ProcessExecutor(workers=2)),
        ("dask LocalCluster, 2 workers", lambda: DaskExecutor(workers=2)),
    ):
        executor = make()
        try:
            run(scenario(2_000, 1_000), backend=executor, progress=False)  # start the workers
            best = math.inf
            for _ in range(2):
                seconds, result = timed(
                    lambda executor=executor: run(  # type: ignore[misc]
                        sweep, replications=SWEEP_REPLICATIONS, backend=executor, progress=False
                    )
                )
                best = min(best, seconds)
            tables[label] = result.participants
        finally:
            executor.close()
        times[label] = best
        rows = SWEEP_PARTICIPANTS * 2 * SWEEP_REPLICATIONS
        rate = rows * SESSIONS / best
        print(f"  {label:<30} {best:6.2f} s  {rate:>13,.0f} participant-sessions/s")
    scaling = times["process pool, 1 worker"] / times["process pool, 2 workers"]
    print(
        f"  scaling 2 workers / 1 worker {scaling:.2f}x: {verdict(scaling >= 1.7)} the target "
        "of >= 1.7x"
    )
    ceiling = hardware_ceiling()
    print(
        f"  this machine's ceiling: the bare kernel twice in 1 process vs once in each of 2 "
        f"processes at the same time: {ceiling:.2f}x"
    )
    slower = times["dask LocalCluster, 2 workers"] / times["process pool, 2 workers"] - 1
    print(
        f"  dask vs process pool: {slower:+.0%} time: {verdict(slower <= 0.15)} the target of "
        "within 15%"
    )
    print(f"  load average after the sweeps {load()} (other processes share these cores)")
    first, *rest = tables.values()
    same = all(first.equals(other) for other in rest)
    print(f"  identical tables across the three backends: {'yes' if same else 'NO'}")


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def hardware_ceiling() -> float:
    """How much faster two processes do two kernels' work than one process (2.0 is ideal)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    work = [SWEEP_PARTICIPANTS] * 2
    chunks = [CHUNK] * 2
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        list(pool.map(kernel, [1_000, 1_000], [1_000, 1_000]))  # start both workers
        one, _ = timed(lambda: [kernel(n, c) for n, c in zip(work, chunks, strict=True)])
        two, _ = timed(lambda: list(pool.map(kernel, work, chunks)))
    return one / two


def attrs_evolve(sc: Scenario, **changes: object) -> Scenario:
    import attrs

    return attrs.evolve(sc, **changes)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
