"""Storage: what clinic software keeps, on any backend a plugin provides.

:class:`Store` is the typed API (participants, enrollments, attendance, screening, ...). It
runs on a :class:`Backend`, a small transactional document store that each storage plugin
implements (memory, SQLite, PostgreSQL, or a third party's). Every write goes through one
transaction together with its audit entries, so a batch is atomic and the audit log is
complete. Writes are idempotent: writing an equal record again changes nothing (the attempt
is audited as ``unchanged``); history records (level-of-care changes, decisions) are
append-only and refuse to be rewritten.

>>> from datetime import date
>>> from iopcore import open_storage
>>> with open_storage("memory://", actor="docs") as store:
...     store.add_participant(Participant(id="P-0001"))
...     store.participant("P-0001").id
WriteSummary(inserted=1, updated=0, unchanged=0)
'P-0001'
"""

from __future__ import annotations

import functools
import json
import types
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, time
from typing import (
    Any,
    Protocol,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
    get_type_hints,
    runtime_checkable,
)

import attrs
import cattrs.preconf.json
from attrs import frozen

from iopcore.core.aftercare import AftercarePlan
from iopcore.core.assessments import Assessment
from iopcore.core.attendance import AttendanceRecord
from iopcore.core.decisions import Decision
from iopcore.core.enrollment import Enrollment, LevelOfCareChange, Participant, TransitionKind
from iopcore.core.errors import Choice, IopcoreError, StorageError
from iopcore.core.feeds import FeedToken
from iopcore.core.program import Program
from iopcore.core.screening import ScreeningDraw, ScreeningOrder, ScreeningResult
from iopcore.io.files import dump_program, loads_program

#: The schema version this iopcore writes. Backends migrate older stores forward to it.
SCHEMA_VERSION = 2

R = TypeVar("R")


@frozen(kw_only=True)
class Row:
    """One stored record as a backend sees it: opaque JSON text plus what it is found by."""

    kind: str
    key: str
    #: The participant (or enrollment) the record belongs to, for look-ups; may be None.
    owner: str | None
    #: Orders records of one owner (an ISO date, or a zero-padded sequence number).
    sort: str
    data: str


class AuditChange(Choice):
    """What a write did to a record (insert, update, unchanged) or that data left (export)."""

    INSERT = "insert"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    EXPORT = "export"


_INSERT, _UPDATE, _UNCHANGED = (
    AuditChange.INSERT.value,
    AuditChange.UPDATE.value,
    AuditChange.UNCHANGED.value,
)


@frozen(kw_only=True)
class AuditEntry:
    """One line of the append-only audit log: what, when, by whom. No clinical content."""

    seq: int
    at: datetime
    actor: str
    kind: str
    key: str
    change: AuditChange = attrs.field(converter=AuditChange)


@runtime_checkable
class Transaction(Protocol):
    """What a backend offers inside one atomic transaction.

    Optional extension (not part of the protocol, so backends without it still conform):
    ``get_many(kind: str, keys: Sequence[str]) -> dict[str, str]``, the data of those of
    ``keys`` that are stored (missing keys absent), as ``get`` would return them. If a
    transaction has it, :class:`Store` looks a batch up with one call per kind instead of
    one ``get`` per record (one round trip instead of N on a networked database).
    """

    def get(self, kind: str, key: str) -> str | None:
        """The data of record ``(kind, key)``, or None."""

    def put(self, row: Row) -> None:
        """Insert or replace the record ``(row.kind, row.key)``."""

    def select(self, kind: str, owner: str | None = None) -> list[str]:
        """Data of every record of ``kind`` (of ``owner`` if given), ordered by (sort, key)."""

    def audit(self, at: datetime, actor: str, kind: str, key: str, change: str) -> None:
        """Append an audit entry; the backend assigns increasing sequence numbers."""

    def audit_log(self, after: int) -> list[tuple[int, datetime, str, str, str, str]]:
        """Audit entries with seq > ``after``: (seq, at, actor, kind, key, change), by seq."""


