"""The SQLite backend under stress: kill -9 at random moments, concurrent writers, migrations,
files that are not (or not yet) iopcore stores, and hostile values.

The contract suite (test_storage_contract.py) checks behaviour every backend shares; these
tests check what only a file on disk can go wrong with. Writers run in separate interpreters
(``subprocess``), so a SIGKILL is a real crash of a real process.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iopcore import (
    AttendanceRecord,
    IopcoreError,
    Participant,
    StorageError,
    Store,
    open_storage,
)
from iopcore.io.storage import SCHEMA_VERSION, Row, _dumps, _encode, _json
from iopcore_plugins.memory import MemoryBackend
from iopcore_plugins.sqlite import MIGRATIONS, SQLiteBackend

#: Fixed seed: the kill moments (delays after the writer starts) are the same on every run.
SEED = 20270104
KILL_CYCLES = 60
CYCLES_PER_FILE = 10
OPEN_KILL_DELAY = 0.04  # s after "start"; opening takes ~5-35 ms
WRITE_KILL_DELAY = 0.03  # s after the first write; a durable write takes ~0.3 ms


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _record(pid: str, occurrence: str, day: int = 0, **fields: Any) -> AttendanceRecord:
    values: dict[str, Any] = {
        "participant_id": pid,
        "occurrence_id": occurrence,
        "session_date": date(2027, 1, 4) + timedelta(days=day),
        "status": "attended",
        "minutes_attended": 90,
    }
    return AttendanceRecord(**{**values, **fields})


def _integrity(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def _python(script: str, *args: str, **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


# -- kill -9 ---------------------------------------------------------------------------

#: The writer: every call is one record, except every fourth, a batch of three. It prints
#: "start" before it opens the store and "opened" after; then, after each call returns (the
#: write is acknowledged), the keys it wrote, one call per line.
KILLED_WRITER = """
    import sys
    from datetime import date, timedelta
    from iopcore import AttendanceRecord, open_storage

    url, pid = sys.argv[1], sys.argv[2]
    print("start", flush=True)
    with open_storage(url, actor="kill-test") as store:
        print("opened", flush=True)
        call = 0
        while True:
            batch = [
                AttendanceRecord(
                    participant_id=pid,
                    occurrence_id=f"o-{call:05d}-{i}",
                    session_date=date(2027, 1, 4) + timedelta(days=call % 365),
                    status="attended",
                    minutes_attended=call % 181,
                )
                for i in range(3 if call % 4 == 3 else 1)
            ]
            store.record_attendance(batch)
            print(" ".join(r.key for r in batch), flush=True)
            call += 1
