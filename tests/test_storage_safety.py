"""Stores that survive their users: passwords never shown, output paths never destroying
input, private file modes, URLs that mean what they say (issue 12)."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iopcore import (
    AttendanceRecord,
    Enrollment,
    Participant,
    ScreeningOrder,
    StorageError,
    SubstanceOutcome,
    ValidationError,
    loads_program,
    open_storage,
)
from iopcore.app.cli import main
from iopcore.core.records import MAX_NAME, check_text
from iopcore.io.files import load_program
from iopcore.io.output import store_files
from iopcore.io.storage import AuditIntegrityWarning, Store, audit_digest
from iopcore.io.urls import mask_url, scrub
from iopcore_plugins.memory import MemoryBackend
from iopcore_plugins.sqlite import SQLiteBackend

# -- passwords -----------------------------------------------------------------------------

#: Password letters never appear elsewhere in the generated URLs or in iopcore's messages
#: (as runs of 3), so a leaked piece of a password is found by looking for its letter runs.
_LETTERS = "QXZJK"
_SPECIALS = "/#?@:!$%*+,;[]~-_.'\"()"


@st.composite
def passwords(draw: st.DrawFn, specials: str = _SPECIALS) -> str:
    runs = draw(st.lists(st.text(_LETTERS, min_size=3, max_size=6), min_size=1, max_size=4))
    seps = draw(st.lists(st.text(specials, min_size=1, max_size=2), min_size=len(runs)))
    return "".join(r + s for r, s in zip(runs, seps, strict=False))[: -1 or None] + runs[-1][:1]


def _leaks(text: str, password: str) -> list[str]:
    pieces = [p for p in re.split(f"[^{_LETTERS}]+", password) if len(p) >= 3]
    return [p for p in pieces if p in text]


_SCHEMES = ["postgresql", "postgres", "postgresql+psycopg", "PostgreSQL", "postgresq", "mysql"]


@st.composite
def urls_with_password(draw: st.DrawFn) -> tuple[str, str]:
    shape = draw(st.sampled_from(["uri", "no-slashes", "query", "keywords", "quoted", "bare"]))
    scheme = draw(st.sampled_from(_SCHEMES))
    if shape == "query":
        pw = draw(passwords(specials="/#?@:!$*+,;~-_."))
        return f"{scheme}://clinic@127.0.0.1:1/iop?password={pw}&connect_timeout=3", pw
    if shape == "keywords":
        pw = draw(passwords(specials="/#?@:!$*+,;~-_."))
        return f"host=127.0.0.1 port=1 user=clinic password={pw} dbname=iop", pw
    if shape == "quoted":
        pw = draw(passwords(specials="/#?@:!$ ;~-_."))
        return f"host=127.0.0.1 port=1 password='{pw}' dbname=iop connect_timeout=3", pw
    pw = draw(passwords())
    if shape == "uri":
        return f"{scheme}://clinic:{pw}@127.0.0.1:1/iop?connect_timeout=3", pw
    if shape == "no-slashes":
        return f"{scheme}:clinic:{pw}@127.0.0.1:1/iop", pw
    return f"clinic:{pw}@127.0.0.1:1/iop", pw


@given(case=urls_with_password())
def test_mask_url_hides_every_password(case: tuple[str, str]) -> None:
    url, password = case
    assert not _leaks(mask_url(url), password), mask_url(url)
    assert not _leaks(scrub(f"error near {password!r} in {url}", url), password)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=urls_with_password())
def test_no_error_or_log_shows_the_password(
    case: tuple[str, str], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    url, password = case
    caplog.clear()
    with caplog.at_level(logging.DEBUG), pytest.raises(StorageError) as caught:
        open_storage(url)
    assert not _leaks(str(caught.value), password), str(caught.value)
    assert not _leaks(repr(caught.value), password)
    assert main(["findings", "--store", url]) == 2
    out = capsys.readouterr()
    assert not _leaks(out.out + out.err, password), out.err
    assert out.err.count("\n") == 1
    assert not _leaks(caplog.text, password)


@given(passwords())
def test_repr_url_and_audit_of_a_store_hide_the_password(password: str) -> None:
    backend = MemoryBackend(f"memory://clinic:{password}@here")
    with Store(backend, actor="test") as store:
        store.add_participant(Participant(id="P-1"))
        store.record_export("calendar", "P-1")
        shown = [repr(store), store.url, *map(repr, store.audit_log())]
    assert not _leaks(" ".join(shown), password)


def test_export_without_enrollment_masks_the_store(
    tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """The message used the raw --store (a PostgreSQL URL would show its password)."""
    url = "memory://clinic:QXZJK-pw@x"
    assert main(["export", "--store", url, "--participant", "P-1"]) == 2
    err = capsys.readouterr().err
    assert "QXZJK" not in err
    assert "memory://clinic:***@x" in err


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("PostgreSQL://u:pw@h/db", "PostgreSQL://u:***@h/db"),
        ("postgresql+psycopg://u:pw@h/db", "postgresql+psycopg://u:***@h/db"),
        ("postgresql:u:pw@h/db", "postgresql:***@h/db"),
        ("postgresql://u:a/b#c?d@h/db", "postgresql://u:***@h/db"),
        ("host=h password=pw user=u", "host=h password=*** user=u"),
        ("host=h password = 'p w' user=u", "host=h password = *** user=u"),
        ("host=h sslpassword=pw", "host=h sslpassword=***"),
        ("sqlite:///a:b@c.db", "sqlite:///a:b@c.db"),
        ("memory://", "memory://"),
    ],
)
def test_mask_url_examples(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("PostgreSQL://u:pw@h/db", "schemes are lower case: 'postgresql'"),
        ("postgresq://u:pw@h/db", 'did you mean "postgresql"'),
        ("postgresql:u:pw@h/db", "lacks '//'"),
        ("host=h password=pw", "has no scheme"),
        ("postgresql://u:pw@pw@h/db", "percent-encode them"),
        ("postgresql://u:pw/pw@h/db", "(@ %40, / %2F, ? %3F, # %23)"),
        ("postgresql://u:pw?pw@h/db", "libpq stops at the first"),
    ],
)
def test_mistyped_urls_say_what_to_fix(url: str, says: str) -> None:
    with pytest.raises(StorageError, match=re.escape(says)) as caught:
        open_storage(url)
    assert "pw@" not in str(caught.value)
    assert "=pw" not in str(caught.value)
    assert "pw/" not in str(caught.value)
    assert "pw?" not in str(caught.value)


# -- output paths ---------------------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "programs" / "adult-evening.toml"


@pytest.fixture
def small_store(tmp_path: Path) -> Path:
    """A SQLite store with one enrolled participant (P-1)."""
    path = tmp_path / "clinic.db"
    with open_storage(f"sqlite:///{path}") as store:
        store.save_program(load_program(EXAMPLE))
        store.add_participant(Participant(id="P-1"))
        store.enroll(
            Enrollment(
                id="E-1",
                participant_id="P-1",
                program="adult-evening",
                track="evening",
                start=date(2027, 1, 4),
            )
        )
    return path


def _export(store: Path, output: Path, *extra: str) -> int:
    return main(
        [
            "export",
            "--store",
            f"sqlite:///{store}",
            "--participant",
            "P-1",
            "--as-of",
            "2027-01-10",
            "-o",
            str(output),
            "--dtstamp",
            "2027-01-01T00:00:00Z",
            *extra,
        ]
    )


@pytest.mark.parametrize("force", [[], ["--force"]])
@pytest.mark.parametrize("companion", ["", "-wal", "-shm"])
def test_export_never_overwrites_the_store_it_reads(
    small_store: Path, capsys: pytest.CaptureFixture[str], companion: str, force: list[str]
) -> None:
    with open_storage(f"sqlite:///{small_store}") as store:
        audited = len(store.audit_log())
    target = Path(f"{small_store}{companion}")
    before = target.read_bytes() if target.exists() else None
    assert _export(small_store, target, *force) == 2
    err = capsys.readouterr().err
    assert "which the command reads" in err
    assert err.count("\n") == 1
    assert (target.read_bytes() if target.exists() else None) == before
    with open_storage(f"sqlite:///{small_store}") as store:
        assert len(store.audit_log()) == audited  # refused before the export was audited


def test_export_through_a_link_to_the_store_is_refused(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link = tmp_path / "calendar.ics"
    link.symlink_to(small_store)
    assert _export(small_store, link, "--force") == 2
    assert "which the command reads" in capsys.readouterr().err
    with open_storage(f"sqlite:///{small_store}") as store:
        assert store.participant("P-1").id == "P-1"


def test_overwriting_a_file_of_another_kind_needs_force(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a calendar\n")
    assert _export(small_store, notes) == 2
    assert "--force" in capsys.readouterr().err
    assert notes.read_text() == "not a calendar\n"
    assert _export(small_store, notes, "--force") == 0
    assert notes.read_bytes().startswith(b"BEGIN:VCALENDAR")
    # a calendar is replaced without --force, and no temporary file is left behind
    assert _export(small_store, notes) == 0
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_schedule_never_overwrites_its_program(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = tmp_path / "program.toml"
    program.write_bytes(EXAMPLE.read_bytes())
    for fmt in ("ics", "json", "table"):
        for force in ([], ["--force"]):
            args = [
                "schedule",
                str(program),
                "--track",
                "evening",
                "--start",
                "2027-01-04",
                "--format",
                fmt,
                "-o",
                str(program),
                *force,
            ]
            assert main(args) == 2
            assert "which the command reads" in capsys.readouterr().err
    assert program.read_bytes() == EXAMPLE.read_bytes()


def test_schedule_replaces_its_own_kind_but_not_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.json"
    base = ["schedule", str(EXAMPLE), "--track", "evening", "--start", "2027-01-04", "-o"]
    assert main([*base, str(out), "--format", "json"]) == 0
    assert main([*base, str(out), "--format", "json"]) == 0
    assert main([*base, str(out), "--format", "table"]) == 2  # JSON is not a table
    assert main([*base, str(out), "--format", "table", "--force"]) == 0
    assert out.read_text().startswith("times are local to")


@pytest.mark.parametrize("where", ["file", "under-file", "unwritable", "proc"])
def test_demo_dir_that_cannot_be_used_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    folder = {
        "file": a_file,
        "under-file": a_file / "demo",
        "unwritable": locked / "demo",
        "proc": Path("/proc/iopcore-demo"),  # no one may create folders there, not even root
    }[where]
    if where == "unwritable" and os.access(locked, os.W_OK):
        pytest.skip("running as a user who can write anywhere (root)")
    assert main(["demo", "--dir", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("iopcore: error: ")
    assert err.count("\n") == 1
    assert a_file.read_text() == "x"


# -- file modes -----------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("open_umask")
def test_store_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "clinic.db"
    with open_storage(f"sqlite:///{path}") as store:
        store.add_participant(Participant(id="P-1"))
        assert {_mode(p) for p in store_files(path) if p.exists()} == {0o600}
        assert Path(f"{path}-wal").exists()


@pytest.mark.usefixtures("open_umask")
def test_exports_are_private_whatever_the_umask(small_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "p1.ics"
    assert _export(small_store, out) == 0
    assert _mode(out) == 0o600
    out.chmod(0o644)
    assert _export(small_store, out) == 0  # a replaced export is private again
    assert _mode(out) == 0o600


@pytest.mark.usefixtures("open_umask")
def test_demo_output_is_private_whatever_the_umask(tmp_path: Path) -> None:
    from iopcore.app.demo import run_demo

    folder = tmp_path / "demo"
    run_demo(folder, per_program=1, say=lambda _: None)
    folders = [folder, *(p for p in folder.rglob("*") if p.is_dir())]
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {_mode(p) for p in folders} == {0o700}
    assert {_mode(p) for p in files} == {0o600}
    assert any(p.suffix == ".ics" for p in files)


# -- URLs mean what they say ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite:///:memory:", "memory://"),
        ("sqlite:///{d}/a.db?cache=shared", "unknown query 'cache=shared'"),
        ("sqlite:///{d}/a.db?mode=bogus", "unknown query 'mode=bogus'"),
        ("sqlite:///{d}/a\x00b.db", "NUL"),
    ],
)
def test_sqlite_urls_that_would_not_mean_what_they_say_are_refused(
    tmp_path: Path, url: str, says: str
) -> None:
    with pytest.raises(StorageError, match=re.escape(says)):
        open_storage(url.format(d=tmp_path))
    assert list(tmp_path.iterdir()) == []  # no file named after the query or ":memory:"


def test_sqlite_mode_ro_is_read_only_and_mode_rw_never_creates(tmp_path: Path) -> None:
    path = tmp_path / "clinic.db"
    with pytest.raises(StorageError, match="missing or empty"):
        open_storage(f"sqlite:///{path}?mode=rw")
    assert not path.exists()
    with open_storage(f"sqlite:///{path}") as store:
        store.add_participant(Participant(id="P-1"))
    with open_storage(f"sqlite:///{path}?mode=ro") as store:
        assert [p.id for p in store.participants()] == ["P-1"]
        with pytest.raises(StorageError, match="readonly"):
            store.add_participant(Participant(id="P-2"))
    with open_storage(f"sqlite:///{path}?mode=rw") as store:
        store.add_participant(Participant(id="P-2"))


@pytest.mark.parametrize("command", ["findings", "plan", "export"])
def test_read_commands_never_turn_an_empty_file_into_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    argv = [command, "--store", f"sqlite:///{empty}"]
    if command != "findings":
        argv += ["--participant", "P-1"]
    assert main(argv) == 2
    assert "empty file" in capsys.readouterr().err
    assert empty.stat().st_size == 0
    with pytest.raises(StorageError, match="missing or empty"):
        open_storage(f"sqlite:///{empty}?mode=rw")
    assert empty.stat().st_size == 0


# -- tamper-evident audit log ---------------------------------------------------------------


def _filled(path: Path, secret: str | None = None) -> None:
    with Store(SQLiteBackend(f"sqlite:///{path}"), actor="t", audit_secret=secret) as store:
        for i in range(5):
            store.add_participant(Participant(id=f"P-{i}"))
        store.record_export("calendar", "P-1")


def _tamper(path: Path, *statements: str) -> None:
    db = sqlite3.connect(path)
    for sql in statements:
        db.execute(sql)
    db.commit()
    db.close()


def test_an_intact_chain_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "clinic.db"
    _filled(path)
    with open_storage(f"sqlite:///{path}") as store:
        found = store.verify_audit()
        assert found.ok
        assert found.entries == 6
        assert not hasattr(store, "backend")  # no way around the audit log
    assert main(["audit", "verify", "--store", f"sqlite:///{path}"]) == 0
    assert "chain intact" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("statements", "broken_at", "says"),
    [
        (["DELETE FROM audit WHERE seq = 3"], 4, "entries 3-3 before it were deleted"),
        (["UPDATE audit SET actor = 'someone-else' WHERE seq = 2"], 2, "altered"),
        (["UPDATE audit SET at = '2020-01-01T00:00:00+00:00' WHERE seq = 5"], 5, "altered"),
        (["UPDATE audit SET digest = NULL WHERE seq = 4"], 4, "no digest"),
    ],
)
def test_an_altered_audit_log_is_found_and_named(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    statements: list[str],
    broken_at: int,
    says: str,
) -> None:
    path = tmp_path / "clinic.db"
    _filled(path)
    _tamper(path, "DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete", *statements)
    with pytest.warns(AuditIntegrityWarning, match=f"broken at entry {broken_at}"):
        store = open_storage(f"sqlite:///{path}")
    with store:
        found = store.verify_audit()
    assert found.broken_at == broken_at
    assert says in found.problem
    assert len(found.guards) == 2
    assert main(["audit", "verify", "--store", f"sqlite:///{path}"]) == 1
    out = capsys.readouterr()
    assert f"chain broken at entry {broken_at}" in out.out
    assert "audit_no_delete is missing" in out.out


def test_deleting_the_newest_entries_is_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No later entry chains to them, so the chain alone cannot show it: SQLite's counter
    of issued sequence numbers (written in the same transaction) does, even with the
    append-only triggers put back."""
    path = tmp_path / "clinic.db"
    _filled(path)
    db = sqlite3.connect(path)
    (trigger,) = db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_no_delete'"
    ).fetchone()
    db.close()
    _tamper(path, "DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE seq >= 5", trigger)
    with pytest.warns(AuditIntegrityWarning, match="newest 2 entries were deleted"):
        store = open_storage(f"sqlite:///{path}")
    with store:
        found = store.verify_audit()
    assert (found.missing_newest, found.broken_at, found.guards) == (2, None, ())
    assert not found.ok
    assert main(["audit", "verify", "--store", f"sqlite:///{path}"]) == 1
    assert "newest 2 entries were deleted" in capsys.readouterr().out
    # an intact store issues exactly what it keeps
    other = tmp_path / "other.db"
    _filled(other)
    with open_storage(f"sqlite:///{other}") as store:
        assert store.verify_audit().missing_newest == 0


