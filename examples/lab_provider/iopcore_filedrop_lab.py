"""A file-drop lab for iopcore: each order goes out as a JSON file in ``outbox/``; the lab
drops result JSON files in ``inbox/``, per substance in LOINC (loinc.org: 19359-9 cocaine
screen, answers LA6576-8 positive, LA6577-6 negative). See README.md for the file formats.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from iopcore import ScreeningOrder, ScreeningResult, SubstanceOutcome, SubstanceResult
from iopcore.plugins import Provider, ScreeningProvider, hookimpl

PANEL = "24349-3"  # drugs of abuse 5 panel (urine)
SCREENS = {
    "19343-3": "amphetamines",
    "18282-4": "cannabinoids",
    "19295-5": "opiates",
    "19359-9": "cocaine",
}
ANSWERS = {"LA6576-8": SubstanceOutcome.POSITIVE, "LA6577-6": SubstanceOutcome.NEGATIVE}


class FileDropLab:
    """Orders and results exchanged as files in a folder both sides can reach."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        root = Path(folder)
        self.outbox, self.inbox = root / "outbox", root / "inbox"
        self.archive, self.rejected = root / "archive", root / "rejected"
        for path in (self.outbox, self.inbox, self.archive, self.rejected):
            path.mkdir(parents=True, exist_ok=True)

    def place_order(self, order: ScreeningOrder) -> str:
        payload = {**attrs.asdict(order), "loinc": PANEL}  # dates as ISO text, enums as values
        part = self.outbox / f"{order.id}.json.part"  # the lab never sees half a file
        part.write_text(json.dumps(payload, default=str, indent=2), encoding="utf-8")
        os.replace(part, self.outbox / f"{order.id}.json")
        return order.id

    def collect_results(self) -> list[ScreeningResult]:
        results = []
        for path in sorted(self.inbox.glob("*.json")):
            try:
                results.append(_result(json.loads(path.read_text(encoding="utf-8"))))
            except (ValueError, KeyError, TypeError) as exc:  # ValidationError is a ValueError
                os.replace(path, self.rejected / path.name)
                (self.rejected / f"{path.name}.error").write_text(f"{exc!r}\n", encoding="utf-8")
                continue
            os.replace(path, self.archive / path.name)
        return results


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _result(data: dict[str, Any]) -> ScreeningResult:
    return ScreeningResult(
        order_id=data["order_id"],
        participant_id=data["participant_id"],
        results=[
            SubstanceResult(
                substance=SCREENS[o["code"]], result=ANSWERS[o["answer"]], loinc=o["code"]
            )
            for o in data["observations"]
        ],
        collected_at=_time(data.get("collected_at")),
        resulted_at=_time(data.get("resulted_at")),
    )


def create(folder: str | os.PathLike[str]) -> Provider:
    """``create_plugin_host().screening_provider("filedrop-lab").create(folder=...)``."""
    return FileDropLab(folder)


@hookimpl
def iopcore_screening_providers() -> list[ScreeningProvider]:
    about = "orders and results as JSON files in a folder shared with the lab"
    return [ScreeningProvider(name="filedrop-lab", create=create, description=about)]
