"""``postgresql://user:password@host:port/db``: PostgreSQL through psycopg 3 (extra ``postgres``).

``postgres://`` is accepted too; the URL is handed to libpq as it is, so its query parameters
work (``?sslmode=require``, ``?connect_timeout=5``, ``?options=-csearch_path%3Dclinic`` to
keep the store in a schema of its own). The store is four objects in the first schema of the
search path: the tables ``records``, ``audit`` and ``iopcore_schema`` (one row: the schema
version) and the trigger function ``iopcore_audit_append_only``. The logical schema is the
SQLite one: ``records`` holds each record's JSON as ``text`` (not ``jsonb``, so the text comes
back byte for byte) with ``COLLATE "C"`` keys, so records sort by code point exactly as on
SQLite. The database must be UTF-8.

Transactions. ``write=False`` runs ``BEGIN READ ONLY``. A write transaction first takes a
transaction-level advisory lock of the store (``pg_advisory_xact_lock``), so write
transactions on one store run one at a time, as on SQLite's ``BEGIN IMMEDIATE``; reads never
wait (MVCC). That one lock is what makes :class:`~iopcore.io.storage.Store`'s get-then-put
idempotent under concurrency (two writers of the same record cannot both see it missing and
both audit an ``insert``), cannot deadlock (there is only one lock), and makes audit sequence
numbers commit in order, so a reader paging with ``audit_log(after=seq)`` never skips an entry
that commits later with a smaller number. Per-record locks would let writers of different
participants overlap, but could deadlock on batches and let audit numbers commit out of order;
clinic writes are small and short, so one writer at a time costs little. A writer waits at
most 30 s (``lock_timeout``) for the lock and then fails with a :class:`StorageError`.

Threads. A Store is safe to share between threads: its one connection is used under a lock,
one transaction per call, so threads take turns (a psycopg connection runs one transaction
at a time; interleaving two threads' statements on it lost writes and audit entries). Writes
are serialized per store anyway (the advisory lock); for reads in parallel, open one Store
per thread.

Schema versions. Opening a store older than :data:`iopcore.io.storage.SCHEMA_VERSION` migrates
it forward in one transaction under another advisory lock, so processes opening a store at
the same time migrate it once; a newer store is refused. Every psycopg error reaches the
caller as a :class:`StorageError` naming the URL with its password masked. All SQL takes its
values as parameters.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

from iopcore.core.errors import StorageError
from iopcore.io.storage import SCHEMA_VERSION, ChainRow, Row
from iopcore.io.urls import mask_url, scrub
from iopcore.plugins.hookspecs import hookimpl
from iopcore.plugins.records import StorageBackend

if TYPE_CHECKING:
    import psycopg

#: Forward migrations: MIGRATIONS[v - 1] takes a store from version v - 1 to v.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE records (
            kind text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL,
            owner text COLLATE "C", sort text COLLATE "C" NOT NULL, data text NOT NULL,
            PRIMARY KEY (kind, key))""",
        """CREATE TABLE audit (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL,
            actor text NOT NULL, kind text NOT NULL, key text NOT NULL, change text NOT NULL)""",
    ),
    (
        # v2: look-ups by owner (one participant's history) and an audit log that refuses
        # to be rewritten even by hand.
        "CREATE INDEX records_by_owner ON records (kind, owner, sort, key)",
        """CREATE FUNCTION iopcore_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$""",
        """CREATE TRIGGER audit_no_update_or_delete BEFORE UPDATE OR DELETE ON audit
            FOR EACH ROW EXECUTE FUNCTION iopcore_audit_append_only()""",
        """CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
            FOR EACH STATEMENT EXECUTE FUNCTION iopcore_audit_append_only()""",
    ),
    (
        # v3: each audit entry's digest, chained to the previous entry's (see
        # iopcore.io.storage.audit_digest); NULL for entries written before v3.
        "ALTER TABLE audit ADD COLUMN digest text",
    ),
)
#: The append-only guards (enabled triggers on the audit table) as the migrations make them.
GUARDS = ("audit_no_truncate", "audit_no_update_or_delete")
_GUARDS_FOUND = (
    "SELECT t.tgname, p.prosrc FROM pg_catalog.pg_trigger t "
    "JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid "
    "WHERE t.tgrelid = to_regclass(quote_ident(current_schema()) || '.audit') "
    "AND NOT t.tgisinternal AND t.tgenabled <> 'D'"
)
assert len(MIGRATIONS) == SCHEMA_VERSION

