"""Benchmark: the per-run overhead of sensitivity and uncertainty analyses, measured in one run.

Run from the project root (needs the ``sim`` and ``sensitivity`` extras; about a minute)::

    .venv/bin/python benchmarks/analysis.py

A sensitivity or uncertainty analysis runs many small arms (one per sampled parameter set)
through one sweep: one calendar per program (cached) and one worker pool for the whole run.
What matters is the fixed cost each arm adds on top of simulating its people:

* **engine**: ``run`` (serial backend) on ``ARMS`` sampled scenarios of 1,000 participants
  each (12 weeks, 3 sessions a week), per arm, tables assembled;
* **kernel**: the bare NumPy kernel on the same work (1,000 people x 36 sessions, the same
  logistic model, no people drawn, no calendar, no tables), per arm;
* **overhead** = engine - kernel per arm. Target: < 20 ms, printed with the ratio
  engine / kernel.
"""

from __future__ import annotations

import time

import numpy as np

from iopcore import load_program
from iopcore.simulation import Scenario, run, sample

ARMS = 200
PEOPLE = 1000
SESSIONS = 36


def kernel(people: int, seed: int) -> float:
    """Latent engagement, a miss-streak penalty, dropout after 3 misses in a row: arrays only."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=people) + 1.6
    streak = np.zeros(people)
    active = np.ones(people, dtype=bool)
    attended = np.zeros(people)
    for _ in range(SESSIONS):
        p = 1.0 / (1.0 + np.exp(-(z - 0.4 * streak)))
        came = (rng.random(people) < p) & active
        attended += came
        streak = np.where(came, 0.0, streak + active)
        active &= streak < 3
    return float(attended.mean())


def main() -> None:
    program = load_program("examples/programs/adult-evening.toml")
    base = Scenario(name="arm", program=program, participants=PEOPLE)
    arms = sample(
        base, {"model.effects.conflict": (-2.0, 0.0), "model.effects.evening": (-0.5, 0.5)}, ARMS
    )
    run(arms[:2], backend="serial", progress=False)  # warm: imports, the cached calendar
    start = time.perf_counter()
    run(arms, backend="serial", progress=False)
    engine = (time.perf_counter() - start) / ARMS
    start = time.perf_counter()
    for i in range(ARMS):
        kernel(PEOPLE, i)
    bare = (time.perf_counter() - start) / ARMS
    overhead = engine - bare
    print(f"{ARMS} arms x {PEOPLE:,} participants, serial backend")
    print(f"  engine per arm:   {engine * 1000:7.2f} ms")
    print(f"  kernel per arm:   {bare * 1000:7.2f} ms")
    print(
        f"  overhead per arm: {overhead * 1000:7.2f} ms (target < 20 ms: "
        f"{'met' if overhead < 0.020 else 'MISSED'}); engine / kernel = {engine / bare:.1f}x"
    )


if __name__ == "__main__":
    main()
