"""The contract every storage backend passes: round trips, idempotency, ordering,
append-only history, atomic batches, audit, hostile values and concurrent writers.

The tests use fresh random ids, so they can run against a store that already holds data.
"""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iopcore import (
    Assessment,
    AttendanceRecord,
    Decision,
    Enrollment,
    IopcoreError,
    LevelOfCareChange,
    Participant,
    ScreeningOrder,
    ScreeningResult,
    Secret,
    StorageError,
    Store,
    SubstanceResult,
    expand,
    loads_program,
    open_storage,
    screening_draws,
)
from iopcore.core.accountability import Evidence, Finding, FindingReview
from iopcore.core.aftercare import AftercareItem, AftercarePlan
from iopcore.core.consent import Consent, ConsentRevocation, Disclosure, Recipient
from iopcore.io.storage import SCHEMA_VERSION

_EVENING = """
name = "contract"
[session_types.group]
kind = "group"
minutes = 180
[tracks.evening]
time_zone = "America/New_York"
[[tracks.evening.phases]]
name = "core"
slots = [{ day = "mon", start = "18:00", session_type = "group" }]
[[screening]]
count = 1
"""


def _uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _attendance(pid: str, n: int, status: str = "attended") -> AttendanceRecord:
    return AttendanceRecord(
        participant_id=pid,
        occurrence_id=f"occ-{n:04d}",
        session_date=date(2027, 1, 4) + timedelta(days=n),
        status=status,
        minutes_attended=90,
    )


def _write_attendance(url: str, pid: str, worker: int, count: int) -> None:
    with open_storage(url, actor=f"worker-{worker}") as store:
        for i in range(count):
            store.record_attendance([_attendance(pid, worker * 1000 + i)])


