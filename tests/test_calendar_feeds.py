"""Subscription feeds end to end: a real uvicorn server on 127.0.0.1, httpx, a SQLite store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time as clock
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
import uvicorn

from iopcore import Enrollment, Participant, load_program, open_storage
from iopcore.app.feeds import create_app
from iopcore.clinic import participant_sessions
from iopcore.clinic.feeds import issue_feed_token, revoke_feed_token, rotate_feed_token
from tests import test_calendar_readers as readers
from tests.test_calendar_readers import IcalJs, check_all_readers, expected, vobject_instants

ROOT = Path(__file__).resolve().parent.parent
#: The ical.js reader fixture of the file readers' tests: feeds pass the same checks.
icaljs = readers.icaljs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


@pytest.fixture
def server(clinic: str) -> Iterator[str]:
    port = free_port()
    app = create_app(lambda: open_storage(clinic, actor="feeds"))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, access_log=False, server_header=False, log_level="error"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        clock.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_a_feed_is_served_cached_revoked_and_audited(
    clinic: str, server: str, icaljs: IcalJs
) -> None:
    with open_storage(clinic, actor="staff") as store:
        token = issue_feed_token(store, "P-1")
        want = expected(participant_sessions(store, "P-1", as_of=date.today()))
    assert len(token) >= 22  # 128 bits, url-safe
    with httpx.Client(base_url=server) as http:
        r = http.get(f"/feeds/{token}.ics")
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/calendar; charset=utf-8"
        assert r.headers["cache-control"].startswith("private")
        assert "server" not in r.headers
        assert b"REFRESH-INTERVAL;VALUE=DURATION:PT6H" in r.content
        assert b"P-1" not in r.content
        assert b"E-1" not in r.content
        check_all_readers(r.content, want, icaljs)  # the same readers as files
        assert vobject_instants(r.content) == want
        etag, modified = r.headers["etag"], r.headers["last-modified"]
        assert http.get(f"/feeds/{token}.ics", headers={"If-None-Match": etag}).status_code == 304
        since = {"If-Modified-Since": modified}
        assert http.get(f"/feeds/{token}.ics", headers=since).status_code == 304
        zipped = http.get(f"/feeds/{token}.ics", headers={"Accept-Encoding": "gzip"})
        assert zipped.content == r.content  # httpx decodes
        raw = httpx.get(f"{server}/feeds/{token}.ics", headers={"Accept-Encoding": "gzip"}).headers
        assert raw["content-encoding"] == "gzip"
        unknown = http.get("/feeds/" + "A" * 22 + ".ics")
        assert unknown.status_code == 404
        with open_storage(clinic, actor="staff") as store:
            new = rotate_feed_token(store, "P-1")
        assert http.get(f"/feeds/{token}.ics").status_code == 404
        assert http.get(f"/feeds/{token}.ics").content == unknown.content
        assert http.get(f"/feeds/{new}.ics").status_code == 200
        with open_storage(clinic, actor="staff") as store:
            assert revoke_feed_token(store, "P-1") == 1
        assert http.get(f"/feeds/{new}.ics").status_code == 404
    with open_storage(clinic, actor="staff") as store:
        log = store.audit_log()
    fetches = [e for e in log if e.kind == "feed-fetch"]
    assert len(fetches) >= 5
    assert all("P-1" not in e.key for e in fetches)  # token id only
    assert all(token not in e.key and new not in e.key for e in log)
    assert sum(e.kind == "feed-token" for e in log) >= 4  # issue, rotate (2), revoke


def test_the_cli_issues_rotates_revokes_and_serves(
    clinic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from iopcore.app.cli import main

    assert main(["feed", "issue", "--store", clinic, "--participant", "P-1"]) == 0
    first = capsys.readouterr()
    assert "secret" in first.err
    path = first.out.strip()
    assert path.startswith("/feeds/")
    assert path.endswith(".ics")
    argv = ["feed", "rotate", "--store", clinic, "--participant", "P-1"]
    assert main([*argv, "--base-url", "https://clinic.example.org/"]) == 0
    rotated = capsys.readouterr().out.strip()
    assert rotated.startswith("https://clinic.example.org/feeds/")
    assert main(["feed", "issue", "--store", clinic, "--participant", "P-404"]) == 2
    assert "P-404" in capsys.readouterr().err
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "iopcore.app.cli", "serve", "--store", clinic, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                clock.sleep(0.1)
        new_path = rotated.removeprefix("https://clinic.example.org")
        assert httpx.get(base + path).status_code == 404  # rotated away
        assert httpx.get(base + new_path).status_code == 200
        assert main(["feed", "revoke", "--store", clinic, "--participant", "P-1"]) == 0
        assert httpx.get(base + new_path).status_code == 404
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert new_path.encode() not in err  # no access log


def test_a_feed_follows_changes_in_the_store(clinic: str, server: str) -> None:
    """Feeds are cached between changes; any write to the store renders them afresh."""
    from iopcore import LevelOfCareChange, TransitionKind

    with open_storage(clinic, actor="staff") as store:
        token = issue_feed_token(store, "P-1")
    with httpx.Client(base_url=server) as http:
        before = http.get(f"/feeds/{token}.ics")
        assert http.get(f"/feeds/{token}.ics").content == before.content  # cached, same
        with open_storage(clinic, actor="staff") as store:
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
        after = http.get(f"/feeds/{token}.ics", headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200
        assert after.headers["etag"] != before.headers["etag"]
        assert after.content.count(b"BEGIN:VEVENT") < before.content.count(b"BEGIN:VEVENT")
