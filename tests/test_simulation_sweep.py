"""Sweeps: the same seed gives bit-identical tables whatever the backend or worker count."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iopcore import create_plugin_host, load_program
from iopcore.simulation import (
    DaskExecutor,
    ProcessExecutor,
    Scenario,
    SerialExecutor,
    SimulationError,
    generator,
    grid,
    run,
    sample,
    simulate,
)
from iopcore.simulation.engine import ChunkResult, ChunkTask, Purpose

PROGRAM = Path(__file__).resolve().parent.parent / "examples/programs/adult-evening.toml"


@pytest.fixture(scope="module")
def scenarios() -> tuple[Scenario, ...]:
    base = Scenario(
        name="evening", program=load_program(PROGRAM), participants=700, chunk_size=256, seed=5
    )
    return grid(base, {"options.reminders": [False, True]})


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)


class Shuffled:
    """A backend that runs tasks in a random order, as a pool's workers may finish them."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def run(self, fn: object, tasks: Sequence[ChunkTask]) -> Iterator[ChunkResult]:
        order = list(tasks)
        random.Random(self.seed).shuffle(order)
        return (fn(task) for task in order)  # type: ignore[operator]

    def close(self) -> None:
        return None


@settings(max_examples=15, deadline=None)
@given(order=st.integers(0, 2**32), seed=st.integers(0, 2**63 - 1))
def test_any_completion_order_gives_identical_tables(
    scenarios: tuple[Scenario, ...], order: int, seed: int
) -> None:
    serial = run(scenarios, replications=2, seed=seed, backend=SerialExecutor())
    shuffled = run(scenarios, replications=2, seed=seed, backend=Shuffled(order))
    same(serial.participants, shuffled.participants)
    same(serial.weekly, shuffled.weekly)


def test_process_pool_and_dask_match_serial_bit_for_bit(scenarios: tuple[Scenario, ...]) -> None:
    serial = run(scenarios, replications=2, seed=99, backend="serial")
    with_pool = run(scenarios, replications=2, seed=99, backend="process", workers=2)
    same(serial.participants, with_pool.participants)
    same(serial.weekly, with_pool.weekly)
    dask = DaskExecutor(workers=2)
    try:
        from dask.distributed import LocalCluster

        assert isinstance(dask.client.cluster, LocalCluster)
        assert len(dask.client.scheduler_info()["workers"]) == 2
        trim = dask.client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        assert set(trim.values()) == {"65536"}
        on_dask = run(scenarios, replications=2, seed=99, backend=dask)
    finally:
        dask.close()
    same(serial.participants, on_dask.participants)
    same(serial.weekly, on_dask.weekly)


def test_a_process_pool_with_one_worker_matches_too(scenarios: tuple[Scenario, ...]) -> None:
    pool = ProcessExecutor(workers=1)
    try:
        result = run(scenarios[:1], seed=3, backend=pool)
    finally:
        pool.close()
    same(result.participants, simulate(scenarios[0], seed=3).participants)


def test_seeds_and_replicates_change_the_draws(scenarios: tuple[Scenario, ...]) -> None:
    a = simulate(scenarios[0], seed=1, replications=2).participants
    b = simulate(scenarios[0], seed=2, replications=2).participants
    assert not a["sessions_attended"].equals(b["sessions_attended"])
    first, second = (a[a["replicate"] == r].reset_index(drop=True) for r in (0, 1))
    assert not first["sessions_attended"].equals(second["sessions_attended"])


def test_common_random_numbers_share_people_across_scenarios(
    scenarios: tuple[Scenario, ...],
) -> None:
    paired = run(scenarios, seed=4, backend="serial").participants
    one, two = (paired[paired["scenario"] == s.name].reset_index(drop=True) for s in scenarios)
    covariates = ["employed", "shift", "cooccurring", "entry_path", "age_group"]
    pd.testing.assert_frame_equal(
        one[covariates].astype(str), two[covariates].astype(str), check_exact=True
    )
    apart = run(scenarios, seed=4, backend="serial", common_random_numbers=False).participants
    one, two = (apart[apart["scenario"] == s.name].reset_index(drop=True) for s in scenarios)
    assert not one["employed"].equals(two["employed"])


def test_streams_are_keyed_by_purpose_and_chunk() -> None:
    draws = {
        (purpose, chunk): generator(1, 0, 0, purpose, chunk).random()
        for purpose in Purpose
        for chunk in (0, 1)
    }
    assert len(set(draws.values())) == len(draws)


def test_backends_are_plugins() -> None:
    assert {"serial", "process", "dask"} <= set(create_plugin_host().sweep_backends())


def test_bad_sweep_input_is_a_clear_error(scenarios: tuple[Scenario, ...]) -> None:
    with pytest.raises(SimulationError, match="at least one scenario"):
        run(())
    with pytest.raises(SimulationError, match="replications must be >= 1"):
        run(scenarios, replications=0)
    from iopcore import PluginError

    with pytest.raises(PluginError, match='did you mean "dask"'):
        run(scenarios, backend="dusk")


def test_sample_draws_reproducible_scenarios(scenarios: tuple[Scenario, ...]) -> None:
    ranges = {"model.effects.conflict": (-2.0, 0.0), "options.reminders": [False, True]}
    drawn = sample(scenarios[0], ranges, 5, seed=1)
    assert drawn == sample(scenarios[0], ranges, 5, seed=1)
    values = [s.model.effects.conflict for s in drawn]  # type: ignore[attr-defined]
    assert all(-2.0 <= v <= 0.0 for v in values)
    assert len(set(values)) == 5
    assert len({s.name for s in drawn}) == 5


def test_scenarios_are_picklable_for_workers(scenarios: tuple[Scenario, ...]) -> None:
    import pickle

    again = pickle.loads(pickle.dumps(scenarios[1]))
    assert attrs.asdict(again.options) == attrs.asdict(scenarios[1].options)
