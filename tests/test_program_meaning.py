"""Program files are checked for what they mean: every bad value is an IopcoreError naming
its key path, never a traceback, and exit 1 of ``iopcore check`` keeps its one meaning."""

from __future__ import annotations

import re
import tomllib
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iopcore import (
    IopcoreError,
    Participant,
    Program,
    ProgramFileError,
    ValidationError,
    check_program,
    dump_program,
    expand,
    loads_program,
)
from iopcore.app.cli import main

EXAMPLES = sorted(Path("examples/programs").glob("*.toml"))
DOCS = {p.name: tomllib.loads(p.read_text(encoding="utf-8")) for p in EXAMPLES}

#: Values that have crashed loaders: extremes, wrong types, long and odd strings.
ODD = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, -1, 1, 7, 80, 10**6, 2**31, 2**63 - 1, -(2**63)]),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=5),
    st.sampled_from(
        ["", "x" * 300, "MST", "EST5EDT", "US/Eastern", "Etc/GMT+5", "Europe/Kiev", "mon"]
    ),
    st.sampled_from([date(1, 1, 1), date(9999, 12, 31), time(23, 59)]),
    st.lists(st.integers(), max_size=3),
    st.lists(st.text(max_size=3), max_size=3),
    st.just({}),
)


DAY = Path("examples/programs/adult-day.toml").read_text(encoding="utf-8")
DAY_PROGRAM = loads_program(DAY)
ZONE = re.compile(r'time_zone = "[^"]+"')


def _zone(name: str) -> str:
    return ZONE.sub(f'time_zone = "{name}"', DAY, count=1)


MOVE_ONTO_GROUP = (
    DAY
    + """
[[tracks.day.changes]]
date = 2027-03-02
start = "09:00"
session_type = "dbt-skills"
new_date = 2027-03-03
"""
)
SUNDAY_INTO_MONDAY = DAY.replace(
    '{ day = "fri", start = "10:30", session_type = "education" },\n]',
    '{ day = "fri", start = "10:30", session_type = "education" },\n'
    '  { day = "sun", start = "23:00", session_type = "group", minutes = 660 },\n]',
    1,
)

#: (name, file text, key path named, words of the problem)
BAD = [
    (
        "weeks-only step-down",
        DAY.replace(
            "attendance_rate_at_least = 0.8\nrate_weeks = 2\nnegative_screens_in_a_row = 2\n",
            "",
            1,
        ),
        "step_down[0]",
        "no evidence criterion besides weeks",
    ),
    (
        "a 0% attendance rate as the only evidence",
        DAY.replace(
            "attendance_rate_at_least = 0.8\nrate_weeks = 2\nnegative_screens_in_a_row = 2\n",
            "attendance_rate_at_least = 0.0\n",
            1,
        ),
        "step_down[0].attendance_rate_at_least",
        "is met by anyone",
    ),
    (
        "rate as a percentage",
        DAY.replace("attendance_rate_at_least = 0.8", "attendance_rate_at_least = 80", 1),
        "step_down[0].attendance_rate_at_least",
        "write 0.8 for 80%",
    ),
    (
        "instrument never measured",
        DAY.replace('instrument = "BAM", at_most', 'instrument = "PHQ-9", at_most', 1),
        "step_down[1].assessments[0].instrument",
        "never measures",
    ),
    ("move onto a session", MOVE_ONTO_GROUP, "tracks.day.changes[0]", "lands on the Wednesday"),
    ("overlap wrapping the week", SUNDAY_INTO_MONDAY, "tracks.day.phases[0]", "overlaps"),
    ("fixed offset MST", _zone("MST"), "tracks.day.time_zone", "America/Phoenix"),
    ("POSIX EST5EDT", _zone("EST5EDT"), "tracks.day.time_zone", "America/New_York"),
    ("fixed offset Etc/GMT+5", _zone("Etc/GMT+5"), "tracks.day.time_zone", "fixed offset"),
    ("300-character zone", _zone("A" * 300), "tracks.day.time_zone", "at most 64"),
    (
        "huge minutes",
        DAY.replace("minutes = 90", f"minutes = {2**63 - 1}", 1),
        "session_types.group.minutes",
        "from 1 to 1440",
    ),
    ("closure in year 1", DAY + "\n[[closures]]\ndate = 0001-01-01\n", "closures[", "1900-2999"),
    ("closure in 9999", DAY + "\n[[closures]]\ndate = 9999-12-31\n", "closures[", "1900-2999"),
    (
        "huge max_weeks",
        DAY.replace("max_weeks = 6", "max_weeks = 100000000", 1),
        "tracks.day.phases[0].max_weeks",
        "from 1 to 520",
    ),
    (
        "negative overdue_after_days",
        DAY + "\n[accountability]\noverdue_after_days = -1\n",
        "accountability.overdue_after_days",
        "from 0 to",
    ),
    (
        "non-string screening phase",
        DAY.replace('phases = ["intensive"]', "phases = [1]", 1),
        "screening[0].phases[0]",
        "expected a string",
    ),
]


