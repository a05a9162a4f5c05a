"""``sqlite:///path/to.db``: the embedded default store (``sqlite:////abs/path.db`` absolute).

WAL journal, ``synchronous=FULL`` (a write acknowledged is on disk), foreign keys on, a 30 s
busy timeout, and ``BEGIN IMMEDIATE`` for every write transaction, so several processes can
write one file without "database is locked" reaching the caller. The schema version lives in
``PRAGMA user_version``; older files are migrated forward on open, newer ones are refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from iopcore.errors import StorageError
from iopcore.plugins.hookspecs import hookimpl
from iopcore.plugins.records import StorageBackend
from iopcore.storage import SCHEMA_VERSION, Row

#: Forward migrations: MIGRATIONS[v - 1] takes a store from version v - 1 to v.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE records (
            kind TEXT NOT NULL, key TEXT NOT NULL, owner TEXT, sort TEXT NOT NULL,
            data TEXT NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID""",
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
)
assert len(MIGRATIONS) == SCHEMA_VERSION

AuditRow = tuple[int, datetime, str, str, str, str]


def path_of(url: str) -> Path:
    """``sqlite:///rel.db`` -> ``rel.db``; ``sqlite:////abs.db`` -> ``/abs.db``."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise StorageError(
            f"storage URL {url!r} is not a SQLite URL; use sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db"
        )
    return Path(url[len(prefix) :])


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def get(self, kind: str, key: str) -> str | None:
        row = self._db.execute(
            "SELECT data FROM records WHERE kind = ? AND key = ?", (kind, key)
        ).fetchone()
        return None if row is None else str(row[0])

    def put(self, row: Row) -> None:
        self._db.execute(
            "INSERT INTO records (kind, key, owner, sort, data) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, key) DO UPDATE SET owner = excluded.owner, "
            "sort = excluded.sort, data = excluded.data",
            (row.kind, row.key, row.owner, row.sort, row.data),
        )

    def select(self, kind: str, owner: str | None = None) -> list[str]:
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

    def audit(self, at: datetime, actor: str, kind: str, key: str, change: str) -> None:
        self._db.execute(
            "INSERT INTO audit (at, actor, kind, key, change) VALUES (?, ?, ?, ?, ?)",
            (at.isoformat(), actor, kind, key, change),
        )

    def audit_log(self, after: int) -> list[AuditRow]:
        cursor = self._db.execute(
            "SELECT seq, at, actor, kind, key, change FROM audit WHERE seq > ? ORDER BY seq",
            (after,),
        )
        return [(s, datetime.fromisoformat(at), a, k, key, c) for s, at, a, k, key, c in cursor]


class SQLiteBackend:
    """A :class:`iopcore.storage.Backend` in one SQLite file."""

    def __init__(self, url: str, *, target_version: int = SCHEMA_VERSION) -> None:
        self.url = url
        self.path = path_of(url)
        if not self.path.parent.is_dir():
            raise StorageError(
                f"{url}: folder {str(self.path.parent)!r} does not exist; create it first"
            )
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 30000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate(target_version)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StorageError(f"{url}: cannot open as an iopcore SQLite store: {exc}") from None

    def _migrate(self, target: int) -> None:
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            self.close()
            raise StorageError(
                f"{self.url}: schema version {version} is newer than this iopcore supports "
                f"({SCHEMA_VERSION}); upgrade iopcore to open it"
            )
        if version >= target:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self.schema_version()  # another process may have migrated meanwhile
            if version == 0:
                foreign = self._db.execute(
                    "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
                ).fetchone()[0]
                if foreign:
                    raise StorageError(
                        f"{self.url}: this SQLite file has tables but is not an iopcore "
                        "store; choose another path"
                    )
            for step in range(version, target):
                for statement in MIGRATIONS[step]:
                    self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {int(target)}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[_Transaction]:
        try:
            self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.Error as exc:
            raise StorageError(f"{self.url}: cannot start a transaction: {exc}") from None
        try:
            yield _Transaction(self._db)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._db.execute("ROLLBACK")
            raise StorageError(f"{self.url}: commit failed: {exc}") from None

    def close(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()
            self._db = None  # type: ignore[assignment]


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
