"""What a new user or an attacker found in the publishable results (issue 17): a PSA that
drew over the arms' own settings, contrasts across grid points, unbounded counts, cluster
addresses that ended in tracebacks, Sobol indices from too few samples, raw Sphinx roles in
the reference, and effects of any size."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from iopcore import load_program
from iopcore.app.cli import main
from iopcore.app.reference import pages
from iopcore.core.errors import ValidationError
from iopcore.simulation import (
    Scenario,
    SimulationError,
    contrasts,
    grid,
    sensitivity,
    simulate_with_uncertainty,
    summarize_uncertainty,
)
from iopcore.simulation.effects import Effects, Hazards
from iopcore.simulation.files import load_design
from iopcore.simulation.provenance import varied_parameters
from iopcore.simulation.uncertainty import parameter, uncertainty_contrasts

ROOT = Path(__file__).resolve().parents[1]
EVENING = load_program(ROOT / "examples/programs/adult-evening.toml")
EVENING_VS_DAY = ROOT / "examples/scenarios/evening-vs-day.toml"
CONFLICT = "model.effects.conflict"


def _arms() -> tuple[Scenario, ...]:
    base = Scenario(name="evening", program=EVENING, participants=150)
    return grid(base, {CONFLICT: [0.0, -1.0]})


def _grid_file(tmp_path: Path, participants: int = 120) -> Path:
    """evening-vs-day with a smaller caseload (the same arms and grid)."""
    text = EVENING_VS_DAY.read_text(encoding="utf-8")
    text = text.replace("participants = 4000", f"participants = {participants}")
    text = text.replace('"../programs/', f'"{ROOT}/examples/programs/')
    path = tmp_path / "evening-vs-day.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- 1. parameters the arms set are kept, not drawn ------------------------------------------


def test_uncertainty_keeps_what_the_arms_set() -> None:
    arms = _arms()
    result = simulate_with_uncertainty(
        arms, draws=10, replications=1, backend="serial", progress=False
    )
    people = result.participants
    for arm in arms:
        values = people.loc[people["arm"] == arm.name, CONFLICT].unique()
        assert list(values) == [arm.model.effects.conflict]  # type: ignore[attr-defined]
    assert result.uncertainty is not None
    assert result.uncertainty["kept"] == [CONFLICT]
    assert CONFLICT not in result.uncertainty["parameters"]
    summary = summarize_uncertainty(result)
    means = summary[summary["metric"] == "attendance_rate"].set_index("scenario")["mean"]
    assert means[arms[0].name] != means[arms[1].name]  # the conflict effect shows


def test_sensitivity_never_varies_what_the_arm_fixes() -> None:
    pytest.importorskip("SALib")
    arms = _arms()
    with pytest.raises(SimulationError, match="set by the arm"):
        sensitivity(
            arms[1],
            parameters=[parameter(CONFLICT)],
            kept=list(varied_parameters(arms)),
            backend="serial",
        )


# -- 2. contrasts at one grid point; --reference checked first ------------------------------


def test_grid_contrasts_compare_arms_at_the_same_grid_point(tmp_path: Path) -> None:
    from iopcore.simulation import run

    scenarios, groups = load_design(_grid_file(tmp_path))
    result = run(scenarios, replications=2, backend="serial", progress=False)
    table = contrasts(result, reference="evening", groups=groups)
    pairs = set(zip(table["scenario"], table["reference"], strict=True))
    assert pairs == {
        ("day conflict=0.0", "evening conflict=0.0"),
        ("day conflict=-1.0", "evening conflict=-1.0"),
    }
    with pytest.raises(SimulationError, match="arms: evening, day"):
        contrasts(result, reference="nosuch", groups=groups)


def test_a_bad_reference_fails_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _grid_file(tmp_path)
    out = tmp_path / "never.parquet"
    args = ["simulate", str(path), "--reference", "nosuch", "--uncertainty", "-o", str(out)]
    assert main([*args, "--backend", "serial"]) == 2
    assert "reference arm 'nosuch'" in capsys.readouterr().err
    assert not out.exists()


# -- 3. uncertainty output ------------------------------------------------------------------


def test_too_few_draws_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SimulationError, match="draws must be a whole number from 10"):
        simulate_with_uncertainty(_arms(), draws=2, backend="serial")
    assert main(["simulate", str(EVENING_VS_DAY), "--uncertainty", "--draws", "2"]) == 2
    assert "at least 10 parameter sets" in capsys.readouterr().err


def test_uncertainty_shares_stay_shares_and_arms_get_paired_differences() -> None:
    arms = _arms()
    result = simulate_with_uncertainty(
        arms, draws=10, replications=2, backend="serial", progress=False
    )
    summary = summarize_uncertainty(result)
    shares = summary[summary["metric"].isin(["completed", "other", "still_enrolled"])]
    assert (shares[["mc_low", "ci_low"]].to_numpy() >= 0).all()
    assert (shares[["mc_high", "ci_high"]].to_numpy() <= 1).all()
    table = uncertainty_contrasts(result, metrics=["attendance_rate"])
    row = table.iloc[0]
    assert (row["scenario"], row["reference"]) == (arms[1].name, arms[0].name)
    assert row["ci_low"] <= row["difference"] <= row["ci_high"]
    assert row["difference"] < 0  # a work-hours conflict lowers attendance in every set


def test_a_psa_replays_as_a_psa(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _grid_file(tmp_path, participants=60)
    first, second, figure = tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "f.png"
    common = ["--uncertainty", "--draws", "10", "--replications", "1", "--backend", "serial"]
    args = ["simulate", str(path), *common, "--reference", "evening", "-o", str(first)]
    assert main([*args, "--figure", str(figure)]) == 0
    out = capsys.readouterr().out
    assert "kept at each arm's own value" in out
    assert CONFLICT in out
    assert "day conflict=-1.0 minus evening conflict=-1.0" in out
    assert "day conflict=0.0 minus evening conflict=-1.0" not in out
    assert figure.stat().st_size > 10_000
    replayed = ["simulate", "--replay", str(first), "--backend", "serial", "-o", str(second)]
    assert main(replayed) == 0
    assert "with parameter uncertainty" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_parquet(first), pd.read_parquet(second))


# -- 4. bounded counts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [("participants", 10**23), ("replications", 10**20), ("horizon_weeks", 10**9)],
)
def test_scenario_counts_have_upper_bounds(key: str, value: int) -> None:
    with pytest.raises(ValidationError, match=f"{key} must be at most"):
        Scenario(program=EVENING, **{key: value})  # type: ignore[arg-type]


def test_huge_counts_are_refused_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.toml"
    program = ROOT / "examples/programs/adult-evening.toml"
    path.write_text(f'program = "{program}"\nparticipants = 99999999999999999999999\n')
    assert main(["simulate", str(path)]) == 2
    assert "participants must be at most 10,000,000" in capsys.readouterr().err
    huge = ["--replications", "99999999999999999999"]
    assert main(["simulate", str(EVENING_VS_DAY), *huge]) == 2
    assert "above the limit" in capsys.readouterr().err
    assert main(["sensitivity", str(EVENING_VS_DAY), "--samples", "99999999999999999"]) == 2
    assert "above the limit" in capsys.readouterr().err


def test_a_replayed_record_with_a_huge_caseload_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = tmp_path / "small.csv"
    path = _grid_file(tmp_path, participants=20)
    assert main(["simulate", str(path), "--backend", "serial", "-o", str(small)]) == 0
    sidecar = small.with_suffix(".json")
    data = json.loads(sidecar.read_text())
    data["scenarios"][0]["participants"] = 10**12
    sidecar.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["simulate", "--replay", str(small)]) == 2
    assert "participants must be at most" in capsys.readouterr().err


# -- 5. cluster addresses -------------------------------------------------------------------


@pytest.mark.parametrize("address", ["notanaddress", "", "tls://u:Pw123@127.0.0.1:1"])
def test_a_bad_scheduler_address_is_one_clear_line(
    address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("distributed")
    path = _grid_file(tmp_path, participants=10)
    assert main(["simulate", str(path), "--scheduler", address]) == 2
    err = capsys.readouterr().err
    assert err.startswith("iopcore: error: --scheduler")
    assert err.count("\n") == 1
    assert "Pw123" not in err
    assert "Traceback" not in err


# -- 6. Sobol from too few samples; --arm of a grid file ------------------------------------


def test_sobol_from_too_few_samples_says_so() -> None:
    pytest.importorskip("SALib")
    base = Scenario(name="evening", program=EVENING, participants=60)
    found = sensitivity(
        base,
        method="sobol",
        samples=2,
        parameters=[parameter("model.hazards.employed"), parameter("model.effects.evening")],
        backend="serial",
        progress=False,
    )
    assert "too few samples" in found.warning


def test_sensitivity_arm_of_a_grid_file_asks_which_point(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("SALib")
    path = _grid_file(tmp_path, participants=10)
    assert main(["sensitivity", str(path), "--arm", "day"]) == 2
    err = capsys.readouterr().err
    assert "'day conflict=0.0'" in err
    assert "'day conflict=-1.0'" in err
    assert main(["sensitivity", str(path), "--arm", "day", "--parameter", CONFLICT]) == 2
    args = ["sensitivity", str(path), "--arm", "day conflict=-1.0", "--samples", "2"]
    args += ["--parameter", "model.hazards.employed", "--backend", "serial"]
    assert main(args) == 0
    assert "not varied" not in capsys.readouterr().err  # --parameter given: nothing left out


# -- 7. the reference page and effect ranges ------------------------------------------------


def test_reference_pages_show_no_sphinx_roles() -> None:
    for name in ("scenario-files.md", "program-files.md"):
        text = pages()[name]
        for role in (":class:`", ":meth:`", ":func:`", ":mod:`", ":data:`"):
            assert role not in text, (name, role)
    assert "`iopcore.simulation.Effects`" in pages()["scenario-files.md"]


@pytest.mark.parametrize("value", [1e300, math.inf, -math.inf, math.nan, 11.0])
def test_absurd_effects_are_refused(value: float) -> None:
    with pytest.raises(ValidationError, match=r"Effects\.conflict must be a finite shift"):
        Effects(conflict=value)
    with pytest.raises(ValidationError, match=r"Hazards\.conflict"):
        Hazards(conflict=value)
    with pytest.raises(ValidationError, match=r"entry_path\.direct"):
        Effects(entry_path={"direct": value})


@pytest.mark.parametrize("value", [1e300, math.inf, -math.inf, math.nan, 51.0])
def test_absurd_model_parameters_are_refused(value: float) -> None:
    """Every number of the built-in models is finite and bounded: shifts as effects are,
    base levels (intercepts) at 50, certainty (a typo beyond that, not a study)."""
    from iopcore.simulation import LatentClassModel, LogisticModel, MarkovModel

    with pytest.raises(ValidationError, match=r"LogisticModel\.intercept must be a finite"):
        LogisticModel(intercept=value)
    classes = {"steady": 0.0, "titrating": 0.0, "dropping": value}
    with pytest.raises(ValidationError, match=r"LatentClassModel\.slopes\.dropping"):
        LatentClassModel(slopes=classes)
    with pytest.raises(ValidationError, match=r"MarkovModel\.attend_struggling"):
        MarkovModel(attend_struggling=value)
    with pytest.raises(ValidationError, match=r"LogisticModel\.miss_streak .* -10 and 10"):
        LogisticModel(miss_streak=-11.0)
    assert LogisticModel(intercept=30.0).intercept == 30.0  # certainty is allowed


def test_an_absurd_effect_in_a_scenario_file_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.toml"
    program = ROOT / "examples/programs/adult-evening.toml"
    path.write_text(f'program = "{program}"\n[model.effects]\nconflict = 1e300\n')
    assert main(["simulate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "model.effects" in err
    assert "conflict" in err
    assert "s.toml:2:" in err
