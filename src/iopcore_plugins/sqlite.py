"""``sqlite:///path/to.db``: the embedded default store (``sqlite:////abs/path.db`` absolute).

WAL journal, ``synchronous=FULL`` (a write acknowledged is on disk), foreign keys on, a 30 s
busy timeout, and ``BEGIN IMMEDIATE`` for every write transaction, so several processes can
write one file without "database is locked" reaching the caller. The schema version lives in
``PRAGMA user_version``; older files are migrated forward on open, newer ones are refused.

Inside a write transaction, records and audit entries are buffered and written with one
``executemany`` each when the transaction ends (reads in the transaction see them), and a
batch's existing records are looked up together (``get_many``), so a batch of N records
costs a few statements rather than 3N. Any SQLite error reaches the caller as a
:class:`~iopcore.core.errors.StorageError`, after the whole transaction has been rolled back.

Threads: a Store is safe to share between threads. Its one connection is used under a lock,
so threads take turns, one transaction per call (a thread waits while another's transaction
runs). For reads in parallel, open one Store per thread; processes coordinate through
SQLite's own file locks.

Files: a new store file is created 0600 (owner only) whatever the umask, and SQLite gives
its ``-wal`` and ``-shm`` files the same permissions. The URL's only query is ``?mode=``:
``rwc`` (default: open or create), ``rw`` (an existing store only: a missing or empty file is
refused) or ``ro`` (read-only). ``sqlite:///:memory:`` is refused: use ``memory://``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from iopcore.core.errors import StorageError
from iopcore.io.output import FILE_MODE
from iopcore.io.storage import SCHEMA_VERSION, ChainRow, Row
from iopcore.io.urls import mask_url
from iopcore.plugins.hookspecs import hookimpl
from iopcore.plugins.records import StorageBackend

#: Forward migrations: MIGRATIONS[v - 1] takes a store from version v - 1 to v.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # A rowid table, not WITHOUT ROWID: records are ~200-byte JSON documents, and in a
        # rowid table a batch appends them to a few pages at the end, where a WITHOUT ROWID
        # table would rewrite one page per participant of the batch (a session's roster
        # touches every participant). Stores created by earlier development builds have the
        # WITHOUT ROWID layout; every statement works the same on both.
        """CREATE TABLE records (
            kind TEXT NOT NULL, key TEXT NOT NULL, owner TEXT, sort TEXT NOT NULL,
            data TEXT NOT NULL, PRIMARY KEY (kind, key))""",
        """CREATE TABLE audit (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL,
            kind TEXT NOT NULL, key TEXT NOT NULL, change TEXT NOT NULL)""",
    ),
    (
        # v2: look-ups by owner (one participant's history) and an audit log that refuses
        # to be rewritten even by hand.
        "CREATE INDEX records_by_owner ON records (kind, owner, sort, key)",
        """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    ),
    (
        # v3: each audit entry's digest, chained to the previous entry's (see
        # iopcore.io.storage.audit_digest); NULL for entries written before v3.
        "ALTER TABLE audit ADD COLUMN digest TEXT",
    ),
)
#: The append-only guards: trigger name -> its SQL, as the migrations create them.
GUARDS = {
    " ".join(sql.split()).split()[2]: " ".join(sql.split())
    for sql in MIGRATIONS[1]
    if sql.lstrip().startswith("CREATE TRIGGER")
}
assert len(MIGRATIONS) == SCHEMA_VERSION

AuditRow = tuple[int, datetime, str, str, str, str]


#: ``?mode=`` values: ``rwc`` (default) opens or creates; ``rw`` opens an existing store only
#: (a missing or empty file is refused, never made into a store); ``ro`` opens read-only.
MODES = ("rwc", "rw", "ro")


