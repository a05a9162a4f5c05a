"""`iopcore fhir`, `iopcore teds` and `iopcore disclosures` over a real SQLite store."""

from __future__ import annotations

import json
from datetime import date
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
                expires_on=date(2028, 1, 1),
                right_to_revoke_stated=True,
                signed_on=date(2027, 1, 4),
            )
        )
    return url


def test_fhir_is_refused_without_consent_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path
) -> None:
    out = tmp_path / "bundle.json"
    args = ["fhir", "--store", url, "--participant", "P-1", "--purpose", "treatment"]
    code, _, err = run(
        capsys, *args, "--recipient", "acme", "-o", str(out), "--as-of", "2027-02-01"
    )
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
