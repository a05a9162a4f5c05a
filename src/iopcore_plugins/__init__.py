"""iopcore's built-in plugins, registered before any third-party plugin.

Each entry is ``(plugin name, module)``; block one with ``IOPCORE_BLOCK_PLUGINS=name``.
"""

BUILTINS: tuple[tuple[str, str], ...] = (
    ("memory", "iopcore_plugins.memory"),
    ("sqlite", "iopcore_plugins.sqlite"),
    ("postgresql", "iopcore_plugins.postgresql"),
    ("ics", "iopcore_plugins.ics"),
    ("manual", "iopcore_plugins.manual"),
    ("rules", "iopcore_plugins.rules"),
    ("simulation", "iopcore_plugins.simulation"),
)
