"""Store-facing services: one call per task clinic software asks of a store.

Each reads what it needs from a :class:`~iopcore.io.storage.Store`, computes in the pure
domain (:mod:`iopcore.core`) and writes what it must; plugins come from a
:class:`~iopcore.plugins.PluginHost`.
"""

from iopcore.clinic.services import (
    ParticipantPlan,
    census,
    export_calendar,
    open_findings,
    participant_sessions,
    plan_for,
    session_scopes,
)

__all__ = [
    "ParticipantPlan",
    "census",
    "export_calendar",
    "open_findings",
    "participant_sessions",
    "plan_for",
    "session_scopes",
]
