"""Benchmark: SQLite storage through :class:`iopcore.Store`, against plain ``sqlite3``.

Run from the project root::

    .venv/bin/python benchmarks/storage.py              # everything, 1,000 kill cycles
    .venv/bin/python benchmarks/storage.py --cycles 50  # a quick run

Four figures, all measured in the same run on the same disk (a temporary folder, or
``--dir``):

(a) **batched ingestion**: 1,000 participants x 12 weeks x 3 sessions a week (36,000
    attendance records) stored in batches (``--batch``, default one session day's 1,000
    records) with ``Store.record_attendance(batch)``, against two plain ``sqlite3``
    baselines with the same pragmas (WAL, ``synchronous=FULL``, one ``BEGIN IMMEDIATE``
    transaction per batch), both ``executemany`` of an upsert (as the store's write is):

    * **typed table**: the same records turned into tuples (inside the timing) into the table
      an application would write by hand (participant, occurrence, date, status, minutes,
      recorded_at, note; primary key participant + occurrence, an index by participant and
      date);
    * **same rows**: the very rows the store wrote (kind, key, owner, sort, JSON data; read
      back from its file, outside the timing) into a copy of the store's ``records`` table
      with its indexes: what the store's writes cost in SQLite alone.

    The store does more per record than either: it checks and encodes the record, reads
    the stored version (to count insert/update/unchanged and refuse rewriting history),
    and appends an audit entry. Target: within 2x.
(b) **durable single writes**: one record per ``record_attendance`` call, each committed to
    disk (``synchronous=FULL``) before the call returns; writes per second, with plain
    ``sqlite3`` (one insert per transaction, same pragmas) for scale.
(c) **reading one participant's history** (36 records) from the 36,000-record store of (a):
    median and 95th percentile per ``Store.attendance(participant)``. Target: median < 1 ms.
(d) **kill -9**: ``--cycles`` times, a child process writes attendance one record per call
    and reports each acknowledged write (the call returned) on a pipe; the parent kills it
    with SIGKILL at a random moment (fixed seed), then reopens the store and counts
    acknowledged writes that are missing, and runs ``PRAGMA integrity_check``. A new file
    every 25 cycles, so some kills land while a fresh file is being created and migrated.
    Target: 0 lost. SIGKILL tests crash consistency (nothing acknowledged is lost, no torn
    transaction); it cannot simulate power loss, which is what ``synchronous=FULL`` is for.

POSIX only (fork, SIGKILL).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import select
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path

import iopcore
from iopcore import AttendanceRecord, create_plugin_host, open_storage

PARTICIPANTS = 1_000
WEEKS = 12
SESSION_DAYS = (0, 2, 4)  # Monday, Wednesday, Friday
START = date(2027, 1, 4)
STATUSES = ("attended", "attended", "attended", "late", "excused-absence", "unexcused-absence")
PRAGMAS = (
    "PRAGMA busy_timeout = 30000",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
)
PLAIN_TABLE = (
    """CREATE TABLE attendance (
        participant_id TEXT NOT NULL, occurrence_id TEXT NOT NULL, session_date TEXT NOT NULL,
        status TEXT NOT NULL, minutes_attended INTEGER NOT NULL, recorded_at TEXT,
        note TEXT NOT NULL, PRIMARY KEY (participant_id, occurrence_id))""",
    "CREATE INDEX attendance_by_participant ON attendance (participant_id, session_date)",
)
PLAIN_UPSERT = (
    "INSERT INTO attendance VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
    "session_date = excluded.session_date, status = excluded.status, "
    "minutes_attended = excluded.minutes_attended, recorded_at = excluded.recorded_at, "
    "note = excluded.note"
)
INGEST_TARGET = 2.0
#: Durable single writes: at most this many times plain sqlite3 (issue 12).
SINGLE_TARGET = 1.5
#: The audit hash chain may cost at most this share of batched ingestion.
CHAIN_TARGET = 0.10
READ_TARGET_MS = 1.0


def attendance_sheet(seed: int) -> list[AttendanceRecord]:
    """Every participant at every session of 12 weeks, in the order a clinic records them."""
    rng = random.Random(seed)
    records = []
    for week in range(WEEKS):
        for day in SESSION_DAYS:
            session = START + timedelta(weeks=week, days=day)
            for p in range(PARTICIPANTS):
                status = rng.choice(STATUSES)
                records.append(
                    AttendanceRecord(
                        participant_id=f"P-{p:04d}",
                        occurrence_id=f"evening-{session.isoformat()}",
                        session_date=session,
                        status=status,
                        minutes_attended=0 if "absence" in status else rng.choice((150, 180)),
                    )
                )
    return records


def batches(records: Sequence[AttendanceRecord], size: int) -> Iterator[Sequence[AttendanceRecord]]:
    for i in range(0, len(records), size):
        yield records[i : i + size]


def plain_connection(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        db.execute(pragma)
    return db


def plain_tuple(r: AttendanceRecord) -> tuple[object, ...]:
    recorded = None if r.recorded_at is None else r.recorded_at.isoformat()
    return (
        r.participant_id,
        r.occurrence_id,
        r.session_date.isoformat(),
        r.status.value,
        r.minutes_attended,
        recorded,
        r.note,
    )


def ingest_store(
    path: Path, records: Sequence[AttendanceRecord], size: int, *, chained: bool = True
) -> float:
    """``chained=False`` writes the audit entries without their hash chain (for (e))."""
    from iopcore.io import storage

    real = storage._audit_head
    if not chained:
        storage._audit_head = lambda tx: None
    try:
        with open_storage(f"sqlite:///{path}", actor="benchmark") as store:
            start = time.perf_counter()
            for batch in batches(records, size):
                store.record_attendance(batch)
            return time.perf_counter() - start
    finally:
        storage._audit_head = real


def ingest_plain(path: Path, records: Sequence[AttendanceRecord], size: int) -> float:
    db = plain_connection(path)
    for statement in PLAIN_TABLE:
        db.execute(statement)
    start = time.perf_counter()
    for batch in batches(records, size):
        db.execute("BEGIN IMMEDIATE")
        db.executemany(PLAIN_UPSERT, [plain_tuple(r) for r in batch])
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


RECORDS_TABLE = (
    """CREATE TABLE records (
        kind TEXT NOT NULL, key TEXT NOT NULL, owner TEXT, sort TEXT NOT NULL,
        data TEXT NOT NULL, PRIMARY KEY (kind, key))""",
    "CREATE INDEX records_by_owner ON records (kind, owner, sort, key)",
)
RECORDS_UPSERT = (
    "INSERT INTO records (kind, key, owner, sort, data) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (kind, key) DO UPDATE SET owner = excluded.owner, sort = excluded.sort, "
    "data = excluded.data"
)
Rows = list[tuple[str, str, str | None, str, str]]


def stored_rows(path: Path, records: Sequence[AttendanceRecord]) -> Rows:
    """The rows a store wrote for ``records``, in the order of ``records``."""
    db = sqlite3.connect(path)
    try:
        cursor = db.execute("SELECT kind, key, owner, sort, data FROM records")
        by_key = {key: (k, key, o, s, d) for k, key, o, s, d in cursor}
    finally:
        db.close()
    if len(by_key) != len(records):
        raise SystemExit(f"the store holds {len(by_key)} records, expected {len(records)}")
    return [by_key[r.key] for r in records]


def ingest_rows(path: Path, rows: Rows, size: int) -> float:
    db = plain_connection(path)
    for statement in RECORDS_TABLE:
        db.execute(statement)
    start = time.perf_counter()
    for i in range(0, len(rows), size):
        db.execute("BEGIN IMMEDIATE")
        db.executemany(RECORDS_UPSERT, rows[i : i + size])
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def single_writes_store(path: Path, records: Sequence[AttendanceRecord]) -> float:
    with open_storage(f"sqlite:///{path}", actor="benchmark") as store:
        start = time.perf_counter()
        for record in records:
            store.record_attendance([record])
        return time.perf_counter() - start


def single_writes_plain(path: Path, records: Sequence[AttendanceRecord]) -> float:
    db = plain_connection(path)
    for statement in PLAIN_TABLE:
        db.execute(statement)
    start = time.perf_counter()
    for record in records:
        db.execute("BEGIN IMMEDIATE")
        db.execute(PLAIN_UPSERT, plain_tuple(record))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def read_times(path: Path, reads: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    times = []
    with open_storage(f"sqlite:///{path}", actor="benchmark") as store:
        expected = WEEKS * len(SESSION_DAYS)
        for _ in range(reads):
            pid = f"P-{rng.randrange(PARTICIPANTS):04d}"
            start = time.perf_counter()
            history = store.attendance(pid)
            times.append(time.perf_counter() - start)
            if len(history) != expected:
                raise SystemExit(f"{pid}: read {len(history)} records, expected {expected}")
    return times


# -- (d) kill -9 -----------------------------------------------------------------------


def _child_writer(url: str, pid: str, ack_fd: int) -> None:
    """In the forked child: write one record per call and ack each returned call."""
    os.write(ack_fd, b"start\n")
    with open_storage(url, actor="kill-test") as store:
        n = 0
        while True:
            record = AttendanceRecord(
                participant_id=pid,
                occurrence_id=f"o-{n:06d}",
                session_date=START + timedelta(days=n % 365),
                status="attended",
                minutes_attended=n % 181,
            )
            store.record_attendance([record])
            os.write(ack_fd, f"{record.key}\n".encode())
            n += 1


def _read_lines(fd: int, until: bytes | None = None) -> bytes:
    """Read ``fd`` to EOF, or (``until``) until that line has arrived."""
    data = b""
    while True:
        if until is not None and until in data:
            return data
        if until is not None:
            ready, _, _ = select.select([fd], [], [], 10.0)
            if not ready:
                raise SystemExit("the writer did not start within 10 s")
        chunk = os.read(fd, 65536)
        if not chunk:
            return data
        data += chunk


def kill_cycle(url: str, pid: str, delay: float) -> set[str]:
    """Fork a writer, SIGKILL it ``delay`` s after it starts; the keys it acknowledged."""
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child never returns
        os.close(read_fd)
        try:
            _child_writer(url, pid, write_fd)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(1)
    os.close(write_fd)
    try:
        data = _read_lines(read_fd, until=b"start\n")
        time.sleep(delay)
        os.kill(child, signal.SIGKILL)
        data += _read_lines(read_fd)
    finally:
        os.close(read_fd)
        _, status = os.waitpid(child, 0)
    if not os.WIFSIGNALED(status) or os.WTERMSIG(status) != signal.SIGKILL:
        raise SystemExit(f"the writer ended by itself (status {status}) instead of being killed")
    return {line for line in data.decode().splitlines() if line != "start"}


def integrity(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def kill_cycles(folder: Path, cycles: int, seed: int, max_delay: float) -> tuple[int, int, int]:
    """(acknowledged writes, lost acknowledged writes, failed integrity checks)."""
    # Import the plugins once, as a running clinic service would have: each forked writer
    # then spends its life writing, not importing.
    create_plugin_host()
    rng = random.Random(seed)
    acknowledged = lost = bad = 0
    path = folder / "kill-0.db"
    for cycle in range(cycles):
        if cycle % 25 == 0:
            path = folder / f"kill-{cycle // 25}.db"
        url = f"sqlite:///{path}"
        pid = f"K-{cycle:05d}"
        acked = kill_cycle(url, pid, rng.uniform(0.0, max_delay))
        with open_storage(url, actor="verifier") as store:
            stored = {r.key for r in store.attendance(pid)}
            audited = {e.key for e in store.audit_log() if e.change == "insert"}
        acknowledged += len(acked)
        lost += len(acked - (stored & audited))  # missing, or missing its audit entry
        if (cycle + 1) % 25 == 0 or cycle == cycles - 1:
            bad += integrity(path) != "ok"
    return acknowledged, lost, bad


# -- report ----------------------------------------------------------------------------


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>9,.0f} records/s ({seconds * 1e6 / n:5.1f} us/record)"


def remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def timed(run: Callable[[Path], float], path: Path) -> float:
    """``run(path)`` on a new file, after earlier writes have reached the disk."""
    remove(path)
    os.sync()
    try:
        return run(path)
    finally:
        remove(path)


def best_of(repeats: int, run: Callable[[Path], float], folder: Path, name: str) -> float:
    return min(timed(run, folder / f"{name}.db") for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=1_000, help="kill -9 cycles (d)")
    parser.add_argument("--batch", type=int, default=PARTICIPANTS, help="records per batch (a)")
    parser.add_argument("--repeats", type=int, default=5, help="best of N for (a) and (b)")
    parser.add_argument("--single", type=int, default=2_000, help="single writes for (b)")
    parser.add_argument("--reads", type=int, default=2_000, help="history reads for (c)")
    parser.add_argument(
        "--max-delay", type=float, default=0.03, help="longest wait before a kill (s), (d)"
    )
    parser.add_argument("--seed", type=int, default=20270104)
    parser.add_argument("--dir", type=Path, default=None, help="folder for the files")
    args = parser.parse_args()
    if not hasattr(os, "fork"):
        raise SystemExit("this benchmark needs fork() and SIGKILL (POSIX)")

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="iopcore-bench-") as tmp:
        folder = Path(tmp)
        records = attendance_sheet(args.seed)
        print(
            f"iopcore {iopcore.__version__}, Python {platform.python_version()}, SQLite "
            f"{sqlite3.sqlite_version}, {platform.system()} {platform.machine()}; files in "
            f"{folder}"
        )
        print(
            f"data: {PARTICIPANTS:,} participants x {WEEKS} weeks x {len(SESSION_DAYS)} "
            f"sessions/week = {len(records):,} attendance records\n"
        )

        # (a) batched ingestion. The three runs take turns going first, each starts after
        # os.sync() with the previous files deleted, so write-back of one run does not land
        # in another's timing.
        n = len(records)
        history_file = folder / "history.db"
        ingest_store(history_file, records, args.batch)  # for (c), and the rows of "same rows"
        rows = stored_rows(history_file, records)
        runners: dict[str, Callable[[Path], float]] = {
            "store": lambda path: ingest_store(path, records, args.batch),
            "typed": lambda path: ingest_plain(path, records, args.batch),
            "rows": lambda path: ingest_rows(path, rows, args.batch),
            "unchained": lambda path: ingest_store(path, records, args.batch, chained=False),
        }
        runs: dict[str, list[float]] = {name: [] for name in runners}
        order = list(runners)
        for i in range(args.repeats):
            for name in order[i % 4 :] + order[: i % 4]:
                runs[name].append(timed(runners[name], folder / f"ingest-{name}.db"))
        best = {name: min(times) for name, times in runs.items()}
        print(
            f"(a) batched ingestion, {n:,} records in batches of {args.batch:,} "
            f"(best of {args.repeats})"
        )
        print(f"    {'Store.record_attendance':<36}{rate(n, best['store'])}")
        for name, label in (
            ("typed", "sqlite3 executemany, typed table"),
            ("rows", "sqlite3 executemany, same rows"),
        ):
            ratio = best["store"] / best[name]
            verdict = "MET" if ratio <= INGEST_TARGET else "MISSED"
            print(
                f"    {label:<36}{rate(n, best[name])}   store/plain {ratio:.2f}x  "
                f"(target <= {INGEST_TARGET:.0f}x: {verdict})"
            )
        chain = best["store"] / best["unchained"] - 1
        print(
            f"    audit hash chain: {chain:+.1%} of ingestion (store without the chain "
            f"{rate(n, best['unchained']).strip()})   target <= {CHAIN_TARGET:.0%}  "
            f"{'MET' if chain <= CHAIN_TARGET else 'MISSED'}"
        )
        print()

        # (b) durable single writes.
        single = records[: args.single]
        store_1 = best_of(
            args.repeats, lambda p: single_writes_store(p, single), folder, "single-store"
        )
        plain_1 = best_of(
            args.repeats, lambda p: single_writes_plain(p, single), folder, "single-plain"
        )
        print(
            f"(b) durable single writes, {len(single):,} records, one per call, each "
            f"committed with synchronous=FULL (best of {args.repeats})"
        )
        print(
            f"    Store.record_attendance  {len(single) / store_1:>10,.0f} writes/s  "
            f"({store_1 * 1e3 / len(single):.2f} ms/write)"
        )
        print(
            f"    sqlite3, 1 row per tx    {len(single) / plain_1:>10,.0f} writes/s  "
            f"({plain_1 * 1e3 / len(single):.2f} ms/write)"
        )
        ratio_1 = store_1 / plain_1
        print(
            f"    ratio store/plain        {ratio_1:>10.2f}x       (target <= "
            f"{SINGLE_TARGET}x: {'MET' if ratio_1 <= SINGLE_TARGET else 'MISSED'})\n"
        )

        # (c) one participant's history.
        times = read_times(history_file, args.reads, args.seed)
        median = statistics.median(times) * 1e3
        p95 = statistics.quantiles(times, n=20)[-1] * 1e3
        print(
            f"(c) one participant's history ({WEEKS * len(SESSION_DAYS)} records) from "
            f"{n:,} stored, {args.reads:,} random reads"
        )
        print(
            f"    median {median:.3f} ms, p95 {p95:.3f} ms   target median < "
            f"{READ_TARGET_MS:.0f} ms  {'MET' if median < READ_TARGET_MS else 'MISSED'}\n"
        )

        # (d) kill -9.
        start = time.perf_counter()
        acknowledged, lost, bad = kill_cycles(folder, args.cycles, args.seed, args.max_delay)
        elapsed = time.perf_counter() - start
        checks = (args.cycles + 24) // 25
        print(
            f"(d) kill -9 of a writer at a random moment, {args.cycles:,} cycles "
            f"({elapsed:.0f} s), seed {args.seed}"
        )
        print(
            f"    acknowledged writes {acknowledged:,}, lost {lost}   target 0 lost  "
            f"{'MET' if lost == 0 else 'MISSED'}"
        )
        print(f"    PRAGMA integrity_check: {checks - bad} of {checks} files ok")
        if lost or bad:
            sys.exit(1)


if __name__ == "__main__":
    main()
