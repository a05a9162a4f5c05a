"""CalDAV publishing: put a participant's calendar into a CalDAV collection, changing only
what changed.

The collection itself is the state: its events are read back, the previous export is
rebuilt from them (so SEQUENCE counts changes, as with files), and then each event (one
calendar object per UID) is created, updated or deleted only if it differs from the
export (DTSTAMP aside). Needs the ``caldav`` extra (the python ``caldav`` client).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from attrs import frozen

from iopcore.clinic.services import export_calendar
from iopcore.io.storage import Store
from iopcore.plugins import PluginHost, default_host


@frozen(kw_only=True)
class PublishSummary:
    """What a publish did to the collection: objects created, updated, deleted, kept."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0


def _unfold(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\n ", "").replace("\n\t", "").split("\n")


def split_objects(data: bytes) -> tuple[list[str], dict[str, list[str]], dict[str, list[str]]]:
    """(calendar header lines, VTIMEZONE blocks by TZID, VEVENT lines by UID) of an export."""
    head: list[str] = []
    zones: dict[str, list[str]] = {}
    events: dict[str, list[str]] = {}
    block: list[str] | None = None
    depth = 0
    for line in _unfold(data.decode()):
        if not line or line.upper() in ("BEGIN:VCALENDAR", "END:VCALENDAR"):
            continue
        if block is None:
            if line.upper() in ("BEGIN:VEVENT", "BEGIN:VTIMEZONE"):
                block, depth = [line], 1
            else:
                head.append(line)
            continue
        block.append(line)
        upper = line.upper()
        if upper.startswith("BEGIN:"):
            depth += 1
        elif upper.startswith("END:"):
            depth -= 1
        if depth:
            continue
        if block[0].upper() == "BEGIN:VTIMEZONE":
            tzid = next(x.partition(":")[2] for x in block if x.upper().startswith("TZID:"))
            zones[tzid] = block
        else:
            uid = next(x.partition(":")[2] for x in block if x.upper().startswith("UID:"))
            events.setdefault(uid, []).extend(block)
        block = None
    return head, zones, events


def _object(head: list[str], zones: dict[str, list[str]], event: list[str]) -> str:
    used = [tzid for tzid in zones if f"TZID={tzid}:" in "\n".join(event)]
    lines = ["BEGIN:VCALENDAR", *head]
    for tzid in used:
        lines += zones[tzid]
    lines += [*event, "END:VCALENDAR"]
    return "".join(line + "\r\n" for line in lines)


def _comparable(text: str) -> list[str]:
    """The object's VEVENT lines without DTSTAMP, for deciding whether it changed."""
    _, _, events = split_objects(text.encode())
    return sorted(
        x for lines in events.values() for x in lines if not x.upper().startswith("DTSTAMP")
    )


def publish_calendar(
    store: Store,
    participant_id: str,
    url: str,
    *,
    as_of: date,
    username: str | None = None,
    password: str | None = None,
    host: PluginHost | None = None,
    **options: Any,
) -> PublishSummary:
    """Publish the participant's calendar to the CalDAV collection at ``url``.

    Audited like an export (``calendar`` then ``calendar-publish``). Options go to the
    exporter, as for :func:`iopcore.clinic.export_calendar`.
    """
    import caldav

    dav: Any = caldav  # its lazily loaded names are typed as object
    host = host or default_host()
    client = dav.DAVClient(url=url, username=username, password=password)
    # the sync client: caldav's annotations also allow its async coroutines
    collection: Any = dav.Calendar(client=client, url=url)
    existing: dict[str, Any] = {}
    previous_events: list[str] = []
    for obj in collection.get_events():
        _, _, events = split_objects(obj.data.encode())
        for uid, lines in events.items():
            existing[uid] = obj
            previous_events += lines
    previous = "".join(
        x + "\r\n" for x in ["BEGIN:VCALENDAR", "VERSION:2.0", *previous_events, "END:VCALENDAR"]
    ).encode()
    live = split_objects(export_calendar(store, participant_id, as_of=as_of, host=host, **options))
    data = export_calendar(
        store, participant_id, as_of=as_of, host=host, previous=previous, **options
    )
    head, zones, events = split_objects(data)
    head = [x for x in head if not x.upper().startswith("X-REMOVED-UID")]
    created = updated = unchanged = deleted = 0
    for uid in live[2]:
        text = _object(head, zones, events[uid])
        old = existing.get(uid)
        if old is None:
            # SEQUENCE is the exporter's (counted from the collection's copy): not caldav's
            collection.add_event(text, increase_seqno=False)
            created += 1
        elif _comparable(old.data) != _comparable(text):
            old.data = text
            old.save(increase_seqno=False)
            updated += 1
        else:
            unchanged += 1
    for uid, obj in existing.items():
        if uid not in live[2]:
            obj.delete()
            deleted += 1
    store.record_export("calendar-publish", participant_id)
    return PublishSummary(created=created, updated=updated, deleted=deleted, unchanged=unchanged)
