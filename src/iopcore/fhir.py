"""FHIR R4 (R4B models from ``fhir.resources``, extra ``iopcore[fhir]``): a participant's
records as a Bundle, sent through the disclosure gate, and read back.

:func:`fhir_bundle` builds a ``collection`` Bundle of what the release allows:

* ``Patient``: pseudonymous (a keyed pseudonym per recipient) unless the consent covers
  ``identity``; then it carries the clinic's participant id as an identifier;
* ``enrollment``: an ``EpisodeOfCare`` per enrollment with its level-of-care history;
* ``treatment-plan``: a ``CarePlan`` for the current position and one per aftercare plan;
* ``attendance``: an ``Appointment`` per session (booked, fulfilled, noshow, cancelled) and
  an ``Encounter`` per attendance record with its status and minutes;
* ``screening-results``: an ``Observation`` per substance (LOINC codes as stored; answers
  LA6576-8 positive, LA6577-6 negative);
* ``assessments``: an ``Observation`` per score (PHQ-9 total LOINC 44261-6, GAD-7 70274-6);
* the consent relied on as a FHIR ``Consent`` under the 42 CFR Part 2 policy.

Every resource carries ``meta.security`` 42CFRPart2, ETH, confidentiality R and NORDSCLCD
(no redisclosure without consent: the machine-readable form of the prohibition), and, for a
disclosure made with consent, the Patient and the Consent carry the 2.32 notice as their
narrative (once per disclosure, as 2.32 asks, not once per resource).

:func:`export_fhir` is the gated call; :func:`read_bundle` turns a Bundle back into iopcore
records (the round trip the tests check).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from html import escape
from typing import Any

from attrs import frozen

from iopcore.clinic.disclosure import Release, Send, disclose
from iopcore.clinic.services import participant_sessions, plan_for
from iopcore.core.aftercare import AftercareItem, AftercarePlan
from iopcore.core.assessments import Assessment
from iopcore.core.attendance import PRESENT, AttendanceRecord, AttendanceStatus
from iopcore.core.consent import Category, Consent, Disclosure, Purpose, Recipient, pseudonym
from iopcore.core.enrollment import Enrollment, LevelOfCareChange, Participant, TransitionKind
from iopcore.core.errors import IopcoreError, StorageError
from iopcore.core.schedule import Occurrence, Status
from iopcore.core.screening import ScreeningResult, SubstanceOutcome, SubstanceResult
from iopcore.io.storage import Store

#: What a FHIR bundle can carry, by consent category (``identity`` only changes the Patient).
FHIR_CATEGORIES = (
    Category.IDENTITY,
    Category.ENROLLMENT,
    Category.TREATMENT_PLAN,
    Category.ATTENDANCE,
    Category.SCREENING_RESULTS,
    Category.ASSESSMENTS,
)

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
LOINC = "http://loinc.org"
#: HL7 v3 security labels for Part 2 data: the law, the sensitivity (substance use),
#: restricted confidentiality, and the refrain policy "no redisclosure without consent".
SECURITY = (
    {"system": ACT_CODE, "code": "42CFRPart2", "display": "42 CFR Part2"},
    {"system": ACT_CODE, "code": "ETH", "display": "substance abuse information sensitivity"},
    {"system": CONFIDENTIALITY, "code": "R", "display": "restricted"},
    {"system": ACT_CODE, "code": "NORDSCLCD", "display": "no redisclosure without consent"},
)
PART2_POLICY = "https://www.ecfr.gov/current/title-42/chapter-I/subchapter-A/part-2"
#: iopcore's own code systems and identifier namespaces (no public terminology has them).
BASE = "https://iopcore.dev/fhir"
#: LOINC codes of instrument totals iopcore knows by name.
INSTRUMENT_LOINC = {"PHQ-9": ("44261-6", "PHQ-9 total score"), "GAD-7": ("70274-6", "GAD-7 total")}
_ANSWERS = {
    SubstanceOutcome.POSITIVE: ("LA6576-8", "Positive"),
    SubstanceOutcome.NEGATIVE: ("LA6577-6", "Negative"),
}
_PURPOSE_OF_USE = {
    Purpose.TREATMENT: "TREAT",
    Purpose.PAYMENT: "HPAYMT",
    Purpose.OPERATIONS: "HOPERAT",
    Purpose.STATE_REPORTING: "PUBHLTH",
    Purpose.RESEARCH: "HRESCH",
    Purpose.OTHER: "HOPERAT",
}


def _fhir_models() -> Any:
    try:
        from fhir.resources.R4B.bundle import Bundle
    except ImportError:
        raise IopcoreError(
            "FHIR export needs the fhir extra: pip install 'iopcore[fhir]'"
        ) from None
    return Bundle


@frozen(kw_only=True)
class _Ids:
    """Resource ids and record identifiers: the clinic's own when identity is released,
    else keyed pseudonyms per recipient (so the recipient cannot link or guess them)."""

    identified: bool
    recipient: str
    secret: str

    def key(self, value: str) -> str:
        return value if self.identified else pseudonym(value, self.recipient, secret=self.secret)

    def rid(self, kind: str, value: str) -> str:
        """A FHIR id ([A-Za-z0-9-.]{1,64}) for a record."""
        raw = f"{kind}\x1f{self.key(value)}".encode()
        return hashlib.blake2b(raw, digest_size=16).hexdigest()


def _ident(kind: str, value: str) -> list[dict[str, str]]:
    return [{"system": f"{BASE}/id/{kind}", "value": value}]


def _ext(name: str, value: Any) -> dict[str, Any]:
    url = f"{BASE}/StructureDefinition/{name}"
    if isinstance(value, bool):
        return {"url": url, "valueBoolean": value}
    if isinstance(value, int):
        return {"url": url, "valueInteger": value}
    if isinstance(value, date):
        return {"url": url, "valueDate": value.isoformat()}
    return {"url": url, "valueString": str(value)}


def _exts(**values: Any) -> list[dict[str, Any]]:
    return [_ext(k, v) for k, v in values.items() if v is not None]


def _read_ext(resource: dict[str, Any], name: str) -> Any:
    url = f"{BASE}/StructureDefinition/{name}"
    for ext in resource.get("extension", ()):
        if ext["url"] == url:
            for key in ("valueString", "valueInteger", "valueBoolean", "valueDate"):
                if key in ext:
                    return ext[key]
    return None


def _read_exts(resource: dict[str, Any], name: str) -> list[Any]:
    url = f"{BASE}/StructureDefinition/{name}"
    return [e["valueString"] for e in resource.get("extension", ()) if e["url"] == url]


def _code(kind: str, value: str) -> dict[str, Any]:
    return {"coding": [{"system": f"{BASE}/CodeSystem/{kind}", "code": value}], "text": value}


def _dt(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class _Builder:
    def __init__(self, store: Store, release: Release, ids: _Ids, as_of: date) -> None:
        self.store, self.release, self.ids, self.as_of = store, release, ids, as_of
        self.entries: list[dict[str, Any]] = []
        pid = release.participant_id
        self.patient_ref = f"Patient/{ids.rid('participant', pid)}"

    def add(self, resource_type: str, rid: str, body: dict[str, Any]) -> str:
        resource: dict[str, Any] = {
            "resourceType": resource_type,
            "id": rid,
            "meta": {"security": [dict(s) for s in SECURITY]},
        }
        if self.release.notice is not None and resource_type in ("Patient", "Consent"):
            resource["text"] = {
                "status": "additional",
                "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>'
                + escape(self.release.notice)
                + "</p></div>",
            }
        resource.update(body)
        self.entries.append({"fullUrl": f"urn:uuid:{_uuid(rid)}", "resource": resource})
        return f"{resource_type}/{rid}"

    def wants(self, category: Category) -> bool:
        return category in self.release.categories

    def build(self) -> None:
        pid = self.release.participant_id
        participant = self.store.participant(pid)
        self.patient(participant)
        enrollments = self.store.enrollments(pid)
        if self.wants(Category.ENROLLMENT):
            for enrollment in enrollments:
                self.episode(enrollment, self.store.history(enrollment.id))
        if self.wants(Category.TREATMENT_PLAN):
            self.current_plan()
            for enrollment in enrollments:
                try:
                    plan = self.store.aftercare(enrollment.id)
                except StorageError:
                    continue
                self.aftercare(plan)
        if self.wants(Category.ATTENDANCE):
            self.attendance(self.store.attendance(pid))
        if self.wants(Category.SCREENING_RESULTS):
            for result in self.store.screening_results(pid):
                self.screen(result)
        if self.wants(Category.ASSESSMENTS):
            for assessment in self.store.assessments(pid):
                self.assessment(assessment)
        if self.release.consent is not None:
            self.consent(self.release.consent)

    def patient(self, participant: Participant) -> None:
        body: dict[str, Any] = {
            "active": True,
            "identifier": _ident("participant", self.ids.key(participant.id)),
            "extension": _exts(population=participant.population.value),
        }
        if not self.ids.identified:
            body["identifier"][0]["type"] = {"text": "pseudonym for this recipient"}
        self.add("Patient", self.patient_ref.split("/")[1], body)

    def episode(self, enrollment: Enrollment, history: Sequence[LevelOfCareChange]) -> None:
        discharge = next((h for h in history if h.kind is TransitionKind.DISCHARGE), None)
        period = {"start": enrollment.start.isoformat()}
        if discharge is not None:
            period["end"] = discharge.effective.isoformat()
        changes = [
            {
                "url": f"{BASE}/StructureDefinition/level-of-care-change",
                "extension": _exts(
                    seq=h.seq,
                    kind=h.kind.value,
                    effective=h.effective,
                    level=h.level_of_care.value,
                    track=h.track,
                    phase=h.phase,
                ),
            }
            for h in history
        ]
        latest = history[-1].level_of_care if history else enrollment.level_of_care
        self.add(
            "EpisodeOfCare",
            self.ids.rid("enrollment", enrollment.id),
            {
                "identifier": _ident("enrollment", self.ids.key(enrollment.id)),
                "status": "finished" if discharge is not None else "active",
                "type": [_code("level-of-care", latest.value)],
                "patient": {"reference": self.patient_ref},
                "period": period,
                "extension": [
                    *_exts(
                        program=enrollment.program,
                        track=enrollment.track,
                        level=enrollment.level_of_care.value,
                    ),
                    *changes,
                ],
            },
        )

    def current_plan(self) -> None:
        try:
            result = plan_for(self.store, self.release.participant_id, as_of=self.as_of)
        except IopcoreError:
            return  # not in treatment on that day: no current plan to send
        where = result.evaluation.position
        self.add(
            "CarePlan",
            self.ids.rid("plan", f"{result.evaluation.enrollment_id}/{self.as_of}"),
            {
                "status": "active",
                "intent": "plan",
                "title": "Current treatment plan",
                "description": f"{where.track} track, phase {where.phase} since {where.since}; "
                f"recommendation: {result.evaluation.recommendation.value}",
                "subject": {"reference": self.patient_ref},
                "created": self.as_of.isoformat(),
                "activity": [
                    {
                        "detail": {
                            "status": "scheduled",
                            "code": _code("level-of-care", stage.level_of_care),
                            "description": f"{stage.name}: {stage.hours_per_week:.1f} h/week",
                            "scheduledPeriod": {
                                "start": stage.starts.isoformat(),
                                **({"end": stage.ends.isoformat()} if stage.ends else {}),
                            },
                        }
                    }
                    for stage in result.plan.stages
                ],
            },
        )

    def aftercare(self, plan: AftercarePlan) -> None:
        self.add(
            "CarePlan",
            self.ids.rid("aftercare", plan.enrollment_id),
            {
                "identifier": _ident("aftercare", self.ids.key(plan.enrollment_id)),
                "status": "active",
                "intent": "plan",
                "title": "Aftercare plan",
                "category": [_code("care-plan", "aftercare")],
                "subject": {"reference": self.patient_ref},
                "activity": [{"detail": _aftercare_item(item)} for item in plan.items],
            },
        )

    def attendance(self, records: Sequence[AttendanceRecord]) -> None:
        by_occurrence = {r.occurrence_id: r for r in records}
        appointment_of: dict[str, str] = {}
        sessions: Sequence[Occurrence] = participant_sessions(
            self.store, self.release.participant_id, as_of=self.as_of
        )
        for o in sessions:
            record = by_occurrence.get(o.id)
            appointment_of[o.id] = self.add(
                "Appointment",
                self.ids.rid("session", o.id),
                {
                    "status": _appointment_status(o, record),
                    "start": _dt(o.start),
                    "end": _dt(o.end),
                    "minutesDuration": o.minutes,
                    "serviceType": [_code("session-type", o.session_type)],
                    "participant": [
                        {"actor": {"reference": self.patient_ref}, "status": "accepted"}
                    ],
                },
            )
        for r in records:
            body: dict[str, Any] = {
                "identifier": _ident("session", self.ids.key(r.occurrence_id)),
                "status": "finished" if r.present else "cancelled",
                "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
                "subject": {"reference": self.patient_ref},
                "period": {"start": r.session_date.isoformat()},
                "extension": _exts(attendance_status=r.status.value),
            }
            if r.minutes_attended is not None:
                body["length"] = {
                    "value": r.minutes_attended,
                    "unit": "min",
                    "system": "http://unitsofmeasure.org",
                    "code": "min",
                }
            if r.occurrence_id in appointment_of:
                body["appointment"] = [{"reference": appointment_of[r.occurrence_id]}]
            self.add("Encounter", self.ids.rid("attendance", r.key), body)

    def screen(self, result: ScreeningResult) -> None:
        for index, s in enumerate(result.results):
            coding = [{"system": LOINC, "code": s.loinc}] if s.loinc else []  # none: text only
            answer = _ANSWERS.get(s.result)
            value_coding = [{"system": f"{BASE}/CodeSystem/screen-outcome", "code": s.result.value}]
            if answer is not None:
                value_coding.insert(0, {"system": LOINC, "code": answer[0], "display": answer[1]})
            body: dict[str, Any] = {
                "identifier": _ident("screen", f"{self.ids.key(result.order_id)}/{index}"),
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/"
                                "observation-category",
                                "code": "laboratory",
                            }
                        ]
                    }
                ],
                "code": {"coding": coding, "text": s.substance}
                if coding
                else {"text": s.substance},
                "subject": {"reference": self.patient_ref},
                "valueCodeableConcept": {"coding": value_coding, "text": s.result.value},
            }
            if result.collected_at is not None:
                body["effectiveDateTime"] = _dt(result.collected_at)
            if result.resulted_at is not None:
                body["issued"] = _dt(result.resulted_at)
            self.add("Observation", self.ids.rid("screen", f"{result.order_id}/{index}"), body)

    def assessment(self, a: Assessment) -> None:
        known = INSTRUMENT_LOINC.get(a.instrument.upper())
        code: dict[str, Any] = {"text": a.instrument}
        if known is not None:
            code["coding"] = [{"system": LOINC, "code": known[0], "display": known[1]}]
        body: dict[str, Any] = {
            "identifier": _ident("assessment", self.ids.key(a.id)),
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "survey",
                        }
                    ]
                },
                _code("measure-kind", a.kind.value),
            ],
            "code": code,
            "subject": {"reference": self.patient_ref},
            "effectiveDateTime": a.taken_on.isoformat(),
        }
        if a.score is None:
            body["dataAbsentReason"] = {"text": "no score recorded"}
        else:
            body["valueQuantity"] = {"value": a.score, "unit": "{score}"}
        self.add("Observation", self.ids.rid("assessment", a.id), body)

    def consent(self, consent: Consent) -> None:
        period: dict[str, str] = {}
        if consent.signed_on is not None:
            period["start"] = consent.signed_on.isoformat()
        if consent.expires_on is not None:
            period["end"] = consent.expires_on.isoformat()
        actors = [
            {
                "role": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "IRCP",
                            "display": "information recipient",
                        }
                    ]
                },
                "reference": {"display": name},
            }
            for name in (*consent.recipients, *(c.value for c in consent.recipient_classes))
        ]
        provision: dict[str, Any] = {
            "type": "permit",
            "purpose": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                    "code": _PURPOSE_OF_USE[p],
                }
                for p in sorted(consent.covered_purposes)
            ],
            "class": [
                {"system": f"{BASE}/CodeSystem/category", "code": c.value}
                for c in consent.categories
            ],
        }
        if period:
            provision["period"] = period
        if actors:
            provision["actor"] = actors
        self.add(
            "Consent",
            self.ids.rid("consent", consent.id),
            {
                "identifier": _ident("consent", self.ids.key(consent.id)),
                "status": "active",
                "scope": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                            "code": "patient-privacy",
                        }
                    ]
                },
                "category": [{"coding": [{"system": LOINC, "code": "59284-0"}]}],
                "patient": {"reference": self.patient_ref},
                **({"dateTime": consent.signed_on.isoformat()} if consent.signed_on else {}),
                "policy": [{"authority": PART2_POLICY, "uri": f"{PART2_POLICY}/section-2.31"}],
                "provision": provision,
                "organization": [{"display": consent.discloser}],
                "extension": [
                    *_exts(
                        discloser=consent.discloser,
                        description=consent.description or None,
                        tpo=consent.tpo,
                        no_expiry=consent.no_expiry,
                        right_to_revoke_stated=consent.right_to_revoke_stated,
                        expires_upon=consent.expires_upon.value if consent.expires_upon else None,
                    ),
                    *(_ext("purpose", p.value) for p in consent.purposes),
                    *(_ext("recipient", r) for r in consent.recipients),
                    *(_ext("recipient_class", c.value) for c in consent.recipient_classes),
                ],
            },
        )


def _uuid(rid: str) -> str:
    h = hashlib.blake2b(rid.encode(), digest_size=16).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _appointment_status(o: Occurrence, record: AttendanceRecord | None) -> str:
    if o.status is Status.CANCELLED or (
        record is not None and record.status is AttendanceStatus.CANCELLED_BY_PROGRAM
    ):
        return "cancelled"
    if record is None:
        return "booked"
    if record.status in PRESENT:
        return "fulfilled"
    return "noshow" if record.status is AttendanceStatus.UNEXCUSED else "cancelled"


def _aftercare_item(item: AftercareItem) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "status": "scheduled" if item.recurring else "not-started",
        "code": _code("aftercare-kind", item.kind.value),
        "description": item.title,
        "performer": [{"display": item.owner}],
        "scheduledPeriod": {
            "start": item.starts.isoformat(),
            **({"end": item.due.isoformat()} if item.due else {}),
        },
        "extension": _exts(
            item_id=item.id,
            due=item.due,
            weekday=item.weekday.name.lower()[:3] if item.weekday is not None else None,
            at=item.at.isoformat() if item.at is not None else None,
            minutes=item.minutes,
            time_zone=item.time_zone,
            place=item.place or None,
        ),
    }
    if item.place:
        detail["location"] = {"display": item.place}
    return detail


def fhir_bundle(
    store: Store,
    release: Release,
    *,
    as_of: date,
    secret: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The Bundle (as JSON-ready dict, validated with ``fhir.resources``) of what ``release``
    allows. ``secret`` keys the pseudonyms (a random one when None: unlinkable between
    exports); the clinic's ids appear only if the release covers ``identity``."""
    bundle_model = _fhir_models()
    ids = _Ids(
        identified=release.identified,
        recipient=release.recipient.id,
        secret=secret or secrets.token_hex(32),
    )
    builder = _Builder(store, release, ids, as_of)
    builder.build()
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _dt(now or datetime.now(UTC)),
        "meta": {"security": [dict(s) for s in SECURITY]},
        "entry": builder.entries,
    }
    bundle_model.model_validate(bundle)  # raises on anything the R4B models refuse
    return bundle


