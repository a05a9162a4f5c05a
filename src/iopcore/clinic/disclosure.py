"""The one gate for data leaving the process to someone other than the participant.

Every export that identifies a participant (a FHIR bundle, TEDS records, a detailed calendar
for a third party) calls :func:`disclose`. It checks the consent that allows the disclosure
(42 CFR 2.31), hands the renderer the redisclosure notice to stamp where the format carries
text (2.32), records the disclosure in the accounting (2.24) and only then sends the bytes.
Refused, it raises :class:`~iopcore.ConsentError` naming the missing element and nothing is
rendered, recorded or written.

Consent is judged on the day the disclosure is made (the date of ``now``, the clock by
default), never on a day the caller picks: what a bundle or calendar *contains* may be as of
another day, but a consent signed later, or revoked or expired since, decides today.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import attrs
from attrs import frozen

from iopcore.core.consent import (
    REDISCLOSURE_NOTICE,
    Basis,
    Category,
    Consent,
    ConsentDecision,
    ConsentError,
    Disclosure,
    ExpiryEvent,
    Purpose,
    Recipient,
    RecipientKind,
    accounting,
    consent_decision,
)
from iopcore.core.enrollment import TransitionKind
from iopcore.core.errors import IopcoreError, StorageError
from iopcore.io.output import OutputError, Recognizer, StagedOutput, check_output, stage_output
from iopcore.io.storage import Store
from iopcore.plugins import PluginHost, default_host


def _discharges(store: Store, participant_id: str) -> tuple[date, ...]:
    return tuple(
        h.effective
        for e in store.enrollments(participant_id)
        for h in store.history(e.id)
        if h.kind is TransitionKind.DISCHARGE
    )


def consent_for(
    store: Store,
    participant_id: str,
    recipient: Recipient,
    purpose: Purpose | str,
    *,
    on: date,
    categories: Iterable[Category | str] = (),
) -> ConsentDecision:
    """Whether the participant's stored consents allow disclosing ``categories`` to
    ``recipient`` for ``purpose`` on ``on``, and if not which element is missing, expired or
    revoked. Revocations and discharges (for consents that end upon discharge) are read from
    the store."""
    store.participant(participant_id)  # a StorageError naming the store if unknown
    return consent_decision(
        store.consents(participant_id),
        recipient,
        purpose,
        categories,
        on=on,
        revocations=store.revocations(participant_id),
        events={ExpiryEvent.DISCHARGE: _discharges(store, participant_id)},
    )


@frozen(kw_only=True)
class Release:
    """What a renderer may put in a disclosure of one participant's records."""

    participant_id: str
    recipient: Recipient
    purpose: Purpose
    categories: tuple[Category, ...]
    #: The consent relied on (None for a disclosure to the patient or one the law requires).
    consent: Consent | None
    #: The 42 CFR 2.32 notice to stamp where the format carries text (None to the patient).
    notice: str | None

    @property
    def identified(self) -> bool:
        """Whether the recipient may receive who the participant is (else a pseudonym)."""
        return self.recipient.kind is RecipientKind.PATIENT or Category.IDENTITY in self.categories


def _refusal(refused: dict[str, ConsentDecision], recipient: Recipient, purpose: Purpose) -> str:
    lines = [f"{pid}: {d.explain()}" for pid, d in refused.items()]
    shown = "; ".join(lines[:5]) + (f"; and {len(lines) - 5} more" if len(lines) > 5 else "")
    return (
        f"disclosure to {recipient.id!r} ({recipient.kind}) for {purpose} refused, nothing "
        f"was written: {shown}. Record a consent that covers it (42 CFR 2.31), or narrow "
        "the information disclosed"
    )


def _never(head: bytes) -> bool:
    return False


