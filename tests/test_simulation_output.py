"""`iopcore simulate` and `iopcore sensitivity` outputs never destroy input (issue 12 item 1):
never onto a file the command reads (even with --force), never over a file of another kind
without --force, written whole and owner-only (0600) whatever the umask."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from iopcore.io.output import OutputError
from iopcore.simulation.results import write_table
from tests.test_simulation_cli import ROOT, main

RUN = ["--participants", "20", "--replications", "1", "--backend", "serial"]


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    """A copy of examples/scenarios/evening-vs-day.toml with its program files beside it."""
    shutil.copytree(ROOT / "examples/programs", tmp_path / "programs")
    (tmp_path / "scenarios").mkdir()
    path = tmp_path / "scenarios/evening-vs-day.toml"
    shutil.copy(ROOT / "examples/scenarios/evening-vs-day.toml", path)
    return path


@pytest.fixture
def no_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refusals happen before simulating."""
    from iopcore.simulation import global_sensitivity, sweep

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("simulated before the output path was checked")

    monkeypatch.setattr(sweep, "run", never)
    monkeypatch.setattr(global_sensitivity, "sensitivity", never)


@pytest.fixture
def umask_000() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("no_run")
@pytest.mark.parametrize("command", ["simulate", "sensitivity"])
@pytest.mark.parametrize(("option", "name"), [("-o", "evil.csv"), ("--figure", "evil.png")])
@pytest.mark.parametrize("target", ["scenarios/evening-vs-day.toml", "programs/adult-day.toml"])
def test_a_link_onto_an_input_is_refused_even_with_force(
    command: str,
    option: str,
    name: str,
    target: str,
    scenario: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    read = scenario.parent.parent / target
    before = read.read_bytes()
    link = scenario.parent / name
    link.symlink_to(read)
    assert main([command, str(scenario), *RUN, option, str(link), "--force"]) == 2
    err = capsys.readouterr().err
    assert "which the command reads" in err
    assert err.count("\n") == 1
    assert read.read_bytes() == before


@pytest.mark.usefixtures("no_run")
@pytest.mark.parametrize("option", ["-o", "--weekly"])
def test_a_link_onto_the_replayed_results_is_refused(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "r.csv"
    results.write_text("scenario,x\n", encoding="utf-8")
    (tmp_path / "r.json").write_text("{}", encoding="utf-8")
    assert main(["simulate", "--replay", str(results), option, str(results), "--force"]) == 2
    assert "which the command reads" in capsys.readouterr().err
    assert results.read_text(encoding="utf-8") == "scenario,x\n"


@pytest.mark.usefixtures("no_run")
@pytest.mark.parametrize(
    ("command", "option", "name"),
    [
        ("simulate", "-o", "notes.csv"),
        ("simulate", "-o", "notes.parquet"),
        ("simulate", "--weekly", "notes.csv"),
        ("simulate", "--figure", "notes.png"),
        ("simulate", "--figure", "notes.pdf"),
        ("sensitivity", "-o", "notes.csv"),
        ("sensitivity", "--figure", "notes.svg"),
    ],
)
def test_a_file_of_another_kind_is_refused_without_force(
    command: str,
    option: str,
    name: str,
    scenario: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    notes = tmp_path / name
    notes.write_text("notes\n", encoding="utf-8")
    assert main([command, str(scenario), *RUN, option, str(notes)]) == 2
    err = capsys.readouterr().err
    assert "is not a" in err
    assert "--force" in err
    assert err.count("\n") == 1
    assert notes.read_text(encoding="utf-8") == "notes\n"


@pytest.mark.usefixtures("no_run")
def test_the_csv_run_record_is_not_written_over_another_file(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "r.json"
    notes.write_text("notes\n", encoding="utf-8")
    assert main(["simulate", str(scenario), *RUN, "-o", str(tmp_path / "r.csv")]) == 2
    assert "r.json: exists and is not a JSON run record" in capsys.readouterr().err
    assert notes.read_text(encoding="utf-8") == "notes\n"
    assert not (tmp_path / "r.csv").exists()


def test_force_replaces_a_file_of_another_kind(scenario: Path, tmp_path: Path) -> None:
    out, record, figure = tmp_path / "r.csv", tmp_path / "r.json", tmp_path / "f.png"
    for path in (out, record, figure):
        path.write_text("notes\n", encoding="utf-8")
    args = ["-o", str(out), "--figure", str(figure), "--force"]
    assert main(["simulate", str(scenario), *RUN, *args]) == 0
    assert out.read_text(encoding="utf-8").startswith("scenario,")
    assert record.read_text(encoding="utf-8").startswith("{")
    assert figure.read_bytes().startswith(b"\x89PNG")


@pytest.mark.usefixtures("umask_000")
def test_outputs_are_owner_only_and_a_rerun_overwrites_its_own(
    scenario: Path, tmp_path: Path
) -> None:
    outputs = {
        "-o": tmp_path / "r.csv",
        "--weekly": tmp_path / "w.parquet",
        "--figure": tmp_path / "f.svg",
    }
    args = [str(a) for pair in outputs.items() for a in pair]
    assert main(["simulate", str(scenario), *RUN, *args]) == 0
    written = [*outputs.values(), tmp_path / "r.json"]
    assert {p.name: _mode(p) for p in written} == {p.name: 0o600 for p in written}
    for path in written:  # a rerun may overwrite what it wrote last time (no --force)
        path.chmod(0o644)
    assert main(["simulate", str(scenario), *RUN, "--seed", "1", *args]) == 0
    assert {p.name: _mode(p) for p in written} == {p.name: 0o600 for p in written}
    assert pd.read_parquet(outputs["--weekly"]).shape[0] > 0
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_replay_may_write_its_own_kind_of_file(scenario: Path, tmp_path: Path) -> None:
    first, again = tmp_path / "r.parquet", tmp_path / "again.parquet"
    assert main(["simulate", str(scenario), *RUN, "-o", str(first)]) == 0
    assert main(["simulate", "--replay", str(first), "-o", str(again)]) == 0
    first.write_bytes(b"PAR1 (an older table)")
    assert main(["simulate", "--replay", str(again), "-o", str(first)]) == 0
    assert pd.read_parquet(first).equals(pd.read_parquet(again))


@pytest.mark.usefixtures("umask_000")
def test_write_table_refuses_input_and_other_kinds_unless_forced(tmp_path: Path) -> None:
    table = pd.DataFrame({"scenario": ["a"], "completed": [True]})
    notes, source = tmp_path / "notes.csv", tmp_path / "s.toml"
    notes.write_text("notes\n", encoding="utf-8")
    source.write_text("", encoding="utf-8")
    (tmp_path / "link.csv").symlink_to(source)
    with pytest.raises(OutputError, match="is not a CSV table"):
        write_table(table, notes)
    with pytest.raises(OutputError, match="which the command reads"):
        write_table(table, tmp_path / "link.csv", reads=[source], force=True)
    write_table(table, notes, record={"format": "x"}, force=True)
    assert pd.read_csv(notes).equals(table)
    assert _mode(notes) == _mode(tmp_path / "notes.json") == 0o600
    write_table(table, notes, record={"format": "x"})  # its own kind: no force needed


def test_csv_tables_never_carry_a_spreadsheet_formula(tmp_path: Path) -> None:
    """A scenario named like a formula is written as text; numbers stay numbers."""
    from iopcore import load_program
    from iopcore.simulation import Scenario, simulate, write_table

    program = load_program(ROOT / "examples/programs/adult-evening.toml")
    evil = '=HYPERLINK("http://x","y")'
    result = simulate(Scenario(name=evil, program=program, participants=50, seed=1))
    path = write_table(result.participants, tmp_path / "p.csv")
    back = pd.read_csv(path)
    assert set(back["scenario"]) == {"'" + evil}
    assert not any(line.startswith("=") for line in path.read_text().splitlines())
    numeric = ["participant", "sessions_attended", "weeks_retained"]
    assert (back[numeric].to_numpy() == result.participants[numeric].to_numpy()).all()
    # the Parquet file keeps the name as it is
    parquet = write_table(result.participants, tmp_path / "p.parquet")
    assert set(pd.read_parquet(parquet)["scenario"]) == {evil}
