"""The plugin host: a typed facade over pluggy's own dispatch (as in tox and pytest).

Built-ins from :mod:`iopcore_plugins` register first, then entry points of the group
``iopcore``. A plugin that fails to import is reported and skipped (or fatal with
``strict=True``). A name that two plugins claim raises :class:`PluginError` naming both.
Set ``IOPCORE_BLOCK_PLUGINS=name,name`` to keep named plugins from loading (pluggy's
``set_blocked``). Every hook is called through pluggy (``pm.hook.iopcore_...``), so its
checks, wrappers and blocking apply; a hook implementation whose name is no hook (a typo such
as ``iopcore_storage_backend``) is a warning naming the plugin and the nearest hook, and an
error with ``strict=True``.

Library calls (``iopcore.open_storage``, the clinic services, the simulation, the CLI) share
one host per process, :func:`default_host`; :func:`create_plugin_host` makes a new one.

    >>> host = create_plugin_host()
    >>> sorted(host.storage_schemes())
    ['memory', 'postgres', 'postgresql', 'sqlite']
"""

from __future__ import annotations

import collections
import importlib
import importlib.metadata
import logging
import os
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import attrs
import pluggy
from attrs import frozen

from iopcore.core.accountability import Finding, ParticipantRecords
from iopcore.core.errors import PluginError, one_of, suggest
from iopcore.io.storage import Store
from iopcore.io.urls import backend_for
from iopcore.plugins import hookspecs
from iopcore.plugins.records import (
    AccountabilityRule,
    AttendanceModel,
    CalendarExporter,
    ProgressModel,
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
#: How many event failures a host keeps (the oldest go first; each is logged as it happens).
KEEP_EVENT_FAILURES = 1000

T = TypeVar(
    "T",
    StorageBackend,
    CalendarExporter,
    ScreeningProvider,
    AccountabilityRule,
    AttendanceModel,
    ProgressModel,
    SweepBackend,
)


@frozen(kw_only=True)
class PluginFailure:
    """A plugin that could not be loaded (or a part of it that failed): which one, from which
    distribution, and why, in one line."""

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
        distributions: dict[str, str] | None = None,
    ) -> None:
        self._pm = manager
        self._distributions = dict(distributions or {})
        self.failures = tuple(failures)
        #: Plugins kept from loading (``blocked=`` or ``IOPCORE_BLOCK_PLUGINS``).
        self.blocked = tuple(sorted(blocked))
        #: Event subscribers that raised (the event's cause had already happened).
        self.event_failures: collections.deque[PluginFailure] = collections.deque(
            maxlen=KEEP_EVENT_FAILURES
        )
        #: Accountability rules that raised (or yielded something else than findings), one
        #: entry per rule: the rule was skipped, every other rule still ran.
        self.rule_failures: list[PluginFailure] = []
        #: Names of accountability rules that failed at least once (their findings are
        #: missing, so criteria that read findings are unknown).
        self.rules_skipped: set[str] = set()
        self._failed_rules: set[tuple[str, str]] = set()
        self._solos: dict[str, pluggy.PluginManager] = {}
        self._subscribers: dict[str, list[tuple[str, pluggy.HookCaller]]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<PluginHost plugins={self.plugin_names()}>"

    def plugin_names(self) -> list[str]:
        """Names of the registered plugins, in registration order."""
        return [name for name, plugin in self._pm.list_name_plugin() if plugin is not None]

    def _owner(self, plugin: object) -> str:
        name = self._pm.get_name(plugin)
        return name if name is not None else repr(plugin)

    def _alone(self, hook: str, impl: pluggy.HookImpl) -> pluggy.HookCaller:
        """The hook caller of one plugin's implementation: a pluggy manager holding only
        that plugin (pluggy's ``subset_hook_caller`` needs hashable plugins, and a plugin may
        be any object)."""
        with self._lock:
            solo = self._solos.get(impl.plugin_name)
            if solo is None:
                solo = pluggy.PluginManager(hookspecs.PROJECT)
                solo.add_hookspecs(hookspecs)
                solo.register(impl.plugin, name=impl.plugin_name)
                self._solos[impl.plugin_name] = solo
        caller: pluggy.HookCaller = getattr(solo.hook, hook)
        return caller

    def _registered(self, hook: str, kind: type[T], what: str) -> list[tuple[T, str]]:
        """Records with the plugin that registered each, in registration order.

        The records come from one pluggy call (so wrappers apply); when that call fails or
        its records are wrong, each plugin is asked on its own to name the culprit.
        """
        caller: pluggy.HookCaller = getattr(self._pm.hook, hook)
        try:
            returned = caller()
            records = [record for result in reversed(returned) for record in result]
        except Exception:  # diagnose below, one plugin at a time
            records = []
        else:
            names = [getattr(r, "name", None) for r in records]
            if all(isinstance(r, kind) for r in records) and len(set(names)) == len(names):
                owners = self._owners(hook) if records else {}
                return [(r, owners.get(r.name, "a hook wrapper")) for r in records]
        found: dict[str, tuple[T, str]] = {}
        for impl in caller.get_hookimpls():  # registration order (pluggy calls in reverse)
            if impl.hookwrapper or impl.wrapper:
                continue
            try:
                mine = list(self._alone(hook, impl)())
                own = [record for result in mine for record in result]
            except Exception as exc:
                raise PluginError(f"plugin {impl.plugin_name!r} failed in {hook}: {exc!r}") from exc
            for record in own:
                if not isinstance(record, kind):
                    raise PluginError(
                        f"plugin {impl.plugin_name!r}: {hook} must return {kind.__name__} "
                        f"records, got {type(record).__name__}"
                    )
                if record.name in found:
                    raise PluginError(
                        f"{what} {record.name!r} is registered by both plugin "
                        f"{found[record.name][1]!r} and plugin {impl.plugin_name!r}; block one "
                        f"with {BLOCK_ENV}={impl.plugin_name}"
                    )
                found[record.name] = (record, impl.plugin_name)
        wrappers = sorted(
            {i.plugin_name for i in caller.get_hookimpls() if i.wrapper or i.hookwrapper}
        )
        raise PluginError(
            f"the {hook} wrapper of plugin(s) {', '.join(map(repr, wrappers))} failed or "
            f"returned something else than one {kind.__name__} per name; fix it or block it "
            f"with {BLOCK_ENV}"
        )

    def _owners(self, hook: str) -> dict[str, str]:
        """Record name -> the plugin whose implementation returns it (names are unique)."""
        caller: pluggy.HookCaller = getattr(self._pm.hook, hook)
        impls = [i for i in caller.get_hookimpls() if not (i.wrapper or i.hookwrapper)]
        if len(impls) == 1:
            (impl,) = impls
            return _names(caller(), impl.plugin_name)
        owners: dict[str, str] = {}
        for impl in impls:
            owners.update(_names(self._alone(hook, impl)(), impl.plugin_name))
        return owners

    def _collect(self, hook: str, kind: type[T], what: str) -> dict[str, T]:
        caller: pluggy.HookCaller = getattr(self._pm.hook, hook)
        try:
            records = [record for result in reversed(caller()) for record in result]
        except Exception:
            records = []
        names = [getattr(r, "name", None) for r in records]
        if records and all(isinstance(r, kind) for r in records) and len(set(names)) == len(names):
            return {r.name: r for r in records}  # the common case: one pluggy call, no owners
        return {record.name: record for record, _ in self._registered(hook, kind, what)}

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
        schemes: dict[str, StorageBackend] = {}
        backends = self.storage_backends()
        for backend in backends.values():
            for scheme in backend.schemes:
                if scheme in schemes:
                    owners = {
                        r.name: plugin
                        for r, plugin in self._registered(
                            "iopcore_storage_backends", StorageBackend, "storage backend"
                        )
                    }
                    first = schemes[scheme]
                    raise PluginError(
                        f"URL scheme {scheme!r} is claimed by both storage backend "
                        f"{first.name!r} (plugin {owners[first.name]!r}) and {backend.name!r} "
                        f"(plugin {owners[backend.name]!r}); block one with "
                        f"{BLOCK_ENV}={owners[backend.name]}"
                    )
                schemes[scheme] = backend
        return schemes

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
        """Rules by name, each guarded: a rule that raises (or yields something else than
        findings) is skipped and kept in :attr:`rule_failures`, and the others still run."""
        return {
            record.name: attrs.evolve(record, evaluate=_GuardedRule(self, record, plugin))
            for record, plugin in self._registered(
                "iopcore_accountability_rules", AccountabilityRule, "accountability rule"
            )
        }

    def accountability_rule(self, name: str) -> AccountabilityRule:
        return self._one(self.accountability_rules(), name, "accountability rule")

    def attendance_models(self) -> dict[str, AttendanceModel]:
        return self._collect("iopcore_attendance_models", AttendanceModel, "attendance model")

    def attendance_model(self, name: str) -> AttendanceModel:
        return self._one(self.attendance_models(), name, "attendance model")

    def progress_models(self) -> dict[str, ProgressModel]:
        return self._collect("iopcore_progress_models", ProgressModel, "progress model")

    def progress_model(self, name: str) -> ProgressModel:
        return self._one(self.progress_models(), name, "progress model")

    def sweep_backends(self) -> dict[str, SweepBackend]:
        return self._collect("iopcore_sweep_backends", SweepBackend, "sweep backend")

    def sweep_backend(self, name: str) -> SweepBackend:
        return self._one(self.sweep_backends(), name, "sweep backend")

    def _rule_failed(self, plugin: str, rule: str, exc: Exception) -> None:
        failure = PluginFailure(
            name=plugin,
            distribution=self._distributions.get(plugin, ""),
            # the exception's type only: a plugin's text may carry a participant's data
            error=f"accountability rule {rule!r} failed and was skipped: "
            + (str(exc) if isinstance(exc, _NotFindings) else type(exc).__name__),
        )
        with self._lock:
            self.rules_skipped.add(rule)
            if (plugin, rule) in self._failed_rules:
                return  # reported once per rule, not once per participant
            self._failed_rules.add((plugin, rule))
            self.rule_failures.append(failure)
        _log.warning("plugin %r: %s", plugin, failure.error)

    # -- events ------------------------------------------------------------------------

    def emit(self, event: str, kwargs: dict[str, Any]) -> None:
        """Call every plugin's ``iopcore_<event>`` hook with keyword arguments.

        Each subscriber is called through pluggy on its own, so one that fails does not fail
        the caller (the write has committed) nor stop the others: the failure is kept in
        :attr:`event_failures` and logged on the ``iopcore`` logger.
        """
        if event not in EVENTS:
            raise PluginError(f"no event {event!r}{suggest(event, EVENTS)}; {one_of(EVENTS)}")
        hook = f"iopcore_{event}"
        subscribers = self._subscribers.get(hook)
        if subscribers is None:
            caller: pluggy.HookCaller = getattr(self._pm.hook, hook)
            subscribers = [(i.plugin_name, self._alone(hook, i)) for i in caller.get_hookimpls()]
            self._subscribers[hook] = subscribers
        for plugin, call in subscribers:
            try:
                call(**kwargs)
            except Exception as exc:
                self.event_failures.append(
                    PluginFailure(
                        name=plugin,
                        distribution=self._distributions.get(plugin, ""),
                        error=f"{hook}: {exc!r}",
                    )
                )
                _log.warning("plugin %r failed in %s after the fact: %r", plugin, hook, exc)


class _NotFindings(TypeError):
    """A rule yielded something else than findings (our words, safe to show)."""


class _GuardedRule:
    """A rule's ``evaluate`` that reports a failure on the host instead of raising."""

    def __init__(self, host: PluginHost, record: AccountabilityRule, plugin: str) -> None:
        self._host, self._rule, self._plugin = host, record, plugin
        self.__wrapped__ = record.evaluate
        self.__doc__ = getattr(record.evaluate, "__doc__", None)

    def __call__(self, records: ParticipantRecords) -> tuple[Finding, ...]:
        try:
            findings = tuple(self._rule.evaluate(records))
            for finding in findings:
                if not isinstance(finding, Finding):
                    raise _NotFindings(
                        f"it yielded a {type(finding).__name__}, not an iopcore Finding"
                    )
        except Exception as exc:
            self._host._rule_failed(self._plugin, self._rule.name, exc)
            return ()
        return findings


def _names(results: Iterable[Iterable[Any]], plugin: str) -> dict[str, str]:
    return {getattr(record, "name", ""): plugin for result in results for record in result}


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
        blocked = _blocked_from_env()
    block = set(blocked)
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in block:
        pm.set_blocked(name)
    failures: list[PluginFailure] = []
    distributions: dict[str, str] = {}

    from iopcore_plugins import BUILTINS

    for name, module in BUILTINS:
        if not pm.is_blocked(name):
            _register(pm, name, importlib.import_module(module))
    found = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)) if entry_points else []
    for ep in found:
        if pm.is_blocked(ep.name):
            continue  # not even imported
        dist = ep.dist.name if ep.dist is not None else "unknown distribution"
        distributions[ep.name] = dist
        try:
            plugin = ep.load()
        except Exception as exc:
            failure = PluginFailure(name=ep.name, distribution=dist, error=repr(exc))
            if strict:
                raise PluginError(
                    f"plugin {ep.name!r} from distribution {dist!r} failed to load: {failure.error}"
                ) from exc
            failures.append(failure)
            continue
        try:
            _register(pm, ep.name, plugin, dist)
        except PluginError as exc:
            if strict:
                raise
            failures.append(PluginFailure(name=ep.name, distribution=dist, error=str(exc)))
    plugins = list(plugins)
    for name, plugin in plugins:
        _register(pm, name, plugin)
    _check_pending(pm, strict=strict, distributions=distributions)
    known = {name for name, _ in BUILTINS} | {name for name, _ in plugins}
    known |= {ep.name for ep in found}
    for name in sorted(block - known):
        _log.warning(
            "%s names %r, which is no installed plugin (known: %s)",
            BLOCK_ENV,
            name,
            ", ".join(sorted(known)),
        )
    return PluginHost(pm, failures, blocked=block & known, distributions=distributions)