@pytest.mark.parametrize(("name", "text", "key_path", "words"), BAD, ids=[b[0] for b in BAD])
def test_check_refuses_what_a_program_cannot_mean(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    text: str,
    key_path: str,
    words: str,
) -> None:
    path = tmp_path / "program.toml"
    path.write_text(text, encoding="utf-8")
    assert main(["check", str(path)]) == 2  # exit 1 means only "misses its level of care"
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert re.match(rf"iopcore: error: {re.escape(path.name)}:\d+: {re.escape(key_path)}", err), err
    assert words in err


@pytest.mark.parametrize(
    ("legacy", "canonical"),
    [("Europe/Kiev", "Europe/Kyiv"), ("US/Eastern", "America/New_York"), ("Etc/UTC", "UTC")],
)
def test_legacy_zone_names_are_written_canonically(legacy: str, canonical: str) -> None:
    program = loads_program(_zone(legacy))
    assert program.track("day").time_zone == canonical
    assert f'time_zone = "{canonical}"' in dump_program(program)


@pytest.mark.parametrize("codes", ["F10.20", ["F10.20", 12], [None], [""]])
def test_diagnoses_are_a_list_of_code_strings(codes: Any) -> None:
    with pytest.raises(ValidationError, match="diagnoses must be"):
        Participant(id="P-1", diagnoses=codes)
    assert Participant(id="P-1", diagnoses=["F10.20"]).diagnoses == ("F10.20",)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path] if path else []
    if isinstance(value, dict):
        for key, sub in value.items():
            out += _paths(sub, (*path, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            out += _paths(sub, (*path, i))
    return out


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _mutate(doc: Any, path: tuple[Any, ...], action: str, new: Any) -> Any:
    if not path:
        return doc
    head, *rest = path
    copy: Any = dict(doc) if isinstance(doc, dict) else list(doc)
    if rest:
        copy[head] = _mutate(copy[head], tuple(rest), action, new)
    elif action == "delete":
        del copy[head]
    else:
        copy[head] = new
    return copy


@st.composite
def mutated(draw: st.DrawFn) -> str:
    doc: Any = DOCS[draw(st.sampled_from(sorted(DOCS)))]
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        leaves = [p for p in paths if not isinstance(_at(doc, p), dict | list)]
        path = draw(st.sampled_from(leaves if draw(st.booleans()) else paths))
        action = draw(st.sampled_from(["replace", "replace", "delete"]))
        doc = _mutate(doc, path, action, draw(ODD))
    try:
        return tomli_w.dumps(doc)
    except (TypeError, ValueError):
        return tomli_w.dumps(DOCS["adult-day.toml"])


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_any_mutated_program_file_is_a_program_or_an_error_with_a_key_path(text: str) -> None:
    error: IopcoreError | None = None
    try:
        program = loads_program(text, file="mutated.toml")
    except IopcoreError as exc:  # anything else fails the test with its traceback
        error = exc
    if error is not None:
        assert isinstance(error, ProgramFileError), repr(error)
        # the key path, or a top-level problem that names its key (or the TOML syntax)
        assert error.key_path or "TOML" in error.problem or "key '" in error.problem, str(error)
        return
    assert isinstance(program, Program)
    check_program(program)  # what `iopcore check` does next: never a traceback either


# -- cadences clinics write ---------------------------------------------------------------------

FORTNIGHTLY = DAY.replace(
    '{ day = "thu", start = "10:30", session_type = "family" },',
    '{ day = "thu", start = "10:30", session_type = "family", every_weeks = 2 },',
    1,
)


@given(st.integers(0, 60))
def test_an_every_other_week_slot_is_anchored_to_the_phase_start(offset: int) -> None:
    program = loads_program(FORTNIGHTLY)
    start = date(2027, 8, 2) + timedelta(days=offset)
    sessions = expand(program, "day", start=start, weeks=6, phase_weeks={"intensive": 6})
    held = [o.slot_start.date() for o in sessions if o.session_type == "family"]
    thursdays = [
        start + timedelta(days=d)
        for d in range(42)
        if (start + timedelta(days=d)).weekday() == 3
        and start + timedelta(days=d) not in program.closed
    ]
    assert held == [d for d in thursdays if ((d - start).days // 7) % 2 == 0]


def test_an_every_other_week_slot_round_trips_and_is_not_in_the_regular_week() -> None:
    program = loads_program(FORTNIGHTLY)
    weekly = DAY_PROGRAM.track("day").phases[0].weekly_minutes(DAY_PROGRAM)
    family = DAY_PROGRAM.session_type("family").minutes
    assert program.track("day").phases[0].weekly_minutes(program) == weekly - family
    assert "every_weeks = 2" in dump_program(program)
    assert loads_program(dump_program(program)) == program
