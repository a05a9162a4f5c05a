"""The plugin host (pluggy, entry-point group ``iopcore``): hooks, records, facade."""

from iopcore.plugins.hookspecs import hookimpl
from iopcore.plugins.host import PluginFailure, PluginHost, create_plugin_host, default_host
from iopcore.plugins.records import (
    AccountabilityRule,
    AttendanceModel,
    CalendarExporter,
    ScreeningProvider,
    StorageBackend,
    SweepBackend,
)

__all__ = [
    "AccountabilityRule",
    "AttendanceModel",
    "CalendarExporter",
    "PluginFailure",
    "PluginHost",
    "ScreeningProvider",
    "StorageBackend",
    "SweepBackend",
    "create_plugin_host",
    "default_host",
    "hookimpl",
]