@runtime_checkable
class Backend(Protocol):
    """A transactional document store that a storage plugin provides."""

    url: str

    def transaction(self, *, write: bool = True) -> AbstractContextManager[Transaction]:
        """A transaction: committed when the block ends, rolled back if it raises.

        ``write=False`` promises only reads, so a backend may take a lighter lock.
        """

    def schema_version(self) -> int:
        """The schema version of the open store."""

    def close(self) -> None:
        """Release the store (idempotent)."""


_json = cattrs.preconf.json.make_converter()
# local wall times (aftercare meetings) as "HH:MM:SS"
_json.register_unstructure_hook(time, time.isoformat)
_json.register_structure_hook(time, lambda value, _: time.fromisoformat(value))


def _make_dumps() -> Callable[[Any], str]:
    """``json.dumps`` with its default options, minus the per-call cost of building an encoder.

    ``json.dumps`` makes a new C encoder on every call; this builds one once (no circular
    check: unstructured records are trees). Same text, byte for byte (tests/test_sqlite.py
    checks it); plain ``json.dumps`` where the C accelerator is missing.
    """
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # pragma: no cover - CPython always has it
        return json.dumps
    encoder = c_make_encoder(
        None,  # markers: no circular-reference check
        json.JSONEncoder().default,
        json.encoder.encode_basestring_ascii,  # ensure_ascii=True
        None,  # indent
        ": ",
        ", ",
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan
    )
    return lambda obj: "".join(encoder(obj, 0))


_dumps = _make_dumps()


def _encode(record: Any) -> str:
    # The converter's own dumps() would unstructure the (already primitive) dict a second
    # time, for the same text at twice the cost.
    return _dumps(_json.unstructure(record, type(record)))


@frozen(kw_only=True)
class _Kind:
    name: str
    cls: type[Any]
    key: Callable[[Any], str]
    owner: Callable[[Any], str | None]
    sort: Callable[[Any], str]
    append_only: bool = False
    encode: Callable[[Any], str] = _encode
    decode: Callable[[str], Any] | None = None


@functools.lru_cache(maxsize=64)
def _stored_program(text: str) -> Program:
    """A stored program, decoded once per text (programs are immutable; feeds and exports
    read the same few programs for every participant)."""
    return loads_program(text, file="stored program")


_KINDS: dict[type[Any], _Kind] = {
    k.cls: k
    for k in (
        _Kind(
            name="program",
            cls=Program,
            key=lambda p: p.name,
            owner=lambda p: None,
            sort=lambda p: p.name,
            encode=dump_program,
            decode=_stored_program,
        ),
        _Kind(
            name="participant",
            cls=Participant,
            key=lambda p: p.id,
            owner=lambda p: None,
            sort=lambda p: p.id,
        ),
        _Kind(
            name="enrollment",
            cls=Enrollment,
            key=lambda e: e.id,
            owner=lambda e: e.participant_id,
            sort=lambda e: e.start.isoformat(),
        ),
        _Kind(
            name="level-of-care",
            cls=LevelOfCareChange,
            key=lambda c: f"{c.enrollment_id}/{c.seq:06d}",
            owner=lambda c: c.enrollment_id,
            sort=lambda c: f"{c.seq:06d}",
            append_only=True,
        ),
        _Kind(
            name="attendance",
            cls=AttendanceRecord,
            key=lambda r: r.key,
            owner=lambda r: r.participant_id,
            sort=lambda r: r.session_date.isoformat(),
        ),
        _Kind(
            name="screening-order",
            cls=ScreeningOrder,
            key=lambda o: o.id,
            owner=lambda o: o.participant_id,
            sort=lambda o: o.ordered_for.isoformat(),
        ),
        _Kind(
            name="screening-result",
            cls=ScreeningResult,
            key=lambda r: r.order_id,
            owner=lambda r: r.participant_id,
            sort=lambda r: r.collected_at.isoformat() if r.collected_at else "",
        ),
        _Kind(
            name="assessment",
            cls=Assessment,
            key=lambda a: a.id,
            owner=lambda a: a.participant_id,
            sort=lambda a: a.taken_on.isoformat(),
        ),
        _Kind(
            name="decision",
            cls=Decision,
            key=lambda d: d.id,
            owner=lambda d: d.enrollment_id,
            sort=lambda d: d.decided_on.isoformat(),
            append_only=True,
        ),
        _Kind(
            name="screening-draw",
            cls=ScreeningDraw,
            key=lambda d: d.key,
            owner=lambda d: d.participant_id,
            sort=lambda d: d.period_start.isoformat(),
            append_only=True,
        ),
        # -- calendar feeds (helper "calendar"): token hashes, never tokens --
        _Kind(
            name="feed-token",
            cls=FeedToken,
            key=lambda t: t.digest,
            owner=lambda t: t.participant_id,
            sort=lambda t: t.issued_at.isoformat(),
        ),
        _Kind(
            name="aftercare-plan",
            cls=AftercarePlan,
            key=lambda p: p.enrollment_id,
            owner=lambda p: p.enrollment_id,
            sort=lambda p: p.enrollment_id,
        ),
    )
}


