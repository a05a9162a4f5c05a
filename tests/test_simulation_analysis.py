"""Publishable simulation results: paired contrasts, restricted means, provenance and replay,
Latin hypercube samples, parameter uncertainty, SALib sensitivity, an existing Dask cluster."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iopcore import load_program
from iopcore.app.cli import main
from iopcore.core.errors import ValidationError
from iopcore.simulation import (
    PARAMETERS,
    Scenario,
    SimulationError,
    contrasts,
    format_contrasts,
    grid,
    replay,
    restricted_mean,
    run,
    sample,
    sensitivity,
    simulate,
    simulate_with_uncertainty,
    summarize,
    summarize_uncertainty,
    with_overrides,
    write_table,
)
from iopcore.simulation.options import Admission, Options
from iopcore.simulation.provenance import of, read_record, record, scenarios_from_record
from iopcore.simulation.results import replicate_metrics
from iopcore.simulation.uncertainty import parameter

ROOT = Path(__file__).resolve().parents[1]
EVENING = load_program(ROOT / "examples/programs/adult-evening.toml")
REMINDERS = ROOT / "examples/scenarios/reminders.toml"


def _row(table: pd.DataFrame, **match: str) -> dict[str, float]:
    """The numeric cells of the one row of ``table`` whose columns equal ``match``."""
    rows = [r for r in table.to_dict("records") if all(r[k] == v for k, v in match.items())]
    assert len(rows) == 1, match
    return {str(k): float(v) for k, v in rows[0].items() if isinstance(v, int | float)}


def _base(**kwargs: object) -> Scenario:
    return Scenario(name="evening", program=EVENING, participants=300, **kwargs)  # type: ignore[arg-type]


# -- paired contrasts --------------------------------------------------------------------


def test_an_arm_against_itself_differs_by_exactly_nothing() -> None:
    base = _base()
    twin = attrs.evolve(base, name="twin")
    table = contrasts(run([base, twin], replications=3, backend="serial", progress=False))
    assert (table["difference"] == 0).all()
    assert (table["ci_low"] == 0).all()
    assert (table["ci_high"] == 0).all()
    assert table["paired"].all()


def test_contrasts_are_the_mean_of_paired_replicate_differences() -> None:
    arms = grid(_base(), {"options.reminders": [False, True]})
    result = run(arms, replications=4, backend="serial", progress=False)
    rate = _row(contrasts(result), metric="attendance_rate")
    per = replicate_metrics(result.participants)
    off = per[per["scenario"] == arms[0].name].set_index("replicate")["attendance_rate"]
    on = per[per["scenario"] == arms[1].name].set_index("replicate")["attendance_rate"]
    assert rate["difference"] == pytest.approx(float((on - off).mean()))
    assert rate["ci_low"] > 0  # reminders raise attendance
    # Pairing makes the difference more precise than the two arms' own intervals suggest.
    summary = summarize(result)
    widths = [
        _row(summary, scenario=arm.name, metric="attendance_rate")["ci_high"]
        - _row(summary, scenario=arm.name, metric="attendance_rate")["ci_low"]
        for arm in arms
    ]
    independent = math.hypot(*widths)  # the width if the arms had been simulated apart
    assert rate["ci_high"] - rate["ci_low"] < independent


def test_contrasts_compare_retention_at_chosen_weeks() -> None:
    arms = grid(_base(), {"options.reminders": [False, True]})
    result = run(arms, replications=3, backend="serial", progress=False)
    table = contrasts(result, metrics=["completed"], retention_weeks=(2, 6))
    assert list(table["metric"]) == ["completed", "retained_week_2", "retained_week_6"]
    week6 = _row(table, metric="retained_week_6")
    assert week6["difference"] > 0  # reminders keep more people
    with pytest.raises(SimulationError, match="whole numbers >= 1"):
        contrasts(result, retention_weeks=(0,))


def test_contrasts_say_when_common_random_numbers_were_off() -> None:
    arms = grid(_base(), {"options.reminders": [False, True]})
    result = run(
        arms, replications=3, backend="serial", progress=False, common_random_numbers=False
    )
    table = contrasts(result)
    assert not table["paired"].any()
    assert "OFF" in format_contrasts(table)
    with pytest.raises(SimulationError, match="reference arm 'nope'"):
        contrasts(result, reference="nope")


# -- restricted mean time in treatment ---------------------------------------------------


@given(
    st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=60),
    st.integers(min_value=1, max_value=40),
)
def test_restricted_mean_without_censoring_is_the_mean_of_min_t_tau(
    times: list[int], tau: int
) -> None:
    t = np.array(times)
    expected = float(np.minimum(t, tau).mean())
    assert restricted_mean(t, np.ones(len(t), bool), tau) == pytest.approx(expected)


@settings(max_examples=40)
@given(
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=20), st.booleans()), min_size=2, max_size=50
    )
)
def test_restricted_mean_agrees_with_lifelines(data: list[tuple[int, bool]]) -> None:
    lifelines = pytest.importorskip("lifelines")
    from lifelines.utils import restricted_mean_survival_time

    times = np.array([t for t, _ in data])
    events = np.array([e for _, e in data])
    tau = int(times.max())
    kmf = lifelines.KaplanMeierFitter().fit(times, events)
    theirs = float(restricted_mean_survival_time(kmf, t=tau))
    assert restricted_mean(times, events, tau) == pytest.approx(theirs, abs=1e-8)


def test_time_in_treatment_is_a_restricted_mean_when_the_horizon_cuts_stays() -> None:
    rolling = _base(
        options=Options(admission=Admission.ROLLING, admission_weeks=8), horizon_weeks=10
    )
    result = simulate(rolling, replications=2)
    people = result.participants
    assert (people["outcome"] == "still_enrolled").any()
    naive = people.groupby("replicate")["weeks_retained"].mean()
    summary = replicate_metrics(people).set_index("replicate")["weeks_retained"]
    # Stays cut short by the horizon are censored, not counted as if they had ended there.
    assert (summary > naive).all()


# -- provenance and replay ---------------------------------------------------------------


def test_tables_carry_what_made_the_arms_differ() -> None:
    arms = grid(
        _base(), {"options.reminders": [False, True], "model.effects.conflict": [0.0, -1.0]}
    )
    result = run(arms, backend="serial", progress=False)
    for table in (result.participants, result.weekly):
        assert {"options.reminders", "model.effects.conflict"} <= set(table.columns)
    first = result.participants[result.participants["scenario"] == arms[3].name]
    assert first["options.reminders"].eq(True).all()
    assert first["model.effects.conflict"].eq(-1.0).all()


def test_a_record_rebuilds_the_same_scenarios() -> None:
    arms = grid(_base(), {"options.reminders": [False, True]})
    data = json.loads(json.dumps(record(arms, seed=3, replications=2)))
    assert scenarios_from_record(data) == arms
    assert data["versions"]["numpy"] == np.__version__
    data["scenarios"][0]["program"]["toml"] += "\n# edited\n"
    with pytest.raises(SimulationError, match="SHA-256"):
        scenarios_from_record(data)


def test_a_record_never_names_code_to_import() -> None:
    data = json.loads(json.dumps(record([_base()], seed=0, replications=1)))
    data["scenarios"][0]["model"]["class"] = "this:x"  # importing it would print the Zen
    with pytest.raises(SimulationError, match="no installed plugin registers"):
        scenarios_from_record(data)
    assert "this" not in sys.modules


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_replay_gives_bit_identical_tables(tmp_path: Path, suffix: str) -> None:
    arms = grid(_base(), {"options.reminders": [False, True]})
    result = run(arms, replications=2, seed=11, backend="serial", progress=False)
    path = write_table(result.participants, tmp_path / f"run{suffix}", record=of(result))
    again = replay(path, backend="serial", progress=False)
    pd.testing.assert_frame_equal(again.participants, result.participants)
    pd.testing.assert_frame_equal(again.weekly, result.weekly)
    assert read_record(path)["seed"] == 11


def test_replay_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    common = ["--participants", "200", "--replications", "2", "--backend", "serial"]
    assert main(["simulate", str(REMINDERS), *common, "-o", str(first)]) == 0
    out = capsys.readouterr().out
    assert "SMS reminders minus no reminders" in out
    assert "paired replication" in out
    again = ["simulate", "--replay", str(first), "--backend", "serial", "-o", str(second)]
    assert main(again) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(first), pd.read_parquet(second))
    foreign = tmp_path / "foreign.parquet"
    pd.DataFrame({"x": [1]}).to_parquet(foreign)
    assert main(["simulate", "--replay", str(foreign)]) == 2
    assert "carries no iopcore run record" in capsys.readouterr().err
    assert main(["simulate", str(REMINDERS), "--replay", str(first)]) == 2


# -- samples -----------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=1, max_value=12), st.integers(min_value=0, max_value=10**6))
def test_sample_is_a_latin_hypercube(n: int, seed: int) -> None:
    drawn = sample(_base(), {"model.effects.conflict": (-2.0, 0.0)}, n, seed=seed)
    values = sorted(s.model.effects.conflict for s in drawn)  # type: ignore[attr-defined]
    strata = sorted(int((v + 2.0) / 2.0 * n) for v in values)
    assert strata == list(range(n))  # every stratum once
    for scenario in drawn:
        value = scenario.model.effects.conflict  # type: ignore[attr-defined]
        assert f"conflict={value:.4g}" in scenario.name


def test_sample_refuses_a_pair_of_whole_numbers() -> None:
    with pytest.raises(ValidationError, match=r"write \(1.0, 4.0\) for a range"):
        sample(_base(), {"options.admission_weeks": (1, 4)}, 3)


# -- parameter uncertainty ---------------------------------------------------------------


def test_every_uncertain_parameter_is_a_real_scenario_path() -> None:
    base = _base()
    for item in PARAMETERS:
        low, high = item.bounds(base)
        assert low <= high, item.path
        assert item.source, item.path
        changed = with_overrides(base, {item.path: low + 0.25 * (high - low)})
        assert changed != base, item.path
    with pytest.raises(SimulationError, match="did you mean"):
        parameter("model.effects.remindrs")


def test_uncertainty_widens_the_interval_and_splits_the_variance() -> None:
    arms = grid(_base(), {"options.incentives": [False, True]})
    result = simulate_with_uncertainty(
        arms, draws=10, replications=4, backend="serial", progress=False
    )
    assert {"arm", "draw", "model.effects.incentives"} <= set(result.participants.columns)
    row = _row(summarize_uncertainty(result), scenario=arms[1].name, metric="attendance_rate")
    assert row["ci_high"] - row["ci_low"] > row["mc_high"] - row["mc_low"]
    assert row["share_parameters"] + row["share_monte_carlo"] == pytest.approx(1.0)
    assert row["draws"] == 10
    assert row["replications"] == 4
    with pytest.raises(SimulationError, match="no parameter draws"):
        summarize_uncertainty(simulate(_base()))


# -- global sensitivity (SALib) ----------------------------------------------------------


def test_morris_finds_the_parameter_that_acts_and_not_the_one_that_cannot() -> None:
    pytest.importorskip("SALib")
    chosen = (parameter("model.hazards.employed"), parameter("model.effects.family_sessions"))
    found = sensitivity(
        _base(), method="morris", samples=4, parameters=chosen, backend="serial", progress=False
    )
    assert _row(found.indices, parameter="model.hazards.employed")["mu_star"] > 0.01
    # Family sessions are not offered in this scenario, so their effect cannot act.
    assert _row(found.indices, parameter="model.effects.family_sessions")["mu_star"] == 0.0
    assert len(found.runs) == 4 * (len(chosen) + 1)


def test_sobol_needs_a_power_of_two() -> None:
    pytest.importorskip("SALib")
    with pytest.raises(SimulationError, match="power of two"):
        sensitivity(_base(), method="sobol", samples=10, backend="serial")


def test_sensitivity_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("SALib")
    figure, table = tmp_path / "indices.png", tmp_path / "indices.csv"
    args = ["sensitivity", str(REMINDERS), "--samples", "2", "--participants", "100"]
    args += ["--parameter", "model.hazards.employed", "--backend", "serial"]
    assert main([*args, "--figure", str(figure), "-o", str(table)]) == 0
    assert "mu*" in capsys.readouterr().out
    assert figure.stat().st_size > 10_000
    assert list(pd.read_csv(table)["parameter"]) == ["model.hazards.employed"]
    assert main([*args, "--arm", "nobody"]) == 2
    assert "no arm 'nobody'" in capsys.readouterr().err
    assert main([*args, "--scheduler", "tcp://127.0.0.1:1"]) == 2  # --backend serial given


# -- an existing Dask cluster ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real scheduler and two workers, separate processes talking TCP on loopback."""
    pytest.importorskip("distributed")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    scheduler = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1"]
    worker = [sys.executable, "-m", "distributed.cli.dask_worker"]
    procs = [
        subprocess.Popen(
            [*scheduler, "--port", str(port), "--dashboard-address", ":0"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [*worker, address, "--nthreads", "1", "--dashboard-address", ":0"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout=5) as client:  # type: ignore[no-untyped-call]
                    client.wait_for_workers(2, timeout=30)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_a_sweep_on_an_existing_cluster_equals_the_serial_run(dask_cluster: str) -> None:
    arms = grid(_base(), {"options.reminders": [False, True]})
    serial = run(arms, replications=2, seed=5, backend="serial", progress=False)
    remote = run(
        arms,
        replications=2,
        seed=5,
        backend="dask",
        backend_options={"address": dask_cluster},
        progress=False,
    )
    pd.testing.assert_frame_equal(remote.participants, serial.participants)
    pd.testing.assert_frame_equal(remote.weekly, serial.weekly)


def test_a_client_of_your_own(dask_cluster: str) -> None:
    from distributed import Client

    scenario = _base()
    with Client(dask_cluster) as client:  # type: ignore[no-untyped-call]
        mine = run(scenario, replications=2, seed=2, dask_client=client, progress=False)
        assert client.status == "running"  # still yours
    here = run(scenario, replications=2, seed=2, backend="serial", progress=False)
    pd.testing.assert_frame_equal(mine.participants, here.participants)


def test_simulate_scheduler_option(
    dask_cluster: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--participants", "200", "--replications", "2", "--seed", "4"]
    serial, remote = tmp_path / "serial.csv", tmp_path / "remote.csv"
    command = ["simulate", str(REMINDERS), *common]
    assert main([*command, "--backend", "serial", "-o", str(serial)]) == 0
    assert main([*command, "--scheduler", dask_cluster, "-o", str(remote)]) == 0
    capsys.readouterr()
    assert serial.read_bytes() == remote.read_bytes()
