"""The plugin host (pluggy, entry-point group ``iopcore``) and what plugin authors need.

A plugin imports everything it uses from here: the :data:`hookimpl` marker, the records
registration hooks return, the protocols their callables implement
(:mod:`iopcore.plugins.protocols`), and for storage backends the row type, the schema
version and the error to raise.
"""

from iopcore.core.errors import PluginError, StorageError
from iopcore.io.storage import SCHEMA_VERSION
from iopcore.plugins.hookspecs import hookimpl
from iopcore.plugins.host import PluginFailure, PluginHost, create_plugin_host, default_host
from iopcore.plugins.protocols import (
    AttendanceModelImpl,
    Backend,
    ProgressModelImpl,
    Provider,
    Row,
    Rule,
    SweepExecutor,
    Transaction,
)
from iopcore.plugins.records import (
    AccountabilityRule,
    AttendanceModel,
    CalendarExporter,
    ProgressModel,
    ScreeningProvider,
    StorageBackend,
    SweepBackend,
)

__all__ = [
    "SCHEMA_VERSION",
    "AccountabilityRule",
    "AttendanceModel",
    "AttendanceModelImpl",
    "Backend",
    "CalendarExporter",
    "PluginError",
    "PluginFailure",
    "PluginHost",
    "ProgressModel",
    "ProgressModelImpl",
    "Provider",
    "Row",
    "Rule",
    "ScreeningProvider",
    "StorageBackend",
    "StorageError",
    "SweepBackend",
    "SweepExecutor",
    "Transaction",
    "create_plugin_host",
    "default_host",
    "hookimpl",
]
