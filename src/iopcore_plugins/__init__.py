"""iopcore's built-in plugins, registered before any third-party plugin.

Every public module of this package is a built-in plugin named after the module (so adding
one, e.g. a calendar exporter, is adding its module; nothing lists them). Each entry of
:data:`BUILTINS` is ``(plugin name, module)``; block one with ``IOPCORE_BLOCK_PLUGINS=name``.
"""

import pkgutil


def _builtins() -> tuple[tuple[str, str], ...]:
    modules = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return tuple((name, f"{__name__}.{name}") for name in modules)


BUILTINS: tuple[tuple[str, str], ...] = _builtins()
