"""Sweeps: the same seed gives bit-identical tables whatever the backend or worker count."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
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
    with pytest.raises(SimulationError, match="replications must be a whole number from 1"):
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


SCRIPT = """\
from iopcore import load_program
from iopcore.simulation import DaskExecutor, Scenario, run

program = load_program({program!r})
scenario = Scenario(name="evening", program=program, participants=200, chunk_size=100)
"""
UNGUARDED = {
    "pool.py": SCRIPT + "result = run(scenario, replications=2, workers=2)\nprint('ran')\n",
    "on_dask.py": SCRIPT + "executor = DaskExecutor(workers=2)\nprint('ran')\n",
    "helper.py": SCRIPT
    + "def main():\n    return run(scenario, replications=2, workers=2)\n\n\nmain()\n",
}
ADVICE = 'put the script\'s code under `if __name__ == "__main__":`, or pass backend="serial"'


def _python(folder: Path, *scripts: str, stdin: str | None = None) -> list[tuple[int, str, str]]:
    """Run scripts of ``folder`` (and ``stdin`` as a script read from standard input) side by
    side; their exit codes, outputs and errors."""
    commands: list[tuple[list[str], str | None]] = [([sys.executable, n], None) for n in scripts]
    if stdin is not None:
        commands.append(([sys.executable, "-"], stdin))
    runs = [
        (
            subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL if text is None else subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=folder,
            ),
            text,
        )
        for command, text in commands
    ]
    out = []
    try:
        for process, text in runs:
            stdout, stderr = process.communicate(text, timeout=120)
            out.append((process.returncode, stdout, stderr))
    finally:
        for process, _ in runs:
            if process.poll() is None:
                process.kill()
                process.communicate()
    return out


def test_an_unguarded_script_gets_one_short_error(tmp_path: Path) -> None:
    """Worker processes re-import the main script: without the guard, say so, in a few lines
    (not 200 lines of RuntimeError, BrokenProcessPool and 'Nanny failed to start')."""
    for name, code in UNGUARDED.items():
        (tmp_path / name).write_text(code.format(program=str(PROGRAM)), encoding="utf-8")
    stdin = UNGUARDED["pool.py"].format(program=str(PROGRAM))
    results = _python(tmp_path, *UNGUARDED, stdin=stdin)
    for name, (status, out, err) in zip([*UNGUARDED, "<stdin>"], results, strict=True):
        assert status == 1, (name, err)
        assert out == "", name
        lines = err.strip().splitlines()
        assert len(lines) <= 10, (name, err)  # the traceback of the call, then the advice
        assert lines[-1].startswith("iopcore.simulation.errors.SimulationError: "), err
        assert "BrokenProcessPool" not in err, err
        assert "bootstrapping" not in err, err
        if name == "<stdin>":
            assert "code read from <stdin> (standard input) cannot start worker processes" in err
            assert 'or pass backend="serial"' in err
        else:
            line = {"pool.py": 6, "on_dask.py": 6, "helper.py": 10}[name]
            assert f"{name}, line {line}, starts worker processes outside" in err, err
            assert ADVICE in err


def test_a_guarded_script_runs_on_the_pool(tmp_path: Path) -> None:
    guarded = SCRIPT + (
        'if __name__ == "__main__":\n'
        "    result = run(scenario, replications=2, workers=2)\n"
        "    print(len(result.participants))\n"
    )
    (tmp_path / "guarded.py").write_text(guarded.format(program=str(PROGRAM)), encoding="utf-8")
    [(status, out, err)] = _python(tmp_path, "guarded.py")
    assert status == 0, err
    assert out.strip() == "400"


def test_a_worker_re_running_the_script_refuses_to_start_a_pool(
    scenarios: tuple[Scenario, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second line of defence: in a spawned worker, module-level code of ``__mp_main__``
    that reaches run() gets the advice, not a RuntimeError about bootstrapping."""
    import multiprocessing

    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    code = compile("run(scenario, workers=2)", "script.py", "exec")
    worker_main = {"__name__": "__mp_main__", "run": run, "scenario": scenarios[0]}
    with pytest.raises(SimulationError, match="a worker process started by this sweep"):
        exec(code, worker_main)
    with pytest.raises(SimulationError, match=re.escape(ADVICE)):
        exec(
            compile("ProcessExecutor(workers=2)", "script.py", "exec"),
            {"__name__": "__mp_main__", "ProcessExecutor": ProcessExecutor},
        )
    # the serial backend starts no workers, so it is left alone
    code = compile("result = run(scenario, backend='serial')", "script.py", "exec")
    exec(code, worker_main)
    assert len(worker_main["result"].participants) == 700  # type: ignore[attr-defined]


def test_a_broken_pool_is_a_simulation_error() -> None:
    pool = ProcessExecutor(workers=1)
    try:
        with pytest.raises(SimulationError, match="stopped abruptly") as caught:
            list(pool.run(os._exit, [3]))  # type: ignore[arg-type, list-item]
    finally:
        pool.close()
    assert ADVICE in str(caught.value)
    assert "lower chunk_size or workers" in str(caught.value)