#: The table holding the schema version (one row), created with the first migration.
VERSION_TABLE = "CREATE TABLE iopcore_schema (version integer NOT NULL)"

# Advisory lock keys, per store (database and schema): hashtextextended(name || schema, 0).
_WRITE_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtextextended('iopcore-write:' || current_schema(), 0))"
)
_MIGRATE_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtextextended('iopcore-migrate:' || current_schema(), 0))"
)
_TABLES_IN_SCHEMA = (
    "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
    "AND tablename IN ('records', 'audit', 'iopcore_schema') ORDER BY tablename"
)

#: How long a writer waits for another writer (or a migration) before giving up.
LOCK_TIMEOUT = "30s"

AuditRow = tuple[int, datetime, str, str, str, str]


def _import_psycopg(url: str) -> Any:
    try:
        import psycopg
    except ImportError:
        raise StorageError(
            f"{mask_url(url)}: PostgreSQL storage needs psycopg; install it with: "
            "pip install 'iopcore[postgres]'"
        ) from None
    return psycopg


def _reason(exc: BaseException, url: str) -> str:
    """A psycopg error as one line, without the password even if libpq echoed it."""
    return scrub(" ".join(str(exc).split()) or type(exc).__name__, url)


_GET = "SELECT data FROM records WHERE kind = %s AND key = %s"
_PUT = (
    "INSERT INTO records (kind, key, owner, sort, data) VALUES (%s, %s, %s, %s, %s) "
    "ON CONFLICT (kind, key) DO UPDATE SET owner = excluded.owner, sort = excluded.sort, "
    "data = excluded.data"
)
_AUDIT = "INSERT INTO audit (at, actor, kind, key, change, digest) VALUES (%s, %s, %s, %s, %s, %s)"

PutRow = tuple[str, str, str | None, str, str]