def parse_url(url: str) -> tuple[Path, str]:
    """``sqlite:///rel.db`` -> (``rel.db``, mode); ``sqlite:////abs.db?mode=ro`` -> (..., "ro").

    The only query parameter is ``mode``; any other is refused rather than becoming part
    of the file name. ``:memory:`` is refused (use ``memory://``).
    """
    prefix = "sqlite:///"
    base, _, query = url.partition("?")
    if not url.startswith(prefix) or len(base) == len(prefix):
        raise StorageError(
            f"storage URL {mask_url(url)!r} is not a SQLite URL; use sqlite:///relative/path.db "
            "or sqlite:////absolute/path.db"
        )
    path = base[len(prefix) :]
    if "\x00" in url:
        raise StorageError(
            f"storage URL {mask_url(url)!r} has a NUL character in its path; give the path exactly"
        )
    if path in (":memory:", "") or path.startswith("file:"):
        raise StorageError(
            f"storage URL {url!r} names no file; for a store in memory use memory://"
        )
    mode = "rwc"
    for pair in filter(None, query.split("&")):
        name, _, value = pair.partition("=")
        if name != "mode" or value not in MODES:
            raise StorageError(
                f"storage URL {mask_url(url)!r}: unknown query {pair!r}; the only SQLite URL "
                f"option is ?mode= one of {', '.join(MODES)} (a '?' in a file name is not "
                "supported)"
            )
        mode = value
    return Path(path), mode


def path_of(url: str) -> Path:
    """``sqlite:///rel.db`` -> ``rel.db``; ``sqlite:////abs.db`` -> ``/abs.db``."""
    return parse_url(url)[0]


_GET = "SELECT data FROM records WHERE kind = ? AND key = ?"
#: Keys per batch look-up (well under SQLite's oldest limit of 999 parameters).
_CHUNK = 250
_GET_MANY = f"SELECT key, data FROM records WHERE kind = ? AND key IN ({', '.join('?' * _CHUNK)})"
_PUT = (
    "INSERT INTO records (kind, key, owner, sort, data) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (kind, key) DO UPDATE SET owner = excluded.owner, sort = excluded.sort, "
    "data = excluded.data"
)
_AUDIT_V1 = "INSERT INTO audit (at, actor, kind, key, change) VALUES (?, ?, ?, ?, ?)"
_AUDIT = "INSERT INTO audit (at, actor, kind, key, change, digest) VALUES (?, ?, ?, ?, ?, ?)"

PutRow = tuple[str, str, str | None, str, str]


