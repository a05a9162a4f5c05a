"""iopcore: an embeddable library for intensive outpatient programs (IOPs).

The public API is re-exported here; everything else is an implementation detail.

    >>> import iopcore
    >>> program = iopcore.load_program("examples/programs/adult-evening.toml")
    >>> iopcore.meets_level_of_care(iopcore.check_program(program))
    True
"""

from iopcore.assessments import Assessment, MeasureKind
from iopcore.attendance import AttendanceRecord, AttendanceStatus
from iopcore.cadence import Change, Closure, Slot, Weekday, localize, zone
from iopcore.care import (
    IntensityRule,
    LevelOfCare,
    Population,
    RuleSet,
    intensity_rules,
)
from iopcore.decisions import Decision, Recommendation
from iopcore.enrollment import Enrollment, LevelOfCareChange, Participant, TransitionKind
from iopcore.errors import (
    IopcoreError,
    PluginError,
    ProgramFileError,
    ScheduleError,
    StorageError,
    ValidationError,
)
from iopcore.files import dump_program, load_program, loads_program, save_program
from iopcore.intensity import IntensityFinding, Severity, check_program, meets_level_of_care
from iopcore.plugins import PluginHost, create_plugin_host
from iopcore.program import Phase, Program, Track
from iopcore.schedule import Occurrence, Status, expand, occurrence_id, weekly_hours
from iopcore.screening import (
    OrderReason,
    ScreeningOrder,
    ScreeningResult,
    Specimen,
    SubstanceOutcome,
    SubstanceResult,
)
from iopcore.sessions import Modality, SessionKind, SessionType
from iopcore.storage import AuditEntry, Store, WriteSummary

__version__ = "0.1.0.dev0"


def open_storage(url: str, *, actor: str = "iopcore") -> Store:
    """Open a store by URL with a new default plugin host (see create_plugin_host)."""
    return create_plugin_host().open_storage(url, actor=actor)


__all__ = [
    "Assessment",
    "AttendanceRecord",
    "AttendanceStatus",
    "AuditEntry",
    "Change",
    "Closure",
    "Decision",
    "Enrollment",
    "IntensityFinding",
    "IntensityRule",
    "IopcoreError",
    "LevelOfCare",
    "LevelOfCareChange",
    "MeasureKind",
    "Modality",
    "Occurrence",
    "OrderReason",
    "Participant",
    "Phase",
    "PluginError",
    "PluginHost",
    "Population",
    "Program",
    "ProgramFileError",
    "Recommendation",
    "RuleSet",
    "ScheduleError",
    "ScreeningOrder",
    "ScreeningResult",
    "SessionKind",
    "SessionType",
    "Severity",
    "Slot",
    "Specimen",
    "Status",
    "StorageError",
    "Store",
    "SubstanceOutcome",
    "SubstanceResult",
    "Track",
    "TransitionKind",
    "ValidationError",
    "Weekday",
    "WriteSummary",
    "check_program",
    "create_plugin_host",
    "dump_program",
    "expand",
    "intensity_rules",
    "load_program",
    "loads_program",
    "localize",
    "meets_level_of_care",
    "occurrence_id",
    "open_storage",
    "save_program",
    "weekly_hours",
    "zone",
]
