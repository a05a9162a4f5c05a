"""The storage contract and PostgreSQL-specific behaviour, against a real PostgreSQL server.

Set ``IOPCORE_TEST_POSTGRES_URL=postgresql://user:password@host:port/db`` (a UTF-8 database the
user may create schemas in, e.g. owns) to run them; each test gets a schema of its own, dropped
afterwards. Without the variable they are skipped, unless ``IOPCORE_REQUIRE_POSTGRES=1`` (set
by CI, see ``.ci/run``) makes that a failure. The tests that need no server always run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

import attrs
import psycopg
import pytest
from psycopg import sql

from iopcore import AttendanceRecord, Participant, StorageError, open_storage
from iopcore.io.storage import SCHEMA_VERSION, AuditIntegrityWarning, Row, _encode
from iopcore.io.urls import mask_url
from iopcore.testing import StorageContract
from iopcore_plugins.postgresql import (
    _WRITE_LOCK,
    MIGRATIONS,
    VERSION_TABLE,
    PostgresBackend,
)

URL_ENV = "IOPCORE_TEST_POSTGRES_URL"
REQUIRE_ENV = "IOPCORE_REQUIRE_POSTGRES"


def _server_url() -> str:
    """The test server's URL, or skip (fail when PostgreSQL is required)."""
    url = os.environ.get(URL_ENV, "")
    if url:
        return url
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(
            f"{REQUIRE_ENV}=1 but {URL_ENV} is not set; point it at a PostgreSQL database, "
            "e.g. postgresql://iopcore:password@127.0.0.1:5432/iopcore_test (see .ci/run)"
        )
    pytest.skip(
        f"no PostgreSQL server to test against: set {URL_ENV}="
        "postgresql://user:password@host:port/db to run the PostgreSQL tests"
    )


def _in_schema(url: str, schema: str) -> str:
    """``url`` with the search path set to ``schema`` (libpq's ``options`` parameter)."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(url, autocommit=True)
    except psycopg.Error as exc:
        pytest.fail(f"{URL_ENV} is set but {mask_url(url)} is unusable: {exc}")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A store URL on the test server in a fresh schema of its own, dropped afterwards."""
    server = _server_url()
    if "options=" in server:
        pytest.fail(f"{URL_ENV} must not set options=; the tests set the search path")
    schema = f"iopcore_test_{uuid.uuid4().hex[:12]}"
    with _admin(server) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield _in_schema(server, schema)
    finally:
        with _admin(server) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


class TestPostgreSQL(StorageContract):
    @pytest.fixture
    def storage_url(self, pg_url: str) -> str:
        return pg_url


# -- schema versions -------------------------------------------------------------------


