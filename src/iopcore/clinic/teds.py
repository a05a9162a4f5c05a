"""TEDS admission and discharge records from a store, sent through the disclosure gate;
and the simulation's outcomes in the same discharge coding.

The records come from :func:`iopcore.core.teds.teds_records`; the file is a CSV with one row
per record. Sending it to the state is a disclosure of every participant in it: the gate
checks each one's consent (or records that the state's law requires the report without
consent) before anything is written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from attrs import frozen

from iopcore.clinic.disclosure import Release, Send, disclose
from iopcore.core.consent import Category, Disclosure, Purpose, Recipient
from iopcore.core.errors import ValidationError
from iopcore.core.teds import SIMULATION_OUTCOMES, Period, TedsRecord, teds_records
from iopcore.io.output import csv_cell, starts_with
from iopcore.io.storage import Store

if TYPE_CHECKING:
    import pandas as pd

#: What a TEDS file discloses of each participant in it.
TEDS_CATEGORIES = (Category.IDENTITY, Category.ENROLLMENT, Category.DISCHARGE)

COLUMNS = (
    "record_type",
    "client_id",
    "episode_id",
    "admission_date",
    "service_code",
    "service_setting",
    "discharge_date",
    "reason_code",
    "reason",
    "length_of_stay_days",
    "last_contact",
)

#: How an existing TEDS file starts (so writing over one needs no --force).
is_teds = starts_with(",".join(COLUMNS).encode())


def teds_report(store: Store, period: Period) -> tuple[TedsRecord, ...]:
    """Every admission and discharge in ``period``, by participant and admission date."""
    out: list[TedsRecord] = []
    for participant in store.participants():
        attendance = store.attendance(participant.id)
        for enrollment in store.enrollments(participant.id):
            out += teds_records(
                enrollment,
                store.history(enrollment.id),
                store.decisions(enrollment.id),
                attendance,
                period,
                client_id=participant.id,
            )
    return tuple(out)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return csv_cell(str(value))  # state staff open these in spreadsheets


def teds_csv(records: Sequence[TedsRecord]) -> bytes:
    """The records as CSV (empty cells where iopcore holds nothing; nothing invented)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in records:
        row = {
            **{c: getattr(r, c, None) for c in COLUMNS},
            "reason_code": r.reason.code if r.reason else None,
            "reason": r.reason.value if r.reason else None,
        }
        writer.writerow([_cell(row[c]) for c in COLUMNS])
    return buffer.getvalue().encode()


@frozen(kw_only=True)
class TedsExport:
    """What was sent: the records, the disclosures recorded, and what the file lacks."""

    records: tuple[TedsRecord, ...]
    disclosures: tuple[Disclosure, ...]
    #: Minimum data set items missing from at least one record (never invented).
    missing: tuple[str, ...]


def export_teds(
    store: Store,
    period: Period | str,
    *,
    recipient: Recipient,
    send: Send,
    consent_required: bool = True,
    now: datetime | None = None,
) -> TedsExport:
    """Send the period's TEDS records through the gate. With ``consent_required`` (the
    default) every participant in the file needs a consent, on the day it is sent
    (``now``), naming ``recipient`` for ``state-reporting`` and identity, enrollment and
    discharge, or nothing is written."""
    if isinstance(period, str):
        period = Period.parse(period)
    records = teds_report(store, period)
    missing = tuple(dict.fromkeys(m for r in records for m in r.missing))
    participants = list(dict.fromkeys(r.client_id for r in records))
    if not participants:  # an empty submission discloses no one
        send(teds_csv(()))
        return TedsExport(records=(), disclosures=(), missing=missing)

    def render(releases: tuple[Release, ...]) -> bytes:
        allowed = {r.participant_id for r in releases}
        return teds_csv([r for r in records if r.client_id in allowed])

    disclosures = disclose(
        store,
        participants,
        recipient=recipient,
        purpose=Purpose.STATE_REPORTING,
        categories=TEDS_CATEGORIES,
        what="teds",
        render=render,
        send=send,
        now=now,
        consent_required=consent_required,
    )
    return TedsExport(records=records, disclosures=disclosures, missing=missing)


def simulated_discharges(participants: pd.DataFrame) -> pd.DataFrame:
    """The simulation's per-participant table (``result.participants``) as TEDS discharges:
    one row per simulated exit with ``reason_code`` and ``reason`` in TEDS coding and the
    stay in weeks; people still enrolled at the horizon have no discharge and are left out.
    Put next to a clinic's own :func:`teds_report`, they compare like with like."""
    import pandas as pd

    needed = {"scenario", "replicate", "participant", "outcome", "start_week", "exit_week"}
    lacking = sorted(needed - set(participants.columns))
    if lacking:
        raise ValidationError(
            "simulated_discharges needs the simulation's participant table "
            f"(result.participants); missing columns: {', '.join(lacking)}"
        )
    outcome = participants["outcome"].astype(str)
    exits = participants[outcome.isin(list(SIMULATION_OUTCOMES))]
    reasons = exits["outcome"].astype(str).map(lambda o: SIMULATION_OUTCOMES[o])
    return pd.DataFrame(
        {
            "scenario": exits["scenario"].to_numpy(),
            "replicate": exits["replicate"].to_numpy(),
            "participant": exits["participant"].to_numpy(),
            "reason_code": reasons.map(lambda r: r.code).astype("int8").to_numpy(),
            "reason": reasons.map(lambda r: r.value).to_numpy(),
            "length_of_stay_weeks": (exits["exit_week"] - exits["start_week"] + 1).to_numpy(),
        }
    )