def export_fhir(
    store: Store,
    participant_id: str,
    *,
    recipient: Recipient,
    purpose: Purpose | str,
    send: Send,
    categories: Iterable[Category | str] = FHIR_CATEGORIES,
    as_of: date | None = None,
    secret: str | None = None,
    now: datetime | None = None,
) -> Disclosure:
    """Send a participant's FHIR Bundle through the disclosure gate: refused without a
    consent that covers every category (nothing written), else recorded, then sent.

    ``as_of`` picks what the bundle holds (the plan, sessions and history as of that day);
    consent is judged on the day the bundle is sent (``now``, the clock by default)."""
    _fhir_models()
    now = now or datetime.now(UTC)
    on = as_of or now.astimezone().date()
    wanted = tuple(dict.fromkeys(Category(c) for c in categories))
    unknown = [c.value for c in wanted if c not in FHIR_CATEGORIES]
    if unknown:
        raise IopcoreError(
            f"a FHIR bundle does not carry {', '.join(unknown)}; choose from "
            + ", ".join(c.value for c in FHIR_CATEGORIES)
        )

    def render(releases: tuple[Release, ...]) -> bytes:
        (release,) = releases
        bundle = fhir_bundle(store, release, as_of=on, secret=secret, now=now)
        return (json.dumps(bundle, indent=2) + "\n").encode()

    (record,) = disclose(
        store,
        [participant_id],
        recipient=recipient,
        purpose=purpose,
        categories=wanted,
        what="fhir-bundle",
        render=render,
        send=send,
        now=now,
    )
    return record