def test_a_v1_database_is_migrated_with_its_rows(pg_url: str) -> None:
    participant = Participant(id="P-from-v1")
    with _admin(pg_url) as conn, conn.transaction():
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute(VERSION_TABLE)
        conn.execute("INSERT INTO iopcore_schema (version) VALUES (1)")
        conn.execute(
            "INSERT INTO records (kind, key, owner, sort, data) VALUES (%s, %s, %s, %s, %s)",
            ("participant", participant.id, None, participant.id, _encode(participant)),
        )
        conn.execute(
            "INSERT INTO audit (at, actor, kind, key, change) "
            "VALUES (now(), 'v1-app', 'participant', %s, 'insert')",
            (participant.id,),
        )
    with open_storage(pg_url, actor="test") as store:
        assert store.schema_version == SCHEMA_VERSION == 3
        assert store.participant(participant.id) == participant
        assert [(e.actor, e.key) for e in store.audit_log()] == [("v1-app", participant.id)]
        store.record_attendance([_attendance(participant.id)])
        assert len(store.attendance(participant.id)) == 1
    with _admin(pg_url) as conn:
        indexes = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        ).fetchall()
        assert ("records_by_owner",) in indexes
        assert conn.execute("SELECT version FROM iopcore_schema").fetchall() == [(SCHEMA_VERSION,)]
        for statement in ("UPDATE audit SET actor = 'x'", "DELETE FROM audit", "TRUNCATE audit"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM audit").fetchone() == (2,)


def test_a_newer_database_is_refused(pg_url: str) -> None:
    open_storage(pg_url).close()
    newer = SCHEMA_VERSION + 1
    with _admin(pg_url) as conn:
        conn.execute("UPDATE iopcore_schema SET version = %s", (newer,))
    with pytest.raises(StorageError, match=rf"schema version {newer} is newer.*upgrade iopcore"):
        open_storage(pg_url)


def test_tables_of_another_application_are_not_taken_over(pg_url: str) -> None:
    with _admin(pg_url) as conn:
        conn.execute("CREATE TABLE records (id int)")
    with pytest.raises(StorageError, match="not an iopcore store"):
        open_storage(pg_url)


def test_processes_opening_a_new_database_together_migrate_it_once(pg_url: str) -> None:
    _run_workers(_OPEN_AND_ADD, pg_url)
    with open_storage(pg_url) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert len(store.participants()) == 4
    with _admin(pg_url) as conn:
        assert conn.execute("SELECT version FROM iopcore_schema").fetchall() == [(SCHEMA_VERSION,)]


# -- concurrency -------------------------------------------------------------------------


def test_four_processes_writing_one_record_audit_one_insert(pg_url: str) -> None:
    """The write lock makes get-then-put idempotent: one insert, every other try unchanged."""
    with open_storage(pg_url) as store:
        store.add_participant(Participant(id="P-shared"))
    _run_workers(_WRITE_SAME_RECORD, pg_url)
    key = _attendance("P-shared").key
    with open_storage(pg_url) as store:
        assert len(store.attendance("P-shared")) == 1
        changes = [e.change for e in store.audit_log() if e.key == key]
    assert sorted(changes) == ["insert"] + ["unchanged"] * 39


def test_four_processes_writing_attendance_lose_nothing(pg_url: str) -> None:
    # The contract's test_concurrent_writers_lose_nothing runs for PostgreSQL too
    # (TestPostgreSQL above); this one also checks the audit sequence is gap-free per writer.
    _run_workers(_WRITE_MANY, pg_url)
    with open_storage(pg_url) as store:
        assert len(store.attendance("P-many")) == 4 * 25
        log = store.audit_log()
    assert [e.seq for e in log] == sorted({e.seq for e in log})
    assert sorted(e.actor for e in log if e.kind == "attendance") == sorted(
        f"worker-{w}" for w in range(4) for _ in range(25)
    )


# -- transactions, text and ordering --------------------------------------------------------


def test_read_only_transactions_refuse_writes(pg_url: str) -> None:
    backend = PostgresBackend(pg_url)
    try:
        row = Row(kind="participant", key="P-ro", owner=None, sort="P-ro", data="{}")
        with pytest.raises(StorageError, match="read-only"), backend.transaction(write=False) as tx:
            tx.put(row)
        with backend.transaction() as tx:  # the connection is still usable
            tx.put(row)
        with backend.transaction(write=False) as tx:
            assert tx.get("participant", "P-ro") == "{}"
    finally:
        backend.close()
    backend.close()  # idempotent
    with pytest.raises(StorageError, match="closed"), backend.transaction():
        pass


def test_a_transaction_sees_its_own_writes_and_a_failure_keeps_none(pg_url: str) -> None:
    backend = PostgresBackend(pg_url)
    try:
        row = Row(kind="k", key="a", owner="o", sort="1", data="one")

        def write_then_fail() -> None:
            with backend.transaction() as tx:
                tx.put(row)
                tx.audit(datetime.now(UTC), "me", "k", "a", "insert")
                assert tx.get("k", "a") == "one"
                assert tx.select("k", "o") == ["one"]
                assert [e[2:] for e in tx.audit_log(0)] == [("me", "k", "a", "insert")]
                tx.put(attrs.evolve(row, data="two"))  # buffered again after a flush
                assert tx.get("k", "a") == "two"
                raise ZeroDivisionError

        with pytest.raises(ZeroDivisionError):
            write_then_fail()
        with backend.transaction(write=False) as tx:
            assert tx.get("k", "a") is None
            assert tx.audit_log(0) == []
    finally:
        backend.close()


def test_a_writer_waits_for_another_but_readers_do_not(pg_url: str) -> None:
    backend = PostgresBackend(pg_url)
    try:
        with backend.transaction() as tx:
            tx.put(Row(kind="k", key="a", owner=None, sort="", data="one"))
        assert backend._conn is not None
        backend._conn.execute("SET lock_timeout = '200ms'")
        with _admin(pg_url) as other, other.transaction():
            other.execute(_WRITE_LOCK)  # another writer holds the store
            with backend.transaction(write=False) as tx:
                assert tx.get("k", "a") == "one"
            with pytest.raises(StorageError, match="another writer"), backend.transaction():
                pass
        with backend.transaction() as tx:  # released: writing works again
            tx.put(Row(kind="k", key="a", owner=None, sort="", data="two"))
    finally:
        backend.close()


def test_data_is_text_and_round_trips_byte_for_byte(pg_url: str) -> None:
    # jsonb would reorder keys and drop the spacing; text keeps exactly what was written.
    data = '{"z": 1,   "a": [ ],\n "s": "ümlaut ✓ 日本 🚀 \\u0000 \' \\" %s %(x)s $1 \\\\"}'
    backend = PostgresBackend(pg_url)
    try:
        with backend.transaction() as tx:
            tx.put(Row(kind="k", key="x", owner="o", sort="1", data=data))
        with backend.transaction(write=False) as tx:
            assert tx.get("k", "x") == data
            assert tx.select("k", "o") == [data]
    finally:
        backend.close()
    with _admin(pg_url) as conn:
        types = conn.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = 'records' AND column_name = 'data'"
        ).fetchall()
    assert types == [("text",)]


