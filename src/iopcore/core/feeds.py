"""Subscription feed tokens: what a clinic keeps about a participant's calendar link.

A feed URL is a bearer secret (anyone holding it reads the calendar), so the store keeps
only a hash of the token: a leaked database does not give working links. Pure values; the
tokens themselves are made and checked in :mod:`iopcore.clinic.feeds`.
"""

from __future__ import annotations

from datetime import datetime

import attrs
from attrs import frozen

from iopcore.core.records import record_id


@frozen(kw_only=True)
class FeedToken:
    """One participant's link for one purpose: the token's hash, never the token."""

    #: The SHA-256 of the token (hex): how a request finds it.
    digest: str = attrs.field(repr=False)
    #: A short public id for audit lines (not secret, not the token).
    id: str
    participant_id: str = attrs.field(validator=record_id)
    purpose: str = attrs.field(validator=record_id)
    issued_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None
