"""``iopcore simulate``: through its own run() and a tiny argparse wired like iopcore.app.cli."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import pandas as pd
import pytest

from iopcore import IopcoreError
from iopcore.simulation import cli

ROOT = Path(__file__).resolve().parent.parent
REMINDERS = ROOT / "examples/scenarios/reminders.toml"


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise IopcoreError(message)


def main(argv: Sequence[str]) -> int:
    """What iopcore.app.cli does: parse, run, and turn user errors into exit 2 and one line."""
    parser = Parser(prog="iopcore")
    cli.add_parser(parser.add_subparsers(dest="command", required=True, parser_class=Parser))
    try:
        return cli.run(parser.parse_args(argv))
    except IopcoreError as exc:
        print(f"iopcore: error: {exc}", file=sys.stderr)
        return 2


def test_simulate_writes_the_table_and_prints_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.parquet"
    weekly = tmp_path / "weekly.csv"
    argv = [
        "simulate",
        str(REMINDERS),
        "--replications",
        "2",
        "--participants",
        "300",
        "--seed",
        "9",
        "--workers",
        "1",
        "-o",
        str(out),
        "--weekly",
        str(weekly),
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "reminders.toml: 2 scenario(s) x 2 replication(s), 1,200 participants, seed 9" in (
        captured.out
    )
    assert "no reminders" in captured.out
    assert "SMS reminders" in captured.out
    assert "attendance_rate" in captured.out
    assert f"wrote 1,200 rows to {out}" in captured.err
    table = pd.read_parquet(out)
    assert len(table) == 1200
    assert set(table["scenario"]) == {"no reminders", "SMS reminders"}
    assert {"sessions_scheduled", "sessions_attended", "hours", "weeks_retained", "outcome"} <= set(
        table.columns
    )
    assert len(pd.read_csv(weekly)) == 2 * 2 * 12
    # same seed, same table
    again = tmp_path / "again.parquet"
    assert main([*argv[:-4], "-o", str(again)]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(again), table)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.toml"], "nope.toml: no such file; check the path"),
        ([str(REMINDERS), "-o", "out.xlsx"], "unknown table format '.xlsx'"),
        ([str(REMINDERS), "--replications", "0"], "is not a whole number >= 1"),
        ([str(REMINDERS), "--seed", "-1"], "is not a seed"),
        ([str(REMINDERS), "--backend", "dusk", "--participants", "5"], 'did you mean "dask"'),
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["simulate", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_a_scenario_file_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('program = "x.toml"\nseeed = 1\n', encoding="utf-8")
    assert main(["simulate", str(bad)]) == 2
    assert 'bad.toml:2: seeed: unknown key (did you mean "seed"?)' in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "name", "message"),
    [
        ("-o", "nodir/x.parquet", "-o {path}: folder '{folder}' does not exist; create it first"),
        ("--weekly", "nodir/w.csv", "--weekly {path}: folder '{folder}' does not exist; create"),
        ("-o", ".", "-o {path}: that is a folder; name a file in it ending in .parquet or .csv"),
    ],
)
def test_output_paths_are_checked_before_simulating(
    option: str,
    name: str,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from iopcore.simulation import sweep

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the simulation ran before the output path was checked")

    monkeypatch.setattr(sweep, "run", never)
    path = tmp_path / name
    assert main(["simulate", str(REMINDERS), option, str(path)]) == 2
    err = capsys.readouterr().err
    assert message.format(path=path, folder=path.parent) in err
    assert "None" not in err
    assert err.count("\n") == 1


def test_the_two_tables_need_two_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    same = str(tmp_path / "t.csv")
    assert main(["simulate", str(REMINDERS), "-o", same, "--weekly", same]) == 2
    assert "-o and --weekly both name" in capsys.readouterr().err


def test_a_program_file_is_not_a_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    program = ROOT / "examples/programs/adult-evening.toml"
    assert main(["simulate", str(program)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "iopcore: error: adult-evening.toml: this is a program file, not a scenario; "
        "check it with `iopcore check adult-evening.toml`, or write a scenario file that "
        'names it with program = "adult-evening.toml"'
    )
    assert "unknown key" not in err
    assert err.count("\n") == 1
