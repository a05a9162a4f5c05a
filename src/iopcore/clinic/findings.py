"""Findings a clinician reviews: raised by the rules, kept in the store, and open until a
person resolves them or newer evidence does by a documented rule
(:func:`~iopcore.core.accountability.resolved_by_evidence`).

Lifecycle: open -> acknowledged -> resolved. Findings and reviews are append-only records,
audited like every write; a review's note stays out of reprs and logs.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime

from iopcore.clinic.services import records_of
from iopcore.core.accountability import (
    Finding,
    FindingReview,
    FindingStatus,
    ReviewedFinding,
    evaluate,
    next_review,
    resolved_by_evidence,
    reviewed,
)
from iopcore.core.program import Program
from iopcore.io.storage import Store
from iopcore.plugins import PluginHost, default_host

#: What ``iopcore findings`` lists by default: everything not yet resolved.
UNRESOLVED = (FindingStatus.OPEN, FindingStatus.ACKNOWLEDGED)


def review_findings(
    store: Store,
    *,
    as_of: date,
    host: PluginHost | None = None,
    statuses: Collection[FindingStatus | str] = UNRESOLVED,
    participant_id: str | None = None,
    purpose: str | None = "treatment",
) -> tuple[ReviewedFinding, ...]:
    """Every finding (of one participant, or the whole store) with its review status as of
    a date, filtered to ``statuses``.

    The rules run over the census; findings raised for the first time are stored (and
    announced to ``iopcore_finding_raised``), so a finding stays listed until reviewed even
    once the rule's window has passed. Stored findings raised after ``as_of`` are left out.

    Reading them is audited for each participant listed (the store's actor, ``purpose``,
    the time; never the data); ``purpose=None`` for a caller that audits its own read.
    """
    host = host or default_host()
    rules = host.accountability_rules()
    wanted = {FindingStatus(s) for s in statuses}
    people = (
        [store.participant(participant_id)] if participant_id is not None else store.participants()
    )
    out: list[ReviewedFinding] = []
    programs: dict[str, Program] = {}
    for person in people:
        stored = {f.id: f for f in store.findings(person.id)}
        records = records_of(store, person.id, as_of, programs)
        raised = evaluate(records, rules) if records is not None else ()
        new = [f for f in raised if f.id not in stored]
        if new:
            store.record_findings(new)
            for finding in new:
                host.emit("finding_raised", {"finding": finding})
            stored.update((f.id, f) for f in new)
        kept = [f for f in stored.values() if f.as_of <= as_of]
        if not kept:
            continue
        reviews = store.finding_reviews(person.id)
        results = store.screening_results(person.id)
        orders = store.screening_orders(person.id)
        attendance = store.attendance(person.id)
        for finding in kept:
            evidence = resolved_by_evidence(
                finding, results=results, orders=orders, attendance=attendance, as_of=as_of
            )
            item = reviewed(finding, reviews, evidence=evidence, as_of=as_of)
            if item.status in wanted:
                out.append(item)
    order = {"high": 0, "medium": 1, "low": 2}
    if purpose is not None:
        store.record_reads("findings", (r.finding.participant_id for r in out), purpose=purpose)
    out.sort(
        key=lambda r: (
            r.finding.participant_id,
            order[r.finding.concern.value],
            r.finding.rule,
            r.finding.id,
        )
    )
    return tuple(out)


def _review(
    store: Store,
    finding_id: str,
    status: FindingStatus,
    *,
    note: str,
    at: datetime | None,
) -> FindingReview:
    finding: Finding = store.finding(finding_id)
    reviews = [
        r for r in store.finding_reviews(finding.participant_id) if r.finding_id == finding_id
    ]
    review = next_review(
        finding,
        reviews,
        status=status,
        actor=store.actor,
        at=at or datetime.now(UTC),
        note=note,
    )
    store.record_finding_review(review)
    return review


def acknowledge_finding(
    store: Store, finding_id: str, *, note: str = "", at: datetime | None = None
) -> FindingReview:
    """Record that the store's actor has seen a finding and is acting on it."""
    return _review(store, finding_id, FindingStatus.ACKNOWLEDGED, note=note, at=at)


def resolve_finding(
    store: Store, finding_id: str, *, note: str = "", at: datetime | None = None
) -> FindingReview:
    """Record that the store's actor has resolved a finding (it leaves the default list)."""
    return _review(store, finding_id, FindingStatus.RESOLVED, note=note, at=at)