class StorageContract:
    """Subclass in a test module and provide a ``storage_url`` fixture (or use the plugin's)."""

    #: Set False for backends whose data does not outlive the process (memory://).
    shared_between_processes = True
    #: Set False for a backend that refuses use from a second thread (with a StorageError).
    shared_between_threads = True
    #: The thread test: this many threads sharing one Store, each writing this many records.
    threads = 8
    writes_per_thread = 1000

    @pytest.fixture
    def store(self, storage_url: str) -> Iterator[Store]:
        with open_storage(storage_url, actor="contract") as store:
            yield store

    @pytest.fixture
    def pid(self, store: Store) -> str:
        participant = Participant(id=_uid("P"))
        store.add_participant(participant)
        return participant.id

    def test_schema_version_is_current(self, store: Store) -> None:
        assert store.schema_version == SCHEMA_VERSION

    def test_every_record_type_round_trips(self, store: Store, pid: str) -> None:
        program = loads_program(_EVENING.replace('"contract"', f'"{_uid("prog")}"'))
        store.save_program(program)
        assert store.program(program.name) == program
        assert program in store.programs()

        assert store.participant(pid) == Participant(id=pid)
        enrollment = Enrollment(
            id=_uid("E"),
            participant_id=pid,
            program=program.name,
            track="evening",
            start=date(2027, 1, 4),
        )
        store.enroll(enrollment, reason="admitted")
        assert store.enrollment(enrollment.id) == enrollment
        assert store.enrollments(pid) == (enrollment,)
        (admission,) = store.history(enrollment.id)
        assert (admission.seq, admission.kind, admission.reason) == (0, "admission", "admitted")

        order = ScreeningOrder(id=_uid("S"), participant_id=pid, ordered_for=date(2027, 1, 5))
        store.order_screening(order)
        result = ScreeningResult(
            order_id=order.id,
            participant_id=pid,
            results=(SubstanceResult(substance="cocaine", result="negative", loinc="19359-9"),),
            collected_at=datetime(2027, 1, 5, 14, tzinfo=UTC),
        )
        store.record_screening_result(result)
        assert store.screening_orders(pid) == (order,)
        assert store.screening_results(pid) == (result,)

        assessment = Assessment(
            id=_uid("A"),
            participant_id=pid,
            kind="assessment",
            instrument="PHQ-9",
            taken_on=date(2027, 1, 6),
            score=7.0,
        )
        store.record_assessment(assessment)
        assert store.assessments(pid) == (assessment,)

        decision = Decision(
            id=_uid("D"),
            enrollment_id=enrollment.id,
            decided_on=date(2027, 2, 1),
            decided_by="clinician-7",
            recommended="step-down",
            decided="stay",
            reason="wants to stay",
        )
        step = LevelOfCareChange(
            enrollment_id=enrollment.id,
            seq=1,
            kind="step-down",
            effective=date(2027, 2, 1),
            level_of_care="1",
        )
        store.record_decision(decision, step)
        assert store.decisions(enrollment.id) == (decision,)
        assert store.history(enrollment.id)[1] == step

    def test_recording_the_same_attendance_twice_keeps_one(self, store: Store, pid: str) -> None:
        first = store.record_attendance([_attendance(pid, 1)])
        again = store.record_attendance([_attendance(pid, 1)])
        assert (first.inserted, again.inserted, again.unchanged) == (1, 0, 1)
        changed = store.record_attendance([_attendance(pid, 1, status="late")])
        assert changed.updated == 1
        (record,) = store.attendance(pid)
        assert record.status == "late"
        changes = [e.change for e in store.audit_log() if e.key == record.key]
        assert changes == ["insert", "unchanged", "update"]

    def test_attendance_is_ordered_by_date(self, store: Store, pid: str) -> None:
        store.record_attendance([_attendance(pid, n) for n in (5, 1, 3)])
        assert [r.session_date.day for r in store.attendance(pid)] == [5, 7, 9]

    def test_a_batch_is_atomic(self, store: Store, pid: str) -> None:
        enrollment = Enrollment(
            id=_uid("E"), participant_id=pid, program="p", track="t", start=date(2027, 1, 4)
        )
        store.enroll(enrollment)
        rewrite = LevelOfCareChange(
            enrollment_id=enrollment.id,
            seq=0,
            kind="step-up",
            effective=date(2027, 1, 4),
            level_of_care="2.5",
        )
        decision = Decision(
            id=_uid("D"),
            enrollment_id=enrollment.id,
            decided_on=date(2027, 1, 4),
            decided_by="c",
            recommended="step-up",
            decided="step-up",
        )
        with pytest.raises(StorageError, match="append-only"):
            store.record_decision(decision, rewrite)
        assert store.decisions(enrollment.id) == ()  # the decision was rolled back too
        assert store.history(enrollment.id)[0].kind == "admission"

    def test_history_is_append_only(self, store: Store, pid: str) -> None:
        enrollment = Enrollment(
            id=_uid("E"), participant_id=pid, program="p", track="t", start=date(2027, 1, 4)
        )
        store.enroll(enrollment)
        store.enroll(enrollment)  # idempotent: equal records change nothing
        assert len(store.history(enrollment.id)) == 1
        with pytest.raises(StorageError, match="append-only"):
            store.append_level_of_care(
                LevelOfCareChange(
                    enrollment_id=enrollment.id,
                    seq=0,
                    kind="transfer",
                    effective=date(2027, 1, 5),
                    level_of_care="2.1",
                )
            )

    def test_draws_and_aftercare_plans_round_trip(self, store: Store, pid: str) -> None:
        program = loads_program(_EVENING.replace('"contract"', f'"{_uid("prog")}"'))
        sessions = expand(program, "evening", start=date(2027, 1, 4), weeks=3)
        draws = screening_draws(
            Secret(b"contract-secret-0123456789"), pid, program, sessions, through=date(2027, 1, 24)
        )
        assert store.record_draws(draws).inserted == len(draws) > 0
        assert store.draws(pid) == draws
        other = screening_draws(
            Secret(b"another-secret-0123456789"), pid, program, sessions, through=date(2027, 1, 24)
        )
        if other != draws:
            with pytest.raises(StorageError, match="append-only"):
                store.record_draws(other)
        eid = _uid("E")
        plan = AftercarePlan(
            enrollment_id=eid,
            items=[
                AftercareItem(
                    id="AC-1",
                    kind="support-group",
                    title="weekly group",
                    owner="peer",
                    starts=date(2027, 4, 1),
                    weekday="tue",
                    at=time(19),
                    time_zone="America/New_York",
                    place="room 2",
                ),
                AftercareItem(
                    id="AC-2",
                    kind="housing",
                    title="apply",
                    owner="case manager",
                    starts=date(2027, 4, 1),
                    due=date(2027, 4, 15),
                ),
            ],
        )
        store.save_aftercare(plan)
        assert store.aftercare(eid) == plan

    # -- findings and their reviews (clinic) -------------------------------------------

    def test_findings_and_reviews_round_trip_append_only(self, store: Store, pid: str) -> None:
        finding = Finding(
            participant_id=pid,
            rule="screen-review",
            concern="high",
            as_of=date(2027, 1, 12),
            summary="a screen result needs review",
            action="review it with the participant",
            evidence=[Evidence(kind="screening-result", id=_uid("S"), on=date(2027, 1, 11))],
        )
        assert store.record_findings([finding]).inserted == 1
        assert store.record_findings([finding]).unchanged == 1  # raised again: kept as first
        assert store.findings(pid) == (finding,)
        assert store.finding(finding.id) == finding
        with pytest.raises(StorageError, match="append-only"):
            store.record_findings([attrs.evolve(finding, as_of=date(2027, 1, 19))])
        at = datetime(2027, 1, 13, 9, 30, tzinfo=UTC)
        first = FindingReview(
            finding_id=finding.id,
            participant_id=pid,
            seq=1,
            status="acknowledged",
            actor="clinician-7",
            at=at,
            note="talked after group \u00e9",
        )
        second = attrs.evolve(first, seq=2, status="resolved", at=at + timedelta(days=1))
        store.record_finding_review(first)
        store.record_finding_review(second)
        assert store.finding_reviews(pid) == (first, second)
        with pytest.raises(StorageError, match="append-only"):
            store.record_finding_review(attrs.evolve(first, note="rewritten"))
        with pytest.raises(StorageError, match="no finding"):
            store.record_finding_review(attrs.evolve(first, finding_id=_uid("F")))
        audit = store.audit_log()[-4:]
        assert "talked" not in repr(audit)

    def test_history_grows_in_order(self, store: Store, pid: str) -> None:
        enrollment = Enrollment(
            id=_uid("E"), participant_id=pid, program="p", track="t", start=date(2027, 1, 4)
        )
        store.enroll(enrollment)

        def entry(seq: int, on: date, kind: str = "step-down") -> LevelOfCareChange:
            return LevelOfCareChange(
                enrollment_id=enrollment.id, seq=seq, kind=kind, effective=on, level_of_care="2.1"
            )

        with pytest.raises(StorageError, match="seq must be 1"):
            store.append_level_of_care(entry(2, date(2027, 2, 1)))
        with pytest.raises(StorageError, match="is before the last entry's"):
            store.append_level_of_care(entry(1, date(2026, 12, 1)))
        store.append_level_of_care(entry(1, date(2027, 2, 1), "discharge"))
        with pytest.raises(StorageError, match="was discharged"):
            store.append_level_of_care(entry(2, date(2027, 3, 1)))
        with pytest.raises(StorageError, match="no such enrollment"):
            store.append_level_of_care(
                LevelOfCareChange(
                    enrollment_id=_uid("E"),
                    seq=1,
                    kind="step-down",
                    effective=date(2027, 2, 1),
                    level_of_care="2.1",
                )
            )
        assert [h.seq for h in store.history(enrollment.id)] == [0, 1]

    def test_references_are_checked(self, store: Store) -> None:
        with pytest.raises(StorageError, match="add_participant first"):
            store.enroll(
                Enrollment(
                    id=_uid("E"),
                    participant_id=_uid("nobody"),
                    program="p",
                    track="t",
                    start=date(2027, 1, 4),
                )
            )
        with pytest.raises(StorageError, match="order_screening first"):
            store.record_screening_result(
                ScreeningResult(order_id=_uid("S"), participant_id="P", results=())
            )
        with pytest.raises(StorageError, match="no participant"):
            store.participant(_uid("missing"))

    def test_audit_names_who_and_what_but_no_clinical_content(self, store: Store, pid: str) -> None:
        before = store.audit_log()[-1].seq if store.audit_log() else 0
        record = AttendanceRecord(
            participant_id=pid,
            occurrence_id="o-1",
            session_date=date(2027, 1, 4),
            status="unexcused-absence",
            note="relapsed over the weekend",
        )
        store.record_attendance([record])
        store.record_export("calendar", pid)
        entries = store.audit_log(after=before)
        assert [(e.actor, e.kind, e.change) for e in entries] == [
            ("contract", "attendance", "insert"),
            ("contract", "calendar", "export"),
        ]
        text = repr(entries)
        assert "relapsed" not in text
        assert "unexcused" not in text
        assert [e.seq for e in entries] == sorted({e.seq for e in entries})

    @pytest.mark.parametrize(
        "value",
        ["x" * 200, "'; DROP TABLE records; --", 'Robert"); --', "ümlaut ✓ 日本", "a%b_c\\d"],
    )
    def test_hostile_ids_round_trip_exactly(self, store: Store, value: str) -> None:
        store.add_participant(Participant(id=value))
        assert store.participant(value).id == value
        store.record_attendance([_attendance(value, 1)])
        assert store.attendance(value)[0].participant_id == value

    @pytest.mark.parametrize("value", ["x" * 201, "nul\x00byte", "", " padded", 7, None])
    def test_hostile_values_are_rejected_before_storage(self, value: object) -> None:
        with pytest.raises(IopcoreError):
            Participant(id=value)  # type: ignore[arg-type]

    def test_long_text_round_trips_and_nul_is_rejected(self, store: Store, pid: str) -> None:
        note = "line\nwith 'quotes' and \"double\" ; -- \t" * 200
        record = AttendanceRecord(
            participant_id=pid,
            occurrence_id="o",
            note=note,
            session_date=date(2027, 1, 4),
            status="attended",
        )
        store.record_attendance([record])
        assert store.attendance(pid)[0].note == note
        with pytest.raises(IopcoreError, match="NUL"):
            AttendanceRecord(
                participant_id=pid,
                occurrence_id="o",
                note="\x00",
                session_date=date(2027, 1, 4),
                status="attended",
            )

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(
        st.lists(
            st.tuples(
                st.integers(0, 400),
                st.sampled_from(
                    [
                        "attended",
                        "late",
                        "left-early",
                        "excused-absence",
                        "unexcused-absence",
                        "telehealth",
                        "cancelled-by-program",
                    ]
                ),
                st.integers(0, 600),
            ),
            max_size=15,
        )
    )
    def test_attendance_batches_round_trip(
        self, store: Store, rows: list[tuple[int, str, int]]
    ) -> None:
        pid = _uid("P")
        batch = {}
        for n, status, minutes in rows:  # the last write of an occurrence wins
            batch[n] = AttendanceRecord(
                participant_id=pid,
                occurrence_id=f"o{n}",
                session_date=date(2027, 1, 1) + timedelta(days=n),
                status=status,
                minutes_attended=minutes,
            )
        for record in batch.values():
            store.record_attendance([record])
        expected = sorted(batch.values(), key=lambda r: (r.session_date.isoformat(), r.key))
        assert list(store.attendance(pid)) == expected

    def test_concurrent_writers_lose_nothing(self, storage_url: str, store: Store) -> None:
        if not self.shared_between_processes or storage_url.startswith("memory:"):
            pytest.skip("this store is not shared between processes")
        pid = _uid("P")
        context = multiprocessing.get_context("spawn")
        workers = [
            context.Process(target=_write_attendance, args=(storage_url, pid, w, 25))
            for w in range(4)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)
        assert [w.exitcode for w in workers] == [0, 0, 0, 0]
        assert len(store.attendance(pid)) == 100

    # -- consents and disclosures (42 CFR Part 2) -------------------------------------------

    def test_consents_revocations_and_disclosures_are_kept_append_only(
        self, store: Store, pid: str
    ) -> None:
        consent = Consent(
            id=_uid("C"),
            participant_id=pid,
            discloser="contract-clinic",
            recipients=["dr-lee"],
            recipient_classes=["treating-provider"],
            purposes=["treatment"],
            categories=["attendance", "enrollment"],
            description="attendance and level of care",
            expires_upon="discharge",
            right_to_revoke_stated=True,
            signed_on=date(2027, 1, 4),
            recorded_at=datetime(2027, 1, 4, 15, tzinfo=UTC),
        )
        tpo = attrs.evolve(
            consent, id=_uid("C"), tpo=True, no_expiry=True, expires_upon=None, signed_on=None
        )
        store.record_consent(consent)
        store.record_consent(tpo)
        assert store.record_consent(consent).unchanged == 1
        assert store.consents(pid) == (tpo, consent)  # unsigned sorts first
        with pytest.raises(StorageError, match="append-only"):
            store.record_consent(attrs.evolve(consent, categories=["attendance"]))
        with pytest.raises(StorageError, match="add_participant first"):
            store.record_consent(attrs.evolve(consent, participant_id=_uid("nobody")))

        revocation = ConsentRevocation(
            consent_id=consent.id, participant_id=pid, revoked_on=date(2027, 3, 1)
        )
        store.revoke_consent(revocation)
        assert store.revocations(pid) == (revocation,)
        with pytest.raises(StorageError, match="append-only"):
            store.revoke_consent(attrs.evolve(revocation, revoked_on=date(2027, 4, 1)))
        with pytest.raises(StorageError, match="record_consent first"):
            store.revoke_consent(attrs.evolve(revocation, consent_id=_uid("C")))
        with pytest.raises(StorageError, match="record_consent first"):
            store.revoke_consent(attrs.evolve(revocation, participant_id=_uid("P")))

        before = store.audit_log()[-1].seq
        disclosures = [
            Disclosure(
                id=_uid("DS"),
                participant_id=pid,
                recipient=Recipient(id="dr-lee", kind="treating-provider"),
                purpose="treatment",
                categories=["attendance"],
                basis="consent",
                consent_id=consent.id,
                what="fhir-bundle",
                at=datetime(2027, 2, day, 9, tzinfo=UTC),
                actor="contract",
                notice=True,
            )
            for day in (20, 10)
        ]
        for disclosure in disclosures:
            store.record_disclosure(disclosure)
        assert store.disclosures(pid) == tuple(reversed(disclosures))
        with pytest.raises(StorageError, match="append-only"):
            store.record_disclosure(attrs.evolve(disclosures[0], purpose="payment"))
        entries = [(e.kind, e.change) for e in store.audit_log(after=before)]
        assert entries == [
            ("disclosure", "insert"),
            ("fhir-bundle", "export"),
            ("disclosure", "insert"),
            ("fhir-bundle", "export"),
        ]

    def test_threads_sharing_a_store_lose_nothing(self, store: Store, pid: str) -> None:
        """8 threads x 1,000 single writes on one Store: 0 lost, 0 unaudited, 0 exceptions
        (or, for a backend with ``shared_between_threads = False``, a StorageError for the
        second thread and nothing else)."""
        before = store.audit_log()
        after = before[-1].seq if before else 0
        failures: list[BaseException] = []

        def work(thread: int) -> None:
            try:
                for i in range(self.writes_per_thread):
                    store.record_attendance([_attendance(pid, thread * 1000 + i)])
            except BaseException as exc:  # every exception is counted
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(self.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if not self.shared_between_threads:
            assert failures
            assert all(isinstance(f, StorageError) for f in failures), failures[:3]
            return
        assert failures == []
        stored = {r.key for r in store.attendance(pid)}
        expected = {
            _attendance(pid, t * 1000 + i).key
            for t in range(self.threads)
            for i in range(self.writes_per_thread)
        }
        assert stored == expected
        audited = {
            e.key
            for e in store.audit_log(after=after)
            if e.kind == "attendance" and e.change.value == "insert"
        }
        assert audited == expected
