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
import hashlib
import json
import os
import types
import warnings
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
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
from attrs import frozen

from iopcore.core.accountability import Finding, FindingReview
from iopcore.core.aftercare import AftercarePlan
from iopcore.core.assessments import Assessment
from iopcore.core.attendance import AttendanceRecord
from iopcore.core.consent import Consent, ConsentRevocation, Disclosure
from iopcore.core.decisions import Decision
from iopcore.core.enrollment import Enrollment, LevelOfCareChange, Participant, TransitionKind
from iopcore.core.errors import Choice, IopcoreError, StorageError
from iopcore.core.feeds import FeedToken
from iopcore.core.program import Program
from iopcore.core.records import MAX_ID, check_text
from iopcore.core.screening import ScreeningDraw, ScreeningOrder, ScreeningResult
from iopcore.io.convert import records
from iopcore.io.files import dump_program, loads_program
from iopcore.io.urls import mask_url

#: The schema version this iopcore writes. Backends migrate older stores forward to it.
#: 3: audit entries carry ``digest``, a hash chained to the previous entry.
SCHEMA_VERSION = 3

#: Environment variable with the store secret that keys the audit hash chain (optional;
#: 16+ characters, set before the first write and kept for good).
AUDIT_SECRET_ENV = "IOPCORE_AUDIT_SECRET"
#: Entries whose chain is checked when a store opens (all of them with verify_audit()).
OPEN_CHECK_TAIL = 100

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
    #: A person read a participant's data (42 CFR Part 2: access is logged); the entry's
    #: kind is ``WHAT/PURPOSE`` (e.g. ``timeline/treatment``), its key the participant.
    READ = "read"


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


class AuditIntegrityWarning(UserWarning):
    """A store's audit log was altered: its hash chain is broken or its guards are gone."""


@frozen(kw_only=True)
class AuditVerification:
    """What :meth:`Store.verify_audit` found. ``ok`` when nothing was altered."""

    url: str
    entries: int
    #: Entries written before the store had a hash chain (schema version < 3).
    unchained: int = 0
    #: Missing sequence numbers across which the chain is intact: transactions that were
    #: rolled back (PostgreSQL consumes sequence numbers even then), not deletions.
    gaps: tuple[tuple[int, int], ...] = ()
    #: The first entry whose digest does not follow from its predecessor, and why.
    broken_at: int | None = None
    problem: str = ""
    #: Problems with the backend's guards (e.g. a dropped append-only trigger).
    guards: tuple[str, ...] = ()
    #: False when the backend keeps no hash chain (a third-party backend without one).
    chained: bool = True
    #: Entries issued after the last one found: the newest entries were deleted (known only
    #: where the backend counts issued entries in the same transaction, as SQLite does).
    missing_newest: int = 0

    @property
    def ok(self) -> bool:
        return (
            self.broken_at is None and not self.guards and self.chained and not self.missing_newest
        )

    def summary(self) -> str:
        """One line for people (no clinical content: sequence numbers and counts only)."""
        if not self.chained:
            return f"{self.url}: this backend keeps no audit hash chain; nothing to verify"
        parts = []
        if self.broken_at is not None:
            parts.append(f"chain broken at entry {self.broken_at}: {self.problem}")
        if self.missing_newest:
            were = "entry was" if self.missing_newest == 1 else "entries were"
            parts.append(
                f"the newest {self.missing_newest} {were} deleted (more were issued than are left)"
            )
        parts += self.guards
        if not parts:
            parts.append("chain intact (who, what, when; record contents are not covered)")
        if self.gaps:
            missing = sum(b - a + 1 for a, b in self.gaps)
            parts.append(
                f"{missing} sequence number(s) unused by rolled-back transactions (chain "
                "intact across them, so nothing was deleted)"
            )
        if self.unchained:
            parts.append(f"{self.unchained} entries from before the chain (schema < 3)")
        return f"{self.url}: audit log of {self.entries} entries: " + "; ".join(parts)


