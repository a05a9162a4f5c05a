"""Scenarios in Python and TOML: defaults, overrides, grids, arms, and errors that name the
file, the key path and the fix."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from iopcore import ProgramFileError, ScheduleError, ValidationError, create_plugin_host
from iopcore.simulation import (
    Exits,
    LatentClassModel,
    LogisticModel,
    MarkovModel,
    Options,
    PopulationSpec,
    Scenario,
    grid,
    load_scenarios,
    with_overrides,
)
from iopcore.simulation.files import ParameterError, decode

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "examples" / "scenarios").glob("*.toml"))


def test_the_fixed_example_scenarios_exist_and_load() -> None:
    assert {p.name for p in SCENARIOS} >= {"evening-vs-day.toml", "reminders.toml"}
    reminders = load_scenarios(ROOT / "examples/scenarios/reminders.toml")
    assert [s.options.reminders for s in reminders] == [False, True]
    assert {s.program.name for s in reminders} == {"adult-evening"}
    comparison = load_scenarios(ROOT / "examples/scenarios/evening-vs-day.toml")
    assert [s.name for s in comparison] == [
        "evening conflict=0.0",
        "evening conflict=-1.0",
        "day conflict=0.0",
        "day conflict=-1.0",
    ]
    assert [s.track_name for s in comparison] == ["evening", "evening", "day", "day"]
    assert comparison[1].model.effects.conflict == -1.0  # type: ignore[attr-defined]
    assert {s.replications for s in comparison} == {4}


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    (tmp_path / "programs").mkdir(exist_ok=True)
    program = (ROOT / "examples/programs/adult-evening.toml").read_text(encoding="utf-8")
    (tmp_path / "programs" / "p.toml").write_text(program, encoding="utf-8")
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'program = "programs/p.toml"\nparticpants = 10\n',
            's.toml:2: particpants: unknown key (did you mean "participants"?)',
        ),
        (
            'program = "programs/p.toml"\n[options]\nreminder = true\n',
            's.toml:3: options.reminder: unknown key (did you mean "reminders"?)',
        ),
        (
            'program = "programs/p.toml"\n[model]\nname = "logistc"\n',
            "s.toml:3: model.name: no attendance model named 'logistc' (did you mean "
            '"logistic"?); one of: latent-class, logistic, markov',
        ),
        (
            'program = "programs/p.toml"\n[model]\nname = "markov"\nattend_engagd = 1.0\n',
            's.toml:4: model.attend_engagd: unknown key (did you mean "attend_engaged"?)',
        ),
        (
            'program = "programs/p.toml"\n[model.effects]\nconflict = "high"\n',
            's.toml:3: model.effects.conflict: expected a number, got "high"',
        ),
        (
            'program = "programs/missing.toml"\n',
            's.toml:1: program: no program file "programs/missing.toml"',
        ),
        (
            'program = "programs/p.toml"\ntrack = "evenin"\n',
            "s.toml:2: track: program 'adult-evening' has no track 'evenin' (did you mean "
            '"evening"?)',
        ),
        (
            'program = "programs/p.toml"\n[population]\nemployed = 1.5\n',
            "s.toml:2: population: employed must be a share between 0 and 1, got 1.5",
        ),
        (
            'program = "programs/p.toml"\n[options]\nadmission = "rolling-ish"\n',
            's.toml:3: options.admission: "rolling-ish" is not valid (did you mean "rolling"?)',
        ),
        (
            'program = "programs/p.toml"\n[[arms]]\nname = "a"\n[[arms]]\nname = "b"\n'
            "participants = 0\n",
            "s.toml:6: arms[1].participants: participants must be a whole number >= 1, got 0",
        ),
        (
            'program = "programs/p.toml"\n[[arms]]\nname = "a"\n[[arms]]\nnmae = "b"\n',
            's.toml:5: arms[1].nmae: unknown key (did you mean "name"?)',
        ),
        (
            'program = "programs/p.toml"\n[grid]\n"options.reminders" = []\n',
            's.toml:2: grid."options.reminders": expected a non-empty array of values',
        ),
        (
            'program = "programs/p.toml"\n[grid]\n"optons.reminders" = [true]\n',
            'grid."optons.reminders".optons: unknown key (did you mean "options"?)',
        ),
        ("participants = 3\n", "s.toml: missing required key 'program'"),
        ("participants = [\n", "s.toml: not valid TOML"),
    ],
)
def test_scenario_file_errors_name_the_file_the_key_and_the_fix(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ProgramFileError) as caught:
        load_scenarios(path)
    assert message in str(caught.value)


def test_a_missing_scenario_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProgramFileError, match="no such file; check the path"):
        load_scenarios(tmp_path / "nope.toml")


def test_arms_override_deeply_and_a_new_model_name_drops_old_params(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        program = "programs/p.toml"
        participants = 10
        [model]
        name = "logistic"
        intercept = 0.5
        [options]
        reminders = true
        [[arms]]
        name = "base"
        [[arms]]
        name = "incentives"
        options.incentives = true
        [[arms]]
        name = "markov"
        model = "markov"
        """,
    )
    base, incentives, markov = load_scenarios(path)
    assert isinstance(base.model, LogisticModel)
    assert base.model.intercept == 0.5
    assert incentives.options.reminders
    assert incentives.options.incentives
    assert isinstance(markov.model, MarkovModel)


