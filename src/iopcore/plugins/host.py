"""The plugin host: a typed facade over pluggy (as in tox), one new host per call.

Built-ins from :mod:`iopcore_plugins` register first, then entry points of the group
``iopcore``. A plugin that fails to import is reported and skipped (or fatal with
``strict=True``). A name that two plugins claim raises :class:`PluginError` naming both.
Set ``IOPCORE_BLOCK_PLUGINS=name,name`` to keep named plugins from loading.

    >>> host = create_plugin_host()
    >>> sorted(host.storage_schemes())
    ['memory', 'postgres', 'postgresql', 'sqlite']
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import pluggy
from attrs import frozen

from iopcore.core.errors import PluginError, one_of, suggest
from iopcore.io.storage import Store
from iopcore.io.urls import backend_for
from iopcore.plugins import hookspecs
from iopcore.plugins.records import (
    AccountabilityRule,
    AttendanceModel,
    CalendarExporter,
    ScreeningProvider,
    StorageBackend,
    SweepBackend,
)

_log = logging.getLogger("iopcore")

#: Event hooks (``iopcore_<name>``) plugins may subscribe to.
EVENTS = ("attendance_recorded", "finding_raised", "stepdown_recommended", "export_made")

#: Environment variable naming plugins (by plugin name) that must not load.
BLOCK_ENV = "IOPCORE_BLOCK_PLUGINS"
ENTRY_POINT_GROUP = "iopcore"

T = TypeVar(
    "T",
    StorageBackend,
    CalendarExporter,
    ScreeningProvider,
    AccountabilityRule,
    AttendanceModel,
    SweepBackend,
)


@frozen(kw_only=True)
class PluginFailure:
    """A plugin that could not be loaded: which one, from which distribution, and why."""

    name: str
    distribution: str
    error: str


class PluginHost:
    """Typed access to what the registered plugins provide. Create with create_plugin_host()."""

    def __init__(
        self,
        manager: pluggy.PluginManager,
        failures: Sequence[PluginFailure],
        blocked: Iterable[str] = (),
    ) -> None:
        self._pm = manager
        self.failures = tuple(failures)
        #: Plugins kept from loading (``blocked=`` or ``IOPCORE_BLOCK_PLUGINS``).
        self.blocked = tuple(sorted(blocked))
        #: Event subscribers that raised (the event's cause had already happened).
        self.event_failures: list[PluginFailure] = []

    def __repr__(self) -> str:
        return f"<PluginHost plugins={self.plugin_names()}>"

    def plugin_names(self) -> list[str]:
        """Names of the registered plugins, in registration order."""
        return [name for name, _ in self._pm.list_name_plugin()]

    def _collect(self, hook: str, kind: type[T], what: str) -> dict[str, T]:
        return {name: record for name, (record, _) in self._collect_owned(hook, kind, what).items()}

    def _collect_owned(self, hook: str, kind: type[T], what: str) -> dict[str, tuple[T, str]]:
        """Records by name with the plugin that registered each, in registration order."""
        found: dict[str, T] = {}
        owner: dict[str, str] = {}
        caller = getattr(self._pm.hook, hook)
        for impl in caller.get_hookimpls():  # registration order (pluggy calls in reverse)
            try:
                records = list(impl.function())
            except Exception as exc:
                raise PluginError(f"plugin {impl.plugin_name!r} failed in {hook}: {exc!r}") from exc
            for record in records:
                if not isinstance(record, kind):
                    raise PluginError(
                        f"plugin {impl.plugin_name!r}: {hook} must return {kind.__name__} "
                        f"records, got {type(record).__name__}"
                    )
                if record.name in found:
                    raise PluginError(
                        f"{what} {record.name!r} is registered by both plugin "
                        f"{owner[record.name]!r} and plugin {impl.plugin_name!r}; block one "
                        f"with {BLOCK_ENV}={impl.plugin_name}"
                    )
                found[record.name] = record
                owner[record.name] = impl.plugin_name
        return {name: (record, owner[name]) for name, record in found.items()}

    def _one(self, registry: dict[str, T], name: str, what: str) -> T:
        try:
            return registry[name]
        except KeyError:
            raise PluginError(
                f"no {what} named {name!r}{suggest(name, registry)}; "
                + (one_of(registry) if registry else "none is installed")
            ) from None

    # -- registrations -----------------------------------------------------------------

    def storage_backends(self) -> dict[str, StorageBackend]:
        return self._collect("iopcore_storage_backends", StorageBackend, "storage backend")

    def storage_schemes(self) -> dict[str, StorageBackend]:
        """URL scheme -> backend; a scheme two backends claim is an error naming both."""
        schemes: dict[str, tuple[StorageBackend, str]] = {}
        owned = self._collect_owned("iopcore_storage_backends", StorageBackend, "storage backend")
        for backend, plugin in owned.values():
            for scheme in backend.schemes:
                if scheme in schemes:
                    first, first_plugin = schemes[scheme]
                    raise PluginError(
                        f"URL scheme {scheme!r} is claimed by both storage backend "
                        f"{first.name!r} (plugin {first_plugin!r}) and {backend.name!r} (plugin "
                        f"{plugin!r}); block one with {BLOCK_ENV}={plugin}"
                    )
                schemes[scheme] = (backend, plugin)
        return {scheme: backend for scheme, (backend, _) in schemes.items()}

    def open_storage(self, url: str, *, actor: str = "iopcore") -> Store:
        """Open the store at ``url`` (``memory://``, ``sqlite:///path.db``, ...)."""
        blocked = (
            f"; plugins blocked by {BLOCK_ENV}: {', '.join(self.blocked)}" if self.blocked else ""
        )
        backend = backend_for(url, self.storage_schemes(), blocked=blocked)  # masks the URL
        return Store(backend.open(url), actor=actor, events=self.emit)

    def calendar_exporters(self) -> dict[str, CalendarExporter]:
        return self._collect("iopcore_calendar_exporters", CalendarExporter, "calendar exporter")

    def calendar_exporter(self, name: str) -> CalendarExporter:
        return self._one(self.calendar_exporters(), name, "calendar exporter")

    def screening_providers(self) -> dict[str, ScreeningProvider]:
        return self._collect("iopcore_screening_providers", ScreeningProvider, "screening provider")

    def screening_provider(self, name: str) -> ScreeningProvider:
        return self._one(self.screening_providers(), name, "screening provider")

    def accountability_rules(self) -> dict[str, AccountabilityRule]:
        return self._collect(
            "iopcore_accountability_rules", AccountabilityRule, "accountability rule"
        )

    def accountability_rule(self, name: str) -> AccountabilityRule:
        return self._one(self.accountability_rules(), name, "accountability rule")

    def attendance_models(self) -> dict[str, AttendanceModel]:
        return self._collect("iopcore_attendance_models", AttendanceModel, "attendance model")

    def attendance_model(self, name: str) -> AttendanceModel:
        return self._one(self.attendance_models(), name, "attendance model")

    def sweep_backends(self) -> dict[str, SweepBackend]:
        return self._collect("iopcore_sweep_backends", SweepBackend, "sweep backend")

    def sweep_backend(self, name: str) -> SweepBackend:
        return self._one(self.sweep_backends(), name, "sweep backend")

    # -- events ------------------------------------------------------------------------

    def emit(self, event: str, kwargs: dict[str, Any]) -> None:
        """Call every plugin's ``iopcore_<event>`` hook with keyword arguments.

        Events run after the fact (the write has committed), so a subscriber that fails
        does not fail the caller: the failure is kept in :attr:`event_failures` and logged
        on the ``iopcore`` logger, and the other subscribers still run.
        """
        if event not in EVENTS:
            raise PluginError(f"no event {event!r}{suggest(event, EVENTS)}; {one_of(EVENTS)}")
        caller = getattr(self._pm.hook, f"iopcore_{event}")
        for impl in caller.get_hookimpls():
            try:
                impl.function(**kwargs)
            except Exception as exc:
                failure = PluginFailure(
                    name=impl.plugin_name, distribution="", error=f"iopcore_{event}: {exc!r}"
                )
                self.event_failures.append(failure)
                _log.warning(
                    "plugin %r failed in iopcore_%s after the fact: %r",
                    impl.plugin_name,
                    event,
                    exc,
                )


def create_plugin_host(
    *,
    strict: bool = False,
    entry_points: bool = True,
    plugins: Iterable[tuple[str, object]] = (),
    blocked: Iterable[str] | None = None,
) -> PluginHost:
    """A new plugin host: built-ins, then entry points (group ``iopcore``), then ``plugins``.

    ``blocked`` (default: from ``IOPCORE_BLOCK_PLUGINS``) names plugins not to load.
    ``plugins`` are extra ``(name, plugin)`` pairs, e.g. for an application's own hooks.
    """
    if blocked is None:
        blocked = [n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()]
    block = set(blocked)
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    failures: list[PluginFailure] = []

    from iopcore_plugins import BUILTINS

    for name, module in BUILTINS:
        if name not in block:
            _register(pm, name, importlib.import_module(module))
    if entry_points:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in block:
                continue
            dist = ep.dist.name if ep.dist is not None else "unknown distribution"
            try:
                plugin = ep.load()
            except Exception as exc:
                failure = PluginFailure(name=ep.name, distribution=dist, error=repr(exc))
                if strict:
                    raise PluginError(
                        f"plugin {ep.name!r} from distribution {dist!r} failed to load: "
                        f"{failure.error}"
                    ) from exc
                failures.append(failure)
                continue
            try:
                _register(pm, ep.name, plugin, dist)
            except PluginError as exc:
                if strict:
                    raise
                failures.append(PluginFailure(name=ep.name, distribution=dist, error=str(exc)))
    for name, plugin in plugins:
        if name not in block:
            _register(pm, name, plugin)
    known = {name for name, _ in BUILTINS} | {name for name, _ in plugins}
    if entry_points:
        known |= {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    for name in sorted(block - known):
        _log.warning(
            "%s names %r, which is no installed plugin (known: %s)",
            BLOCK_ENV,
            name,
            ", ".join(sorted(known)),
        )
    return PluginHost(pm, failures, blocked=block & known)


def _register(pm: pluggy.PluginManager, name: str, plugin: object, dist: str = "") -> None:
    existing = pm.get_plugin(name)
    if existing is not None:
        raise PluginError(
            f"plugin name {name!r} is claimed twice (by {_describe(existing)} and by "
            f"{_describe(plugin)}{' from ' + dist if dist else ''}); block one with {BLOCK_ENV}"
        )
    try:
        pm.register(plugin, name=name)
    except (ValueError, pluggy.PluginValidationError) as exc:
        where = f" from distribution {dist!r}" if dist else ""
        raise PluginError(f"plugin {name!r}{where} cannot be registered: {exc}") from exc


def _describe(plugin: object) -> str:
    return getattr(plugin, "__name__", type(plugin).__name__)
