"""The example screening provider ``examples/lab_provider`` (a file-drop lab), end to end.

The distribution is installed the way pip leaves one (a ``.dist-info`` with its entry point,
as declared in its pyproject.toml, in a folder on ``sys.path``; the approach of
tests/test_plugins.py), so the real plugin host discovers it. The test plays the lab, the
one party outside our control: it reads order files and drops result files.
"""

from __future__ import annotations

import json
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from iopcore import (
    Participant,
    ScreeningOrder,
    SubstanceOutcome,
    create_plugin_host,
    load_program,
)
from iopcore.clinic import census
from iopcore.core.accountability import (
    Concern,
    evaluate_census,
    planned_schedule,
)
from iopcore.core.enrollment import Enrollment
from iopcore.core.screening import Secret, orders_for, screening_draws
from iopcore.plugins.host import ENTRY_POINT_GROUP, PluginHost

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "examples" / "lab_provider"
EVENING = load_program(ROOT / "examples" / "programs" / "adult-evening.toml")
START = date(2027, 3, 1)
SECRET = Secret(b"synthetic-lab-test-secret-0123456789")
COCAINE, OPIATES, POSITIVE, NEGATIVE = "19359-9", "19295-5", "LA6576-8", "LA6577-6"


@pytest.fixture
def host(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> PluginHost:
    """A plugin host with the example distribution installed as its pyproject declares it."""
    project = tomllib.loads((LAB / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared: dict[str, str] = project["entry-points"][ENTRY_POINT_GROUP]
    assert declared == {"filedrop-lab": "iopcore_filedrop_lab"}
    site = tmp_path_factory.mktemp("site-packages")
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n",
        encoding="utf-8",
    )
    lines = "".join(f"{name} = {target}\n" for name, target in declared.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(LAB))  # the module itself, as the wheel would install it
    host = create_plugin_host(strict=True)
    assert "filedrop-lab" in host.plugin_names()
    return host


def lab_result(order: dict[str, Any], observations: dict[str, str], **extra: Any) -> str:
    day = date.fromisoformat(order["ordered_for"])
    return json.dumps(
        {
            "order_id": order["id"],
            "participant_id": order["participant_id"],
            "collected_at": f"{day.isoformat()}T18:40:00-05:00",
            "resulted_at": f"{(day + timedelta(days=1)).isoformat()}T09:12:00-05:00",
            "observations": [{"code": c, "answer": a} for c, a in observations.items()],
            **extra,
        }
    )


def drop(inbox: Path, name: str, text: str) -> None:
    """Drop a result file the way the lab is asked to: write a .part, then rename."""
    part = inbox / f"{name}.json.part"
    part.write_text(text, encoding="utf-8")
    part.rename(inbox / f"{name}.json")


def test_draws_to_orders_to_lab_to_results_to_a_finding(host: PluginHost, tmp_path: Path) -> None:
    provider = host.screening_provider("filedrop-lab")
    assert provider.description
    lab = provider.create(folder=tmp_path / "exchange")
    enrollment = Enrollment(
        id="E-1", participant_id="P-0001", program=EVENING.name, track="evening", start=START
    )
    schedule = planned_schedule(EVENING, enrollment)
    as_of = START + timedelta(weeks=2)

    with host.open_storage(f"sqlite:///{tmp_path / 'clinic.db'}", actor="test") as store:
        store.save_program(EVENING)
        store.add_participant(Participant(id="P-0001"))
        store.enroll(enrollment)

        # the random draw (2 a week on attendance days) becomes orders, placed with the lab
        draws = screening_draws(SECRET, "P-0001", EVENING, schedule, through=as_of)
        orders = orders_for(draws, provider="filedrop-lab")
        assert len(orders) == 6  # weeks 1-3: a period is drawn whole once it has begun
        for order in orders:
            store.order_screening(order)
            assert lab.place_order(order) == order.id

        # the lab picks the orders up ...
        outbox = tmp_path / "exchange" / "outbox"
        assert sorted(p.name for p in outbox.iterdir()) == sorted(f"{o.id}.json" for o in orders)
        sent = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(outbox.iterdir())]
        assert [s["id"] for s in sent] == sorted(o.id for o in orders)
        assert all(s["loinc"] == "24349-3" and s["provider"] == "filedrop-lab" for s in sent)
        assert all(s["participant_id"] == "P-0001" and s["specimen"] == "urine" for s in sent)
        # ... and drops results: the second screen is positive for cocaine
        inbox = tmp_path / "exchange" / "inbox"
        for n, order in enumerate(sent[:3]):
            cocaine = POSITIVE if n == 1 else NEGATIVE
            drop(inbox, order["id"], lab_result(order, {COCAINE: cocaine, OPIATES: NEGATIVE}))

        results = lab.collect_results()
        assert lab.collect_results() == []  # each result is handed over once
        assert list(inbox.iterdir()) == []
        assert len(list((tmp_path / "exchange" / "archive").iterdir())) == 3
        assert [r.order_id for r in results] == [s["id"] for s in sent[:3]]
        outcomes = {r.order_id: {s.substance: s.result for s in r.results} for r in results}
        assert outcomes[sent[1]["id"]] == {
            "cocaine": SubstanceOutcome.POSITIVE,
            "opiates": SubstanceOutcome.NEGATIVE,
        }
        assert all(s.loinc in (COCAINE, OPIATES) for r in results for s in r.results)
        assert all(r.collected_at is not None and r.collected_at.utcoffset() for r in results)
        for result in results:
            store.record_screening_result(result)

        loaded = census(store, as_of=as_of)
        findings = evaluate_census(loaded, host.accountability_rules())

    (review,) = [f for f in findings if f.rule == "screen-review"]
    assert review.concern is Concern.HIGH
    assert [e.id for e in review.evidence] == [sent[1]["id"]]
    assert review.evidence[0].on == date.fromisoformat(sent[1]["ordered_for"])
    assert "positive" not in repr(review)
    assert not [f for f in findings if f.rule == "screen-not-completed"]


def test_unreadable_result_files_are_set_aside_not_guessed_at(
    host: PluginHost, tmp_path: Path
) -> None:
    lab = host.screening_provider("filedrop-lab").create(folder=tmp_path)
    order = ScreeningOrder(id="S-1", participant_id="P-1", ordered_for=START)
    lab.place_order(order)
    sent = json.loads((tmp_path / "outbox" / "S-1.json").read_text(encoding="utf-8"))
    inbox = tmp_path / "inbox"
    drop(inbox, "good", lab_result(sent, {COCAINE: NEGATIVE}))
    drop(inbox, "unknown-answer", lab_result(sent, {COCAINE: "LA9999-9"}))
    drop(inbox, "unknown-code", lab_result(sent, {"0000-0": NEGATIVE}))
    drop(
        inbox, "naive-time", lab_result(sent, {COCAINE: NEGATIVE}, collected_at="2027-03-01T18:40")
    )
    drop(inbox, "not-json", "{")
    drop(inbox, "no-observations", json.dumps({"order_id": "S-1", "participant_id": "P-1"}))
    (inbox / "still-writing.json.part").write_text("{", encoding="utf-8")

    (result,) = lab.collect_results()
    assert [s.result for s in result.results] == [SubstanceOutcome.NEGATIVE]
    rejected = sorted(p.name for p in (tmp_path / "rejected").iterdir())
    bad = ["naive-time", "no-observations", "not-json", "unknown-answer", "unknown-code"]
    assert rejected == sorted([f"{n}.json" for n in bad] + [f"{n}.json.error" for n in bad])
    assert "LA9999-9" in (tmp_path / "rejected" / "unknown-answer.json.error").read_text()
    assert [p.name for p in inbox.iterdir()] == ["still-writing.json.part"]  # not yet complete
    assert lab.collect_results() == []


def test_the_example_is_small_and_documented() -> None:
    module = LAB / "iopcore_filedrop_lab.py"
    assert len(module.read_text(encoding="utf-8").splitlines()) < 100
    readme = (LAB / "README.md").read_text(encoding="utf-8")
    for needle in ("filedrop-lab", "19359-9", "LA6576-8", "LA6577-6", "outbox", "inbox", "archive"):
        assert needle in readme
