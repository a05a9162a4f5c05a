"""`iopcore fhir`, `iopcore teds` and `iopcore disclosures` over a real SQLite store."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

import iopcore
from iopcore.app.cli import main

EVENING = "examples/programs/adult-evening.toml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    with iopcore.open_storage(url, actor="setup") as store:
        program = iopcore.load_program(EVENING)
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
        store.record_consent(
            iopcore.Consent(
                id="C-1",
                participant_id="P-1",
                discloser="iop-clinic",
                recipient_classes=["treating-provider"],
                purposes=["treatment"],
                categories=["enrollment", "attendance"],
                expires_on=date(2100, 1, 1),
                right_to_revoke_stated=True,
                signed_on=date(2026, 1, 5),  # before today: the CLI judges consent today
            )
        )
    return url


def test_fhir_is_refused_without_consent_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path
) -> None:
    out = tmp_path / "bundle.json"
    args = ["fhir", "--store", url, "--participant", "P-1", "--purpose", "treatment"]
    code, _, err = run(
        capsys, *args, "--recipient", "acme", "--recipient-kind", "other", "-o", str(out),
        "--as-of", "2027-02-01",
    )  # fmt: skip
    assert code == 2
    assert err.count("\n") == 1
    assert "recipient: 'acme' (other) is not named" in err
    assert not out.exists()
    code, _, err = run(
        capsys, *args, "--recipient", "dr-lee", "--recipient-kind", "treating-provider",
        "-o", str(out), "--as-of", "2027-02-01",
    )  # fmt: skip
    assert code == 2
    assert "does not cover assessments, identity, screening-results, treatment-plan" in err
    assert not out.exists()


def test_fhir_then_the_accounting_lists_it(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path
) -> None:
    out = tmp_path / "bundle.json"
    code, _, err = run(
        capsys, "fhir", "--store", url, "--participant", "P-1", "--purpose", "treatment",
        "--recipient", "dr-lee", "--recipient-kind", "treating-provider",
        "--category", "enrollment", "--category", "attendance", "-o", str(out),
        "--as-of", "2027-02-01",
    )  # fmt: skip
    assert code == 0, err
    assert "wrote a FHIR bundle" in err
    assert json.loads(out.read_text())["resourceType"] == "Bundle"
    code, text, _ = run(capsys, "disclosures", "--store", url, "--participant", "P-1")
    assert code == 0
    assert "to dr-lee (treating-provider)  for treatment: enrollment, attendance" in text
    assert "[fhir-bundle, consent C-1]" in text
    assert text.rstrip().splitlines()[-1].startswith("1 disclosure(s) of P-1")
    code, text, _ = run(capsys, "disclosures", "--store", url, "--participant", "P-1", "--json")
    (entry,) = json.loads(text)
    assert (entry["consent"], entry["basis"], entry["notice"]) == ("C-1", "consent", True)
    code, text, _ = run(
        capsys, "disclosures", "--store", url, "--participant", "P-1", "--as-of", "2020-01-01"
    )
    assert text.startswith("0 disclosure(s)")


def test_the_patient_gets_their_own_bundle_without_consent(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    code, text, err = run(
        capsys, "fhir", "--store", url, "--participant", "P-1", "--purpose", "other",
        "--recipient", "P-1", "--recipient-kind", "patient", "--as-of", "2027-02-01",
    )  # fmt: skip
    assert code == 0, err
    bundle = json.loads(text)
    (patient,) = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    assert patient["identifier"][0]["value"] == "P-1"
    assert "text" not in patient  # no redisclosure notice to the patient themselves


def test_teds_needs_consent_unless_the_law_requires_the_report(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path
) -> None:
    out = tmp_path / "teds.csv"
    base = ["teds", "--store", url, "--period", "2027-Q1", "-o", str(out)]
    code, _, err = run(capsys, *base)
    assert code == 2
    assert "P-1: consent C-1: " in err
    assert "recipient: 'state' (state-agency) is not named" in err
    assert not out.exists()
    code, _, err = run(capsys, *base, "--without-consent", "--recipient", "state-ssa")
    assert code == 0, err
    assert "wrote 1 admission(s) and 0 discharge(s)" in err
    assert "date of birth" in err
    assert out.read_text().splitlines()[1].startswith("admission,P-1,E-1,2027-01-04,6,")
    code, text, _ = run(capsys, "disclosures", "--store", url, "--participant", "P-1", "--json")
    (entry,) = json.loads(text)
    assert (entry["recipient"], entry["basis"], entry["what"]) == (
        "state-ssa",
        "no-consent-required",
        "teds",
    )
    code, _, err = run(capsys, "teds", "--store", url, "--period", "2027-Q9", "-o", str(out))
    assert code == 2
    assert "use 2027-Q1" in err


# -- consent is judged on the day of the disclosure; outputs never destroy input ----------


def _consent_on(url: str, **changes: object) -> None:
    fields: dict[str, object] = {
        "id": "C-2",
        "participant_id": "P-1",
        "discloser": "iop-clinic",
        "recipients": ["dr-kim", "state"],
        "purposes": ["treatment", "state-reporting"],
        "categories": ["identity", "enrollment", "attendance", "discharge"],
        "expires_on": date(2100, 1, 1),
        "right_to_revoke_stated": True,
        "signed_on": date.today() - timedelta(days=30),
    }
    with iopcore.open_storage(url, actor="setup") as store:
        store.record_consent(iopcore.Consent(**{**fields, **changes}))  # type: ignore[arg-type]


def _fhir_to(url: str, out: Path, *extra: str) -> list[str]:
    return [
        "fhir", "--store", url, "--participant", "P-1", "--purpose", "treatment",
        "--recipient", "dr-kim", "--recipient-kind", "other",
        "--category", "enrollment", "--category", "attendance", "-o", str(out), *extra,
    ]  # fmt: skip


def _disclosed(capsys: pytest.CaptureFixture[str], url: str) -> int:
    code, text, _ = run(capsys, "disclosures", "--store", url, "--participant", "P-1", "--json")
    assert code == 0
    return len(json.loads(text))


@pytest.mark.parametrize(
    ("changes", "as_of_days", "element"),
    [
        ({"signed_on": date.today() + timedelta(days=30)}, 60, "signature: signed on"),
        ({"expires_on": date.today() - timedelta(days=1)}, -2, "expiry: expired on"),
    ],
)
def test_as_of_picks_the_content_but_consent_is_judged_today(
    capsys: pytest.CaptureFixture[str],
    url: str,
    tmp_path: Path,
    changes: dict[str, object],
    as_of_days: int,
    element: str,
) -> None:
    """A consent signed next month, or expired yesterday, does not allow sending today,
    whatever day --as-of names."""
    _consent_on(url, **changes)
    out = tmp_path / "bundle.json"
    as_of = (date.today() + timedelta(days=as_of_days)).isoformat()
    code, _, err = run(capsys, *_fhir_to(url, out, "--as-of", as_of))
    assert code == 2
    assert element in err
    assert not out.exists()
    assert _disclosed(capsys, url) == 0


def test_a_revocation_cannot_be_bypassed_with_a_past_as_of(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path
) -> None:
    _consent_on(url)
    with iopcore.open_storage(url, actor="setup") as store:
        store.revoke_consent(
            iopcore.ConsentRevocation(
                consent_id="C-2", participant_id="P-1", revoked_on=date.today()
            )
        )
    out = tmp_path / "bundle.json"
    past = (date.today() - timedelta(days=10)).isoformat()
    code, _, err = run(capsys, *_fhir_to(url, out, "--as-of", past))
    assert code == 2
    assert "revoked: revoked on" in err
    assert not out.exists()
    teds = ["teds", "--store", url, "--period", "2027-Q1", "-o", str(tmp_path / "t.csv")]
    code, _, err = run(capsys, *teds)
    assert code == 2
    assert "revoked: revoked on" in err


@pytest.mark.parametrize("command", ["fhir", "teds"])
def test_output_onto_the_store_is_refused_even_with_force(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path, command: str
) -> None:
    _consent_on(url)
    db = tmp_path / "clinic.db"
    before = db.read_bytes()
    for target in (db, Path(f"{db}-wal")):
        argv = (
            _fhir_to(url, target, "--force")
            if command == "fhir"
            else ["teds", "--store", url, "--period", "2027-Q1", "-o", str(target), "--force"]
        )
        code, _, err = run(capsys, *argv)
        assert code == 2, err
        assert "which the command reads" in err
        assert err.count("\n") == 1
    assert db.read_bytes() == before
    assert _disclosed(capsys, url) == 0


@pytest.mark.parametrize("command", ["fhir", "teds"])
def test_a_file_of_another_kind_is_replaced_only_with_force(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path, command: str
) -> None:
    _consent_on(url)
    target = tmp_path / "notes.txt"
    target.write_text("someone's notes\n")
    argv = (
        _fhir_to(url, target)
        if command == "fhir"
        else ["teds", "--store", url, "--period", "2027-Q1", "-o", str(target)]
    )
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "pass --force" in err
    assert target.read_text() == "someone's notes\n"
    assert _disclosed(capsys, url) == 0
    code, _, err = run(capsys, *argv, "--force")
    assert code == 0, err
    assert target.stat().st_mode & 0o777 == 0o600
    assert _disclosed(capsys, url) == 1
    code, _, err = run(capsys, *argv)  # its own kind: replaced without --force
    assert code == 0, err


@pytest.mark.parametrize("command", ["fhir", "teds"])
def test_a_failed_write_is_not_in_the_accounting(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path, command: str
) -> None:
    _consent_on(url)
    target = tmp_path / "missing" / "b.out"
    argv = (
        _fhir_to(url, target)
        if command == "fhir"
        else ["teds", "--store", url, "--period", "2027-Q1", "-o", str(target)]
    )
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert _disclosed(capsys, url) == 0
    assert "does not exist" in err


def test_a_class_other_than_treating_providers_names_no_one(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path
) -> None:
    _consent_on(url, recipients=[], recipient_classes=["other", "state-agency"])
    out = tmp_path / "bundle.json"
    argv = _fhir_to(url, out)
    argv[argv.index("dr-kim")] = "anyone-i-type"
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "recipient: names no recipient" in err
    assert "name the recipient on the consent" in err
    assert not out.exists()
    without_kind = [a for a in argv if a not in ("--recipient-kind", "other")]
    code, _, err = run(capsys, *without_kind)
    assert code == 2
    assert "--recipient-kind" in err
