"""iopcore: an embeddable library for intensive outpatient programs (IOPs).

The public API is re-exported here; everything else is an implementation detail.

    >>> import iopcore
    >>> program = iopcore.load_program("examples/programs/adult-evening.toml")
    >>> iopcore.meets_level_of_care(iopcore.check_program(program))
    True
"""

from iopcore.accountability import (
    Concern,
    Evidence,
    Finding,
    ParticipantRecords,
    evaluate,
    evaluate_census,
)
from iopcore.aftercare import AftercareItem, AftercareKind, AftercarePlan
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
from iopcore.clinic import (
    ParticipantPlan,
    census,
    export_calendar,
    open_findings,
    participant_sessions,
    plan_for,
)
from iopcore.course import course
from iopcore.decisions import Decision, Recommendation
from iopcore.dose import WeekDose, weekly_dose
from iopcore.enrollment import (
    Enrollment,
    FamilyContact,
    LevelOfCareChange,
    Participant,
    TransitionKind,
)
from iopcore.errors import (
    IopcoreError,
    PluginError,
    ProgramFileError,
    ScheduleError,
    StorageError,
    ValidationError,
)
from iopcore.files import dump_program, load_program, loads_program, save_program
from iopcore.fit import Obligation, TrackFit, fit_tracks
from iopcore.intensity import IntensityFinding, Severity, check_program, meets_level_of_care
from iopcore.measures import Due, measures_due
from iopcore.plugins import PluginHost, create_plugin_host
from iopcore.policies import (
    AccountabilitySettings,
    CareStage,
    EligibleDays,
    MeasureSchedule,
    Period,
    ScoreLimit,
    ScreeningPolicy,
    StepDownPolicy,
    StepUpPolicy,
    TransferPolicy,
)
from iopcore.program import Phase, Program, Track
from iopcore.schedule import Occurrence, Status, expand, occurrence_id, weekly_hours
from iopcore.screening import (
    OrderReason,
    ScreeningDraw,
    ScreeningOrder,
    ScreeningResult,
    Secret,
    Specimen,
    SubstanceOutcome,
    SubstanceResult,
    orders_for,
    screening_draws,
    verify_draw,
)
from iopcore.sessions import Modality, SessionKind, SessionType
from iopcore.stepdown import (
    Criterion,
    CriterionStatus,
    Evaluation,
    StepDownPlan,
    decide,
    evaluate_transition,
    step_down_plan,
)
from iopcore.storage import AuditChange, AuditEntry, Store, WriteSummary
from iopcore.timeline import Timeline, TimelineItem, build_timeline

__version__ = "0.1.0.dev0"


def open_storage(url: str, *, actor: str = "iopcore") -> Store:
    """Open a store by URL with a new default plugin host (see create_plugin_host)."""
    return create_plugin_host().open_storage(url, actor=actor)


__all__ = [
    "AccountabilitySettings",
    "AftercareItem",
    "AftercareKind",
    "AftercarePlan",
    "Assessment",
    "AttendanceRecord",
    "AttendanceStatus",
    "AuditChange",
    "AuditEntry",
    "CareStage",
    "Change",
    "Closure",
    "Concern",
    "Criterion",
    "CriterionStatus",
    "Decision",
    "Due",
    "EligibleDays",
    "Enrollment",
    "Evaluation",
    "Evidence",
    "FamilyContact",
    "Finding",
    "IntensityFinding",
    "IntensityRule",
    "IopcoreError",
    "LevelOfCare",
    "LevelOfCareChange",
    "MeasureKind",
    "MeasureSchedule",
    "Modality",
    "Obligation",
    "Occurrence",
    "OrderReason",
    "Participant",
    "ParticipantPlan",
    "ParticipantRecords",
    "Period",
    "Phase",
    "PluginError",
    "PluginHost",
    "Population",
    "Program",
    "ProgramFileError",
    "Recommendation",
    "RuleSet",
    "ScheduleError",
    "ScoreLimit",
    "ScreeningDraw",
    "ScreeningOrder",
    "ScreeningPolicy",
    "ScreeningResult",
    "Secret",
    "SessionKind",
    "SessionType",
    "Severity",
    "Slot",
    "Specimen",
    "Status",
    "StepDownPlan",
    "StepDownPolicy",
    "StepUpPolicy",
    "StorageError",
    "Store",
    "SubstanceOutcome",
    "SubstanceResult",
    "Timeline",
    "TimelineItem",
    "Track",
    "TrackFit",
    "TransferPolicy",
    "TransitionKind",
    "ValidationError",
    "WeekDose",
    "Weekday",
    "WriteSummary",
    "build_timeline",
    "census",
    "check_program",
    "course",
    "create_plugin_host",
    "decide",
    "dump_program",
    "evaluate",
    "evaluate_census",
    "evaluate_transition",
    "expand",
    "export_calendar",
    "fit_tracks",
    "intensity_rules",
    "load_program",
    "loads_program",
    "localize",
    "measures_due",
    "meets_level_of_care",
    "occurrence_id",
    "open_findings",
    "open_storage",
    "orders_for",
    "participant_sessions",
    "plan_for",
    "save_program",
    "screening_draws",
    "step_down_plan",
    "verify_draw",
    "weekly_dose",
    "weekly_hours",
    "zone",
]