#: Exact checks for plain field types: a value the converter would write but not read back
#: (a datetime or a string where a date belongs, True where an int belongs) is refused.
_PLAIN_TYPES: dict[Any, tuple[str, Callable[[object], bool]]] = {
    date: ("a datetime.date", lambda v: type(v) is date),
    datetime: ("a datetime.datetime", lambda v: isinstance(v, datetime)),
    int: ("an int", lambda v: type(v) is int),
    float: ("a number", lambda v: type(v) is float or type(v) is int),
    str: ("a str", lambda v: isinstance(v, str)),
}

FieldCheck = tuple[str, str, bool, Callable[[object], bool]]


def _unchecked_fields(cls: type[Any]) -> tuple[FieldCheck, ...]:
    """(name, expected, optional, check) of the fields of ``cls`` that nothing validates.

    A field with a validator or converter is the record class's business; the others (e.g.
    a bare ``session_date: date``) accept anything at construction, and the store must not
    write what it could not read back.
    """
    if not attrs.has(cls):
        return ()
    try:
        hints = get_type_hints(cls)
    except (NameError, TypeError):  # pragma: no cover - annotations only a type checker sees
        return ()
    checks: list[FieldCheck] = []
    for field in attrs.fields(cls):
        if field.validator is not None or field.converter is not None:
            continue
        hint, optional = hints[field.name], False
        if get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint):
            rest = [a for a in get_args(hint) if a is not type(None)]
            hint, optional = (rest[0] if len(rest) == 1 else None), True
        if hint in _PLAIN_TYPES:
            expected, check = _PLAIN_TYPES[hint]
            checks.append((field.name, expected, optional, check))
    return tuple(checks)


_FIELD_CHECKS: dict[type[Any], tuple[FieldCheck, ...]] = {
    cls: _unchecked_fields(cls) for cls in _KINDS
}


def _check_fields(record: Any) -> None:
    for name, expected, optional, check in _FIELD_CHECKS[type(record)]:
        value = getattr(record, name)
        if not check(value) and not (optional and value is None):
            raise StorageError(
                f"cannot store this {type(record).__name__}: {name} must be {expected}"
                f"{' or None' if optional else ''}, got {type(value).__name__} {value!r}"
            )