def _blocked_from_env() -> list[str]:
    return [n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()]


def _register(pm: pluggy.PluginManager, name: str, plugin: object, dist: str = "") -> None:
    if pm.is_blocked(name):
        return
    existing = pm.get_plugin(name)
    if existing is not None:
        raise PluginError(
            f"plugin name {name!r} is claimed twice (by {_describe(existing)} and by "
            f"{_describe(plugin)}{' from ' + dist if dist else ''}); block one with {BLOCK_ENV}"
        )
    where = f" from distribution {dist!r}" if dist else ""
    try:
        pm.register(plugin, name=name)
    except (ValueError, pluggy.PluginValidationError) as exc:
        raise PluginError(f"plugin {name!r}{where} cannot be registered: {exc}") from exc
    for event in EVENTS:
        for impl in getattr(pm.hook, f"iopcore_{event}").get_hookimpls():
            if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper):
                pm.unregister(plugin)
                raise PluginError(
                    f"plugin {name!r}{where} cannot be registered: iopcore_{event} is an event "
                    "and takes no wrapper=True or hookwrapper=True implementation (each "
                    "subscriber runs on its own, so one that fails cannot stop the others); "
                    "make it a plain @hookimpl"
                )


def _check_pending(
    pm: pluggy.PluginManager, *, strict: bool, distributions: dict[str, str]
) -> None:
    """Hook implementations no hook specification matches (pluggy's ``check_pending``),
    each named with its plugin and the nearest hook: an error with ``strict``, else a
    warning (pluggy never calls them)."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError:
        pass
    else:
        return
    hooks = [name for name in vars(pm.hook) if name.startswith("iopcore_")]
    specified = [name for name in hooks if getattr(pm.hook, name).has_spec()]
    for name in sorted(set(vars(pm.hook)) - set(specified)):
        if name.startswith("_"):
            continue
        for impl in getattr(pm.hook, name).get_hookimpls():
            if impl.optionalhook:
                continue
            dist = distributions.get(impl.plugin_name, "")
            where = f" (distribution {dist!r})" if dist else ""
            message = (
                f"plugin {impl.plugin_name!r}{where} implements {name!r}, which is no iopcore "
                f"hook{suggest(name, specified)}; pluggy never calls it (rename it, or mark it "
                "@hookimpl(optionalhook=True))"
            )
            if strict:
                raise PluginError(message)
            _log.warning("%s", message)


def _describe(plugin: object) -> str:
    return getattr(plugin, "__name__", type(plugin).__name__)


_default: tuple[tuple[str, tuple[str, ...]], PluginHost] | None = None
_default_lock = threading.Lock()


def default_host() -> PluginHost:
    """The host library calls share (``open_storage``, clinic services, simulation, CLI).

    Built on first use, then reused: building one imports and registers every plugin
    (benchmarks/plugins.py measures it). A new host is built when ``IOPCORE_BLOCK_PLUGINS``
    or ``sys.path`` changed since (so a newly importable distribution's plugins appear). For
    a host of your own (other plugins, strict loading) call :func:`create_plugin_host`.
    """
    global _default
    key = (os.environ.get(BLOCK_ENV, ""), tuple(sys.path))
    current = _default
    if current is not None and current[0] == key:
        return current[1]
    with _default_lock:
        if _default is None or _default[0] != key:
            _default = (key, create_plugin_host())
        return _default[1]
