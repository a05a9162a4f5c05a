"""42 CFR Part 2 consents (2024 final rule): the record, its revocation, and the decision
whether a disclosure is allowed, with the element that is missing when it is not.

A :class:`Consent` holds the elements of 42 CFR 2.31(a): the patient, who may disclose, the
recipients (named, or a general designation such as "my treating providers"), the purpose,
how much and what kind of information (as categories plus the form's own description), the
expiry (a date, an event, or "none" for a single consent for all future treatment, payment
and health care operations), the statement of the right to revoke, and the signature date.
A revocation is a separate, dated record (2.31(a)(5): revocation is in writing and kept), so
the history of consents is append-only.

>>> c = Consent(id="C-1", participant_id="P-1", discloser="iop-clinic",
...             recipient_classes=["treating-provider"], purposes=["treatment"],
...             categories=["attendance"], description="attendance dates",
...             expires_on=date(2028, 1, 1), right_to_revoke_stated=True,
...             signed_on=date(2027, 1, 4))
>>> consent_decision([c], Recipient(id="dr-lee", kind="treating-provider"), "treatment",
...                  ["attendance"], on=date(2027, 3, 1)).allowed
True
>>> d = consent_decision([c], Recipient(id="acme-payer", kind="payer"), "payment",
...                      ["attendance"], on=date(2027, 3, 1))
>>> d.allowed, [p.element.value for p in d.problems]
(False, ['recipient', 'purpose'])
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime

import attrs
from attrs import frozen

from iopcore.core.errors import Choice, IopcoreError, ValidationError
from iopcore.core.records import aware, calendar_date, optional_date, record_id, text

#: 42 CFR 2.32(a)(1): the statement sent with each disclosure made with the patient's consent.
REDISCLOSURE_NOTICE = (
    "This record which has been disclosed to you is protected by federal confidentiality "
    "rules (42 CFR part 2). These rules prohibit you from using or disclosing this record, "
    "or testimony that describes the information contained in this record, in any civil, "
    "criminal, administrative, or legislative proceedings by any Federal, State, or local "
    "authority, against the patient, unless authorized by the consent of the patient, except "
    "as provided at 42 CFR 2.12(c)(5) or as authorized by a court in accordance with 42 CFR "
    "2.64 or 2.65. In addition, the Federal rules prohibit you from making any other use or "
    "disclosure of this record unless at least one of the following applies: further use or "
    "disclosure is expressly permitted by the written consent of the individual whose "
    "information is being disclosed in this record or as otherwise permitted by 42 CFR part "
    "2; you are a covered entity or business associate and have received the record for "
    "treatment, payment, or health care operations; or you have received the record from a "
    "covered entity or business associate as permitted by 45 CFR part 164, subparts A and E. "
    "A general authorization for the release of medical or other information is NOT "
    "sufficient to meet the required elements of written consent to further use or "
    "redisclose the record (see 42 CFR 2.31)."
)

#: 42 CFR 2.24: the accounting covers disclosures made with consent in the past 3 years.
ACCOUNTING_YEARS = 3


class Purpose(Choice):
    """Why information is disclosed. The first three are TPO (treatment, payment, health
    care operations), which a single consent may cover for all future uses (2.31(a)(4))."""

    TREATMENT = "treatment"
    PAYMENT = "payment"
    OPERATIONS = "health-care-operations"
    STATE_REPORTING = "state-reporting"
    RESEARCH = "research"
    OTHER = "other"


#: The purposes a single TPO consent covers.
TPO = frozenset({Purpose.TREATMENT, Purpose.PAYMENT, Purpose.OPERATIONS})


class Category(Choice):
    """A kind of information a consent may release (its "how much and what kind")."""

    #: Who the patient is (an identifier the recipient can link); without it exports are
    #: pseudonymous.
    IDENTITY = "identity"
    #: The fact of treatment: admission, program, level of care and its history.
    ENROLLMENT = "enrollment"
    ATTENDANCE = "attendance"
    TREATMENT_PLAN = "treatment-plan"
    SCREENING_RESULTS = "screening-results"
    ASSESSMENTS = "assessments"
    DIAGNOSES = "diagnoses"
    DISCHARGE = "discharge"


class RecipientKind(Choice):
    """What a recipient is; a consent may name a kind as its general designation
    (``treating-provider`` is "my treating providers")."""

    TREATING_PROVIDER = "treating-provider"
    PAYER = "payer"
    STATE_AGENCY = "state-agency"
    RESEARCHER = "researcher"
    #: The patient themselves: needs no consent (the disclosure is still recorded).
    PATIENT = "patient"
    OTHER = "other"


#: The recipient classes a consent may designate generally instead of naming each recipient
#: (42 CFR 2.31(a)(4)(iii)): "my treating providers" (limited to a treating provider
#: relationship). Every other recipient must be named.
GENERAL_DESIGNATIONS = frozenset({RecipientKind.TREATING_PROVIDER})
#: What a single consent for all future treatment, payment and health care operations may
#: designate generally (2.31(a)(4)(ii), 2024 rule: "my treating providers, health plans,
#: third-party payers, and people helping to operate this program"), for those purposes only.
TPO_DESIGNATIONS = frozenset({RecipientKind.TREATING_PROVIDER, RecipientKind.PAYER})


def designates(consent: Consent, kind: RecipientKind, purpose: Purpose | None = None) -> bool:
    """Whether ``consent`` lawfully designates recipients of ``kind`` as a class (for
    ``purpose``, if given): a class the rule does not allow covers no one, so those
    recipients must be named."""
    if kind not in consent.recipient_classes:
        return False
    if kind in GENERAL_DESIGNATIONS:
        return True
    return consent.tpo and kind in TPO_DESIGNATIONS and (purpose is None or purpose in TPO)


def _undesignatable(consent: Consent) -> list[str]:
    return [k.value for k in consent.recipient_classes if not designates(consent, k)]


_DESIGNATION_RULE = (
    "42 CFR 2.31(a)(4) allows a general designation only for treating providers, and for "
    "payers in a single TPO consent; name the recipient on the consent"
)


class ExpiryEvent(Choice):
    """An event that ends a consent (2.31(a)(6): a date, event or condition)."""

    DISCHARGE = "discharge"


class Element(Choice):
    """A required element of a consent (42 CFR 2.31(a)), or a state that voids it
    (``consent``: none on file; ``revoked``)."""

    CONSENT = "consent"
    PATIENT = "patient"
    DISCLOSER = "discloser"
    RECIPIENT = "recipient"
    PURPOSE = "purpose"
    INFORMATION = "information"
    EXPIRY = "expiry"
    RIGHT_TO_REVOKE = "right-to-revoke"
    SIGNATURE = "signature"
    REVOKED = "revoked"


def _list(values: Iterable[str], what: str) -> list[str]:
    if isinstance(values, str):
        raise ValidationError(f"{what} must be a list, got one string {values!r}")
    return list(values)


def _kinds(values: Iterable[str]) -> tuple[RecipientKind, ...]:
    return tuple(dict.fromkeys(RecipientKind(v) for v in _list(values, "recipient_classes")))


def _purposes(values: Iterable[str]) -> tuple[Purpose, ...]:
    return tuple(dict.fromkeys(Purpose(v) for v in _list(values, "purposes")))


def _categories(values: Iterable[str]) -> tuple[Category, ...]:
    return tuple(dict.fromkeys(Category(v) for v in _list(values, "categories")))


def _ids(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise ValidationError("recipients must be a list of ids, got one string")
    out = tuple(dict.fromkeys(values))
    for value in out:
        if not isinstance(value, str) or not value or value != value.strip() or len(value) > 200:
            raise ValidationError(f"recipient {value!r} must be a non-empty id (1-200 chars)")
    return out


@frozen(kw_only=True)
class Consent:
    """A signed Part 2 consent as the form says; missing elements are allowed here (a form
    is recorded as signed) and reported by :func:`missing_elements`, which refuses it.

    Only ids and dates appear in the repr; the description of the information stays out.
    """

    id: str = attrs.field(validator=record_id)
    participant_id: str = attrs.field(validator=record_id)
    #: The program (or person) permitted to disclose: 2.31(a)(2).
    discloser: str = attrs.field(validator=text, repr=False)
    #: Named recipients (organisation or person ids): 2.31(a)(3).
    recipients: tuple[str, ...] = attrs.field(default=(), converter=_ids, repr=False)
    #: General designations, e.g. ``treating-provider`` for "my treating providers".
    recipient_classes: tuple[RecipientKind, ...] = attrs.field(
        default=(), converter=_kinds, repr=False
    )
    purposes: tuple[Purpose, ...] = attrs.field(default=(), converter=_purposes, repr=False)
    categories: tuple[Category, ...] = attrs.field(default=(), converter=_categories, repr=False)
    #: The form's explicit description of how much and what kind of information.
    description: str = attrs.field(default="", validator=text, repr=False)
    #: A single consent for all future uses for treatment, payment and operations.
    tpo: bool = False
    expires_on: date | None = attrs.field(default=None, validator=optional_date)
    expires_upon: ExpiryEvent | None = attrs.field(
        default=None, converter=attrs.converters.optional(ExpiryEvent)
    )
    #: "None" as the expiry: allowed for a single TPO consent only (2.31(a)(6)).
    no_expiry: bool = False
    right_to_revoke_stated: bool = False
    signed_on: date | None = attrs.field(default=None, validator=optional_date)
    recorded_at: datetime | None = attrs.field(default=None, validator=aware)

    def __attrs_post_init__(self) -> None:
        if self.expires_on is not None and self.signed_on and self.expires_on < self.signed_on:
            raise ValidationError(
                f"consent {self.id}: expires_on {self.expires_on} is before signed_on "
                f"{self.signed_on}; check the dates on the form"
            )

    @property
    def covered_purposes(self) -> frozenset[Purpose]:
        """The purposes it names, plus treatment, payment and operations if it is TPO."""
        return frozenset(self.purposes) | (TPO if self.tpo else frozenset())


@frozen(kw_only=True)
class ConsentRevocation:
    """The patient's written revocation of a consent, from ``revoked_on`` (2.31(a)(5))."""

    consent_id: str = attrs.field(validator=record_id)
    participant_id: str = attrs.field(validator=record_id)
    revoked_on: date = attrs.field(validator=calendar_date)
    recorded_at: datetime | None = attrs.field(default=None, validator=aware)