@frozen(kw_only=True)
class WriteSummary:
    """How a batch write went: records inserted, updated, and already equal."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


#: Called after a commit with (event name, keyword arguments): the plugin host's event hooks.
EventSink = Callable[[str, dict[str, Any]], None]


class Store:
    """The typed storage API over a :class:`Backend`. Use as a context manager."""

    def __init__(
        self, backend: Backend, *, actor: str = "iopcore", events: EventSink | None = None
    ) -> None:
        if not actor or len(actor) > 200 or not actor.isprintable():
            raise StorageError(
                f"actor {actor!r} must be 1-200 printable characters naming the calling "
                "application or user (it goes in the audit log)"
            )
        self.backend = backend
        self.actor = actor
        self._events = events

    def __repr__(self) -> str:
        return f"Store({self.backend.url!r}, actor={self.actor!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.backend.close()

    @property
    def url(self) -> str:
        return self.backend.url

    @property
    def schema_version(self) -> int:
        return self.backend.schema_version()

    # -- generic machinery -------------------------------------------------------------

    def _write(
        self, records: Iterable[Any], check: Callable[[Transaction], None] | None = None
    ) -> WriteSummary:
        """Write ``records`` and their audit entries in one transaction, after ``check``.

        Records are checked and encoded before the transaction starts, so a bad record
        fails without taking the write lock and the lock is held only for the writing.
        """
        prepared = [_prepare(record) for record in records]
        inserted = updated = unchanged = 0
        actor = self.actor
        with self.backend.transaction() as tx:
            # Taken under the write lock, so audit times follow audit sequence numbers.
            now = datetime.now(UTC)
            if check is not None:
                check(tx)
            known = _prefetch(tx, prepared)
            get, put, audit = tx.get, tx.put, tx.audit
            for kind, key, owner, sort, data in prepared:
                name = kind.name
                old = get(name, key) if known is None else known[name, key]
                if old == data:
                    change = _UNCHANGED
                    unchanged += 1
                elif old is not None and kind.append_only:
                    raise StorageError(
                        f"{name} {key!r} is already recorded differently, and {name} records "
                        "are append-only (kept as written, for audit); record a new entry "
                        "instead of rewriting this one"
                    )
                else:
                    put(Row(kind=name, key=key, owner=owner, sort=sort, data=data))
                    if old is None:
                        change = _INSERT
                        inserted += 1
                    else:
                        change = _UPDATE
                        updated += 1
                    if known is not None:  # a later record of the batch may have this key
                        known[name, key] = data
                audit(now, actor, name, key, change)
        return WriteSummary(inserted=inserted, updated=updated, unchanged=unchanged)

    def _get(self, cls: type[R], key: str) -> R:
        kind = _KINDS[cls]
        with self.backend.transaction(write=False) as tx:
            data = tx.get(kind.name, key)
        if data is None:
            raise StorageError(f"no {kind.name} {key!r} in {self.url}")
        return cast(R, _decode(kind, data))

    def _select(self, cls: type[R], owner: str | None = None) -> tuple[R, ...]:
        kind = _KINDS[cls]
        with self.backend.transaction(write=False) as tx:
            rows = tx.select(kind.name, owner)
        return tuple(_decode(kind, data) for data in rows)

    def _emit(self, event: str, **kwargs: Any) -> None:
        if self._events is not None:
            self._events(event, kwargs)

    # -- programs ----------------------------------------------------------------------

    def save_program(self, program: Program) -> WriteSummary:
        """Store ``program`` (as its TOML text) under its name."""
        return self._write([program])

    def program(self, name: str) -> Program:
        return self._get(Program, name)

    def programs(self) -> tuple[Program, ...]:
        return self._select(Program)

    # -- participants and enrollments --------------------------------------------------

    def add_participant(self, participant: Participant) -> WriteSummary:
        return self._write([participant])

    def participant(self, participant_id: str) -> Participant:
        return self._get(Participant, participant_id)

    def participants(self) -> tuple[Participant, ...]:
        return self._select(Participant)

    def enroll(self, enrollment: Enrollment, *, reason: str = "") -> WriteSummary:
        """Store an enrollment and its admission entry (seq 0) in the level-of-care history."""
        admission = LevelOfCareChange(
            enrollment_id=enrollment.id,
            seq=0,
            kind=TransitionKind.ADMISSION,
            effective=enrollment.start,
            level_of_care=enrollment.level_of_care,
            track=enrollment.track,
            reason=reason,
        )

        def participant_exists(tx: Transaction) -> None:
            if tx.get("participant", enrollment.participant_id) is None:
                raise StorageError(
                    f"enrollment {enrollment.id!r}: no participant {enrollment.participant_id!r} "
                    "in this store; add_participant first"
                )

        return self._write([enrollment, admission], participant_exists)

    def enrollment(self, enrollment_id: str) -> Enrollment:
        return self._get(Enrollment, enrollment_id)

    def enrollments(self, participant_id: str) -> tuple[Enrollment, ...]:
        return self._select(Enrollment, participant_id)

    def append_level_of_care(self, change: LevelOfCareChange) -> WriteSummary:
        """Append to an enrollment's history: ``seq`` must be the next number, the date no
        earlier than the last entry's, and nothing follows a discharge."""
        return self._write([change], _next_in_history(change))

    def history(self, enrollment_id: str) -> tuple[LevelOfCareChange, ...]:
        return self._select(LevelOfCareChange, enrollment_id)

    # -- accountability ----------------------------------------------------------------

    def record_attendance(self, records: Iterable[AttendanceRecord]) -> WriteSummary:
        """Record a batch atomically; (participant, occurrence) keeps one record."""
        batch = list(records)
        summary = self._write(batch)
        self._emit("attendance_recorded", records=tuple(batch), store_url=self.url)
        return summary

    def attendance(self, participant_id: str) -> tuple[AttendanceRecord, ...]:
        return self._select(AttendanceRecord, participant_id)

    def order_screening(self, order: ScreeningOrder) -> WriteSummary:
        return self._write([order])

    def screening_orders(self, participant_id: str) -> tuple[ScreeningOrder, ...]:
        return self._select(ScreeningOrder, participant_id)

    def record_screening_result(self, result: ScreeningResult) -> WriteSummary:

        def order_exists(tx: Transaction) -> None:
            if tx.get("screening-order", result.order_id) is None:
                raise StorageError(
                    f"screening result for order {result.order_id!r}: no such order; "
                    "order_screening first"
                )

        return self._write([result], order_exists)

    def record_draws(self, draws: Iterable[ScreeningDraw]) -> WriteSummary:
        """Keep each random draw (eligible days and selection) for auditors. A period's draw
        is append-only: drawing it again with another secret is refused."""
        return self._write(list(draws))

    def draws(self, participant_id: str) -> tuple[ScreeningDraw, ...]:
        return self._select(ScreeningDraw, participant_id)

    def screening_results(self, participant_id: str) -> tuple[ScreeningResult, ...]:
        return self._select(ScreeningResult, participant_id)

    def record_assessment(self, assessment: Assessment) -> WriteSummary:
        return self._write([assessment])

    def assessments(self, participant_id: str) -> tuple[Assessment, ...]:
        return self._select(Assessment, participant_id)

    def record_decision(
        self, decision: Decision, change: LevelOfCareChange | None = None
    ) -> WriteSummary:
        """Record a decision and, atomically, the history entry it causes (if any)."""
        if change is None:
            return self._write([decision])
        return self._write([decision, change], _next_in_history(change))

    def decisions(self, enrollment_id: str) -> tuple[Decision, ...]:
        return self._select(Decision, enrollment_id)

    def save_aftercare(self, plan: AftercarePlan) -> WriteSummary:
        """Store an enrollment's aftercare plan (a revised plan replaces it, audited)."""
        return self._write([plan])

    def aftercare(self, enrollment_id: str) -> AftercarePlan:
        return self._get(AftercarePlan, enrollment_id)

    # -- calendar feeds (helper "calendar") ---------------------------------------------

    def save_feed_token(self, token: FeedToken) -> WriteSummary:
        """Store a feed token's record (its hash); revoking rewrites it, audited."""
        return self._write([token])

    def feed_token(self, digest: str) -> FeedToken | None:
        """The token record with this hash, or None (one indexed look-up by hash)."""
        kind = _KINDS[FeedToken]
        with self.backend.transaction(write=False) as tx:
            data = tx.get(kind.name, digest)
        return None if data is None else cast(FeedToken, _decode(kind, data))

    def feed_tokens(self, participant_id: str) -> tuple[FeedToken, ...]:
        return self._select(FeedToken, participant_id)

    # -- audit -------------------------------------------------------------------------

    def record_export(self, what: str, key: str) -> None:
        """Audit that something left the store (e.g. a calendar export of a participant)."""
        with self.backend.transaction() as tx:
            tx.audit(datetime.now(UTC), self.actor, what, key, AuditChange.EXPORT.value)
        self._emit("export_made", what=what, key=key, store_url=self.url)

    def audit_log(self, after: int = 0) -> tuple[AuditEntry, ...]:
        with self.backend.transaction(write=False) as tx:
            rows = tx.audit_log(after)
        return tuple(
            AuditEntry(seq=s, at=at, actor=a, kind=k, key=key, change=c)
            for s, at, a, k, key, c in rows
        )


