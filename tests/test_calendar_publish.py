"""CalDAV publishing against a real Radicale server started on a free 127.0.0.1 port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time as clock
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import caldav as caldav_module
import httpx
import pytest

from iopcore import (
    Enrollment,
    LevelOfCareChange,
    Participant,
    TransitionKind,
    load_program,
    open_storage,
)
from iopcore.clinic import export_calendar
from iopcore.clinic.publish import publish_calendar, split_objects

ROOT = Path(__file__).resolve().parent.parent
AUTH: dict[str, Any] = {"username": "clinic", "password": "x"}
caldav: Any = caldav_module  # its lazily loaded names are typed as object


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "radicale",
            "--server-hosts",
            f"127.0.0.1:{port}",
            "--storage-filesystem-folder",
            str(tmp_path / "radicale"),
            "--auth-type",
            "none",
            "--rights-type",
            "owner_only",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                clock.sleep(0.1)
        client = caldav.DAVClient(url=base + "/", **AUTH)
        principal: Any = client.principal()
        calendar = principal.make_calendar(name="Appointments", cal_id="p1")
        yield str(calendar.url)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def clinic(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    program = load_program(ROOT / "examples/programs/adult-evening.toml")
    with open_storage(url, actor="test") as store:
        store.save_program(program)
        store.add_participant(Participant(id="P-1"))
        store.enroll(
            Enrollment(
                id="E-1",
                participant_id="P-1",
                program=program.name,
                track="evening",
                start=date(2027, 1, 4),
            )
        )
    return url


def read_back(url: str) -> dict[str, list[str]]:
    client = caldav.DAVClient(url=url, **AUTH)
    out: dict[str, list[str]] = {}
    collection: Any = caldav.Calendar(client=client, url=url)
    for obj in collection.get_events():
        _, _, events = split_objects(obj.data.encode())
        for uid, lines in events.items():
            out[uid] = sorted(x for x in lines if not x.startswith("DTSTAMP"))
    return out


def as_exported(data: bytes) -> dict[str, list[str]]:
    _, _, events = split_objects(data)
    return {
        uid: sorted(x for x in lines if not x.startswith("DTSTAMP"))
        for uid, lines in events.items()
    }


def test_publish_creates_then_changes_only_what_changed(clinic: str, radicale: str) -> None:
    as_of = date(2027, 1, 4)
    with open_storage(clinic, actor="staff") as store:
        first = publish_calendar(
            store, "P-1", radicale, as_of=as_of, username="clinic", password="x"
        )
        assert first.created > 0
        assert (first.updated, first.deleted) == (0, 0)
        back, exported = (
            read_back(radicale),
            as_exported(export_calendar(store, "P-1", as_of=as_of)),
        )
        for uid in exported:
            assert set(back[uid]) ^ set(exported[uid]) == set(), uid
        assert back == exported
        again = publish_calendar(
            store, "P-1", radicale, as_of=as_of, username="clinic", password="x"
        )
        assert again.unchanged == first.created
        assert again.created + again.updated + again.deleted == 0
        # discharged early: later series end sooner (updated, SEQUENCE up), the rest go
        store.append_level_of_care(
            LevelOfCareChange(
                enrollment_id="E-1",
                seq=1,
                kind=TransitionKind.DISCHARGE,
                effective=date(2027, 1, 20),
                level_of_care="2.1",
                track="evening",
                reason="",
            )
        )
        later = date(2027, 1, 21)
        after = publish_calendar(
            store, "P-1", radicale, as_of=later, username="clinic", password="x"
        )
        assert after.updated + after.deleted > 0
        assert after.created == 0
        back = read_back(radicale)
        exported = as_exported(export_calendar(store, "P-1", as_of=later))
        assert set(back) == {uid for uid, lines in exported.items()}
        assert any("SEQUENCE:1" in lines for lines in back.values())
        log = [e.kind for e in store.audit_log()]
        assert log.count("calendar-publish") == 3


def test_the_cli_publishes_and_reports_changes(
    clinic: str,
    radicale: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from iopcore.app.cli import main

    monkeypatch.setenv("IOPCORE_UID_SECRET", "a-long-clinic-secret-for-tests")
    monkeypatch.setenv("IOPCORE_CALDAV_USERNAME", "clinic")
    monkeypatch.setenv("IOPCORE_CALDAV_PASSWORD", "x")
    argv = ["publish", "--store", clinic, "--participant", "P-1", "--caldav", radicale]
    argv += ["--as-of", "2027-01-04"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert first.startswith("created ")
    assert "updated 0, deleted 0, unchanged 0" in first
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("created 0, updated 0, deleted 0, unchanged ")
    assert main([*argv[:-2], "--participant", "P-404"]) == 2
    assert "P-404" in capsys.readouterr().err