def test_a_dropped_trigger_alone_warns_on_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "clinic.db"
    _filled(path)
    _tamper(path, "DROP TRIGGER audit_no_delete")
    with pytest.warns(AuditIntegrityWarning, match="audit_no_delete is missing"):
        open_storage(f"sqlite:///{path}").close()
    assert main(["findings", "--store", f"sqlite:///{path}"]) == 0
    assert "iopcore: warning: " in capsys.readouterr().err


def test_a_keyed_chain_cannot_be_forged_without_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "clinic.db"
    secret = "a-clinic-secret-of-some-length"
    _filled(path, secret)
    with Store(SQLiteBackend(f"sqlite:///{path}"), audit_secret=secret) as store:
        assert store.verify_audit().ok
    # rewrite entry 2 and recompute the rest of the chain without the key
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER audit_no_update")
    rows = db.execute("SELECT seq, at, actor, kind, key, change FROM audit ORDER BY seq").fetchall()
    previous = ""
    for seq, at, actor, kind, key, change in rows:
        actor = "forger" if seq == 2 else actor
        previous = audit_digest(b"", previous, datetime.fromisoformat(at), actor, kind, key, change)
        db.execute("UPDATE audit SET actor = ?, digest = ? WHERE seq = ?", (actor, previous, seq))
    db.commit()
    db.close()
    with (
        pytest.warns(AuditIntegrityWarning),
        Store(SQLiteBackend(f"sqlite:///{path}"), audit_secret=secret) as store,
    ):
        assert store.verify_audit().broken_at == 1


