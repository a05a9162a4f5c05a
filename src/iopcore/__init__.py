"""iopcore: an embeddable library for intensive outpatient programs (IOPs).

The public API is re-exported here; everything else is an implementation detail.

>>> import iopcore
>>> program = iopcore.load_program("examples/programs/adult-evening.toml")
>>> iopcore.meets_level_of_care(iopcore.check_program(program))
True
"""

from iopcore.cadence import Change, Closure, Slot, Weekday, localize, zone
from iopcore.care import (
    IntensityRule,
    LevelOfCare,
    Population,
    RuleSet,
    intensity_rules,
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
from iopcore.intensity import IntensityFinding, Severity, check_program, meets_level_of_care
from iopcore.program import Phase, Program, Track
from iopcore.schedule import Occurrence, Status, expand, occurrence_id, weekly_hours
from iopcore.sessions import Modality, SessionKind, SessionType

__version__ = "0.1.0.dev0"

__all__ = [
    "Change",
    "Closure",
    "IntensityFinding",
    "IntensityRule",
    "IopcoreError",
    "LevelOfCare",
    "Modality",
    "Occurrence",
    "Phase",
    "PluginError",
    "Population",
    "Program",
    "ProgramFileError",
    "RuleSet",
    "ScheduleError",
    "SessionKind",
    "SessionType",
    "Severity",
    "Slot",
    "Status",
    "StorageError",
    "Track",
    "ValidationError",
    "Weekday",
    "check_program",
    "dump_program",
    "expand",
    "intensity_rules",
    "load_program",
    "loads_program",
    "localize",
    "meets_level_of_care",
    "occurrence_id",
    "save_program",
    "weekly_hours",
    "zone",
]