@frozen(kw_only=True)
class Recipient:
    """Who would receive a disclosure: an id and what kind of recipient they are."""

    id: str = attrs.field(validator=record_id)
    #: ``other`` (the default) is matched only by a consent that names ``id``.
    kind: RecipientKind = attrs.field(default=RecipientKind.OTHER, converter=RecipientKind)


@frozen(kw_only=True)
class Problem:
    """Why one consent does not allow a disclosure: the element and a sentence (no PHI)."""

    consent_id: str | None
    element: Element = attrs.field(converter=Element)
    detail: str


@frozen(kw_only=True)
class ConsentDecision:
    """Whether a disclosure is allowed; the consent that allows it, or every problem."""

    allowed: bool
    #: The consent relied on (None when refused, or for a disclosure to the patient).
    consent: Consent | None = attrs.field(default=None, repr=False)
    problems: tuple[Problem, ...] = ()

    @property
    def consent_id(self) -> str | None:
        return None if self.consent is None else self.consent.id

    def explain(self) -> str:
        """One line saying why not (or which consent allows it)."""
        if self.allowed:
            return f"allowed by consent {self.consent_id}" if self.consent else "allowed"
        return "; ".join(
            (f"consent {p.consent_id}: " if p.consent_id else "") + f"{p.element}: {p.detail}"
            for p in self.problems
        )


