"""``memory://``: a store in this process's memory, empty on every open. For tests and demos.

Transactions are serialized by a lock (so a Store is safe to share between threads) and
applied on commit, so a failed batch leaves nothing behind.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from iopcore.io.storage import SCHEMA_VERSION, ChainRow, Row
from iopcore.plugins.hookspecs import hookimpl
from iopcore.plugins.records import StorageBackend

AuditRow = tuple[int, datetime, str, str, str, str]


class _Transaction:
    def __init__(self, backend: MemoryBackend) -> None:
        self._backend = backend
        self.rows: dict[tuple[str, str], Row] = {}
        self.audits: list[ChainRow] = []

    def get(self, kind: str, key: str) -> str | None:
        row = self.rows.get((kind, key)) or self._backend.rows.get((kind, key))
        return None if row is None else row.data

    def put(self, row: Row) -> None:
        self.rows[(row.kind, row.key)] = row

    def select(self, kind: str, owner: str | None = None) -> list[str]:
        merged = {**self._backend.rows, **self.rows}
        rows = [
            r for (k, _), r in merged.items() if k == kind and (owner is None or r.owner == owner)
        ]
        return [r.data for r in sorted(rows, key=lambda r: (r.sort, r.key))]

    def audit(
        self, at: datetime, actor: str, kind: str, key: str, change: str, digest: str | None = None
    ) -> None:
        seq = len(self._backend.audits) + len(self.audits) + 1
        self.audits.append((seq, at, actor, kind, key, change, digest))

    def audit_log(self, after: int) -> list[AuditRow]:
        """Committed entries and this transaction's own, as SQL backends show them."""
        return [a[:6] for a in (*self._backend.audits, *self.audits) if a[0] > after]

    def audit_head(self) -> tuple[int, str | None] | None:
        entries = (*self._backend.audits, *self.audits)
        return (entries[-1][0], entries[-1][6]) if entries else None

    def audit_chain(self, after: int) -> list[ChainRow]:
        return [a for a in (*self._backend.audits, *self.audits) if a[0] > after]


class MemoryBackend:
    """A :class:`iopcore.io.storage.Backend` held in dictionaries."""

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self.rows: dict[tuple[str, str], Row] = {}
        self.audits: list[ChainRow] = []
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[_Transaction]:
        with self._lock:
            tx = _Transaction(self)
            yield tx
            self.rows.update(tx.rows)
            self.audits.extend(tx.audits)

    def schema_version(self) -> int:
        return SCHEMA_VERSION

    def integrity_problems(self) -> list[str]:
        """Nothing outside this process can alter the log."""
        return []

    def close(self) -> None:
        """Nothing to release."""


@hookimpl
def iopcore_storage_backends() -> list[StorageBackend]:
    return [
        StorageBackend(
            name="memory",
            schemes=["memory"],
            open=MemoryBackend,
            description="in this process's memory; empty on every open",
        )
    ]
