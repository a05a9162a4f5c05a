from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given

from iopcore import (
    Program,
    ProgramFileError,
    dump_program,
    load_program,
    loads_program,
    save_program,
)
from tests.strategies import programs

EXAMPLES = sorted(Path("examples/programs").glob("*.toml"))
GOOD = Path("examples/programs/adult-evening.toml").read_text()


def _error(text: str) -> str:
    with pytest.raises(ProgramFileError) as info:
        loads_program(text, file="adult-evening.toml")
    return str(info.value)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_round_trip(path: Path, tmp_path: Path) -> None:
    program = load_program(path)
    save_program(program, tmp_path / "again.toml")
    assert load_program(tmp_path / "again.toml") == program


@given(programs(phases=2))
def test_any_program_round_trips(program: Program) -> None:
    assert loads_program(dump_program(program)) == program


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_bad_time_names_file_line_and_key_path() -> None:
    text = GOOD.replace('{ day = "tue", start = "19:30"', '{ day = "tue", start = "25:00"')
    line = _line_of(text, '"25:00"')
    assert _error(text) == (
        f"adult-evening.toml:{line}: tracks.evening.phases[0].slots[3].start: "
        '"25:00" is not a time (HH:MM); see docs: program-files#tracks-phases-slots'
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("min_weeks = 12", "min_week = 12"),
        ("date = 2027-05-31", 'date = "May 31"'),
        ('level_of_care = "2.1"', 'level_of_care = "9"'),
        ("new_date = 2027-03-10", "new_date = 2027-03-10\ncancelled = true"),
    ],
)
def test_errors_name_the_line(old: str, new: str) -> None:
    text = GOOD.replace(old, new, 1)
    first = new.splitlines()[0]
    expected = (
        _line_of(text, first)
        if "cancelled" not in new
        else _line_of(text, "[[tracks.evening.changes]]")
    )
    assert _error(text).startswith(f"adult-evening.toml:{expected}: ")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'level_of_care = "2.1"',
            'level_of_cara = "2.1"',
            'level_of_cara: unknown key (did you mean "level_of_care"?)',
        ),
        (
            "min_weeks = 12",
            "min_week = 12",
            'tracks.evening.phases[0].min_week: unknown key (did you mean "min_weeks"?)',
        ),
        (
            'time_zone = "America/New_York"',
            'time_zone = "America/NewYork"',
            "tracks.evening.time_zone: 'America/NewYork' is not an IANA time zone (did you mean "
            '"America/New_York"?)',
        ),
        (
            'level_of_care = "2.1"',
            'level_of_care = "2.2"',
            'level_of_care: "2.2" is not valid (did you mean "2.5"?); one of: 1, 2.1, 2.5',
        ),
        (
            'population = "adult"',
            'population = "adults"',
            'population: "adults" is not valid (did you mean "adult"?)',
        ),
        (
            '"medicare-iop"]',
            '"medicare"]',
            'rule_sets[2]: "medicare" is not valid (did you mean "medicare-iop"?); one of: asam,',
        ),
        (
            'day = "thu", start = "20:00", session_type = "individual"',
            'day = "thu", start = "20:00", session_type = "indivdual"',
            'tracks.evening.phases[0].slots[5].session_type: "indivdual" is not a session type of '
            'this program (did you mean "individual"?)',
        ),
        (
            '{ day = "mon", start = "18:00"',
            '{ day = "mo", start = "18:00"',
            "tracks.evening.phases[0].slots[0].day: 'mo' is not a weekday",
        ),
        (
            "minutes = 90\ncapacity = 12",
            'minutes = "90"\ncapacity = 12',
            'session_types.group.minutes: expected an integer, got "90"',
        ),
        ("date = 2027-05-31", 'date = "May 31"', 'closures[3].date: "May 31" is not a date'),
        (
            "min_weeks = 12\nmax_weeks = 12",
            "min_weeks = 12\nmax_weeks = 10",
            "tracks.evening.phases[0]: phase 'core': max_weeks (10) is less than min_weeks (12)",
        ),
        (
            'kind = "group"\nmodality = "cbt"',
            'kind = "grup"\nmodality = "cbt"',
            'session_types.group.kind: "grup" is not valid (did you mean "group"?)',
        ),
        (
            "new_date = 2027-03-10",
            "new_date = 2027-03-10\ncancelled = true",
            "tracks.evening.changes[0]: change for 2027-03-11 18:00: set either cancelled",
        ),
    ],
)
def test_errors_name_the_key_path_and_the_fix(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    assert expected in _error(GOOD.replace(old, new, 1))


def test_overlap_error_names_the_phase() -> None:
    text = GOOD.replace('{ day = "mon", start = "19:30"', '{ day = "mon", start = "19:00"')
    assert "tracks.evening.phases[0]: phase 'core': the Monday 19:00 education" in _error(text)


def test_missing_keys_and_bad_toml() -> None:
    assert _error("title = 'x'") == (
        "adult-evening.toml: missing required key 'name'; see docs: program-files#top-level-keys"
    )
    assert _error("name = 'x'\ntitle = 'y'\n[tracks]\n") == (
        "adult-evening.toml: missing required key 'session_types'; "
        "see docs: program-files#top-level-keys"
    )
    assert _error("name = 'x'\ntitle = 'y'\n[session_types]\n[tracks]\n") == (
        "adult-evening.toml:4: tracks: program 'x' has no tracks; add at least one; "
        "see docs: program-files#tracks"
    )
    assert "not valid TOML" in _error("name = ")
    assert "(at line 2, column 8)" in _error("name = 'x'\n[tracks\n")
    assert _error("name = 'x'\n[tracks\n").startswith("adult-evening.toml:2: not valid TOML")


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ProgramFileError, match=r"nope\.toml: no such file"):
        load_program(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ProgramFileError, match=r"bad\.toml: cannot read"):
        load_program(bad)


