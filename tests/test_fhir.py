"""FHIR R4 bundles through the disclosure gate: valid R4B, labelled, pseudonymous unless the
consent releases identity, and read back into the same iopcore records."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from hypothesis import given, settings
from hypothesis import strategies as st

import iopcore
from iopcore.clinic.disclosure import to_file
from iopcore.core.aftercare import AftercareItem, AftercarePlan
from iopcore.core.consent import Category, Purpose
from iopcore.fhir import SECURITY, export_fhir, fhir_bundle, read_bundle

AS_OF = date(2027, 2, 15)
#: When the tests disclose (consent is judged on this day, not on AS_OF).
NOW = datetime(2027, 2, 15, 12, tzinfo=UTC)
DR_LEE = iopcore.Recipient(id="dr-lee", kind="treating-provider")
SECRET = "a-test-pseudonym-secret-0123456789"
EVERYTHING = [
    "identity",
    "enrollment",
    "treatment-plan",
    "attendance",
    "screening-results",
    "assessments",
]


def _of(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


def _store(tmp_path: Path, categories: list[str]) -> iopcore.Store:
    store = iopcore.open_storage(f"sqlite:///{tmp_path / 'clinic.db'}", actor="test-fhir")
    program = iopcore.load_program("examples/programs/adult-evening.toml")
    store.save_program(program)
    store.add_participant(iopcore.Participant(id="P-0001"))
    store.enroll(
        iopcore.Enrollment(
            id="E-0001",
            participant_id="P-0001",
            program=program.name,
            track="evening",
            start=date(2027, 1, 4),
        ),
        reason="admitted from detox",
    )
    store.append_level_of_care(
        iopcore.LevelOfCareChange(
            enrollment_id="E-0001",
            seq=1,
            kind="step-down",
            effective=date(2027, 2, 1),
            level_of_care="2.1",
            phase="continuing-care",
        )
    )
    sessions = iopcore.participant_sessions(store, "P-0001", as_of=AS_OF)
    past = [o for o in sessions if o.start.date() < AS_OF][:6]
    statuses = [
        "attended",
        "late",
        "unexcused-absence",
        "excused-absence",
        "telehealth",
        "attended",
    ]
    store.record_attendance(
        iopcore.AttendanceRecord(
            participant_id="P-0001",
            occurrence_id=o.id,
            session_date=o.start.date(),
            status=status,
            minutes_attended=150 if status == "late" else None,
        )
        for o, status in zip(past, statuses, strict=True)
    )
    store.order_screening(
        iopcore.ScreeningOrder(id="S-1", participant_id="P-0001", ordered_for=date(2027, 1, 12))
    )
    store.record_screening_result(
        iopcore.ScreeningResult(
            order_id="S-1",
            participant_id="P-0001",
            results=[
                iopcore.SubstanceResult(substance="cocaine", result="negative", loinc="19359-9"),
                iopcore.SubstanceResult(substance="opiates", result="positive", loinc="19295-5"),
                iopcore.SubstanceResult(substance="alcohol (EtG)", result="dilute"),
            ],
            collected_at=datetime(2027, 1, 12, 18, 30, tzinfo=UTC),
            resulted_at=datetime(2027, 1, 14, 9, tzinfo=UTC),
        )
    )
    for n, (instrument, score) in enumerate([("PHQ-9", 14.0), ("GAD-7", 9.0), ("mood", None)]):
        store.record_assessment(
            iopcore.Assessment(
                id=f"A-{n}",
                participant_id="P-0001",
                kind="assessment" if score is not None else "check-in",
                instrument=instrument,
                taken_on=date(2027, 1, 5 + n),
                score=score,
            )
        )
    store.save_aftercare(
        AftercarePlan(
            enrollment_id="E-0001",
            items=[
                AftercareItem(
                    id="AC-1",
                    kind="support-group",
                    title="weekly mutual-help group",
                    owner="peer specialist",
                    starts=date(2027, 4, 1),
                    weekday="tue",
                    at=time(19),
                    time_zone="America/New_York",
                    place="community room",
                ),
                AftercareItem(
                    id="AC-2",
                    kind="housing",
                    title="apply for recovery housing",
                    owner="case manager",
                    starts=date(2027, 4, 1),
                    due=date(2027, 4, 15),
                ),
            ],
        )
    )
    store.record_consent(
        iopcore.Consent(
            id="C-1",
            participant_id="P-0001",
            discloser="iop-clinic",
            recipient_classes=["treating-provider"],
            purposes=["treatment"],
            categories=categories,
            description="synthetic test consent",
            expires_on=date(2028, 1, 1),
            right_to_revoke_stated=True,
            signed_on=date(2027, 1, 4),
        )
    )
    return store


def test_an_identified_bundle_round_trips_into_the_same_records(tmp_path: Path) -> None:
    out = tmp_path / "bundle.json"
    with _store(tmp_path, EVERYTHING) as store:
        record = export_fhir(
            store,
            "P-0001",
            recipient=DR_LEE,
            purpose="treatment",
            send=to_file(out),
            as_of=AS_OF,
            now=NOW,
            secret=SECRET,
        )
        back = read_bundle(out.read_bytes())
        assert back.participant == store.participant("P-0001")
        assert back.enrollments == store.enrollments("P-0001")
        assert list(back.history) == [
            iopcore.LevelOfCareChange(
                enrollment_id=h.enrollment_id,
                seq=h.seq,
                kind=h.kind,
                effective=h.effective,
                level_of_care=h.level_of_care,
                track=h.track,
                phase=h.phase,
            )
            for h in store.history("E-0001")
        ]  # the free-text reasons stay home
        assert back.attendance == store.attendance("P-0001")
        assert back.screening_results == store.screening_results("P-0001")
        assert back.assessments == store.assessments("P-0001")
        assert back.aftercare == (store.aftercare("E-0001"),)
        assert back.consents == store.consents("P-0001")
        assert store.disclosures("P-0001") == (record,)
    assert record.consent_id == "C-1"
    assert record.categories == tuple(Category(c) for c in EVERYTHING)


def test_every_resource_is_labelled_and_carries_the_notice(tmp_path: Path) -> None:
    out = tmp_path / "bundle.json"
    with _store(tmp_path, EVERYTHING) as store:
        export_fhir(
            store,
            "P-0001",
            recipient=DR_LEE,
            purpose="treatment",
            send=to_file(out),
            as_of=AS_OF,
            now=NOW,
        )
    bundle = json.loads(out.read_text())
    Bundle.model_validate(bundle)
    types = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert types == {
        "Patient",
        "EpisodeOfCare",
        "CarePlan",
        "Appointment",
        "Encounter",
        "Observation",
        "Consent",
    }
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert resource["meta"]["security"] == [dict(s) for s in SECURITY]
        stamped = resource["resourceType"] in ("Patient", "Consent")
        assert ("42 CFR part 2" in resource.get("text", {}).get("div", "")) == stamped
    observations = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    ]
    codes = {c["code"] for o in observations for c in o["code"].get("coding", ())}
    assert {"44261-6", "70274-6", "19359-9", "19295-5"} <= codes
    statuses = sorted(
        e["resource"]["status"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Appointment"
    )
    assert {"fulfilled", "noshow", "cancelled", "booked"} <= set(statuses)
    (consent,) = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Consent"
    ]
    assert consent["policy"][0]["authority"].endswith("part-2")
    assert consent["provision"]["purpose"][0]["code"] == "TREAT"


def test_without_identity_the_bundle_is_pseudonymous(tmp_path: Path) -> None:
    with _store(tmp_path, EVERYTHING[1:]) as store:
        sent: list[bytes] = []
        export_fhir(
            store,
            "P-0001",
            recipient=DR_LEE,
            purpose="treatment",
            categories=EVERYTHING[1:],
            send=sent.append,
            as_of=AS_OF,
            now=NOW,
            secret=SECRET,
        )
        release = iopcore.Release(
            participant_id="P-0001",
            recipient=iopcore.Recipient(id="other-clinic", kind="treating-provider"),
            purpose=Purpose.TREATMENT,
            categories=(),
            consent=None,
            notice=None,
        )
        other = fhir_bundle(store, release, as_of=AS_OF, secret=SECRET)
    (data,) = sent
    for secret_id in ("P-0001", "E-0001", "S-1", "A-0", "C-1"):
        assert f'"{secret_id}' not in data.decode()
    back = read_bundle(data)
    assert back.participant.id.startswith("anon-")
    again = read_bundle(json.dumps(other))
    assert again.participant.id.startswith("anon-")
    assert again.participant.id != back.participant.id  # unlinkable between recipients


def test_information_the_consent_does_not_cover_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "bundle.json"
    with _store(tmp_path, ["enrollment", "attendance"]) as store:
        with pytest.raises(iopcore.ConsentError, match="screening-results"):
            export_fhir(
                store,
                "P-0001",
                recipient=DR_LEE,
                purpose="treatment",
                send=to_file(out),
                as_of=AS_OF,
                now=NOW,
            )
        assert store.disclosures("P-0001") == ()
        assert not out.exists()
        record = export_fhir(
            store,
            "P-0001",
            recipient=DR_LEE,
            purpose="treatment",
            categories=["enrollment", "attendance"],
            send=to_file(out),
            as_of=AS_OF,
            now=NOW,
        )
    types = {e["resource"]["resourceType"] for e in json.loads(out.read_text())["entry"]}
    assert types == {"Patient", "EpisodeOfCare", "Appointment", "Encounter", "Consent"}
    assert record.categories == ("enrollment", "attendance")
    with pytest.raises(iopcore.IopcoreError, match="does not carry diagnoses"):
        export_fhir(
            iopcore.open_storage("memory://"),
            "P-0001",
            recipient=DR_LEE,
            purpose="treatment",
            categories=["diagnoses"],
            send=to_file(out),
        )


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(iopcore.AttendanceStatus)),
            st.one_of(st.none(), st.integers(0, 600)),
        ),
        max_size=6,
    ),
    st.lists(
        st.tuples(
            st.sampled_from(["PHQ-9", "GAD-7", "mood", "craving ✓"]),
            st.one_of(st.none(), st.floats(-100, 100, allow_nan=False)),
        ),
        max_size=4,
    ),
    st.lists(
        st.tuples(
            # any text iopcore accepts: no control characters, no lone surrogates
            st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20),
            st.sampled_from(list(iopcore.SubstanceOutcome)),
            st.sampled_from([None, "19359-9", "19295-5"]),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_records_round_trip_through_a_bundle(
    attendance: list[tuple[iopcore.AttendanceStatus, int | None]],
    scores: list[tuple[str, float | None]],
    substances: list[tuple[str, iopcore.SubstanceOutcome, str | None]],
) -> None:
    with iopcore.open_storage("memory://", actor="property") as store:
        store.add_participant(iopcore.Participant(id="P-9"))
        store.record_attendance(
            iopcore.AttendanceRecord(
                participant_id="P-9",
                occurrence_id=f"o-{n}",
                session_date=date(2027, 1, 4 + n),
                status=status,
                minutes_attended=minutes,
            )
            for n, (status, minutes) in enumerate(attendance)
        )
        for n, (instrument, score) in enumerate(scores):
            store.record_assessment(
                iopcore.Assessment(
                    id=f"A-{n}",
                    participant_id="P-9",
                    kind="assessment",
                    instrument=instrument,
                    taken_on=date(2027, 2, 1 + n),
                    score=score,
                )
            )
        store.order_screening(
            iopcore.ScreeningOrder(id="S-9", participant_id="P-9", ordered_for=date(2027, 1, 5))
        )
        store.record_screening_result(
            iopcore.ScreeningResult(
                order_id="S-9",
                participant_id="P-9",
                results=[
                    iopcore.SubstanceResult(substance=s, result=r, loinc=code)
                    for s, r, code in substances
                ],
                collected_at=datetime(2027, 1, 5, 12, tzinfo=UTC),
            )
        )
        release = iopcore.Release(
            participant_id="P-9",
            recipient=DR_LEE,
            purpose=Purpose.TREATMENT,
            categories=tuple(
                Category(c) for c in ("identity", "attendance", "assessments", "screening-results")
            ),
            consent=None,
            notice=None,
        )
        back = read_bundle(json.dumps(fhir_bundle(store, release, as_of=date(2027, 3, 1))))
        assert back.attendance == store.attendance("P-9")
        assert back.assessments == store.assessments("P-9")
        assert back.screening_results == store.screening_results("P-9")