# -- reading a Bundle back ---------------------------------------------------------------


@frozen(kw_only=True)
class BundleRecords:
    """The iopcore records a Bundle carries (pseudonymous ids if it was pseudonymous)."""

    participant: Participant
    enrollments: tuple[Enrollment, ...]
    history: tuple[LevelOfCareChange, ...]
    attendance: tuple[AttendanceRecord, ...]
    screening_results: tuple[ScreeningResult, ...]
    assessments: tuple[Assessment, ...]
    aftercare: tuple[AftercarePlan, ...]
    consents: tuple[Consent, ...] = ()


def _ident_value(resource: dict[str, Any], kind: str) -> str:
    for ident in resource.get("identifier", ()):
        if ident.get("system") == f"{BASE}/id/{kind}":
            return str(ident["value"])
    raise IopcoreError(f"{resource['resourceType']} {resource.get('id')}: no {kind} identifier")


def _date(text: str) -> date:
    return date.fromisoformat(text[:10])


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def read_bundle(data: str | bytes) -> BundleRecords:
    """Validate a Bundle with ``fhir.resources`` and read it back into iopcore records."""
    bundle_model = _fhir_models()
    bundle = bundle_model.model_validate_json(data).model_dump(mode="json", exclude_none=True)
    resources: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle.get("entry", ()):
        resource = entry["resource"]
        resources.setdefault(resource["resourceType"], []).append(resource)
    (patient,) = resources.get("Patient", [])
    pid = _ident_value(patient, "participant")
    participant = Participant(id=pid, population=_read_ext(patient, "population") or "adult")
    enrollments, history = [], []
    for episode in resources.get("EpisodeOfCare", ()):
        eid = _ident_value(episode, "enrollment")
        enrollments.append(
            Enrollment(
                id=eid,
                participant_id=pid,
                program=_read_ext(episode, "program"),
                track=_read_ext(episode, "track"),
                start=_date(episode["period"]["start"]),
                level_of_care=_read_ext(episode, "level"),
            )
        )
        for ext in episode.get("extension", ()):
            if ext["url"].endswith("/level-of-care-change"):
                fields = {"extension": ext["extension"]}
                history.append(
                    LevelOfCareChange(
                        enrollment_id=eid,
                        seq=_read_ext(fields, "seq"),
                        kind=_read_ext(fields, "kind"),
                        effective=_date(_read_ext(fields, "effective")),
                        level_of_care=_read_ext(fields, "level"),
                        track=_read_ext(fields, "track"),
                        phase=_read_ext(fields, "phase"),
                    )
                )
    attendance = [
        AttendanceRecord(
            participant_id=pid,
            occurrence_id=_ident_value(e, "session"),
            session_date=_date(e["period"]["start"]),
            status=_read_ext(e, "attendance_status"),
            minutes_attended=int(e["length"]["value"]) if "length" in e else None,
        )
        for e in resources.get("Encounter", ())
    ]
    screens: dict[str, list[tuple[int, SubstanceResult, dict[str, Any]]]] = {}
    assessments = []
    for obs in resources.get("Observation", ()):
        categories = [c["code"] for cat in obs.get("category", ()) for c in cat.get("coding", ())]
        if "laboratory" in categories:
            order, index = _ident_value(obs, "screen").rsplit("/", 1)
            loinc = next(
                (c["code"] for c in obs["code"].get("coding", ()) if c["system"] == LOINC), None
            )
            outcome = next(
                c["code"]
                for c in obs["valueCodeableConcept"]["coding"]
                if c["system"].endswith("/screen-outcome")
            )
            substance = SubstanceResult(substance=obs["code"]["text"], result=outcome, loinc=loinc)
            screens.setdefault(order, []).append((int(index), substance, obs))
        else:
            kind = next(c for c in categories if c in ("check-in", "assessment"))
            assessments.append(
                Assessment(
                    id=_ident_value(obs, "assessment"),
                    participant_id=pid,
                    kind=kind,
                    instrument=obs["code"]["text"],
                    taken_on=_date(obs["effectiveDateTime"]),
                    score=float(obs["valueQuantity"]["value"]) if "valueQuantity" in obs else None,
                )
            )
    results = []
    for order, parts in screens.items():
        parts.sort(key=lambda p: p[0])
        first = parts[0][2]
        results.append(
            ScreeningResult(
                order_id=order,
                participant_id=pid,
                results=[p[1] for p in parts],
                collected_at=_instant(first["effectiveDateTime"])
                if "effectiveDateTime" in first
                else None,
                resulted_at=_instant(first["issued"]) if "issued" in first else None,
            )
        )
    aftercare = [
        AftercarePlan(
            enrollment_id=_ident_value(plan, "aftercare"),
            items=[_read_item(a["detail"]) for a in plan.get("activity", ())],
        )
        for plan in resources.get("CarePlan", ())
        if any(c.get("text") == "aftercare" for c in plan.get("category", ()))
    ]
    return BundleRecords(
        participant=participant,
        enrollments=tuple(enrollments),
        history=tuple(history),
        attendance=tuple(attendance),
        screening_results=tuple(results),
        assessments=tuple(assessments),
        aftercare=tuple(aftercare),
        consents=tuple(_read_consent(c, pid) for c in resources.get("Consent", ())),
    )