"""


def _batch_size(call: int) -> int:
    return 3 if call % 4 == 3 else 1


def _call_of(key: str) -> int:
    """``K-007/o-00012-2`` -> 12."""
    return int(key.rsplit("/", 1)[1].split("-")[1])


def _kill_writer(url: str, pid: str, after: str, delay: float) -> list[list[str]]:
    """Start a writer, SIGKILL it ``delay`` s after it printed "start" (``after="start"``) or
    its first acknowledgement (``after="ack"``); the keys of the calls it acknowledged."""
    markers = ("start", "opened")
    with _python(KILLED_WRITER, url, pid) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        lines: list[str] = []
        while after not in lines if after == "start" else not set(lines) - set(markers):
            line = proc.stdout.readline()
            if not line:  # the writer died on its own
                proc.kill()
                pytest.fail(f"the writer ended before {after!r}:\n{proc.stderr.read()}")
            lines.append(line.strip())
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        # Not communicate(): it reads the pipe itself and would miss what readline() buffered.
        lines += proc.stdout.read().splitlines()
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == -signal.SIGKILL, f"the writer ended by itself:\n{err}"
    return [line.split() for line in lines if line not in markers]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_kill_9_loses_no_acknowledged_write(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    early = 0
    for cycle in range(KILL_CYCLES):
        path = tmp_path / f"killed-{cycle // CYCLES_PER_FILE}.db"
        pid = f"K-{cycle:03d}"
        # Three kills per file land early: while the store opens (on a new file: while it
        # is created and migrated) or during the first writes; the rest while writing.
        if cycle % CYCLES_PER_FILE in (0, 3, 6):
            acked = _kill_writer(_url(path), pid, "start", rng.uniform(0, OPEN_KILL_DELAY))
            early += not acked
        else:
            acked = _kill_writer(_url(path), pid, "ack", rng.uniform(0, WRITE_KILL_DELAY))

        with open_storage(_url(path), actor="verifier") as store:
            assert store.schema_version == SCHEMA_VERSION
            stored = {r.key for r in store.attendance(pid)}
            inserts = [e.key for e in store.audit_log() if e.change == "insert"]
        acked_keys = {key for keys in acked for key in keys}
        assert acked_keys <= stored, f"cycle {cycle}: lost {sorted(acked_keys - stored)}"
        # Besides the acknowledged calls, only the call in flight at the kill may have
        # committed (its acknowledgement never printed), and only in full.
        extra = stored - acked_keys
        assert {_call_of(key) for key in extra} <= {len(acked)}, f"cycle {cycle}: {extra}"
        assert len(extra) in (0, _batch_size(len(acked))), f"cycle {cycle}: torn {extra}"
        # Every stored record was audited once, as an insert.
        assert sorted(key for key in inserts if key.startswith(f"{pid}/")) == sorted(stored)
        assert _integrity(path) == "ok"
    print(f"{KILL_CYCLES} kills, {early} before the first acknowledged write")


# -- concurrent writers ----------------------------------------------------------------

WORKERS = 4
WRITES = 120

#: A worker: waits for "go", then writes its own records (one per call, every tenth call a
#: batch of five), re-writes records every worker writes identically, and reads.
CONCURRENT_WRITER = """
    import sys, traceback
    from datetime import date, timedelta
    from iopcore import AttendanceRecord, open_storage

    url, worker, writes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    def record(pid, occurrence, n):
        return AttendanceRecord(participant_id=pid, occurrence_id=occurrence,
                                session_date=date(2027, 1, 4) + timedelta(days=n % 90),
                                status="attended", minutes_attended=90)
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        written = 0
        with open_storage(url, actor=f"worker-{worker}") as store:
            for n in range(writes):
                size = 5 if n % 10 == 9 else 1
                store.record_attendance(
                    [record(f"P-{n % 7}", f"w{worker}-{n}-{i}", n) for i in range(size)])
                written += size
                if n % 6 == 0:
                    store.record_attendance([record("P-shared", f"s-{n}", n)])
                if n % 15 == 0:
                    store.attendance(f"P-{n % 7}")
        print("ok", written, flush=True)
    except BaseException:
        print("error", traceback.format_exc().replace("\\n", " | "), flush=True)
        sys.exit(1)
