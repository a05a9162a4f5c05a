"""``jsonl://path/to/file.jsonl``: an append-only JSON-lines store, as an iopcore plugin.

Each commit appends one line (its rows and audit entries) and fsyncs; opening replays the file.
``flock`` serializes writers across processes. A torn last line (a crash) is not committed.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import attrs

from iopcore.plugins import SCHEMA_VERSION, Row, StorageBackend, StorageError, hookimpl

AuditRow = tuple[int, datetime, str, str, str, str]


class JsonlTransaction:
    def __init__(self, backend: JsonlBackend) -> None:
        self._backend = backend
        self.rows: dict[tuple[str, str], Row] = {}
        self.audits: list[tuple[str, str, str, str, str]] = []

    def get(self, kind: str, key: str) -> str | None:
        row = self.rows.get((kind, key)) or self._backend.rows.get((kind, key))
        return None if row is None else row.data

    def put(self, row: Row) -> None:
        self.rows[row.kind, row.key] = row

    def select(self, kind: str, owner: str | None = None) -> list[str]:
        rows = {**self._backend.rows, **self.rows}.values()
        found = [r for r in rows if r.kind == kind and (owner is None or r.owner == owner)]
        return [r.data for r in sorted(found, key=lambda r: (r.sort, r.key))]

    def audit(self, at: datetime, actor: str, kind: str, key: str, change: str) -> None:
        self.audits.append((at.isoformat(), actor, kind, key, change))

    def audit_log(self, after: int) -> list[AuditRow]:
        return [entry for entry in self._backend.audits if entry[0] > after]


class JsonlBackend:
    """A :class:`iopcore.io.storage.Backend` in one append-only JSON-lines file."""

    def __init__(self, url: str) -> None:
        self.url = url
        path = Path(url.removeprefix("jsonl://"))
        if not url.startswith("jsonl://") or not path.name or not path.parent.is_dir():
            raise StorageError(f"{url}: use jsonl://path/to/file.jsonl in an existing folder")
        self._file = path.open("a+b")  # writes always go to the end of the file
        self._lock = threading.Lock()  # flock does not serialize threads sharing a file
        self._end = 0  # bytes replayed so far
        self.rows: dict[tuple[str, str], Row] = {}
        self.audits: list[AuditRow] = []

    def _catch_up(self) -> None:
        self._file.seek(self._end)
        *lines, _torn = self._file.read().split(b"\n")
        for line in lines:
            try:
                entry = json.loads(line)
                self.rows.update({(r["kind"], r["key"]): Row(**r) for r in entry["rows"]})
                for at, *rest in entry["audit"]:
                    self.audits.append((len(self.audits) + 1, datetime.fromisoformat(at), *rest))
            except (ValueError, KeyError, TypeError) as exc:
                raise StorageError(f"{self.url}: not an iopcore JSON-lines store: {exc}") from None
            self._end += len(line) + 1

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[JsonlTransaction]:
        with self._lock:
            fcntl.flock(self._file, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
            try:
                self._catch_up()
                yield (tx := JsonlTransaction(self))
                if write and (tx.rows or tx.audits):
                    rows = [attrs.asdict(row) for row in tx.rows.values()]
                    line = json.dumps({"rows": rows, "audit": tx.audits}).encode() + b"\n"
                    self._file.truncate(self._end)  # cut off a torn line left by a crash
                    self._file.write(line)
                    self._file.flush()
                    os.fsync(self._file.fileno())
                    self._catch_up()  # apply the line just written
            finally:
                fcntl.flock(self._file, fcntl.LOCK_UN)

    def schema_version(self) -> int:
        return SCHEMA_VERSION  # rows are opaque JSON text, so the file layout has no versions

    def close(self) -> None:
        self._file.close()


@hookimpl
def iopcore_storage_backends() -> list[StorageBackend]:
    return [StorageBackend(name="jsonl", schemes=["jsonl"], open=JsonlBackend)]