def _kind_of(record: object) -> _Kind:
    try:
        return _KINDS[type(record)]
    except KeyError:
        raise StorageError(
            f"cannot store a {type(record).__name__}; storable records are "
            + ", ".join(sorted(c.__name__ for c in _KINDS))
        ) from None


#: A record ready to write: its kind, key, owner, sort and encoded data.
Prepared = tuple[_Kind, str, str | None, str, str]


def _prepare(record: Any) -> Prepared:
    kind = _kind_of(record)
    _check_fields(record)
    try:
        return kind, kind.key(record), kind.owner(record), kind.sort(record), kind.encode(record)
    except IopcoreError:
        raise
    except (AttributeError, TypeError, ValueError) as exc:
        raise _unstorable(kind, record, exc) from None


def _prefetch(
    tx: Transaction, prepared: Sequence[Prepared]
) -> dict[tuple[str, str], str | None] | None:
    """What is stored under the batch's keys, in one ``get_many`` per kind if ``tx`` has it.

    ``get_many(kind, keys) -> {key: data}`` (found keys only) is an optional extension of
    :class:`Transaction`: a backend without it gets one ``get`` per record instead.
    """
    get_many: Callable[[str, Sequence[str]], dict[str, str]] | None = getattr(tx, "get_many", None)
    if get_many is None or len(prepared) < 2:
        return None
    keys_of: dict[str, list[str]] = {}
    for kind, key, *_ in prepared:
        keys_of.setdefault(kind.name, []).append(key)
    known: dict[tuple[str, str], str | None] = {}
    for name, keys in keys_of.items():
        found = get_many(name, keys)
        for key in keys:
            known[name, key] = found.get(key)
    return known