def _leaf_paths(value: object, path: str = "") -> list[tuple[str, object]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaf_paths(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [p for i, v in enumerate(value) for p in _leaf_paths(v, f"{path}[{i}]")]
    return [(path, value)]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_key_of_the_examples_is_located_on_its_own_line(path: Path) -> None:
    import tomllib

    from iopcore.io.files import locate

    text = path.read_text()
    lines = text.splitlines()
    for key_path, value in _leaf_paths(tomllib.loads(text)):
        line = locate(text, key_path)
        assert line is not None, key_path
        key = key_path.rsplit(".", 1)[-1]
        shown = f'"{value}"' if isinstance(value, str) else str(value).lower()
        if isinstance(value, list):
            shown = "["
        assert f"{key} = {shown}" in lines[line - 1], (key_path, line)


def test_unknown_keys_list_the_valid_keys_of_their_table() -> None:
    text = GOOD.replace("min_weeks = 12", "min_week = 12", 1)
    assert _error(text).endswith(
        'tracks.evening.phases[0].min_week: unknown key (did you mean "min_weeks"?); '
        "one of: max_weeks, min_weeks, name, slots; see docs: program-files#tracks-phases"
    )
    # a named table's name is its key, so "name" is neither accepted nor offered
    text = GOOD.replace("minutes = 90\ncapacity = 12", 'minutes = 90\nname = "g"', 1)
    message = _error(text)
    assert "session_types.group.name: unknown key; the name is the table's key" in message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("minutes = 90\ncapacity = 12", "minutes = true\ncapacity = 12", "expected an integer"),
        ("minutes = 90\ncapacity = 12", "minutes = 90.0\ncapacity = 12", "expected an integer"),
        ("date = 2027-05-31", "date = 2027-05-31T09:00:00", "is not a date"),
        ('title = "Adult evening IOP"', "title = 3", "title: expected a string, got 3"),
        ("[[tracks.evening.phases]]", "[tracks.evening.phases]", "expected an array, got a table"),
        (
            'kind = "group"\nmodality = "cbt"',
            'modality = "cbt"',
            "session_types.group: missing required key 'kind'; one of: check-in, education,",
        ),
    ],
)
def test_types_are_strict(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    assert expected in _error(GOOD.replace(old, new, 1))


def test_one_decoder_for_programs_scenarios_and_records() -> None:
    import subprocess
    import sys

    from iopcore.io import convert, storage
    from iopcore.simulation import files

    assert storage._json is convert.records
    assert files.decode is convert.decode
    # no import cycle: the models decode their parameters without the scenario-file module
    code = (
        "import sys, iopcore.simulation.models; "
        "assert 'iopcore.simulation.files' not in sys.modules; "
        "assert 'iopcore.simulation.scenario' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
