"""Every example file loads and every example script runs."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

from iopcore import check_program, load_program, meets_level_of_care

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = sorted((ROOT / "examples" / "programs").glob("*.toml"))
SCRIPTS = sorted((ROOT / "examples").glob("*.py"))


def test_the_fixed_example_programs_exist() -> None:
    assert {p.name for p in PROGRAMS} >= {
        "adult-evening.toml",
        "adult-day.toml",
        "adolescent-afterschool.toml",
    }


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.name)
def test_example_program_loads_and_meets_its_level(path: Path) -> None:
    assert meets_level_of_care(check_program(load_program(path)))


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_example_script_runs(
    path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(path)])
    runpy.run_path(str(path), run_name="__main__")
    assert capsys.readouterr().out.strip(), f"{path.name} printed nothing"
