"""Store-facing services: one call per task clinic software asks of a store.

Each reads what it needs from a :class:`~iopcore.io.storage.Store`, computes in the pure
domain (:mod:`iopcore.core`) and writes what it must; plugins come from a
:class:`~iopcore.plugins.PluginHost`.
"""

from iopcore.clinic.findings import acknowledge_finding, resolve_finding, review_findings
from iopcore.clinic.services import (
    ParticipantPlan,
    census,
    export_calendar,
    open_findings,
    participant_sessions,
    plan_for,
    session_scopes,
)
from iopcore.clinic.timeline import timeline_for

__all__ = [
    "ParticipantPlan",
    "acknowledge_finding",
    "census",
    "export_calendar",
    "open_findings",
    "participant_sessions",
    "plan_for",
    "resolve_finding",
    "review_findings",
    "session_scopes",
    "timeline_for",
]
