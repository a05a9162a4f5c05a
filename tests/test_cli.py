from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from iopcore.app.cli import main

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
        (["check", "examples/programs"], "is a folder; give a program file"),
        (["check", "examples/scenarios/reminders.toml"], "this is a scenario file, not a program"),
        (
            ["schedule", EVENING, "--track", "evneing", "--start", "2027-01-04"],
            "no track 'evneing' (did you mean \"evening\"?)",
        ),
        (
            ["schedule", EVENING, "--track", "evening", "--start", "2027-02-30"],
            "'2027-02-30' is not a date (YYYY-MM-DD) (day is out of range for month)",
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
        "a time (HH:MM); see docs: program-files#tracks-phases-slots\n"
    )


# -- the demo, findings and plan ---------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--dir", str(folder)]) == 0
    return f"sqlite:///{folder / 'clinic.db'}"


def test_demo_makes_a_store_calendars_and_is_safe_to_run_again(
    demo_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from iopcore import open_storage

    folder = Path(demo_store.removeprefix("sqlite:///")).parent
    calendars = sorted((folder / "calendars").glob("*.ics"))
    with open_storage(demo_store) as store:
        before = store.audit_log()
        participants = store.participants()
    assert len(calendars) == len(participants) == 36
    assert all(c.read_bytes().startswith(b"BEGIN:VCALENDAR\r\n") for c in calendars)
    contents = {c: c.read_bytes() for c in calendars}
    code, out, _ = run(capsys, "demo", "--dir", str(folder))
    assert code == 0
    assert "iopcore findings --store" in out
    with open_storage(demo_store) as store:
        again = store.audit_log(after=before[-1].seq)
    # the second run wrote nothing new: every write was an equal record, then the exports
    assert {e.change.value for e in again} == {"unchanged", "export"}
    assert {c: c.read_bytes() for c in calendars} == contents


def test_findings_lists_open_findings(demo_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "findings", "--store", demo_store, "--as-of", "2027-03-26")
    assert code == 0
    assert err == ""
    assert "next step:" in out
    assert out.rstrip().endswith("as of 2027-03-26")
    code, out, _ = run(capsys, "findings", "--store", demo_store, "--as-of", "2027-03-26", "--json")
    rows = json.loads(out)
    assert rows
    assert {"id", "participant", "rule", "concern", "summary", "action", "evidence"} <= set(rows[0])
    assert {r["concern"] for r in rows} <= {"high", "medium", "low"}
    code, out, _ = run(capsys, "findings", "--store", demo_store, "--as-of", "2020-01-01")
    assert out.strip() == (
        "no open findings as of 2020-01-01 (no one was in treatment then: enrollments run "
        "from 2027-01-11; try a later --as-of)"
    )


def test_plan_shows_criteria_and_a_dated_plan(
    demo_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["plan", "--store", demo_store, "--participant", "P-AD-003", "--as-of", "2027-03-26"]
    code, out, _ = run(capsys, *args)
    assert code == 0
    assert "recommendation: " in out
    assert "aftercare" in out
    code, out, _ = run(capsys, *args, "--json")
    plan = json.loads(out)
    assert plan["participant"] == "P-AD-003"
    assert plan["plan"][-1]["stage"] == "aftercare"
    starts = [stage["starts"] for stage in plan["plan"]]
    assert starts == sorted(starts)
    assert {c["status"] for c in plan["criteria"]} <= {"met", "unmet", "unknown"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["findings", "--store", "sqlit:///x.db"],
            "unknown scheme 'sqlit' (did you mean \"sqlite\"?)",
        ),
        (["findings", "--store", "sqlite:///no/such/clinic.db"], "no store at no/such/clinic.db"),
        (["findings", "--store", "memory://", "--as-of", "yesterday"], "'yesterday' is not a date"),
        (["plan", "--store", "memory://", "--participant", "P-1"], "no participant 'P-1'"),
        (["plan", "--store", "memory://"], "required: --participant"),
    ],
)
def test_store_command_errors_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert message in err
