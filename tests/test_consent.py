"""42 CFR Part 2 consents and the one disclosure gate, over a real SQLite store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import iopcore
from iopcore.clinic.disclosure import consent_for, disclose, disclosures_for, to_file
from iopcore.core.consent import (
    REDISCLOSURE_NOTICE,
    TPO,
    Category,
    Consent,
    ConsentError,
    ConsentRevocation,
    Disclosure,
    Element,
    ExpiryEvent,
    Purpose,
    Recipient,
    RecipientKind,
    accounting,
    consent_decision,
    missing_elements,
)
from iopcore.core.errors import ValidationError

ON = date(2027, 3, 1)
NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)
DR_LEE = Recipient(id="dr-lee", kind="treating-provider")


def _consent(**changes: object) -> Consent:
    base = Consent(
        id="C-1",
        participant_id="P-1",
        discloser="iop-clinic",
        recipient_classes=["treating-provider"],
        purposes=["treatment"],
        categories=["attendance", "enrollment"],
        description="attendance dates and level of care",
        expires_on=date(2028, 1, 4),
        right_to_revoke_stated=True,
        signed_on=date(2027, 1, 4),
    )
    return attrs.evolve(base, **changes)  # type: ignore[arg-type]


def _elements(decision: iopcore.ConsentDecision) -> list[str]:
    return [p.element.value for p in decision.problems]


def test_a_complete_consent_allows_its_recipients_purpose_and_information() -> None:
    decision = consent_decision([_consent()], DR_LEE, "treatment", ["attendance"], on=ON)
    assert decision.allowed
    assert decision.consent_id == "C-1"
    assert decision.explain() == "allowed by consent C-1"


@pytest.mark.parametrize(
    ("change", "element"),
    [
        ({"discloser": " "}, "discloser"),
        ({"recipient_classes": []}, "recipient"),
        ({"purposes": []}, "purpose"),
        ({"categories": []}, "information"),
        ({"expires_on": None}, "expiry"),
        ({"expires_on": None, "no_expiry": True}, "expiry"),  # "none" only for TPO
        ({"right_to_revoke_stated": False}, "right-to-revoke"),
        ({"signed_on": None}, "signature"),
    ],
)
def test_each_missing_element_is_named(change: dict[str, object], element: str) -> None:
    consent = _consent(**change)
    assert [p.element.value for p in missing_elements(consent)] == [element]
    decision = consent_decision([consent], DR_LEE, "treatment", [], on=ON)
    assert not decision.allowed
    assert element in _elements(decision)


def test_a_single_tpo_consent_covers_payment_and_may_have_no_expiry() -> None:
    consent = _consent(
        tpo=True, no_expiry=True, expires_on=None, purposes=[], recipient_classes=["payer"]
    )
    payer = Recipient(id="acme-health", kind="payer")
    assert missing_elements(consent) == ()
    assert consent_decision([consent], payer, "payment", ["attendance"], on=ON).allowed
    refused = consent_decision([consent], payer, "research", ["attendance"], on=ON)
    assert _elements(refused) == ["recipient", "purpose"]  # payers by class: TPO only


def test_named_recipients_and_classes() -> None:
    consent = _consent(recipients=["county-court"], recipient_classes=[])
    court = Recipient(id="county-court", kind="other")
    assert consent_decision([consent], court, "treatment", [], on=ON).allowed
    decision = consent_decision([consent], DR_LEE, "treatment", [], on=ON)
    assert _elements(decision) == ["recipient"]
    assert "'dr-lee'" in decision.explain()


def test_information_beyond_the_consent_is_refused_by_category() -> None:
    decision = consent_decision(
        [_consent()], DR_LEE, "treatment", ["attendance", "screening-results"], on=ON
    )
    assert _elements(decision) == ["information"]
    assert "screening-results" in decision.explain()


def test_expiry_by_date_by_event_and_before_signature() -> None:
    assert _elements(consent_decision([_consent()], DR_LEE, "treatment", [], on=date(2028, 1, 5)))
    assert consent_decision([_consent()], DR_LEE, "treatment", [], on=date(2028, 1, 4)).allowed
    early = consent_decision([_consent()], DR_LEE, "treatment", [], on=date(2027, 1, 3))
    assert _elements(early) == ["signature"]
    on_discharge = _consent(expires_on=None, expires_upon="discharge")
    events = {ExpiryEvent.DISCHARGE: [date(2026, 6, 1), date(2027, 2, 15)]}
    before = consent_decision(
        [on_discharge], DR_LEE, "treatment", [], on=date(2027, 2, 14), events=events
    )
    after = consent_decision(
        [on_discharge], DR_LEE, "treatment", [], on=date(2027, 2, 15), events=events
    )
    assert before.allowed  # the 2026 discharge was before the signature
    assert _elements(after) == ["expiry"]
    assert "2027-02-15" in after.explain()


def test_revocation_is_effective_from_its_date() -> None:
    revoked = [ConsentRevocation(consent_id="C-1", participant_id="P-1", revoked_on=ON)]
    day_before = ON - timedelta(days=1)
    assert consent_decision(
        [_consent()], DR_LEE, "treatment", [], on=day_before, revocations=revoked
    ).allowed
    decision = consent_decision([_consent()], DR_LEE, "treatment", [], on=ON, revocations=revoked)
    assert _elements(decision) == ["revoked"]


def test_no_consent_and_the_patient_themselves() -> None:
    decision = consent_decision([], DR_LEE, "treatment", ["attendance"], on=ON)
    assert _elements(decision) == ["consent"]
    assert "no consent on file" in decision.explain()
    patient = Recipient(id="P-1", kind="patient")
    assert consent_decision([], patient, "other", ["screening-results"], on=ON).allowed


def test_another_consent_can_allow_what_one_does_not() -> None:
    payer = _consent(id="C-2", recipients=["acme"], recipient_classes=[], purposes=["payment"])
    decision = consent_decision(
        [_consent(), payer], Recipient(id="acme", kind="payer"), "payment", [], on=ON
    )
    assert decision.consent_id == "C-2"


def test_reprs_reveal_nothing_identifying() -> None:
    consent = _consent(recipients=["dr-jane-doe"], description="opioid use disorder")
    text = repr(consent)
    for word in ("dr-jane-doe", "opioid", "treatment", "attendance", "iop-clinic"):
        assert word not in text
    assert "C-1" in text


def test_bad_values_are_refused_with_the_choices() -> None:
    with pytest.raises(ValidationError, match="one of"):
        _consent(purposes=["marketing"])
    with pytest.raises(ValidationError, match="a list"):
        _consent(categories="attendance")
    with pytest.raises(ValidationError, match="before signed_on"):
        _consent(expires_on=date(2026, 1, 1))
    with pytest.raises(ValidationError, match="exactly when the basis is consent"):
        Disclosure(
            id="D",
            participant_id="P-1",
            recipient=DR_LEE,
            purpose="treatment",
            categories=[],
            basis="consent",
            consent_id=None,
            what="x",
            at=datetime(2027, 1, 1, tzinfo=UTC),
            actor="t",
        )


@given(
    st.lists(st.sampled_from(list(Category)), unique=True),
    st.lists(st.sampled_from(list(Category)), unique=True),
    st.sampled_from(list(Purpose)),
    st.sampled_from([k for k in RecipientKind if k is not RecipientKind.PATIENT]),
    st.dates(date(2026, 1, 1), date(2029, 1, 1)),
)
def test_allowed_exactly_when_every_element_matches(
    given_cats: list[Category],
    wanted: list[Category],
    purpose: Purpose,
    kind: RecipientKind,
    on: date,
) -> None:
    consent = _consent(categories=given_cats)
    decision = consent_decision([consent], Recipient(id="r", kind=kind), purpose, wanted, on=on)
    expected = (
        bool(given_cats)
        and set(wanted) <= set(given_cats)
        and purpose is Purpose.TREATMENT
        and kind is RecipientKind.TREATING_PROVIDER
        and date(2027, 1, 4) <= on <= date(2028, 1, 4)
    )
    assert decision.allowed == expected
    assert decision.allowed == (decision.problems == ())


@given(st.lists(st.integers(0, 2000), max_size=20), st.dates(date(2025, 1, 1), date(2032, 1, 1)))
def test_accounting_covers_exactly_the_past_three_years(days: list[int], on: date) -> None:
    start = datetime(2024, 1, 1, 12, tzinfo=UTC)
    records = [
        Disclosure(
            id=f"D-{i}",
            participant_id="P-1",
            recipient=DR_LEE,
            purpose="treatment",
            categories=["attendance"],
            basis="consent",
            consent_id="C-1",
            what="fhir-bundle",
            at=start + timedelta(days=d),
            actor="t",
        )
        for i, d in enumerate(days)
    ]
    kept = accounting(records, on=on)
    leap_day = (on.month, on.day) == (2, 29)  # three years back is 28 February
    since = on.replace(year=on.year - 3, day=28 if leap_day else on.day)
    for r in records:
        age = on - r.at.date()
        assert (r in kept) == (timedelta(0) <= age and r.at.date() >= since)
    assert list(kept) == sorted(kept, key=lambda r: (r.at, r.id))


# -- the gate over a real store -------------------------------------------------------------


def _store(tmp_path: Path) -> iopcore.Store:
    store = iopcore.open_storage(f"sqlite:///{tmp_path / 'clinic.db'}", actor="test-gate")
    store.add_participant(iopcore.Participant(id="P-1"))
    store.enroll(
        iopcore.Enrollment(
            id="E-1", participant_id="P-1", program="p", track="t", start=date(2027, 1, 4)
        )
    )
    store.record_consent(_consent(expires_on=None, expires_upon="discharge"))
    return store


def _render(releases: tuple[object, ...]) -> bytes:
    (release,) = releases
    assert isinstance(release, iopcore.Release)
    return f"{release.participant_id}\n{release.notice}".encode()


def test_consent_for_reads_revocations_and_discharges(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        assert consent_for(store, "P-1", DR_LEE, "treatment", on=ON).allowed
        store.append_level_of_care(
            iopcore.LevelOfCareChange(
                enrollment_id="E-1",
                seq=1,
                kind="discharge",
                effective=date(2027, 4, 1),
                level_of_care="2.1",
            )
        )
        assert consent_for(store, "P-1", DR_LEE, "treatment", on=ON).allowed
        late = consent_for(store, "P-1", DR_LEE, "treatment", on=date(2027, 4, 1))
        assert _elements(late) == ["expiry"]
        store.revoke_consent(
            ConsentRevocation(consent_id="C-1", participant_id="P-1", revoked_on=ON)
        )
        assert _elements(consent_for(store, "P-1", DR_LEE, "treatment", on=ON)) == ["revoked"]
        with pytest.raises(iopcore.StorageError, match="no participant"):
            consent_for(store, "P-9", DR_LEE, "treatment", on=ON)


def test_the_gate_stamps_records_and_then_writes(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with _store(tmp_path) as store:
        (record,) = disclose(
            store,
            ["P-1"],
            recipient=DR_LEE,
            purpose="treatment",
            categories=["attendance"],
            what="test-export",
            render=_render,
            send=to_file(out),
            now=datetime(2027, 3, 1, 10, tzinfo=UTC),
        )
        assert REDISCLOSURE_NOTICE in out.read_text()
        assert (record.consent_id, record.basis, record.notice) == ("C-1", "consent", True)
        assert store.disclosures("P-1") == (record,)
        assert disclosures_for(store, "P-1", on=ON - timedelta(days=1)) == ()
        assert disclosures_for(store, "P-1", on=ON) == (record,)
        assert disclosures_for(store, "P-1", on=date(2030, 3, 1)) == (record,)
        assert disclosures_for(store, "P-1", on=date(2030, 3, 2)) == ()
        exports = [(e.kind, e.key) for e in store.audit_log() if e.change == "export"]
        assert exports == [("test-export", "P-1")]


def test_without_consent_nothing_is_rendered_recorded_or_written(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    rendered: list[object] = []
    payer = Recipient(id="acme", kind="payer")
    with _store(tmp_path) as store:
        with pytest.raises(ConsentError, match="recipient") as refused:
            disclose(
                store,
                ["P-1"],
                recipient=payer,
                purpose="payment",
                categories=["attendance"],
                what="test-export",
                render=lambda r: bytes(rendered.append(r) or b""),  # type: ignore[func-returns-value]
                send=to_file(out),
                now=NOW,
            )
        assert refused.value.decisions["P-1"].problems[0].element is Element.RECIPIENT
        assert "nothing was written" in str(refused.value)
        assert store.disclosures("P-1") == ()
        assert not [e for e in store.audit_log() if e.change == "export"]
    assert not out.exists()
    assert rendered == []


def test_the_patient_needs_no_consent_and_no_notice(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        sent: list[bytes] = []
        (record,) = disclose(
            store,
            ["P-1"],
            recipient=Recipient(id="P-1", kind="patient"),
            purpose="other",
            categories=["screening-results"],
            what="test-export",
            render=_render,
            send=sent.append,
            now=NOW,
        )
        assert (record.basis, record.consent_id, record.notice) == ("patient", None, False)
        assert sent == [b"P-1\nNone"]
        with pytest.raises(ConsentError, match="the participant's id"):
            disclose(
                store,
                ["P-1"],
                recipient=Recipient(id="P-2", kind="patient"),
                purpose="other",
                categories=[],
                what="x",
                render=_render,
                send=sent.append,
            )


def test_a_report_required_by_law_is_still_recorded(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        (record,) = disclose(
            store,
            ["P-1"],
            recipient=Recipient(id="state", kind="state-agency"),
            purpose="state-reporting",
            categories=["enrollment"],
            what="teds",
            render=lambda r: b"x",
            send=lambda b: None,
            consent_required=False,
        )
        assert (record.basis, record.consent_id) == ("no-consent-required", None)
        assert store.disclosures("P-1") == (record,)


def test_a_calendar_for_a_third_party_goes_through_the_gate(tmp_path: Path) -> None:
    import icalendar

    from iopcore.clinic.disclosure import share_calendar

    court = Recipient(id="county-court", kind="other")
    out = tmp_path / "shared.ics"
    with iopcore.open_storage(f"sqlite:///{tmp_path / 'cal.db'}", actor="t") as store:
        store.save_program(iopcore.load_program("examples/programs/adult-evening.toml"))
        store.add_participant(iopcore.Participant(id="P-1"))
        store.enroll(
            iopcore.Enrollment(
                id="E-2",
                participant_id="P-1",
                program="adult-evening",
                track="evening",
                start=date(2027, 1, 4),
            )
        )
        share = {
            "recipient": court,
            "purpose": "other",
            "send": to_file(out),
            "as_of": ON,
            "now": NOW,
            "uid_secret": "a-long-test-secret-value",
        }
        with pytest.raises(ConsentError, match="county-court"):
            share_calendar(store, "P-1", **share)  # type: ignore[arg-type]
        assert not out.exists()
        store.record_consent(
            _consent(
                id="C-court",
                recipient_classes=[],
                recipients=["county-court"],
                purposes=["other"],
                categories=["identity", "enrollment"],
            )
        )
        with pytest.raises(ConsentError, match="treatment-plan"):
            share_calendar(store, "P-1", detail=True, **share)  # type: ignore[arg-type]
        record = share_calendar(store, "P-1", **share)  # type: ignore[arg-type]
        assert (record.consent_id, record.what, record.notice) == ("C-court", "calendar", True)
    calendar = icalendar.Calendar.from_ical(out.read_bytes())
    assert str(calendar["DESCRIPTION"]) == REDISCLOSURE_NOTICE
    unescaped = str(calendar["X-WR-CALDESC"]).replace("\\,", ",").replace("\\;", ";")
    assert unescaped == REDISCLOSURE_NOTICE  # icalendar leaves X- properties escaped
    assert len(calendar.walk("VEVENT")) > 0
    assert all(len(line) <= 75 for line in out.read_bytes().split(b"\r\n"))


# -- review fixes: general designations, the day consent is judged, writes that fail ---------


@pytest.mark.parametrize("kind", ["other", "state-agency", "researcher", "payer", "patient"])
def test_only_treating_providers_may_be_designated_by_class(kind: str) -> None:
    """42 CFR 2.31(a)(4): every other recipient is named (payers by class only under TPO)."""
    consent = _consent(recipient_classes=[kind])
    (problem,) = missing_elements(consent)
    assert problem.element is Element.RECIPIENT
    assert kind in problem.detail
    assert "name the recipient on the consent" in problem.detail
    anyone = Recipient(id="anyone-typed", kind=kind if kind != "patient" else "other")
    decision = consent_decision([consent], anyone, "treatment", [], on=ON)
    assert "recipient" in _elements(decision)
    named = _consent(recipients=["anyone-typed"], recipient_classes=[kind])
    assert consent_decision([named], anyone, "treatment", [], on=ON).allowed


@given(
    st.lists(st.sampled_from(list(RecipientKind)), unique=True),
    st.sampled_from(list(RecipientKind)),
    st.sampled_from(list(Purpose)),
    st.booleans(),
)
def test_a_class_covers_a_recipient_only_where_the_rule_allows(
    classes: list[RecipientKind], kind: RecipientKind, purpose: Purpose, tpo: bool
) -> None:
    consent = _consent(recipient_classes=classes, purposes=list(Purpose), tpo=tpo)
    recipient = Recipient(id="someone", kind=kind)
    decision = consent_decision([consent], recipient, purpose, [], on=ON)
    lawful = kind in classes and (
        kind is RecipientKind.TREATING_PROVIDER
        or (kind is RecipientKind.PAYER and tpo and purpose in TPO)
    )
    assert decision.allowed == (lawful or kind is RecipientKind.PATIENT)


def test_share_calendar_judges_consent_on_the_day_it_is_shared(tmp_path: Path) -> None:
    from iopcore.clinic.disclosure import share_calendar

    court = Recipient(id="county-court", kind="other")
    out = tmp_path / "shared.ics"
    with iopcore.open_storage(f"sqlite:///{tmp_path / 'cal.db'}", actor="t") as store:
        store.save_program(iopcore.load_program("examples/programs/adult-evening.toml"))
        store.add_participant(iopcore.Participant(id="P-1"))
        store.enroll(
            iopcore.Enrollment(
                id="E-2", participant_id="P-1", program="adult-evening", track="evening",
                start=date(2027, 1, 4),
            )
        )  # fmt: skip
        store.record_consent(
            _consent(
                recipient_classes=[],
                recipients=["county-court"],
                purposes=["other"],
                categories=["identity", "enrollment"],
            )  # signed 2027-01-04
        )
        with pytest.raises(ConsentError, match="signature: signed on 2027-01-04, after 2027-01-03"):
            share_calendar(
                store, "P-1", recipient=court, purpose="other", send=to_file(out), as_of=ON,
                now=datetime(2027, 1, 3, 12, tzinfo=UTC),
            )  # fmt: skip
        store.revoke_consent(
            ConsentRevocation(consent_id="C-1", participant_id="P-1", revoked_on=ON)
        )
        with pytest.raises(ConsentError, match="revoked on 2027-03-01"):
            share_calendar(
                store, "P-1", recipient=court, purpose="other", send=to_file(out),
                as_of=date(2027, 2, 1), now=NOW,
            )  # fmt: skip
        assert store.disclosures("P-1") == ()
    assert not out.exists()


def test_a_write_that_fails_is_never_recorded(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        for target in (tmp_path / "missing" / "out.txt", tmp_path):
            with pytest.raises(iopcore.IopcoreError, match=r"out\.txt|is a folder"):
                disclose(
                    store, ["P-1"], recipient=DR_LEE, purpose="treatment",
                    categories=["attendance"], what="test-export", render=_render,
                    send=to_file(target), now=NOW,
                )  # fmt: skip
        assert store.disclosures("P-1") == ()
        assert not [e for e in store.audit_log() if e.change == "export"]


def test_a_rename_that_fails_after_recording_says_so(tmp_path: Path) -> None:
    """The file is staged before the record and renamed after it: if the rename fails (here
    a folder appears at the path meanwhile), the error says the accounting lists it."""
    from iopcore.clinic.disclosure import FileOutput
    from iopcore.io.output import StagedOutput

    class FolderAppears(FileOutput):
        def stage(self, data: bytes) -> StagedOutput:
            staged = super().stage(data)
            (self.path / "x").mkdir(parents=True)
            return staged

    out = tmp_path / "out.txt"
    with _store(tmp_path) as store:
        with pytest.raises(iopcore.IopcoreError) as failed:
            disclose(
                store, ["P-1"], recipient=DR_LEE, purpose="treatment",
                categories=["attendance"], what="test-export", render=_render,
                send=FolderAppears(path=out), now=NOW,
            )  # fmt: skip
        (record,) = store.disclosures("P-1")
    message = str(failed.value)
    assert f"recorded in the accounting ({record.id}) but NOT sent" in message
    assert str(out) in message
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.txt")] == []


def test_ids_a_spreadsheet_would_run_are_refused_at_the_door() -> None:
    for bad in ('=HYPERLINK("http://x","y")', "+1", "-2+3", "@SUM(A1)"):
        with pytest.raises(ValidationError, match="formula"):
            iopcore.Participant(id=bad)
    assert iopcore.Participant(id="P-1=2").id == "P-1=2"


@given(st.text(max_size=30))
def test_csv_cells_never_start_a_formula(text: str) -> None:
    from iopcore.io.output import csv_cell

    cell = csv_cell(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell in (text, "'" + text)
    assert (cell == text) == (not text.startswith(("=", "+", "-", "@", "\t", "\r")))


@pytest.mark.parametrize(
    ("now", "allowed"),
    [
        (datetime(2027, 3, 2, 3, tzinfo=UTC), True),  # 22:00 on March 1 in New York
        (datetime(2027, 3, 2, 6, tzinfo=UTC), False),  # 01:00 on March 2 in New York
    ],
)
def test_consent_is_judged_on_the_clinics_day_not_the_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, now: datetime, allowed: bool
) -> None:
    """A consent that expires on March 1 still holds at 22:00 that day at the clinic (New
    York), even on a server whose clock already says March 2 (UTC)."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    program = iopcore.load_program(
        Path(__file__).resolve().parents[1] / "examples/programs/adult-evening.toml"
    )
    with iopcore.open_storage(f"sqlite:///{tmp_path / 'clinic.db'}", actor="test") as store:
        store.save_program(program)
        store.add_participant(iopcore.Participant(id="P-1"))
        store.enroll(
            iopcore.Enrollment(
                id="E-1",
                participant_id="P-1",
                program=program.name,
                track="evening",
                start=date(2027, 1, 4),
            )
        )
        store.record_consent(_consent(expires_on=date(2027, 3, 1)))
        send = to_file(tmp_path / "out.txt")
        args = {
            "recipient": DR_LEE,
            "purpose": "treatment",
            "categories": ["attendance"],
            "what": "test-export",
            "render": _render,
            "send": send,
            "now": now,
        }
        if allowed:
            (record,) = disclose(store, ["P-1"], **args)  # type: ignore[arg-type]
            assert record.consent_id == "C-1"
        else:
            with pytest.raises(ConsentError, match="expir"):
                disclose(store, ["P-1"], **args)  # type: ignore[arg-type]
    monkeypatch.delenv("TZ")
    time.tzset()