def audit_digest(
    key: bytes, previous: str, at: datetime, actor: str, kind: str, item: str, change: str
) -> str:
    """The hash chaining an audit entry to the ``previous`` entry's digest.

    BLAKE2b (keyed with the store secret when one is configured, so only its holder can
    forge a chain), over the fields NUL-separated (no field may contain NUL).
    """
    text = "\x00".join((previous, at.astimezone(UTC).isoformat(), actor, kind, item, change))
    return hashlib.blake2b(text.encode("utf-8"), key=key, digest_size=16).hexdigest()


ChainRow = tuple[int, datetime, str, str, str, str, "str | None"]


def check_chain(
    rows: Sequence[ChainRow], key: bytes, *, anchored: bool = True
) -> tuple[int, tuple[tuple[int, int], ...], int | None, str]:
    """(unchained, gaps, broken_at, problem) of audit rows in sequence order.

    ``anchored`` when ``rows`` starts at the log's first entry; otherwise the first row is
    taken on trust and the rest are checked against it (the quick check on open).
    """
    unchained = 0
    previous: str | None = "" if anchored else None
    gaps: list[tuple[int, int]] = []
    last_seq: int | None = None
    for seq, at, actor, kind, item, change, digest in rows:
        gap = (last_seq + 1, seq - 1) if last_seq is not None and seq > last_seq + 1 else None
        last_seq = seq
        if digest is None:
            if previous:  # a chained entry came before this one
                return unchained, tuple(gaps), seq, "the entry has no digest"
            unchained += 1
            continue
        if previous is None:
            previous = digest
            continue
        if digest != audit_digest(key, previous, at, actor, kind, item, change):
            if gap is not None:
                problem = f"entries {gap[0]}-{gap[1]} before it were deleted"
            else:
                problem = "the entry, or the one before it, was altered or deleted"
            return unchained, tuple(gaps), seq, problem
        if gap is not None:
            gaps.append(gap)
        previous = digest
    return unchained, tuple(gaps), None, ""


def audit_key(secret: str | bytes | None) -> bytes:
    """The BLAKE2b key for a store secret (empty: an unkeyed chain)."""
    if not secret:
        return b""
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    if len(raw) < 16:
        raise StorageError(
            f"the audit secret ({AUDIT_SECRET_ENV}) must be at least 16 characters, got "
            f"{len(raw)}; use a long random value and keep it for good"
        )
    return hashlib.blake2b(raw, digest_size=64).digest()