def test_records_sort_by_code_point_as_on_sqlite(pg_url: str) -> None:
    backend = PostgresBackend(pg_url)
    try:
        with backend.transaction() as tx:
            for sort in ["é", "a", "Z", "B", "a b", "ab", "_"]:
                tx.put(Row(kind="k", key=sort, owner="o", sort=sort, data=sort))
        with backend.transaction(write=False) as tx:
            assert tx.select("k") == ["B", "Z", "_", "a", "a b", "ab", "é"]
    finally:
        backend.close()


def test_a_dropped_connection_is_reopened(pg_url: str) -> None:
    with open_storage(pg_url) as store:
        store.add_participant(Participant(id="P-1"))
        backend = store._backend
        assert isinstance(backend, PostgresBackend)
        conn = backend._conn
        assert conn is not None
        with _admin(pg_url) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        assert [p.id for p in store.participants()] == ["P-1"]


def test_the_store_url_hides_the_password(pg_url: str) -> None:
    password = urlsplit(pg_url).password
    with open_storage(pg_url) as store:
        assert store.url == mask_url(pg_url)
        if password:
            assert f":{password}@" not in store.url
            assert f":{password}@" not in repr(store)


def test_the_postgres_scheme_works_too(pg_url: str) -> None:
    assert pg_url.startswith("postgresql://")
    with open_storage("postgres://" + pg_url.removeprefix("postgresql://")) as store:
        assert store.schema_version == SCHEMA_VERSION


# -- errors that need no server ------------------------------------------------------------


def test_an_unreachable_server_is_a_storage_error_without_the_password() -> None:
    url = "postgresql://clinic:s3cret-pw@127.0.0.1:1/iop?connect_timeout=5"
    with pytest.raises(StorageError) as caught:
        open_storage(url)
    message = str(caught.value)
    assert message.startswith("postgresql://clinic:***@127.0.0.1:1/iop")
    assert "s3cret-pw" not in message
    assert "cannot connect to PostgreSQL" in message
    assert "server is running" in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_password_in_the_query_is_masked_too() -> None:
    with pytest.raises(StorageError) as caught:
        open_storage("postgres://clinic@127.0.0.1:1/iop?password=s3cret-pw&connect_timeout=5")
    assert "s3cret-pw" not in str(caught.value)
    assert "password=***" in str(caught.value)