class _Transaction:
    """Reads go to the server; writes are buffered and sent together with ``executemany``.

    A batch of N records thus costs N look-ups plus one pipelined round trip, not 3N round
    trips. Everything stays inside the one transaction: :meth:`flush` runs before any read
    that could see the buffered writes (``select``, ``audit_log``) and before COMMIT, and
    ``get`` answers from the buffer first.
    """

    def __init__(self, backend: PostgresBackend, conn: psycopg.Connection[Any]) -> None:
        self._backend = backend
        self._conn = conn
        self._puts: dict[tuple[str, str], PutRow] = {}
        self._audits: list[tuple[datetime, str, str, str, str, str | None]] = []

    def _run(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except self._backend._psycopg.Error as exc:
            self._backend._fail("a statement failed", exc)

    def get(self, kind: str, key: str) -> str | None:
        pending = self._puts.get((kind, key))
        if pending is not None:
            return pending[4]
        rows = self._run(_GET, (kind, key))
        return str(rows[0][0]) if rows else None

    def put(self, row: Row) -> None:
        self._puts[(row.kind, row.key)] = (row.kind, row.key, row.owner, row.sort, row.data)

    def select(self, kind: str, owner: str | None = None) -> list[str]:
        self.flush()
        if owner is None:
            rows = self._run("SELECT data FROM records WHERE kind = %s ORDER BY sort, key", (kind,))
        else:
            rows = self._run(
                "SELECT data FROM records WHERE kind = %s AND owner = %s ORDER BY sort, key",
                (kind, owner),
            )
        return [str(r[0]) for r in rows]

    def audit(
        self, at: datetime, actor: str, kind: str, key: str, change: str, digest: str | None = None
    ) -> None:
        self._audits.append((at, actor, kind, key, change, digest))

    def audit_head(self) -> tuple[int, str | None] | None:
        """The last audit entry's (seq, digest): what the next entry chains to."""
        self.flush()
        rows = self._run("SELECT seq, digest FROM audit ORDER BY seq DESC LIMIT 1", ())
        return (int(rows[0][0]), rows[0][1]) if rows else None

    def audit_chain(self, after: int) -> list[ChainRow]:
        """Audit entries with seq > ``after`` and their digests, by seq."""
        self.flush()
        rows = self._run(
            "SELECT seq, at, actor, kind, key, change, digest FROM audit WHERE seq > %s "
            "ORDER BY seq",
            (after,),
        )
        return [(int(s), at.astimezone(UTC), a, k, key, c, d) for s, at, a, k, key, c, d in rows]

    def audit_log(self, after: int) -> list[AuditRow]:
        self.flush()
        rows = self._run(
            "SELECT seq, at, actor, kind, key, change FROM audit WHERE seq > %s ORDER BY seq",
            (after,),
        )
        return [(int(s), at.astimezone(UTC), a, k, key, c) for s, at, a, k, key, c in rows]

    def flush(self) -> None:
        """Write the buffered records, then the buffered audit entries (in call order)."""
        if not self._puts and not self._audits:
            return
        pg = self._backend._psycopg
        try:
            with (
                self._conn.pipeline() if pg.Pipeline.is_supported() else nullcontext(),
                self._conn.cursor() as cursor,
            ):
                if self._puts:
                    cursor.executemany(_PUT, list(self._puts.values()))
                if self._audits:
                    cursor.executemany(_AUDIT, self._audits)
        except pg.Error as exc:
            self._backend._fail("a write failed", exc)
        self._puts.clear()
        self._audits.clear()


class PostgresBackend:
    """A :class:`iopcore.io.storage.Backend` in a PostgreSQL database (one connection).

    ``url`` is the masked URL (no password), safe to show: it ends up in messages, in
    ``repr(store)`` and in the events plugins receive.
    """

    def __init__(self, url: str, *, target_version: int = SCHEMA_VERSION) -> None:
        self._psycopg = _import_psycopg(url)
        self._conninfo = url
        self.url = mask_url(url)
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        self._conn = self._connect()
        try:
            self._migrate(target_version)
        except BaseException:
            self.close()
            raise

    # -- connection and errors ---------------------------------------------------------

    def _fail(self, doing: str, exc: BaseException, fix: str = "") -> NoReturn:
        hint = f"; {fix}" if fix else ""
        raise StorageError(f"{self.url}: {doing}: {_reason(exc, self._conninfo)}{hint}") from None

    def _connect(self) -> psycopg.Connection[Any]:
        pg = self._psycopg
        try:
            conn: psycopg.Connection[Any] = pg.connect(self._conninfo, autocommit=True)
        except pg.Error as exc:
            self._fail(
                "cannot connect to PostgreSQL",
                exc,
                "check that the server is running and that the URL's host, port, user, "
                "password and database name are right",
            )
        except ValueError as exc:  # e.g. a port that is not a number
            self._fail("is not a valid PostgreSQL URL", exc, "use postgresql://user@host/db")
        try:
            row = conn.execute(
                "SELECT set_config('TimeZone', 'UTC', false), "
                "set_config('client_encoding', 'UTF8', false), "
                "set_config('lock_timeout', %s, false), "
                "current_setting('server_encoding'), current_schema()",
                (LOCK_TIMEOUT,),
            ).fetchone()
            encoding, schema = (row[3], row[4]) if row else ("", None)
        except pg.Error as exc:
            conn.close()
            self._fail("cannot set up the session", exc)
        if encoding != "UTF8":
            conn.close()
            raise StorageError(
                f"{self.url}: the database encoding is {encoding}, not UTF8; iopcore stores "
                "text exactly only in a UTF8 database: create one with "
                "CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0"
            )
        if schema is None:
            conn.close()
            raise StorageError(
                f"{self.url}: no schema of the search path exists; create the schema first "
                "or fix the URL's options=-csearch_path%3D..."
            )
        return conn

    def _connection(self) -> psycopg.Connection[Any]:
        """The open connection; reconnects once if the server dropped it between uses."""
        if self._conn is None:
            raise StorageError(f"{self.url}: the store is closed; open it again")
        if self._conn.closed:
            self._conn = self._connect()
        return self._conn

    # -- schema ------------------------------------------------------------------------

    def _version(self, conn: psycopg.Connection[Any]) -> int:
        tables = [r[0] for r in conn.execute(_TABLES_IN_SCHEMA).fetchall()]
        if "iopcore_schema" not in tables:
            if tables:
                raise StorageError(
                    f"{self.url}: the schema has tables named {', '.join(tables)} but is not "
                    "an iopcore store; use another database or schema (options=-csearch_path)"
                )
            return 0
        row = conn.execute("SELECT max(version) FROM iopcore_schema").fetchone()
        return 0 if row is None or row[0] is None else int(row[0])

    def _migrate(self, target: int) -> None:
        conn = self._connection()
        pg = self._psycopg
        try:
            version = self._version(conn)
            self._refuse_newer(version)
            if version >= target:
                return
            conn.execute("BEGIN")
            try:
                conn.execute(_MIGRATE_LOCK)
                version = self._version(conn)  # another process may have migrated meanwhile
                self._refuse_newer(version)
                if version < target:
                    if version == 0:
                        conn.execute(VERSION_TABLE)
                        conn.execute("INSERT INTO iopcore_schema (version) VALUES (0)")
                    for step in range(version, target):
                        for statement in MIGRATIONS[step]:
                            conn.execute(statement)
                    conn.execute("UPDATE iopcore_schema SET version = %s", (target,))
                conn.execute("COMMIT")
            except BaseException:
                self._rollback(conn)
                raise
        except pg.errors.LockNotAvailable as exc:
            self._fail(
                "another process has been migrating this store for too long",
                exc,
                "try again, or look for a stuck iopcore process",
            )
        except pg.Error as exc:
            self._fail(
                f"cannot create or migrate the iopcore tables to schema version {target}",
                exc,
                "the first open and every upgrade need a role allowed to CREATE in the "
                "store's schema (e.g. the database owner)",
            )

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{self.url}: schema version {version} is newer than this iopcore supports "
                f"({SCHEMA_VERSION}); upgrade iopcore to open it"
            )

    def integrity_problems(self) -> list[str]:
        """Missing or disabled append-only triggers of the audit table, or an altered
        trigger function."""
        with self._lock:
            try:
                rows = self._connection().execute(_GUARDS_FOUND).fetchall()
            except self._psycopg.Error as exc:
                self._fail("cannot read the audit log's triggers", exc)
        found = {str(name): str(src) for name, src in rows}
        problems = [
            f"the audit log's append-only trigger {name} is missing or disabled"
            for name in GUARDS
            if name not in found
        ]
        problems += [
            f"the audit log's trigger {name} runs an altered function"
            for name, src in found.items()
            if name in GUARDS and "RAISE EXCEPTION" not in src
        ]
        return problems

    def schema_version(self) -> int:
        with self._lock:
            conn = self._connection()
            try:
                return self._version(conn)
            except self._psycopg.Error as exc:
                self._fail("cannot read the schema version", exc)

    # -- transactions ------------------------------------------------------------------

    def _rollback(self, conn: psycopg.Connection[Any]) -> None:
        if not conn.closed:
            try:
                conn.execute("ROLLBACK")
            except self._psycopg.Error:
                conn.close()  # the session is unusable; the next transaction reconnects

    def _begin(self, write: bool) -> psycopg.Connection[Any]:
        conn = self._connection()
        for attempt in (1, 2):
            try:
                if write:  # one round trip: a statement without parameters may hold two
                    conn.execute("BEGIN; " + _WRITE_LOCK)
                else:
                    conn.execute("BEGIN READ ONLY")
                break
            except self._psycopg.OperationalError:
                if attempt == 2 or not conn.closed:
                    raise
                # The server dropped the idle connection (a restart, a failover, an idle
                # timeout). Nothing of this transaction ran yet, so connect again and retry.
                conn = self._conn = self._connect()
        return conn

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[_Transaction]:
        """One transaction at a time on the one connection: threads sharing a Store take
        turns (a psycopg connection runs one transaction; interleaving two loses writes)."""
        with self._lock:
            yield from self._transaction(write)

    def _transaction(self, write: bool) -> Iterator[_Transaction]:
        pg = self._psycopg
        try:
            conn = self._begin(write)
        except pg.errors.LockNotAvailable as exc:
            self._abort()
            self._fail(
                "another writer has held the store for too long",
                exc,
                f"gave up after {LOCK_TIMEOUT}; try again",
            )
        except pg.Error as exc:
            self._abort()
            self._fail("cannot start a transaction", exc)
        tx = _Transaction(self, conn)
        try:
            yield tx
            tx.flush()
        except BaseException:
            self._rollback(conn)
            raise
        try:
            conn.execute("COMMIT")
        except pg.Error as exc:
            lost = conn.closed
            self._rollback(conn)
            self._fail(
                "commit failed",
                exc,
                "the connection was lost, so the write may or may not be stored; writes are "
                "idempotent, so doing it again is safe"
                if lost
                else "nothing was written",
            )

    def _abort(self) -> None:
        if self._conn is not None:
            self._rollback(self._conn)

    def close(self) -> None:
        with self._lock:
            conn = getattr(self, "_conn", None)
            if conn is not None:
                conn.close()
                self._conn = None


def open_postgresql(url: str) -> PostgresBackend:
    """Open (creating or migrating if needed) the iopcore store at a PostgreSQL URL."""
    return PostgresBackend(url)


@hookimpl
def iopcore_storage_backends() -> list[StorageBackend]:
    return [
        StorageBackend(
            name="postgresql",
            schemes=["postgresql", "postgres"],
            open=open_postgresql,
            description="a PostgreSQL database (psycopg 3)",
        )
    ]