def missing_elements(consent: Consent) -> tuple[Problem, ...]:
    """The required elements of 42 CFR 2.31(a) the consent lacks, whatever the request."""
    out: list[tuple[Element, str]] = []
    if not consent.discloser.strip():
        out.append((Element.DISCLOSER, "names no one permitted to disclose"))
    if not consent.recipients and not consent.recipient_classes:
        out.append((Element.RECIPIENT, "names no recipient and no class of recipients"))
    elif not consent.recipients and not any(designates(consent, k) for k in RecipientKind):
        out.append(
            (
                Element.RECIPIENT,
                "names no recipient, and its class of recipients ("
                + ", ".join(_undesignatable(consent))
                + f") cannot stand for named ones: {_DESIGNATION_RULE}",
            )
        )
    if not consent.covered_purposes:
        out.append((Element.PURPOSE, "states no purpose"))
    if not consent.categories:
        out.append((Element.INFORMATION, "describes no kind of information"))
    if consent.expires_on is None and consent.expires_upon is None:
        if not consent.no_expiry:
            out.append((Element.EXPIRY, "has no expiry date, event or condition"))
        elif not consent.tpo:
            out.append(
                (Element.EXPIRY, "'none' as the expiry is allowed only for a single TPO consent")
            )
    if not consent.right_to_revoke_stated:
        out.append((Element.RIGHT_TO_REVOKE, "does not state the right to revoke"))
    if consent.signed_on is None:
        out.append((Element.SIGNATURE, "is not signed and dated"))
    return tuple(Problem(consent_id=consent.id, element=e, detail=d) for e, d in out)


