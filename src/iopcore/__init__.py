"""iopcore: an embeddable library for intensive outpatient programs (IOPs).

The public API is re-exported here; everything else is an implementation detail.

    >>> import iopcore
    >>> program = iopcore.load_program("examples/programs/adult-evening.toml")
    >>> iopcore.meets_level_of_care(iopcore.check_program(program))
    True
"""

from iopcore.clinic import (
    ParticipantPlan,
    acknowledge_finding,
    census,
    export_calendar,
    open_findings,
    participant_sessions,
    plan_for,
    resolve_finding,
    review_findings,
    timeline_for,
)
from iopcore.clinic.disclosure import (
    Release,
    consent_for,
    disclose,
    disclosures_for,
    share_calendar,
)
from iopcore.core.accountability import (
    Concern,
    Evidence,
    Finding,
    FindingReview,
    FindingStatus,
    ParticipantRecords,
    ReviewedFinding,
    evaluate,
    evaluate_census,
)
from iopcore.core.aftercare import AftercareItem, AftercareKind, AftercarePlan
from iopcore.core.assessments import Assessment, MeasureKind
from iopcore.core.attendance import AttendanceRecord, AttendanceStatus
from iopcore.core.cadence import Change, Closure, Slot, Weekday, localize, zone
from iopcore.core.care import (
    IntensityRule,
    LevelOfCare,
    Population,
    RuleSet,
    intensity_rules,
)
from iopcore.core.consent import (
    Consent,
    ConsentDecision,
    ConsentError,
    ConsentRevocation,
    Disclosure,
    Recipient,
    consent_decision,
)
from iopcore.core.course import course
from iopcore.core.decisions import Decision, Recommendation
from iopcore.core.dose import WeekDose, weekly_dose
from iopcore.core.enrollment import (
    Enrollment,
    FamilyContact,
    LevelOfCareChange,
    Participant,
    TransitionKind,
)
from iopcore.core.errors import (
    IopcoreError,
    PluginError,
    ProgramFileError,
    ScheduleError,
    StorageError,
    ValidationError,
)
from iopcore.core.fit import Obligation, TrackFit, fit_tracks
from iopcore.core.intensity import IntensityFinding, Severity, check_program, meets_level_of_care
from iopcore.core.measures import Due, measures_due
from iopcore.core.policies import (
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
from iopcore.core.program import Phase, Program, Track
from iopcore.core.schedule import Occurrence, Status, expand, occurrence_id, weekly_hours
from iopcore.core.screening import (
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
from iopcore.core.sessions import Modality, SessionKind, SessionType
from iopcore.core.stepdown import (
    Criterion,
    CriterionStatus,
    Evaluation,
    StepDownPlan,
    decide,
    evaluate_transition,
    step_down_plan,
)
from iopcore.core.timeline import Timeline, TimelineItem, build_timeline
from iopcore.io.files import dump_program, load_program, loads_program, save_program
from iopcore.io.storage import AuditChange, AuditEntry, Store, WriteSummary
from iopcore.plugins import PluginHost, create_plugin_host
from iopcore.plugins.host import default_host as _default_host

__version__ = "0.1.0.dev0"


def open_storage(url: str, *, actor: str = "iopcore") -> Store:
    """Open a store by URL with the process's shared plugin host (see default_host)."""
    return _default_host().open_storage(url, actor=actor)


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
    "Consent",
    "ConsentDecision",
    "ConsentError",
    "ConsentRevocation",
    "Criterion",
    "CriterionStatus",
    "Decision",
    "Disclosure",
    "Due",
    "EligibleDays",
    "Enrollment",
    "Evaluation",
    "Evidence",
    "FamilyContact",
    "Finding",
    "FindingReview",
    "FindingStatus",
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
    "Recipient",
    "Recommendation",
    "Release",
    "ReviewedFinding",
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
    "acknowledge_finding",
    "build_timeline",
    "census",
    "check_program",
    "consent_decision",
    "consent_for",
    "course",
    "create_plugin_host",
    "decide",
    "disclose",
    "disclosures_for",
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
    "resolve_finding",
    "review_findings",
    "save_program",
    "screening_draws",
    "share_calendar",
    "step_down_plan",
    "timeline_for",
    "verify_draw",
    "weekly_dose",
    "weekly_hours",
    "zone",
]