"""


@pytest.mark.parametrize("fresh", [True, False], ids=["new-file", "existing-store"])
def test_four_writers_lose_nothing_and_never_see_locked(tmp_path: Path, fresh: bool) -> None:
    path = tmp_path / "shared.db"
    if not fresh:
        open_storage(_url(path)).close()
    with ExitStack() as stack:
        workers = [
            stack.enter_context(
                _python(CONCURRENT_WRITER, _url(path), str(w), str(WRITES), stdin=subprocess.PIPE)
            )
            for w in range(WORKERS)
        ]
        for w in workers:  # every worker is imported and waiting: start them at once
            assert w.stdout is not None
            assert w.stdout.readline() == "ready\n"
        for w in workers:
            assert w.stdin is not None
            w.stdin.write("go\n")
            w.stdin.flush()
        results = []
        for w in workers:  # read() after readline(), not communicate(), which skips the buffer
            assert w.stdout is not None
            assert w.stderr is not None
            results.append((w.stdout.read(), w.stderr.read()))
            w.wait(timeout=120)
    for w, (out, err) in zip(workers, results, strict=True):
        assert w.returncode == 0, f"{out}\n{err}"
        assert out.startswith("ok "), out
        assert "locked" not in out + err
    per_worker = int(results[0][0].split()[1])

    shared = {f"s-{n}" for n in range(0, WRITES, 6)}
    with open_storage(_url(path), actor="verifier") as store:
        own = [r for p in range(7) for r in store.attendance(f"P-{p}")]
        assert len(own) == WORKERS * per_worker
        assert {r.occurrence_id for r in store.attendance("P-shared")} == shared
        log = store.audit_log()
    # Four workers wrote each shared record: exactly one insert, three unchanged.
    changes: dict[str, list[str]] = {}
    for entry in log:
        if entry.key.startswith("P-shared/"):
            changes.setdefault(entry.key, []).append(entry.change)
    assert {key: sorted(c) for key, c in changes.items()} == {
        f"P-shared/{occ}": ["insert", "unchanged", "unchanged", "unchanged"] for occ in shared
    }
    assert [e.seq for e in log] == sorted({e.seq for e in log})
    assert [e.at for e in log] == sorted(e.at for e in log)  # times follow sequence numbers
    assert _integrity(path) == "ok"


# -- migrations and foreign files ------------------------------------------------------


def test_a_v1_store_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    url = _url(tmp_path / "v1.db")
    with Store(SQLiteBackend(url, target_version=1), actor="v1-app") as old:
        assert old.schema_version == 1
        old.add_participant(Participant(id="P-1"))
        old.record_attendance([_record("P-1", "o-1", note="kept across the upgrade")])
    with open_storage(url, actor="v2-app") as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.participant("P-1") == Participant(id="P-1")
        assert store.attendance("P-1") == (_record("P-1", "o-1", note="kept across the upgrade"),)
        assert [(e.actor, e.change) for e in store.audit_log()] == [
            ("v1-app", "insert"),
            ("v1-app", "insert"),
        ]
    db = sqlite3.connect(tmp_path / "v1.db")
    names = {n for (n,) in db.execute("SELECT name FROM sqlite_master")}
    db.close()
    assert {"records_by_owner", "audit_no_update", "audit_no_delete"} <= names


def test_a_failed_migration_leaves_the_old_version(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    SQLiteBackend(_url(path), target_version=1).close()
    db = sqlite3.connect(path)
    db.execute("CREATE INDEX records_by_owner ON records (owner)")  # v2's index name, taken
    db.commit()
    db.close()
    with pytest.raises(StorageError, match="records_by_owner already exists"):
        open_storage(_url(path))
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    triggers = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")
    assert triggers.fetchone()[0] == 0  # the first statements of the step were rolled back
    db.close()


def test_a_newer_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    open_storage(_url(path)).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StorageError, match=f"schema version {SCHEMA_VERSION + 1}.*upgrade iopcore"):
        open_storage(_url(path))


def test_a_sqlite_file_of_another_application_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    db.execute("INSERT INTO invoices (amount) VALUES (12.5)")
    db.commit()
    db.close()
    with pytest.raises(StorageError, match="not an iopcore store"):
        open_storage(_url(path))
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    names = [n for (n,) in db.execute("SELECT name FROM sqlite_master")]
    assert names == ["invoices"]
    db.close()


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are not the records you are looking for\n" * 100)
    with pytest.raises(StorageError, match="cannot open as an iopcore SQLite store"):
        open_storage(_url(path))


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    with pytest.raises(StorageError, match=r"folder .*folder' does not exist; create it first"):
        open_storage(_url(missing / "clinic.db"))
    assert not missing.exists()


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = open_storage(_url(tmp_path / "closed.db"))
    store.close()
    store.close()  # idempotent
    with pytest.raises(StorageError, match="closed"):
        store.participants()


def test_the_audit_log_refuses_update_and_delete_even_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "audited.db"
    with open_storage(_url(path), actor="clinic") as store:
        store.add_participant(Participant(id="P-1"))
    db = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit SET actor = 'someone else'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM audit")
    db.rollback()
    assert db.execute("SELECT actor, change FROM audit").fetchall() == [("clinic", "insert")]
    db.close()


def test_a_write_failing_inside_sqlite_keeps_nothing_of_the_batch(tmp_path: Path) -> None:
    path = tmp_path / "failing.db"
    open_storage(_url(path)).close()
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON records WHEN NEW.key LIKE '%/o-boom' "
        "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )
    db.commit()
    db.close()
    with open_storage(_url(path)) as store:
        batch = [_record("P-1", "o-1"), _record("P-1", "o-boom"), _record("P-1", "o-2")]
        with pytest.raises(StorageError, match="disk says no; nothing of this transaction"):
            store.record_attendance(batch)
        assert store.attendance("P-1") == ()
        assert store.audit_log() == ()
        store.record_attendance([_record("P-1", "o-1")])  # the connection is still usable
        assert len(store.attendance("P-1")) == 1


# -- batches, both look-up paths -------------------------------------------------------


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """SQLite has the batch look-up ``get_many``; memory has only ``get``."""
    if request.param == "sqlite":
        backend: Any = SQLiteBackend(_url(tmp_path / "batches.db"))
    else:
        backend = MemoryBackend()
    with Store(backend, actor="batches") as store:
        yield store


def test_a_batch_may_write_one_record_twice(store: Store) -> None:
    first = _record("P-1", "o-1")
    again = _record("P-1", "o-1", status="late")
    summary = store.record_attendance([first, _record("P-1", "o-2"), first, again])
    assert (summary.inserted, summary.updated, summary.unchanged) == (2, 1, 1)
    assert [r.status for r in store.attendance("P-1")] == ["late", "attended"]
    changes = [(e.key, e.change) for e in store.audit_log()]
    assert changes == [
        ("P-1/o-1", "insert"),
        ("P-1/o-2", "insert"),
        ("P-1/o-1", "unchanged"),
        ("P-1/o-1", "update"),
    ]
    summary = store.record_attendance([again, _record("P-1", "o-2")])
    assert (summary.inserted, summary.updated, summary.unchanged) == (0, 0, 2)


def test_a_big_batch_spans_several_look_ups(store: Store) -> None:
    batch = [_record(f"P-{n % 13}", f"o-{n}", n % 50) for n in range(1_234)]
    assert store.record_attendance(batch).inserted == 1_234
    changed = [*batch[:600], _record("P-0", "o-0", 0, status="late"), *batch[600:]]
    summary = store.record_attendance(changed)
    assert (summary.inserted, summary.updated, summary.unchanged) == (0, 1, 1_234)
    assert sum(len(store.attendance(f"P-{p}")) for p in range(13)) == 1_234


def test_a_transaction_sees_its_own_writes(store: Store) -> None:
    """SQLite buffers writes until commit; reads inside the transaction must not notice."""
    now = datetime.now(UTC)
    with store._backend.transaction() as tx:
        tx.put(Row(kind="attendance", key="P-1/o-1", owner="P-1", sort="2027-01-04", data="{}"))
        tx.audit(now, "batches", "attendance", "P-1/o-1", "insert")
        assert tx.get("attendance", "P-1/o-1") == "{}"
        assert tx.select("attendance", "P-1") == ["{}"]
        assert [(key, change) for _, _, _, _, key, change in tx.audit_log(0)] == [
            ("P-1/o-1", "insert")
        ]
    with store._backend.transaction(write=False) as tx:
        assert tx.get("attendance", "P-1/o-1") == "{}"


# -- hostile values ----------------------------------------------------------------------


class _RecordingConnection:
    """Passes everything to a sqlite3 connection and remembers the SQL text it was given."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self.sql: list[str] = []

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self.sql.append(sql)
        return self._db.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self.sql.append(sql)
        return self._db.executemany(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def test_no_sql_is_built_from_values(tmp_path: Path) -> None:
    backend = SQLiteBackend(_url(tmp_path / "hostile.db"))
    spy = _RecordingConnection(backend._db)  # type: ignore[arg-type]
    backend._db = spy  # type: ignore[assignment]
    pid, actor = "x'); DROP TABLE records; --", "Robert'); --"
    occurrence, note = "o' OR '1'='1", "'; DELETE FROM audit; --"
    with Store(backend, actor=actor) as store:
        store.add_participant(Participant(id=pid))
        store.record_attendance([_record(pid, occurrence, note=note)])
        store.record_attendance([_record(pid, f"o-{n}", n) for n in range(3)])  # get_many
        store.record_export("calendar", pid)
        assert len(store.attendance(pid)) == 4
        assert store.participant(pid).id == pid
        assert len(store.audit_log()) == 6
    assert len(spy.sql) > 10
    for sql in spy.sql:
        for value in (pid, actor, occurrence, note, "calendar", "o-1", "DROP", "'1'"):
            assert value not in sql, sql


def test_a_10000_character_note_round_trips(tmp_path: Path) -> None:
    note = ("ümlaut ✓ 日本 'quote' \"double\" ; -- \\ \t\n\r %_" * 400)[:10_000]
    assert len(note) == 10_000
    with open_storage(_url(tmp_path / "long.db")) as store:
        store.record_attendance([_record("P-1", "o-1", note=note)])
    with open_storage(_url(tmp_path / "long.db")) as store:  # from the file, not a cache
        assert store.attendance("P-1")[0].note == note
    with pytest.raises(IopcoreError, match="at most 10000 characters"):
        _record("P-1", "o-2", note=note + "x")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("session_date", "2027-01-01"),
        ("session_date", datetime(2027, 1, 1, 9, tzinfo=UTC)),  # would be unreadable
        ("session_date", None),
        ("minutes_attended", "90"),
        ("minutes_attended", True),
        ("minutes_attended", -1),
        ("status", "present"),
        ("minutes_attended", 90.5),
        ("recorded_at", datetime(2027, 1, 1, 9)),  # naive
        ("participant_id", 7),
    ],
)
def test_a_wrong_type_is_refused_and_nothing_is_written(
    tmp_path: Path, field: str, value: object
) -> None:
    wrong: dict[str, Any] = {field: value}
    with open_storage(_url(tmp_path / "typed.db")) as store:
        with pytest.raises(IopcoreError):  # when the record is built, or at the latest stored
            store.record_attendance([_record("P-1", "o-0"), _record("P-1", "o-1", **wrong)])
        assert store.attendance("P-1") == ()
        assert store.audit_log() == ()


@pytest.mark.parametrize("value", ["2027-01-01", datetime(2027, 1, 1, 9, tzinfo=UTC)])
def test_a_wrong_session_date_is_refused_when_the_record_is_built(value: object) -> None:
    with pytest.raises(IopcoreError, match="session_date must be a date"):
        _record("P-1", "o-1", session_date=value)


# -- encoding --------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json_values)
def test_the_fast_json_encoder_writes_what_json_dumps_writes(value: object) -> None:
    assert _dumps(value) == json.dumps(value)


@settings(max_examples=100, deadline=None)
@given(
    # any text iopcore accepts: no control characters but tab and line breaks, no surrogates
    st.text(
        st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from("\t\n\r"),
        max_size=300,
    ),
    st.integers(0, 600),
    st.sampled_from(["attended", "late", "telehealth", "unexcused-absence"]),
)
def test_records_are_stored_as_cattrs_json_text(note: str, minutes: int, status: str) -> None:
    record = _record("P-1", "o-1", note=note, minutes_attended=minutes, status=status)
    assert _encode(record) == _json.dumps(_json.unstructure(record, AttendanceRecord))


def test_migrations_match_the_schema_version() -> None:
    assert len(MIGRATIONS) == SCHEMA_VERSION