def _problems(
    consent: Consent,
    revocations: Sequence[ConsentRevocation],
    recipient: Recipient,
    purpose: Purpose,
    categories: frozenset[Category],
    on: date,
    events: Mapping[ExpiryEvent, Sequence[date]],
) -> tuple[Problem, ...]:
    found = list(missing_elements(consent))

    def add(element: Element, detail: str) -> None:
        found.append(Problem(consent_id=consent.id, element=element, detail=detail))

    if consent.signed_on is not None and on < consent.signed_on:
        add(Element.SIGNATURE, f"signed on {consent.signed_on}, after {on}")
    revoked = [r.revoked_on for r in revocations if r.consent_id == consent.id]
    if revoked and min(revoked) <= on:
        add(Element.REVOKED, f"revoked on {min(revoked)}")
    if consent.expires_on is not None and on > consent.expires_on:
        add(Element.EXPIRY, f"expired on {consent.expires_on}")
    if consent.expires_upon is not None:
        signed = consent.signed_on or date.min
        happened = [d for d in events.get(consent.expires_upon, ()) if signed <= d <= on]
        if happened:
            add(Element.EXPIRY, f"expired upon {consent.expires_upon} on {min(happened)}")
    said = any(p.element is Element.RECIPIENT for p in found)  # by missing_elements
    if (
        not said
        and recipient.id not in consent.recipients
        and not designates(consent, recipient.kind, purpose)
    ):
        if recipient.kind in consent.recipient_classes:
            add(
                Element.RECIPIENT,
                f"{recipient.id!r} ({recipient.kind}) is not named, and the consent's class "
                f"{recipient.kind} does not cover it for {purpose}: {_DESIGNATION_RULE}",
            )
        else:
            classes = [k.value for k in consent.recipient_classes if designates(consent, k)]
            add(
                Element.RECIPIENT,
                f"{recipient.id!r} ({recipient.kind}) is not named, and not of a class it "
                f"designates ({', '.join(classes) or 'none'})",
            )
    if purpose not in consent.covered_purposes:
        add(Element.PURPOSE, f"does not cover the purpose {purpose}")
    uncovered = sorted(categories - set(consent.categories))
    if uncovered:
        add(Element.INFORMATION, "does not cover " + ", ".join(c.value for c in uncovered))
    return tuple(found)


def consent_decision(
    consents: Iterable[Consent],
    recipient: Recipient,
    purpose: Purpose | str,
    categories: Iterable[Category | str],
    *,
    on: date,
    revocations: Iterable[ConsentRevocation] = (),
    events: Mapping[ExpiryEvent, Sequence[date]] | None = None,
) -> ConsentDecision:
    """Whether a disclosure of ``categories`` to ``recipient`` for ``purpose`` on ``on`` is
    allowed by one of ``consents`` (all of one patient). A disclosure to the patient needs
    no consent. When refused, every consent's problems are listed (or "no consent").

    ``events`` gives the dates each expiry event happened (e.g. discharges); a consent
    expires upon the first one on or after its signature.
    """
    purpose = Purpose(purpose)
    wanted = frozenset(Category(c) for c in categories)
    if recipient.kind is RecipientKind.PATIENT:
        return ConsentDecision(allowed=True)
    consents = sorted(consents, key=lambda c: (c.signed_on or date.min, c.id), reverse=True)
    revoked = tuple(revocations)
    problems: list[Problem] = []
    for consent in consents:
        found = _problems(consent, revoked, recipient, purpose, wanted, on, events or {})
        if not found:
            return ConsentDecision(allowed=True, consent=consent)
        problems += found
    if not consents:
        problems.append(Problem(consent_id=None, element="consent", detail="no consent on file"))
    return ConsentDecision(allowed=False, problems=tuple(problems))