def _unstorable(kind: _Kind, record: Any, exc: Exception) -> StorageError:
    """A record whose fields have the wrong types (its class did not validate them)."""
    return StorageError(
        f"cannot store this {kind.name} record ({type(record).__name__}): a field has the "
        f"wrong type ({exc}); "
        f"build it with the types its class declares (dates as datetime.date, numbers as int)"
    )


def _next_in_history(change: LevelOfCareChange) -> Callable[[Transaction], None]:
    """A write check: ``change`` extends its enrollment's history in order."""

    def check(tx: Transaction) -> None:
        if tx.get("enrollment", change.enrollment_id) is None:
            raise StorageError(
                f"level-of-care change for enrollment {change.enrollment_id!r}: no such "
                "enrollment; enroll first"
            )
        kind = _KINDS[LevelOfCareChange]
        history = [_decode(kind, data) for data in tx.select(kind.name, change.enrollment_id)]
        if any(h.seq == change.seq for h in history):
            return  # the same entry again is unchanged; a different one is refused on write
        last = max(history, key=lambda h: h.seq)
        problems = []
        if change.seq != last.seq + 1:
            problems.append(f"seq must be {last.seq + 1} (the next), got {change.seq}")
        if change.effective < last.effective:
            problems.append(
                f"effective {change.effective} is before the last entry's ({last.effective})"
            )
        if any(h.kind is TransitionKind.DISCHARGE for h in history):
            problems.append("the enrollment was discharged; enroll again instead")
        if problems:
            raise StorageError(
                f"level-of-care history of {change.enrollment_id!r} is append-only and in "
                "order: " + "; ".join(problems)
            )

    return check


def _decode(kind: _Kind, data: str) -> Any:
    try:
        if kind.decode is not None:
            return kind.decode(data)
        return _json.structure(json.loads(data), kind.cls)
    except Exception as exc:
        raise StorageError(
            f"a stored {kind.name} cannot be read ({exc}); the store may be corrupt or "
            "written by an incompatible version"
        ) from None