class _Transaction:
    """Reads go to the file; writes are buffered and flushed with ``executemany``.

    A batch of N records thus costs N look-ups plus two statements, not 3N. Everything
    stays inside the one ``BEGIN IMMEDIATE`` transaction: :meth:`flush` runs before any
    read that could see the buffered writes (``select``, ``audit_log``) and before COMMIT,
    and ``get`` answers from the buffer first.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._puts: dict[tuple[str, str], PutRow] = {}
        self._audits: list[tuple[str, str, str, str, str, str | None]] = []
        self._at: tuple[datetime, str] | None = None

    def get(self, kind: str, key: str) -> str | None:
        pending = self._puts.get((kind, key))
        if pending is not None:
            return pending[4]
        row = self._db.execute(_GET, (kind, key)).fetchone()
        return None if row is None else str(row[0])

    def get_many(self, kind: str, keys: Sequence[str]) -> dict[str, str]:
        """The optional batch look-up :class:`~iopcore.io.storage.Store` uses (see Transaction)."""
        found = {k: p[4] for k in keys if (p := self._puts.get((kind, k))) is not None}
        wanted = list(dict.fromkeys(k for k in keys if k not in found))
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            chunk += chunk[-1:] * (_CHUNK - len(chunk))  # one statement shape: pad the last
            found.update(self._db.execute(_GET_MANY, (kind, *chunk)).fetchall())
        return found

    def put(self, row: Row) -> None:
        self._puts[(row.kind, row.key)] = (row.kind, row.key, row.owner, row.sort, row.data)

    def select(self, kind: str, owner: str | None = None) -> list[str]:
        self.flush()
        if owner is None:
            cursor = self._db.execute(
                "SELECT data FROM records WHERE kind = ? ORDER BY sort, key", (kind,)
            )
        else:
            cursor = self._db.execute(
                "SELECT data FROM records WHERE kind = ? AND owner = ? ORDER BY sort, key",
                (kind, owner),
            )
        return [str(r[0]) for r in cursor]

    def audit(
        self, at: datetime, actor: str, kind: str, key: str, change: str, digest: str | None = None
    ) -> None:
        if self._at is None or self._at[0] is not at:  # a batch shares one timestamp
            self._at = (at, at.isoformat())
        self._audits.append((self._at[1], actor, kind, key, change, digest))

    def audit_log(self, after: int) -> list[AuditRow]:
        self.flush()
        cursor = self._db.execute(
            "SELECT seq, at, actor, kind, key, change FROM audit WHERE seq > ? ORDER BY seq",
            (after,),
        )
        return [(s, datetime.fromisoformat(at), a, k, key, c) for s, at, a, k, key, c in cursor]

    def flush(self) -> None:
        """Write the buffered records, then the buffered audit entries (in call order)."""
        if self._puts:
            self._db.executemany(_PUT, self._puts.values())
            self._puts.clear()
        if self._audits:
            self._db.executemany(_AUDIT_V1, (a[:5] for a in self._audits))
            self._audits.clear()


class _ChainedTransaction(_Transaction):
    """A transaction on a store of schema version 3 or later: audit entries carry digests."""

    def audit_head(self) -> tuple[int, str | None] | None:
        """The last audit entry's (seq, digest): what the next entry chains to."""
        self.flush()
        row = self._db.execute("SELECT seq, digest FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), row[1])

    def audit_issued(self) -> int | None:
        """The highest audit seq ever issued (AUTOINCREMENT's counter, kept in the same
        transaction as the entry, so deleting the newest entries leaves it ahead)."""
        self.flush()
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
        return None if row is None else int(row[0])

    def audit_chain(self, after: int) -> list[ChainRow]:
        """Audit entries with seq > ``after`` and their digests, by seq."""
        self.flush()
        cursor = self._db.execute(
            "SELECT seq, at, actor, kind, key, change, digest FROM audit WHERE seq > ? "
            "ORDER BY seq",
            (after,),
        )
        return [
            (s, datetime.fromisoformat(at), a, k, key, c, d) for s, at, a, k, key, c, d in cursor
        ]

    def flush(self) -> None:
        if self._puts:
            self._db.executemany(_PUT, self._puts.values())
            self._puts.clear()
        if self._audits:
            self._db.executemany(_AUDIT, self._audits)
            self._audits.clear()


def _wal(db: sqlite3.Connection, *, tries: int = 200) -> None:
    """Switch to write-ahead logging. Several processes opening a new file at once can get
    SQLITE_BUSY here without the busy handler being called (changing the journal mode takes
    an exclusive lock), so retry for a while instead of failing the open."""
    for attempt in range(tries):
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == tries - 1:
                raise
            time.sleep(0.05)


class SQLiteBackend:
    """A :class:`iopcore.io.storage.Backend` in one SQLite file."""

    def __init__(self, url: str, *, target_version: int = SCHEMA_VERSION) -> None:
        self.url = url
        self.path, self.mode = parse_url(url)
        if not self.path.parent.is_dir():
            raise StorageError(
                f"{url}: folder {str(self.path.parent)!r} does not exist; create it first"
            )
        if self.mode != "rwc" and not _has_content(self.path):
            raise StorageError(
                f"{url}: no store at {self.path} (the file is missing or empty; ?mode="
                f"{self.mode} opens an existing store only); check the path"
            )
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        try:
            if self.mode == "rwc":
                _create_private(self.path)
            uri = f"file:{quote(str(self.path.absolute()))}?mode={self.mode}"
            # Shared between threads: every use of the connection holds self._lock.
            self._db = sqlite3.connect(
                uri, uri=True, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA busy_timeout = 30000")
            if self.mode != "ro":
                _wal(self._db)
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
            if self.mode == "ro" and self.schema_version() < target_version:
                raise StorageError(
                    f"{url}: the store is at schema version {self.schema_version()} and "
                    f"needs migrating to {target_version}; open it once without ?mode=ro"
                )
            self._migrate(self._db, target_version)
            self._chained = self.schema_version() >= 3
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StorageError(f"{url}: cannot open as an iopcore SQLite store: {exc}") from None
        except BaseException:
            self.close()
            raise

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise StorageError(f"{self.url}: the store is closed")
        return self._db

    def _migrate(self, db: sqlite3.Connection, target: int) -> None:
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{self.url}: schema version {version} is newer than this iopcore supports "
                f"({SCHEMA_VERSION}); upgrade iopcore to open it"
            )
        if version >= target:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            version = self.schema_version()  # another process may have migrated meanwhile
            if version == 0:
                foreign = db.execute(
                    "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
                ).fetchone()[0]
                if foreign:
                    raise StorageError(
                        f"{self.url}: this SQLite file has tables but is not an iopcore "
                        "store; choose another path"
                    )
            for step in range(version, target):
                for statement in MIGRATIONS[step]:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {int(target)}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def integrity_problems(self) -> list[str]:
        """Missing or altered append-only triggers of the audit table (schema >= 2)."""
        if self.schema_version() < 2:
            return []
        with self._lock:
            rows = self._connection().execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'"
            )
            found = {name: " ".join((sql or "").split()) for name, sql in rows}
        return [
            f"the audit log's append-only trigger {name} is "
            + ("altered" if name in found else "missing")
            for name, sql in GUARDS.items()
            if found.get(name) != sql
        ]

    def schema_version(self) -> int:
        with self._lock:
            return int(self._connection().execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[_Transaction]:
        """One transaction at a time per backend: threads sharing a Store take turns."""
        with self._lock:
            yield from self._transaction(write)

    def _transaction(self, write: bool) -> Iterator[_Transaction]:
        db = self._connection()
        try:
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.Error as exc:
            raise StorageError(f"{self.url}: cannot start a transaction: {exc}") from None
        tx = _ChainedTransaction(db) if self._chained else _Transaction(db)
        try:
            yield tx
            tx.flush()
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback(db)
            raise StorageError(f"{self.url}: {exc}; nothing of this transaction was kept") from exc
        except BaseException:
            self._rollback(db)
            raise

    @staticmethod
    def _rollback(db: sqlite3.Connection) -> None:
        # SQLite rolls back by itself after some errors (e.g. SQLITE_FULL); then there is
        # nothing left to roll back, and the original error is the one to report.
        if db.in_transaction:
            db.execute("ROLLBACK")

    def close(self) -> None:
        with self._lock:
            db = getattr(self, "_db", None)
            if db is not None:
                self._db = None
                db.close()


def _has_content(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _create_private(path: Path) -> None:
    """Create the store file 0600 (owner only) whatever the umask, if it does not exist.

    SQLite gives its ``-wal`` and ``-shm`` files the database file's permissions, so they
    are 0600 too. An existing file keeps the permissions its owner gave it.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    except OSError as exc:
        raise StorageError(
            f"sqlite:///{path}: cannot create the store file ({exc.strerror}); choose a "
            "folder you can write to"
        ) from None
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


@hookimpl
def iopcore_storage_backends() -> list[StorageBackend]:
    return [
        StorageBackend(
            name="sqlite",
            schemes=["sqlite"],
            open=SQLiteBackend,
            description="one SQLite file (WAL); the embedded default",
        )
    ]