def test_python_scenarios_validate() -> None:
    from iopcore import load_program

    program = load_program(ROOT / "examples/programs/adult-day.toml")
    sc = Scenario(program=program)
    assert sc.track_name == "day"
    assert sc.planned_weeks == 12
    assert sc.horizon == 12
    assert isinstance(Scenario(program=program, model="markov").model, MarkovModel)
    assert Scenario(program=program, options=Options(phase_weeks={"intensive": 6})).horizon == 14
    with pytest.raises(ScheduleError, match='did you mean "intensive"'):
        Scenario(program=program, options=Options(phase_weeks={"intensiv": 6}))
    with pytest.raises(ValidationError, match="needs admission"):
        Options(admission_weeks=4)
    with pytest.raises(ValidationError, match="shorter than the rolling intake"):
        Scenario(
            program=program,
            horizon_weeks=2,
            options=Options(admission="rolling", admission_weeks=4),
        )
    with pytest.raises(ValidationError, match="must implement"):
        Scenario(program=program, model=object())  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="sum to 1"):
        PopulationSpec(entry_path={"direct": 0.5})
    with pytest.raises(ValidationError, match="at most 1"):
        Exits(transferred=0.6, terminated=0.6, other=0.0)


def test_overrides_and_grids() -> None:
    from iopcore import load_program

    base = Scenario(name="b", program=load_program(ROOT / "examples/programs/adult-evening.toml"))
    changed = with_overrides(base, {"model.effects.conflict": -1.0, "population.employed": 0.6})
    assert changed.model.effects.conflict == -1.0  # type: ignore[attr-defined]
    assert changed.population.employed == 0.6
    assert base.model.effects.conflict == 0.0  # type: ignore[attr-defined]
    both = grid(base, {"options.reminders": [False, True], "options.incentives": [False, True]})
    assert len(both) == 4
    assert len({s.name for s in both}) == 4
    with pytest.raises(ValidationError, match='did you mean "population"'):
        with_overrides(base, {"populaton.employed": 0.5})


def test_decode_checks_types_and_required_keys() -> None:
    with pytest.raises(ParameterError, match="expected an integer"):
        decode(Options, {"admission_weeks": 2.5})
    with pytest.raises(ParameterError, match="expected a table"):
        decode(Options, [])
    assert decode(Exits, {"other": 0}).other == 0.0
    model = decode(LatentClassModel, {"effects": {"entry_path": {"direct": 0.2}}})
    assert model.effects.entry_path == {"direct": 0.2}
    with pytest.raises(ParameterError, match="not an entry path"):
        decode(LogisticModel, {"effects": {"entry_path": {"walk-in": 0.2}}})


def test_models_are_registered_plugins_with_parameters() -> None:
    host = create_plugin_host()
    assert set(host.attendance_models()) >= {"logistic", "latent-class", "markov"}
    created = host.attendance_model("logistic").create(intercept=0.1, effects={"evening": 0.2})
    assert isinstance(created, LogisticModel)
    assert created.intercept == 0.1
    assert created.effects.evening == 0.2
    with pytest.raises(ParameterError, match="unknown key"):
        host.attendance_model("markov").create(nope=1)


def test_importing_iopcore_and_the_plugins_needs_no_numpy() -> None:
    code = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"numpy", "pandas", "pyarrow", "matplotlib", "dask"}:
                    raise ImportError(f"blocked {name}")
        sys.meta_path.insert(0, Block())
        import iopcore
        host = iopcore.create_plugin_host()
        print(sorted(host.attendance_models()), sorted(host.sweep_backends()))
        import iopcore.simulation.cli
        import iopcore.simulation
        try:
            iopcore.simulation.Scenario
        except iopcore.IopcoreError as exc:
            print(exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert "['latent-class', 'logistic', 'markov'] ['dask', 'process', 'serial']" in out
    assert "needs the sim extra" in out