def test_an_audit_secret_must_be_long(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="at least 16"):
        Store(SQLiteBackend(f"sqlite:///{tmp_path / 'a.db'}"), audit_secret="short")


# -- bad text is refused at the door --------------------------------------------------------

LONE = chr(0xD800)


@pytest.mark.parametrize("url", ["memory://", "sqlite:///{d}/s.db"])
def test_lone_surrogates_are_refused_not_crashing_reads(tmp_path: Path, url: str) -> None:
    with open_storage(url.format(d=tmp_path)) as store:
        store.add_participant(Participant(id="P-1"))
        for read in (store.participant, store.enrollments, store.attendance, store.history):
            with pytest.raises(ValidationError, match="lone surrogate"):
                read(f"P-{LONE}")
        with pytest.raises(ValidationError, match="lone surrogate"):
            store.add_participant(Participant(id=f"P-{LONE}"))


@given(
    st.builds(
        lambda a, c, b: a + chr(c) + b,
        st.text(max_size=10),
        st.integers(0xD800, 0xDFFF),
        st.text(max_size=10),
    )
)
def test_any_text_with_a_lone_surrogate_is_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        check_text(value, where="x", max_length=100)
    with pytest.raises(ValidationError):
        AttendanceRecord(
            participant_id="P-1",
            occurrence_id="o-1",
            session_date=date(2027, 1, 4),
            status="attended",
            note=value,
        )