def pseudonym(participant_id: str, recipient_id: str, *, secret: str) -> str:
    """A stable pseudonym of a participant for one recipient, keyed by the clinic's secret:
    it releases no identity, cannot be reversed by guessing ids, and two recipients cannot
    link their records by it.

    >>> pseudonym("P-1", "dr-lee", secret="s" * 16) == pseudonym("P-1", "dr-lee", secret="s" * 16)
    True
    >>> pseudonym("P-1", "dr-lee", secret="s" * 16) != pseudonym("P-1", "payer", secret="s" * 16)
    True
    """
    if len(secret) < 16:
        raise ValidationError(
            "the pseudonym secret must be at least 16 characters (e.g. secrets.token_hex(32))"
        )
    message = f"iopcore-pseudonym\x1f{recipient_id}\x1f{participant_id}".encode()
    return "anon-" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:24]


class Basis(Choice):
    """Why a disclosure was lawful: a consent, a disclosure to the patient, or a report the
    law requires without consent (e.g. a state's reporting rule)."""

    CONSENT = "consent"
    PATIENT = "patient"
    NO_CONSENT_REQUIRED = "no-consent-required"


@frozen(kw_only=True)
class Disclosure:
    """One disclosure as the accounting keeps it (42 CFR 2.24): to whom, when, what kinds
    of information, for what purpose, under which consent, by whom. No clinical content."""

    id: str = attrs.field(validator=record_id)
    participant_id: str = attrs.field(validator=record_id)
    recipient: Recipient
    purpose: Purpose = attrs.field(converter=Purpose)
    categories: tuple[Category, ...] = attrs.field(converter=_categories)
    basis: Basis = attrs.field(converter=Basis)
    #: The consent relied on: none for a disclosure to the patient or one the law requires
    #: without consent (basis ``patient`` or ``no-consent-required``).
    consent_id: str | None = attrs.field(validator=attrs.validators.optional(record_id))
    #: The format that left (e.g. ``fhir-bundle``, ``teds``).
    what: str = attrs.field(validator=record_id)
    at: datetime = attrs.field(validator=aware)
    actor: str = attrs.field(validator=text)
    #: Whether the 2.32 redisclosure notice went with it.
    notice: bool = False

    def __attrs_post_init__(self) -> None:
        if (self.basis is Basis.CONSENT) != (self.consent_id is not None):
            raise ValidationError(
                f"disclosure {self.id}: a consent id is required exactly when the basis is "
                f"consent (basis {self.basis}, consent {self.consent_id!r})"
            )


def accounting(disclosures: Iterable[Disclosure], *, on: date) -> tuple[Disclosure, ...]:
    """The disclosures of the past :data:`ACCOUNTING_YEARS` years up to ``on``, oldest
    first: what a patient gets on request (42 CFR 2.24)."""
    try:
        since = on.replace(year=on.year - ACCOUNTING_YEARS)
    except ValueError:  # 29 February
        since = on.replace(year=on.year - ACCOUNTING_YEARS, day=28)
    return tuple(
        sorted(
            (d for d in disclosures if since <= d.at.date() <= on),
            key=lambda d: (d.at, d.id),
        )
    )


class ConsentError(IopcoreError):
    """A disclosure was refused: no consent allows it. Says which element is missing."""

    def __init__(self, message: str, decisions: Mapping[str, ConsentDecision]) -> None:
        super().__init__(message)
        #: The refused decision of each participant, by participant id.
        self.decisions = dict(decisions)


ConsentError.__module__ = "iopcore"
