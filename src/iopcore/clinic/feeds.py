"""Calendar subscription feeds: revocable links to a participant's current calendar.

A token is 128 random bits (``secrets.token_urlsafe(16)``); the store keeps its SHA-256
only, so a request is found by one indexed look-up of the hash, whose time does not depend
on how much of a guess is right. One active token per participant and purpose; issuing
again rotates. Issue and revoke are audited by the store's writes, every fetch by
:func:`feed_calendar` (the token's public id and the time, no data).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, date, datetime
from typing import Any

import attrs

from iopcore.clinic.services import export_calendar
from iopcore.core.errors import StorageError
from iopcore.core.feeds import FeedToken
from iopcore.io.storage import Store
from iopcore.plugins import PluginHost

#: How often calendar apps are asked to refresh (REFRESH-INTERVAL / X-PUBLISHED-TTL).
REFRESH_HOURS = 6
DEFAULT_PURPOSE = "calendar"


def digest(token: str) -> str:
    """The SHA-256 (hex) under which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def _revoke_all(store: Store, participant_id: str, purpose: str, now: datetime) -> int:
    active = [t for t in store.feed_tokens(participant_id) if t.purpose == purpose and t.active]
    for t in active:
        store.save_feed_token(attrs.evolve(t, revoked_at=now))
    return len(active)


def issue_feed_token(store: Store, participant_id: str, *, purpose: str = DEFAULT_PURPOSE) -> str:
    """A new feed token for the participant (any earlier one for ``purpose`` is revoked).

    Returned once: only its hash is kept, so a lost token is rotated, not recovered.
    """
    store.participant(participant_id)  # a StorageError naming the store if unknown
    now = datetime.now(UTC)
    _revoke_all(store, participant_id, purpose, now)
    token = secrets.token_urlsafe(16)
    record = FeedToken(
        digest=digest(token),
        id=secrets.token_hex(4),
        participant_id=participant_id,
        purpose=purpose,
        issued_at=now,
    )
    store.save_feed_token(record)
    return token


def revoke_feed_token(store: Store, participant_id: str, *, purpose: str = DEFAULT_PURPOSE) -> int:
    """Revoke the participant's active token(s) for ``purpose``; how many were active."""
    store.participant(participant_id)
    return _revoke_all(store, participant_id, purpose, datetime.now(UTC))


def rotate_feed_token(store: Store, participant_id: str, *, purpose: str = DEFAULT_PURPOSE) -> str:
    """Revoke the current token and issue a new one (the old link stops working)."""
    return issue_feed_token(store, participant_id, purpose=purpose)


def resolve_feed_token(
    store: Store, token: str, *, cache: FeedCache | None = None
) -> FeedToken | None:
    """The active token record for ``token``, or None (unknown or revoked: the same).

    With a ``cache``, it first catches up with the store's changes, and active tokens are
    remembered until the next change (issuing or revoking one is a change).
    """
    if not 10 <= len(token) <= 64:
        token = ""  # still one look-up, so a malformed token costs what a miss does
    key = digest(token)
    if cache is not None:
        cache.refresh(store)
        known = cache.tokens.get(key)
        if known is not None:
            return known
    record = store.feed_token(key)
    if record is None or not record.active:
        return None
    if cache is not None:
        cache.tokens[key] = record
    return record


def feed_calendar(
    store: Store,
    record: FeedToken,
    *,
    as_of: date | None = None,
    host: PluginHost | None = None,
    cache: FeedCache | None = None,
    **options: Any,
) -> bytes:
    """The participant's current calendar for a feed, with refresh hints; audited (the
    fetch, by token id). With a ``cache``, a calendar is rendered again only after the store
    changed or the day did (pass the cache that :func:`resolve_feed_token` just refreshed)."""
    store.record_export("feed-fetch", record.id)
    day = as_of or datetime.now(UTC).date()
    if cache is not None:
        hit = cache.feeds.get((record.participant_id, day))
        if hit is not None:
            return hit
    data = _render(store, record, day, host, options)
    if cache is not None:
        cache.put(record.participant_id, day, data)
    return data


class FeedCache:
    """Rendered feeds by participant and day, dropped when the store changes.

    The store's audit log is complete (every write is audited in its transaction), so any
    entry since the last look other than a read (an export or a fetch) means the data may
    have changed: the whole cache is dropped. One small read of the newest audit entries
    per request.
    """

    #: Audit kinds that record reads, not changes.
    READS = frozenset({"feed-fetch", "calendar", "calendar-publish"})

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.seen = -1
        self.feeds: dict[tuple[str, date], bytes] = {}
        self.tokens: dict[str, FeedToken] = {}

    def refresh(self, store: Store) -> None:
        """Catch up with the store: drop everything if anything changed since last time."""
        if self.seen < 0:
            log = store.audit_log()
            self.seen = log[-1].seq if log else 0
            self.clear()
            return
        new = store.audit_log(after=self.seen)
        if new:
            self.seen = new[-1].seq
            if any(e.kind not in self.READS or e.change.value != "export" for e in new):
                self.clear()

    def clear(self) -> None:
        self.feeds.clear()
        self.tokens.clear()

    def put(self, participant_id: str, day: date, data: bytes) -> None:
        if len(self.feeds) >= self.limit or len(self.tokens) >= self.limit:
            self.clear()
        self.feeds[participant_id, day] = data


def _render(
    store: Store, record: FeedToken, day: date, host: PluginHost | None, options: Any
) -> bytes:
    try:
        data = export_calendar(store, record.participant_id, as_of=day, host=host, **options)
    except StorageError:
        data = (
            b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Appointments//Calendar//EN\r\n"
            b"END:VCALENDAR\r\n"
        )
    hints = (
        f"REFRESH-INTERVAL;VALUE=DURATION:PT{REFRESH_HOURS}H\r\n"
        f"X-PUBLISHED-TTL:PT{REFRESH_HOURS}H\r\n"
    ).encode()
    head, sep, rest = data.partition(b"CALSCALE:GREGORIAN\r\n")
    if not sep:
        head, sep, rest = data.partition(b"VERSION:2.0\r\n")
    return head + sep + hints + rest