def test_plan_with_a_surrogate_participant_is_one_line(
    small_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["plan", "--store", f"sqlite:///{small_store}", "--participant", f"P-{LONE}"]
    assert main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("key", ["", "k" * 1_000_000, f"P-{LONE}", "a\x00b"])
def test_export_keys_are_ids(key: str) -> None:
    with open_storage("memory://") as store, pytest.raises(ValidationError):
        store.record_export("calendar", key)
    with open_storage("memory://") as store, pytest.raises(ValidationError):
        store.record_export(key, "P-1")


@pytest.mark.parametrize(
    ("name", "says"),
    [
        (5, "must be a string, got int"),
        ("adult-d\u0430y", "mixes scripts"),
        ("x" * (MAX_NAME + 1), f"at most {MAX_NAME} characters"),
        (f"adult{LONE}", "lone surrogate"),
    ],
)
def test_program_names_are_refused_at_the_door(name: object, says: str) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    good = loads_program(text, file="p.toml")
    with pytest.raises(ValidationError, match=says) as caught:
        attrs.evolve(good, name=name)  # type: ignore[arg-type]
    if isinstance(name, str):
        assert name not in str(caught.value)


def test_clinical_values_are_not_echoed_and_orders_hide_the_panel() -> None:
    with pytest.raises(ValidationError) as caught:
        SubstanceOutcome("Positive ")
    assert "Positive" not in str(caught.value)
    assert "positive" in str(caught.value)  # the choices are listed
    order = ScreeningOrder(
        id="O-1", participant_id="P-1", ordered_for=date(2027, 1, 4), panel="fentanyl-12"
    )
    assert "fentanyl" not in repr(order)
