from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from iopcore.cli import main

EVENING = "examples/programs/adult-evening.toml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_passes_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", EVENING)
    assert code == 0
    assert err == ""
    assert "evening / core: 9.0 h in a regular week" in out
    assert "warning: evening track, week of 2027-05-31: 6.0 h scheduled" in out
    # 8 closures on Mon/Tue/Thu x 3 rule sets, + H0015 for the week the Thursday session moves
    assert out.rstrip().endswith(
        "adult-evening meets its level of care (0 error(s), 25 warning(s))"
    )


def test_check_exits_1_when_the_level_is_not_met(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    short = (
        Path(EVENING)
        .read_text()
        .replace(
            'start = "20:00", session_type = "individual"',
            'start = "21:00", session_type = "individual"',
        )
    )
    short = short.replace(
        '[session_types.individual]\nkind = "individual"',
        '[session_types.individual]\nkind = "check-in"',
    )
    path = tmp_path / "short.toml"
    path.write_text(short)
    code, out, _ = run(capsys, "check", str(path), "--json")
    assert code == 1
    report = json.loads(out)
    assert report["meets_level_of_care"] is False
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    # Thursday drops to 2 h: 8 h a week (1 h short), and only 2 days reach H0015's 3 h (1 short)
    assert {(f["rule"], f["shortfall"]) for f in errors} == {
        ("ASAM 2.1 adult", 1.0),
        ("Medicare IOP", 1.0),
        ("H0015", 1.0),
    }


def test_schedule_json_has_the_documented_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "schedule",
        EVENING,
        "--track",
        "evening",
        "--start",
        "2027-03-08",
        "--weeks",
        "2",
        "--format",
        "json",
    )
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 12
    for row in rows:
        assert {"id", "track", "phase", "session_type", "start", "end"} <= set(row)
        start = datetime.fromisoformat(row["start"])
        assert start.utcoffset() in {timedelta(hours=-5), timedelta(hours=-4)}
        assert datetime.fromisoformat(row["end"]) > start
    assert [r["status"] for r in rows].count("moved") == 1


def test_schedule_table_and_output_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(
        capsys, "schedule", EVENING, "--track", "evening", "--start", "2027-01-04", "--weeks", "1"
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "times are local to America/New_York"
    assert lines[2].startswith("2027-01-04  Mon  18:00  19:30  core   group")
    target = tmp_path / "s.json"
    code, out, err = run(
        capsys,
        "schedule",
        EVENING,
        "--track",
        "evening",
        "--start",
        "2027-01-04",
        "--format",
        "json",
        "-o",
        str(target),
    )
    assert code == 0
    assert out == ""
    assert "wrote 68 sessions" in err
    assert len(json.loads(target.read_text())) == 6 * 12 - 2 * 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "missing.toml"], "missing.toml: no such file"),
        (
            ["schedule", EVENING, "--track", "evneing", "--start", "2027-01-04"],
            "no track 'evneing' (did you mean \"evening\"?)",
        ),
        (
            ["schedule", EVENING, "--track", "evening", "--start", "2027-02-30"],
            "'2027-02-30' is not a date (YYYY-MM-DD)",
        ),
        (
            ["schedule", EVENING, "--track", "evening", "--start", "2027-01-04", "--weeks", "0"],
            "'0' is not a whole number of weeks",
        ),
        (["schedule", EVENING, "--start", "2027-01-04"], "required: --track"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "required: command"),
        (
            [
                "schedule",
                EVENING,
                "--track",
                "evening",
                "--start",
                "2027-01-04",
                "-o",
                "/nonexistent/dir/x.txt",
            ],
            "/nonexistent/dir/x.txt: cannot write",
        ),
    ],
)
def test_user_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("iopcore: error: ")
    assert message in err


def test_console_script_shows_no_traceback(tmp_path: Path) -> None:
    exe = shutil.which("iopcore", path=str(Path(sys.executable).parent))
    assert exe is not None
    bad = tmp_path / "bad.toml"
    bad.write_text(Path(EVENING).read_text().replace('"18:00"', '"6pm"', 1))
    done = subprocess.run([exe, "check", str(bad)], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    line = next(n for n, text in enumerate(bad.read_text().splitlines(), 1) if '"6pm"' in text)
    assert done.stderr == (
        f'iopcore: error: bad.toml:{line}: tracks.evening.phases[0].slots[0].start: "6pm" is not '
        "a time (HH:MM)\n"
    )