def _read_consent(resource: dict[str, Any], participant_id: str) -> Consent:
    period = resource.get("provision", {}).get("period", {})
    return Consent(
        id=_ident_value(resource, "consent"),
        participant_id=participant_id,
        discloser=_read_ext(resource, "discloser") or "",
        recipients=_read_exts(resource, "recipient"),
        recipient_classes=_read_exts(resource, "recipient_class"),
        purposes=_read_exts(resource, "purpose"),
        categories=[c["code"] for c in resource.get("provision", {}).get("class", ())],
        description=_read_ext(resource, "description") or "",
        tpo=bool(_read_ext(resource, "tpo")),
        expires_on=_date(period["end"]) if "end" in period else None,
        expires_upon=_read_ext(resource, "expires_upon"),
        no_expiry=bool(_read_ext(resource, "no_expiry")),
        right_to_revoke_stated=bool(_read_ext(resource, "right_to_revoke_stated")),
        signed_on=_date(resource["dateTime"]) if "dateTime" in resource else None,
    )


def _read_item(detail: dict[str, Any]) -> AftercareItem:
    at = _read_ext(detail, "at")
    due = _read_ext(detail, "due")
    return AftercareItem(
        id=_read_ext(detail, "item_id"),
        kind=detail["code"]["text"],
        title=detail.get("description", ""),
        owner=detail["performer"][0]["display"],
        starts=_date(detail["scheduledPeriod"]["start"]),
        due=_date(due) if due else None,
        weekday=_read_ext(detail, "weekday"),
        at=time.fromisoformat(at) if at else None,
        minutes=_read_ext(detail, "minutes"),
        time_zone=_read_ext(detail, "time_zone"),
        place=_read_ext(detail, "place") or "",
    )