@frozen(kw_only=True)
class FileOutput:
    """A ``send`` for :func:`disclose` that writes a file the one way iopcore writes files
    (:mod:`iopcore.io.output`): never onto what the command ``reads`` (the store's files),
    never over an existing file that is not a ``kind`` unless ``force``, 0600, atomically.
    :func:`disclose` stages the bytes in a temporary file before it records the disclosure
    and renames it into place after, so a write that fails leaves no record behind."""

    path: Path
    kind: str = "disclosure"
    recognize: Recognizer = attrs.field(default=_never, repr=False)
    reads: tuple[Path, ...] = ()
    force: bool = False

    def check(self) -> Path:
        """Refuse the path now (an OutputError), before any work is done or recorded."""
        return check_output(
            self.path, kind=self.kind, recognize=self.recognize, reads=self.reads, force=self.force
        )

    def stage(self, data: bytes) -> StagedOutput:
        return stage_output(
            self.path,
            data,
            kind=self.kind,
            recognize=self.recognize,
            reads=self.reads,
            force=self.force,
        )

    def __call__(self, data: bytes) -> None:
        self.stage(data).commit()


#: Where :func:`disclose` sends the bytes: a file, or any callable (run after recording).
Send = FileOutput | Callable[[bytes], None]


def disclose(
    store: Store,
    participant_ids: Sequence[str],
    *,
    recipient: Recipient,
    purpose: Purpose | str,
    categories: Iterable[Category | str],
    what: str,
    render: Callable[[tuple[Release, ...]], bytes],
    send: Send,
    now: datetime | None = None,
    consent_required: bool = True,
) -> tuple[Disclosure, ...]:
    """Disclose the records of ``participant_ids``: check consent, render with the notice,
    record each disclosure in the accounting, then ``send`` the rendered bytes.

    ``now`` is when the disclosure is made (default: the clock): consent is judged on its
    date at the clinic (:func:`clinic_day`) and it is the time the accounting records. A
    :class:`FileOutput` is written to a temporary file first, so a failed write records
    nothing; a rename that fails after recording says so. ``consent_required=False`` is for
    a report the law requires without consent (a state's TEDS rule, say); it is still
    recorded, with basis ``no-consent-required``.
    """
    purpose = Purpose(purpose)
    wanted = tuple(dict.fromkeys(Category(c) for c in categories))
    now = now or datetime.now(UTC)
    if not participant_ids:
        raise StorageError(f"nothing to disclose to {recipient.id!r}: no participants given")
    to_patient = recipient.kind is RecipientKind.PATIENT
    if to_patient and (len(participant_ids) != 1 or participant_ids[0] != recipient.id):
        raise ConsentError(
            "a disclosure to the patient goes to that participant only: the recipient id "
            f"must be the participant's id ({participant_ids[0]!r}), with one participant",
            {},
        )
    releases: list[Release] = []
    refused: dict[str, ConsentDecision] = {}
    for pid in dict.fromkeys(participant_ids):
        if consent_required or to_patient:
            on = clinic_day(store, pid, now)
            decision = consent_for(store, pid, recipient, purpose, on=on, categories=wanted)
        else:
            store.participant(pid)
            decision = ConsentDecision(allowed=True)
        if not decision.allowed:
            refused[pid] = decision
            continue
        releases.append(
            Release(
                participant_id=pid,
                recipient=recipient,
                purpose=purpose,
                categories=wanted,
                consent=decision.consent,
                notice=None if to_patient else REDISCLOSURE_NOTICE,
            )
        )
    if refused:
        raise ConsentError(_refusal(refused, recipient, purpose), refused)
    data = render(tuple(releases))
    basis = Basis.PATIENT if to_patient else Basis.CONSENT
    if not consent_required and not to_patient:
        basis = Basis.NO_CONSENT_REQUIRED
    records = tuple(
        Disclosure(
            id=f"DS-{uuid.uuid4().hex}",
            participant_id=r.participant_id,
            recipient=recipient,
            purpose=purpose,
            categories=wanted,
            basis=basis,
            consent_id=r.consent.id if r.consent is not None else None,
            what=what,
            at=now,
            actor=store.actor,
            notice=r.notice is not None,
        )
        for r in releases
    )
    staged = send.stage(data) if isinstance(send, FileOutput) else None
    try:
        for record in records:
            store.record_disclosure(record)
    except BaseException:
        if staged is not None:
            staged.discard()
        raise
    try:
        if staged is not None:
            staged.commit()
        else:
            send(data)
    except (OSError, OutputError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        shown = records[0].id + (f" and {len(records) - 1} more" if len(records) > 1 else "")
        raise OutputError(
            f"{reason}. The disclosure was recorded in the accounting ({shown}) but NOT "
            "sent: tell the records office, then send it again"
        ) from None
    return records


def to_file(
    path: Path,
    *,
    kind: str = "disclosure",
    recognize: Recognizer = _never,
    reads: Iterable[Path] = (),
    force: bool = False,
) -> FileOutput:
    """A ``send`` for :func:`disclose` that writes ``path`` (see :class:`FileOutput`)."""
    return FileOutput(path=path, kind=kind, recognize=recognize, reads=tuple(reads), force=force)


def clinic_day(store: Store, participant_id: str, now: datetime) -> date:
    """The date of ``now`` where the participant is treated: in the time zone of the track
    of their latest enrollment (the machine's zone if they were never enrolled), so that a
    consent that ends on a day ends on that day at the clinic, wherever the server runs."""
    enrollments = sorted(store.enrollments(participant_id), key=lambda e: (e.start, e.id))
    if enrollments:
        last = enrollments[-1]
        try:
            zone = store.program(last.program).track(last.track).tz
        except IopcoreError:  # a program no longer stored: the machine's day
            return now.astimezone().date()
        return now.astimezone(zone).date()
    return now.astimezone().date()


def disclosures_for(store: Store, participant_id: str, *, on: date) -> tuple[Disclosure, ...]:
    """The participant's accounting of disclosures: the past 3 years up to ``on`` (2.24)."""
    store.participant(participant_id)
    return accounting(store.disclosures(participant_id), on=on)


def _stamp_calendar(data: bytes, notice: str) -> bytes:
    """Put the 2.32 notice in an iCalendar file as the calendar's DESCRIPTION (RFC 7986)
    and X-WR-CALDESC, right after BEGIN:VCALENDAR's own properties begin."""
    from iopcore_plugins.ics import escape, fold

    head = b"BEGIN:VCALENDAR\r\n"
    if not data.startswith(head):
        raise StorageError(
            "the calendar exporter did not write an iCalendar file, so the redisclosure "
            "notice cannot be stamped on it; share calendars with the ics exporter"
        )
    text = escape(notice)
    lines = [fold(f"DESCRIPTION:{text}"), fold(f"X-WR-CALDESC:{text}")]
    return head + "".join(f"{line}\r\n" for line in lines).encode() + data[len(head) :]


def share_calendar(
    store: Store,
    participant_id: str,
    *,
    recipient: Recipient,
    purpose: Purpose | str,
    send: Send,
    as_of: date,
    detail: bool = False,
    host: PluginHost | None = None,
    now: datetime | None = None,
    **options: Any,
) -> Disclosure:
    """A participant's calendar for someone else (a family member, a court, another
    provider), through the gate: the consent must cover identity and enrollment, and the
    treatment plan too with ``detail`` (session types and topics), on the day it is shared
    (``now``); ``as_of`` only picks the sessions. The file carries the 2.32 notice as the
    calendar's description. The participant's own calendar needs none of this:
    use :func:`~iopcore.clinic.export_calendar`."""
    from iopcore.clinic.services import participant_sessions

    host = host or default_host()
    categories = [Category.IDENTITY, Category.ENROLLMENT]
    if detail:
        categories.append(Category.TREATMENT_PLAN)

    def render(releases: tuple[Release, ...]) -> bytes:
        (release,) = releases
        sessions = participant_sessions(store, participant_id, as_of=as_of)
        if not sessions:
            raise StorageError(
                f"participant {participant_id!r} has no sessions in {store.url}; enroll them first"
            )
        programs = {store.program(e.program) for e in store.enrollments(participant_id)}
        options.setdefault("programs", tuple(sorted(programs, key=lambda p: p.name)))
        data = host.calendar_exporter("ics").export(sessions, detail=detail, **options)
        return data if release.notice is None else _stamp_calendar(data, release.notice)

    (record,) = disclose(
        store,
        [participant_id],
        recipient=recipient,
        purpose=purpose,
        categories=categories,
        what="calendar",
        render=render,
        send=send,
        now=now,
    )
    return record