def test_without_psycopg_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` fail
    with pytest.raises(StorageError, match=r"pip install 'iopcore\[postgres\]'") as caught:
        open_storage("postgresql://clinic:s3cret-pw@127.0.0.1/iop")
    assert "s3cret-pw" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:p@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:p:q@h:5/db", "postgresql://u:***@h:5/db"),
        ("postgresql://u:p@x@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db?sslmode=require", "postgresql://u@h/db?sslmode=require"),
        ("postgresql:///db?user=u&PASSWORD=p", "postgresql:///db?user=u&PASSWORD=***"),
        ("postgresql://h1:5432,h2:5433/db", "postgresql://h1:5432,h2:5433/db"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


# -- helpers -----------------------------------------------------------------------------


def _attendance(pid: str, n: int = 0) -> AttendanceRecord:
    return AttendanceRecord(
        participant_id=pid,
        occurrence_id=f"occ-{n:04d}",
        session_date=date(2027, 1, 4),
        status="attended",
    )


# Worker programs, run as ``python -c PROGRAM URL WORKER`` in separate processes (so they do
# not depend on how pytest imported this module).
_OPEN_AND_ADD = """
import sys, time
from iopcore import Participant, open_storage
url, worker, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))  # all workers open the new store at one moment
with open_storage(url, actor=f"worker-{worker}") as store:
    store.add_participant(Participant(id=f"P-{worker}"))
"""

_WRITE_SAME_RECORD = """
import sys, time
from datetime import UTC, date, datetime
from iopcore import AttendanceRecord, open_storage
url, worker, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
record = AttendanceRecord(participant_id="P-shared", occurrence_id="occ-0000",
                          session_date=date(2027, 1, 4), status="attended")
with open_storage(url, actor=f"worker-{worker}") as store:
    time.sleep(max(0.0, start - time.time()))  # all workers write at the same moment
    for _ in range(10):
        store.record_attendance([record])
"""

_WRITE_MANY = """
import sys
from datetime import date, timedelta
from iopcore import AttendanceRecord, open_storage
url, worker = sys.argv[1], int(sys.argv[2])
with open_storage(url, actor=f"worker-{worker}") as store:
    for i in range(25):
        store.record_attendance([AttendanceRecord(
            participant_id="P-many", occurrence_id=f"occ-{worker}-{i}",
            session_date=date(2027, 1, 4) + timedelta(days=i), status="attended")])
"""


def _run_workers(program: str, url: str, count: int = 4) -> None:
    """Run ``program URL WORKER START`` in ``count`` processes at once; all must succeed.

    START is a time.time() a few seconds ahead, for workers that should act at one moment.
    """
    start = str(time.time() + 2)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", program, url, str(w), start],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(count)
    ]
    failures = []
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        if worker.returncode:
            failures.append(f"exit {worker.returncode}: {err.strip()}")
    assert not failures, "\n".join(failures)


def test_rollback_gaps_are_told_apart_from_deletions(pg_url: str) -> None:
    """A rolled-back transaction uses up audit sequence numbers; the chain stays intact
    across the gap. A deleted entry breaks the chain at the next one."""
    with open_storage(pg_url) as store:
        store.add_participant(Participant(id="P-1"))
        backend = store._backend
        assert isinstance(backend, PostgresBackend)

        def roll_back() -> None:
            with backend.transaction() as tx:
                tx.audit(datetime.now(UTC), "t", "participant", "P-x", "insert", digest="x" * 32)
                tx.flush()  # the row was inserted (a sequence number is used), then rolled back
                raise RuntimeError

        with pytest.raises(RuntimeError):
            roll_back()
        store.add_participant(Participant(id="P-2"))
        store.add_participant(Participant(id="P-3"))
        found = store.verify_audit()
        assert found.ok, found.summary()
        assert found.gaps == ((2, 2),)
        assert "nothing was deleted" in found.summary()
    with _admin(pg_url) as admin:
        admin.execute("ALTER TABLE audit DISABLE TRIGGER audit_no_update_or_delete")
        admin.execute("DELETE FROM audit WHERE key = 'P-2'")
    with pytest.warns(AuditIntegrityWarning, match="audit_no_update_or_delete"):
        store = open_storage(pg_url)
    with store:
        found = store.verify_audit()
    assert found.broken_at == 4
    assert "deleted" in found.problem