@runtime_checkable
class Transaction(Protocol):
    """What a backend offers inside one atomic transaction.

    Optional extension (not part of the protocol, so backends without it still conform):
    ``get_many(kind: str, keys: Sequence[str]) -> dict[str, str]``, the data of those of
    ``keys`` that are stored (missing keys absent), as ``get`` would return them. If a
    transaction has it, :class:`Store` looks a batch up with one call per kind instead of
    one ``get`` per record (one round trip instead of N on a networked database).

    Optional extension for a tamper-evident audit log: ``audit_head() -> tuple[int, str |
    None] | None`` (the last entry's seq and digest), ``audit_chain(after: int) -> list[
    (seq, at, actor, kind, key, change, digest)]``, and ``audit(..., digest=...)`` storing
    the digest :class:`Store` computes (see :func:`audit_digest`); and ``audit_issued() ->
    int | None``, the highest seq ever issued, counted in the same transaction as the entry
    (so that deleting the newest entries shows), if the backend can.
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


_json = records  # the one converter of stored records (iopcore.io.convert)


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
        # -- calendar feeds: token hashes, never tokens --
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
        # -- findings and their reviews (clinic) -----------------------------------------
        _Kind(
            name="finding",
            cls=Finding,
            key=lambda f: f.id,
            owner=lambda f: f.participant_id,
            sort=lambda f: f"{f.as_of.isoformat()}/{f.id}",
            append_only=True,
        ),
        _Kind(
            name="finding-review",
            cls=FindingReview,
            key=lambda r: r.key,
            owner=lambda r: r.participant_id,
            sort=lambda r: r.key,
            append_only=True,
        ),
    )
}


# -- consents and disclosures (42 CFR Part 2): append-only, kept for the accounting ---------
_KINDS.update(
    {
        k.cls: k
        for k in (
            _Kind(
                name="consent",
                cls=Consent,
                key=lambda c: c.id,
                owner=lambda c: c.participant_id,
                sort=lambda c: c.signed_on.isoformat() if c.signed_on else "",
                append_only=True,
            ),
            _Kind(
                name="consent-revocation",
                cls=ConsentRevocation,
                key=lambda r: r.consent_id,
                owner=lambda r: r.participant_id,
                sort=lambda r: r.revoked_on.isoformat(),
                append_only=True,
            ),
            _Kind(
                name="disclosure",
                cls=Disclosure,
                key=lambda d: d.id,
                owner=lambda d: d.participant_id,
                sort=lambda d: d.at.astimezone(UTC).isoformat(),
                append_only=True,
            ),
        )
    }
)

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
                f"{' or None' if optional else ''}, got {type(value).__name__}"
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
        self,
        backend: Backend,
        *,
        actor: str = "iopcore",
        events: EventSink | None = None,
        audit_secret: str | bytes | None = None,
    ) -> None:
        """``audit_secret`` keys the audit hash chain (default: ``$IOPCORE_AUDIT_SECRET``).

        Opening a backend that has ``integrity_problems()`` (its guards: the built-in SQLite
        and PostgreSQL backends) checks them and the last entries of the chain, and warns
        (:class:`AuditIntegrityWarning`) if they were altered.
        """
        if not actor or len(actor) > 200 or not actor.isprintable():
            raise StorageError(
                "actor must be 1-200 printable characters naming the calling application "
                f"or user (it goes in the audit log); got {len(actor)} characters"
            )
        self._backend = backend
        self.actor = actor
        self._events = events
        if audit_secret is None:
            audit_secret = os.environ.get(AUDIT_SECRET_ENV) or None
        self._audit_key = audit_key(audit_secret)
        if hasattr(backend, "integrity_problems"):  # a backend with guards and a chain
            self._check_on_open()

    def _check_on_open(self) -> None:
        found = self.verify_audit(tail=OPEN_CHECK_TAIL)
        if found.chained and not found.ok:
            warnings.warn(
                f"{found.summary()}; run 'iopcore audit verify --store URL' for the whole log",
                AuditIntegrityWarning,
                stacklevel=3,
            )

    def __repr__(self) -> str:
        return f"Store({self.url!r}, actor={self.actor!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._backend.close()

    @property
    def url(self) -> str:
        """The store's URL with any password masked (safe for messages and logs)."""
        return mask_url(self._backend.url)

    @property
    def schema_version(self) -> int:
        return self._backend.schema_version()

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
        key_ = self._audit_key
        with self._backend.transaction() as tx:
            # Taken under the write lock, so audit times follow audit sequence numbers.
            now = datetime.now(UTC)
            if check is not None:
                check(tx)
            known = _prefetch(tx, prepared)
            get, put, audit = tx.get, tx.put, tx.audit
            head = _audit_head(tx)
            if head is not None:  # chained: inline audit_digest, for the hot loop
                stamp = "\x00" + now.isoformat() + "\x00" + actor + "\x00"
                blake2b = hashlib.blake2b
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
                if head is None:
                    audit(now, actor, name, key, change)
                else:
                    text = head + stamp + name + "\x00" + key + "\x00" + change
                    head = blake2b(text.encode(), key=key_, digest_size=16).hexdigest()
                    audit(now, actor, name, key, change, digest=head)  # type: ignore[call-arg]
        return WriteSummary(inserted=inserted, updated=updated, unchanged=unchanged)

    def _get(self, cls: type[R], key: str) -> R:
        kind = _KINDS[cls]
        check_text(key, where=f"the {kind.name} id to look up", max_length=MAX_ID, empty=False)
        with self._backend.transaction(write=False) as tx:
            data = tx.get(kind.name, key)
        if data is None:
            raise StorageError(f"no {kind.name} {key!r} in {self.url}")
        return cast(R, _decode(kind, data))

    def _select(self, cls: type[R], owner: str | None = None) -> tuple[R, ...]:
        kind = _KINDS[cls]
        if owner is not None:
            check_text(owner, where=f"the id to look {kind.name} up by", max_length=MAX_ID)
        with self._backend.transaction(write=False) as tx:
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

    # -- consents and disclosures (42 CFR Part 2) ----------------------------------------

    def record_consent(self, consent: Consent) -> WriteSummary:
        """Keep a signed consent as written (append-only: a changed form is a new consent)."""
        return self._write([consent], _participant_exists("consent", consent.participant_id))

    def consents(self, participant_id: str) -> tuple[Consent, ...]:
        return self._select(Consent, participant_id)

    def revoke_consent(self, revocation: ConsentRevocation) -> WriteSummary:
        """Keep a written revocation (append-only; the consent itself stays as it was)."""

        def consent_of_participant(tx: Transaction) -> None:
            data = tx.get("consent", revocation.consent_id)
            if data is None or _decode(_KINDS[Consent], data).participant_id != (
                revocation.participant_id
            ):
                raise StorageError(
                    f"revocation of consent {revocation.consent_id!r}: no such consent of "
                    f"participant {revocation.participant_id!r}; record_consent first"
                )

        return self._write([revocation], consent_of_participant)

    def revocations(self, participant_id: str) -> tuple[ConsentRevocation, ...]:
        return self._select(ConsentRevocation, participant_id)

    def record_disclosure(self, disclosure: Disclosure) -> WriteSummary:
        """Add a disclosure to the accounting (append-only), audited as an export."""
        check = _participant_exists("disclosure", disclosure.participant_id)
        summary = self._write([disclosure], check)
        self.record_export(disclosure.what, disclosure.participant_id)
        return summary

    def disclosures(self, participant_id: str) -> tuple[Disclosure, ...]:
        return self._select(Disclosure, participant_id)

    # -- findings and their reviews (clinic) ---------------------------------------------

    def record_findings(self, findings: Iterable[Finding]) -> WriteSummary:
        """Keep raised findings (append-only: a finding is kept as first raised), so they
        stay until reviewed instead of expiring with the rule's window."""
        return self._write(list(findings))

    def finding(self, finding_id: str) -> Finding:
        return self._get(Finding, finding_id)

    def findings(self, participant_id: str) -> tuple[Finding, ...]:
        return self._select(Finding, participant_id)

    def record_finding_review(self, review: FindingReview) -> WriteSummary:
        """Append a review (acknowledged or resolved) of a stored finding."""

        def finding_exists(tx: Transaction) -> None:
            if tx.get("finding", review.finding_id) is None:
                raise StorageError(
                    f"no finding {review.finding_id!r} in {self.url}; list findings first"
                )

        return self._write([review], finding_exists)

    def finding_reviews(self, participant_id: str) -> tuple[FindingReview, ...]:
        return self._select(FindingReview, participant_id)

    # -- calendar feeds ---------------------------------------------

    def save_feed_token(self, token: FeedToken) -> WriteSummary:
        """Store a feed token's record (its hash); revoking rewrites it, audited."""
        return self._write([token])

    def feed_token(self, digest: str) -> FeedToken | None:
        """The token record with this hash, or None (one indexed look-up by hash)."""
        kind = _KINDS[FeedToken]
        with self._backend.transaction(write=False) as tx:
            data = tx.get(kind.name, digest)
        return None if data is None else cast(FeedToken, _decode(kind, data))

    def feed_tokens(self, participant_id: str) -> tuple[FeedToken, ...]:
        return self._select(FeedToken, participant_id)

    # -- audit -------------------------------------------------------------------------

    def record_export(self, what: str, key: str) -> None:
        """Audit that something left the store (e.g. a calendar export of a participant)."""
        for name, value in (("what", what), ("key", key)):
            check_text(value, where=f"record_export {name}", max_length=MAX_ID, empty=False)
        self._audit_only([(what, key, AuditChange.EXPORT)])
        self._emit("export_made", what=what, key=key, store_url=self.url)

    def _audit_only(self, entries: list[tuple[str, str, AuditChange]]) -> None:
        """Audit entries with no record written (exports, reads), chained like any other."""
        with self._backend.transaction() as tx:
            now = datetime.now(UTC)
            head = _audit_head(tx)
            for what, key, change in entries:
                if head is None:
                    tx.audit(now, self.actor, what, key, change.value)
                else:
                    head = audit_digest(
                        self._audit_key, head, now, self.actor, what, key, change.value
                    )
                    tx.audit(now, self.actor, what, key, change.value, digest=head)  # type: ignore[call-arg]

    def verify_audit(self, *, tail: int | None = None) -> AuditVerification:
        """Check the audit hash chain (the last ``tail`` entries, or all) and the backend's
        guards (``integrity_problems()`` if it has it, e.g. append-only triggers)."""
        guards = tuple(getattr(self._backend, "integrity_problems", list)())
        with self._backend.transaction(write=False) as tx:
            head_of = getattr(tx, "audit_head", None)
            chain_of = getattr(tx, "audit_chain", None)
            if head_of is None or chain_of is None:
                return AuditVerification(url=self.url, entries=0, guards=guards, chained=False)
            head = head_of()
            after = 0 if tail is None or head is None else max(0, head[0] - tail - 1)
            rows = chain_of(after)
            issued_of = getattr(tx, "audit_issued", None)
            issued = issued_of() if issued_of is not None else None
        newest = head[0] if head is not None else 0
        unchained, gaps, broken_at, problem = check_chain(
            rows, self._audit_key, anchored=after == 0
        )
        return AuditVerification(
            url=self.url,
            entries=len(rows),
            unchained=unchained,
            gaps=gaps,
            broken_at=broken_at,
            problem=problem,
            guards=guards,
            missing_newest=max(0, issued - newest) if issued is not None else 0,
        )

    def record_reads(self, what: str, participant_ids: Iterable[str], *, purpose: str) -> None:
        """Audit that the store's actor read participants' data (``what``: findings, plan,
        timeline, ...) for ``purpose`` (e.g. treatment): who, why, when; never the data."""
        for name, value in (("what", what), ("purpose", purpose)):
            if (
                not value
                or len(value) > 60
                or not value.replace("-", "").replace("_", "").isalnum()
            ):
                raise StorageError(
                    f"{name} {value!r} must be a short word of letters, digits, '-' or '_' "
                    "(e.g. 'treatment'); it is written to the audit log"
                )
        ids = list(dict.fromkeys(participant_ids))
        for pid in ids:
            check_text(pid, where="record_reads participant id", max_length=MAX_ID, empty=False)
        if ids:
            self._audit_only([(f"{what}/{purpose}", pid, AuditChange.READ) for pid in ids])

    def audit_log(self, after: int = 0) -> tuple[AuditEntry, ...]:
        with self._backend.transaction(write=False) as tx:
            rows = tx.audit_log(after)
        return tuple(
            AuditEntry(seq=s, at=at, actor=a, kind=k, key=key, change=c)
            for s, at, a, k, key, c in rows
        )


def _audit_head(tx: Transaction) -> str | None:
    """The digest to chain the next entry to ("" for the first), or None if unchained."""
    head_of = getattr(tx, "audit_head", None)
    if head_of is None:
        return None
    head = head_of()
    return "" if head is None or head[1] is None else str(head[1])


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


def _participant_exists(what: str, participant_id: str) -> Callable[[Transaction], None]:
    def check(tx: Transaction) -> None:
        if tx.get("participant", participant_id) is None:
            raise StorageError(
                f"{what}: no participant {participant_id!r} in this store; add_participant first"
            )

    return check


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
    except Exception as exc:  # the message names the error, not the (clinical) data
        raise StorageError(
            f"a stored {kind.name} cannot be read ({type(exc).__name__}); the store may be "
            "corrupt or written by an incompatible version"
        ) from None
