"""The plugin host: discovery through entry points, failures, conflicts, blocking, the typed
facade, every hook, and the example third-party plugin ``examples/plugins/iopcore_jsonl``.

A "real" distribution is installed the way pip leaves one: a ``<name>-<version>.dist-info``
folder (METADATA, entry_points.txt) in a folder on ``sys.path``, next to the plugin's module.
``importlib.metadata`` finds it there exactly as it finds one in site-packages.
"""

from __future__ import annotations

import importlib.metadata
import re
import threading
import tomllib
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attrs
import pytest

from iopcore import (
    AttendanceRecord,
    Finding,
    IopcoreError,
    Occurrence,
    Participant,
    ParticipantRecords,
    PluginError,
    ScreeningOrder,
    ScreeningResult,
    StorageError,
    create_plugin_host,
    expand,
    loads_program,
    open_storage,
)
from iopcore.io.storage import Backend, Row, Transaction
from iopcore.plugins import (
    AccountabilityRule,
    AttendanceModel,
    CalendarExporter,
    PluginFailure,
    PluginHost,
    ProgressModel,
    ScreeningProvider,
    StorageBackend,
    SweepBackend,
    default_host,
    hookimpl,
)
from iopcore.plugins.host import BLOCK_ENV, ENTRY_POINT_GROUP
from iopcore.plugins.protocols import AttendanceModelImpl, ProgressModelImpl, SweepExecutor
from iopcore.testing import StorageContract
from iopcore_plugins.memory import MemoryBackend

ROOT = Path(__file__).resolve().parent.parent
EVENING = """
name = "evening"
[session_types.group]
kind = "group"
minutes = 180
[tracks.evening]
time_zone = "America/New_York"
[[tracks.evening.phases]]
name = "core"
slots = [{ day = "mon", start = "18:00", session_type = "group" }]
"""
JSONL = ROOT / "examples" / "plugins" / "iopcore_jsonl"


def install_distribution(
    site: Path, name: str, version: str, entry_points: dict[str, str], mp: pytest.MonkeyPatch
) -> Path:
    """Install distribution ``name`` into ``site`` (a dist-info) and put ``site`` on sys.path."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    lines = "".join(f"{ep} = {target}\n" for ep, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}", encoding="utf-8")
    mp.syspath_prepend(str(site))
    return info


@pytest.fixture
def jsonl_installed(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Install the example distribution as its pyproject.toml declares it; its plugin name."""
    project = tomllib.loads((JSONL / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared: dict[str, str] = project["entry-points"][ENTRY_POINT_GROUP]
    assert declared == {"jsonl": "iopcore_jsonl"}
    site = tmp_path_factory.mktemp("site-packages")
    install_distribution(site, project["name"], project["version"], declared, monkeypatch)
    monkeypatch.syspath_prepend(str(JSONL))  # the module itself, as the wheel would install it
    return "jsonl"


def _attendance(pid: str, n: int, status: str = "attended") -> AttendanceRecord:
    return AttendanceRecord(
        participant_id=pid,
        occurrence_id=f"occ-{n}",
        session_date=date(2027, 1, 4 + n),
        status=status,
        minutes_attended=180,
    )


# -- a real third-party distribution: the example jsonl plugin -----------------------------


def test_a_third_party_distribution_is_discovered_through_its_entry_point(
    jsonl_installed: str, tmp_path: Path
) -> None:
    (ep,) = [
        ep
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        if ep.name == jsonl_installed
    ]
    assert ep.value == "iopcore_jsonl"
    assert ep.dist is not None
    assert ep.dist.name == "iopcore-jsonl"

    host = create_plugin_host()
    assert host.failures == ()
    assert "jsonl" in host.plugin_names()
    backend = host.storage_schemes()["jsonl"]  # iopcore_storage_backends of the plugin
    assert (backend.name, backend.schemes) == ("jsonl", ("jsonl",))
    assert {"memory", "sqlite"} <= set(host.storage_schemes())  # built-ins still there

    url = f"jsonl://{tmp_path / 'clinic.jsonl'}"
    with host.open_storage(url, actor="front-desk") as store:
        assert isinstance(store._backend, Backend)
        with store._backend.transaction(write=False) as tx:
            assert isinstance(tx, Transaction)
        store.add_participant(Participant(id="P-0001"))
        store.record_attendance([_attendance("P-0001", 2), _attendance("P-0001", 0)])
    with open_storage(url, actor="reader") as again:  # a new host, a replayed file
        assert again.participant("P-0001") == Participant(id="P-0001")
        assert [r.occurrence_id for r in again.attendance("P-0001")] == ["occ-0", "occ-2"]
        assert [(e.actor, e.kind, e.change) for e in again.audit_log()] == [
            ("front-desk", "participant", "insert"),
            ("front-desk", "attendance", "insert"),
            ("front-desk", "attendance", "insert"),
        ]
    assert len((tmp_path / "clinic.jsonl").read_text(encoding="utf-8").splitlines()) == 2


def test_the_jsonl_store_skips_a_torn_last_line_and_cuts_it_off(
    jsonl_installed: str, tmp_path: Path
) -> None:
    path = tmp_path / "torn.jsonl"
    with open_storage(f"jsonl://{path}") as store:
        store.add_participant(Participant(id="P-1"))
    with path.open("ab") as file:  # a crash in the middle of writing the next transaction
        file.write(b'{"rows": [{"kind": "participant", "key": "P-2"')
    with open_storage(f"jsonl://{path}") as store:
        assert [p.id for p in store.participants()] == ["P-1"]
        store.add_participant(Participant(id="P-3"))
    with open_storage(f"jsonl://{path}") as store:
        assert [p.id for p in store.participants()] == ["P-1", "P-3"]
        assert [e.seq for e in store.audit_log()] == [1, 2]
    assert b"P-2" not in path.read_bytes()


def test_the_jsonl_store_writes_nothing_for_a_failed_transaction(
    jsonl_installed: str, tmp_path: Path
) -> None:
    path = tmp_path / "rollback.jsonl"
    with open_storage(f"jsonl://{path}") as store:
        store.add_participant(Participant(id="P-1"))
        size = path.stat().st_size
        row = Row(kind="participant", key="P-2", owner=None, sort="P-2", data="{}")

        def fail_after_put() -> None:
            with store._backend.transaction() as tx:
                tx.put(row)
                raise ZeroDivisionError

        with pytest.raises(ZeroDivisionError):
            fail_after_put()
        with store._backend.transaction(write=False) as tx:
            assert tx.get("participant", "P-2") is None
        assert [p.id for p in store.participants()] == ["P-1"]
        assert path.stat().st_size == size


def test_jsonl_stores_sharing_a_file_see_each_others_writes(
    jsonl_installed: str, tmp_path: Path
) -> None:
    url = f"jsonl://{tmp_path / 'shared.jsonl'}"
    with open_storage(url, actor="a") as first, open_storage(url, actor="b") as second:
        first.add_participant(Participant(id="P-1"))
        second.record_attendance([_attendance("P-1", 0)])
        first.record_attendance([_attendance("P-1", 1)])
        assert len(second.attendance("P-1")) == 2
        assert [e.actor for e in first.audit_log()] == ["a", "b", "a"]


def test_threads_sharing_one_jsonl_store_lose_nothing(jsonl_installed: str, tmp_path: Path) -> None:
    with open_storage(f"jsonl://{tmp_path / 'threads.jsonl'}") as store:

        def write(worker: int) -> None:
            for n in range(20):
                store.record_attendance([_attendance("P-1", 0)])  # contended key
                store.record_attendance(
                    [
                        AttendanceRecord(
                            participant_id="P-1",
                            occurrence_id=f"w{worker}-{n}",
                            session_date=date(2027, 1, 4),
                            status="attended",
                        )
                    ]
                )

        threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(store.attendance("P-1")) == 81
        assert [e.seq for e in store.audit_log()] == list(range(1, 161))


def test_the_jsonl_store_explains_bad_urls_and_foreign_files(
    jsonl_installed: str, tmp_path: Path
) -> None:
    with pytest.raises(StorageError, match="existing folder"):
        open_storage(f"jsonl://{tmp_path / 'missing' / 'x.jsonl'}")
    with pytest.raises(StorageError, match=re.escape("jsonl://path/to/file.jsonl")):
        open_storage("jsonl://")
    foreign = tmp_path / "notes.txt"
    foreign.write_text("dear diary\n", encoding="utf-8")
    with (
        open_storage(f"jsonl://{foreign}") as store,
        pytest.raises(StorageError, match="not an iopcore JSON-lines store"),
    ):
        store.participants()


class TestJsonl(StorageContract):
    """The whole storage contract, concurrent writers included, against the example plugin."""

    @pytest.fixture
    def storage_url(self, jsonl_installed: str, tmp_path: Path) -> str:
        return f"jsonl://{tmp_path / 'contract.jsonl'}"


# -- loading: failures, strictness, conflicts, blocking ------------------------------------


@pytest.fixture
def broken_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A distribution ``iopcore-broken`` whose plugin ``broken`` fails on import."""
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "iopcore_broken_plugin.py").write_text(
        'raise ImportError("iopcore-broken needs libfoo 2")\n', encoding="utf-8"
    )
    install_distribution(
        site, "iopcore-broken", "1.0", {"broken": "iopcore_broken_plugin"}, monkeypatch
    )
    return "broken"


def test_a_plugin_that_fails_to_import_is_reported_and_skipped(broken_installed: str) -> None:
    host = create_plugin_host()
    (failure,) = host.failures
    assert isinstance(failure, PluginFailure)
    assert (failure.name, failure.distribution) == ("broken", "iopcore-broken")
    assert "ImportError" in failure.error
    assert "libfoo 2" in failure.error
    assert "broken" not in host.plugin_names()
    with host.open_storage("memory://") as store:  # everything else works
        store.add_participant(Participant(id="P-1"))


def test_strict_loading_makes_a_failing_plugin_fatal(broken_installed: str) -> None:
    with pytest.raises(PluginError, match="libfoo 2") as excinfo:
        create_plugin_host(strict=True)
    assert "'broken'" in str(excinfo.value)
    assert "'iopcore-broken'" in str(excinfo.value)


def test_blocking_a_failing_plugin_keeps_it_from_loading(
    broken_installed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert create_plugin_host(strict=True, blocked=["broken"]).failures == ()
    monkeypatch.setenv(BLOCK_ENV, "broken")
    assert create_plugin_host(strict=True).failures == ()


def test_without_entry_points_only_builtins_and_given_plugins_load(
    broken_installed: str,
) -> None:
    host = create_plugin_host(entry_points=False, strict=True)
    assert host.failures == ()
    assert {"memory", "sqlite", "postgresql"} <= set(host.plugin_names())


def _backends(*records: StorageBackend) -> SimpleNamespace:
    """A plugin object whose iopcore_storage_backends returns ``records``."""

    @hookimpl
    def iopcore_storage_backends() -> list[StorageBackend]:
        return list(records)

    return SimpleNamespace(iopcore_storage_backends=iopcore_storage_backends)


def test_two_plugins_claiming_one_backend_name_is_an_error_naming_both() -> None:
    first = _backends(StorageBackend(name="scratch", schemes=["scratch"], open=MemoryBackend))
    second = _backends(StorageBackend(name="scratch", schemes=["scratch2"], open=MemoryBackend))
    host = create_plugin_host(plugins=[("alpha", first), ("beta", second)])
    with pytest.raises(PluginError, match="storage backend 'scratch'") as excinfo:
        host.storage_backends()
    assert "'alpha'" in str(excinfo.value)
    assert "'beta'" in str(excinfo.value)
    assert BLOCK_ENV in str(excinfo.value)
    with pytest.raises(PluginError, match="'scratch'"):
        host.open_storage("memory://")  # every look-up refuses the ambiguity


def test_a_third_party_backend_claiming_a_builtin_name_is_an_error_naming_both() -> None:
    impostor = _backends(StorageBackend(name="sqlite", schemes=["lite"], open=MemoryBackend))
    with pytest.raises(PluginError, match="'sqlite'") as excinfo:
        create_plugin_host(plugins=[("impostor", impostor)]).storage_backends()
    assert "'impostor'" in str(excinfo.value)


def test_a_conflict_suggests_blocking_the_plugin_that_registered_later() -> None:
    impostor = _backends(StorageBackend(name="sqlite", schemes=["lite"], open=MemoryBackend))
    with pytest.raises(PluginError) as excinfo:
        create_plugin_host(plugins=[("impostor", impostor)]).storage_backends()
    message = str(excinfo.value)
    assert "by both plugin 'sqlite' and plugin 'impostor'" in message
    assert message.endswith(f"{BLOCK_ENV}=impostor")


def test_two_backends_claiming_one_url_scheme_is_an_error_naming_both() -> None:
    first = _backends(StorageBackend(name="fast", schemes=["mem"], open=MemoryBackend))
    second = _backends(StorageBackend(name="slow", schemes=["mem"], open=MemoryBackend))
    host = create_plugin_host(plugins=[("fast", first), ("slow", second)])
    with pytest.raises(PluginError, match="URL scheme 'mem'") as excinfo:
        host.storage_schemes()
    assert "'fast'" in str(excinfo.value)
    assert "'slow'" in str(excinfo.value)


def test_two_plugins_with_one_plugin_name_is_an_error() -> None:
    again = _backends(StorageBackend(name="other", schemes=["other"], open=MemoryBackend))
    with pytest.raises(PluginError, match="plugin name 'memory' is claimed twice"):
        create_plugin_host(plugins=[("memory", again)])


def test_block_env_keeps_a_builtin_from_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BLOCK_ENV, " sqlite , ")
    host = create_plugin_host()
    assert "sqlite" not in host.plugin_names()
    assert "sqlite" not in host.storage_schemes()
    assert "memory" in host.storage_schemes()
    with pytest.raises(StorageError, match="unknown scheme 'sqlite'") as excinfo:
        host.open_storage("sqlite:///clinic.db")
    available = excinfo.value.args[0].partition("available schemes: ")[2]
    # no sqlite example either, and the reason the scheme is missing
    assert available == ", ".join(sorted(host.storage_schemes())) + (
        f"; plugins blocked by {BLOCK_ENV}: sqlite"
    )
    assert "memory" in available
    assert "sqlite," not in available
    assert create_plugin_host(blocked=[]).storage_schemes()["sqlite"].name == "sqlite"


def test_blocked_argument_keeps_plugins_from_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BLOCK_ENV, raising=False)
    host = create_plugin_host(blocked=["sqlite", "postgresql"])
    assert sorted(host.storage_schemes()) == ["memory"]
    with pytest.raises(
        StorageError,
        match=r"available schemes: memory; plugins blocked by "
        r"IOPCORE_BLOCK_PLUGINS: postgresql, sqlite$",
    ):
        host.open_storage("postgresql://clinic@db/iop")
    extra = _backends(StorageBackend(name="extra", schemes=["extra"], open=MemoryBackend))
    host = create_plugin_host(plugins=[("extra", extra)], blocked=["extra"])
    assert "extra" not in host.storage_schemes()


def test_block_env_keeps_a_third_party_plugin_from_loading(
    jsonl_installed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BLOCK_ENV, "jsonl")
    assert "jsonl" not in create_plugin_host().storage_schemes()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlit:///clinic.db", "unknown scheme 'sqlit' (did you mean \"sqlite\"?)"),
        ("memroy://", "unknown scheme 'memroy' (did you mean \"memory\"?)"),
        ("clinic.db", "has no scheme"),
    ],
)
def test_an_unknown_scheme_lists_the_available_ones(url: str, expected: str) -> None:
    with pytest.raises(IopcoreError) as excinfo:
        create_plugin_host().open_storage(url)
    assert isinstance(excinfo.value, StorageError)
    message = str(excinfo.value)
    assert expected in message
    schemes = ", ".join(sorted(create_plugin_host().storage_schemes()))
    assert f"available schemes: {schemes} " in message
    assert "memory, postgres, postgresql, sqlite" in schemes


# -- the typed facade: registration hooks ---------------------------------------------------


def _export(occurrences: Sequence[Occurrence], **options: Any) -> bytes:
    return b"".join(f"{o.id}\r\n".encode() for o in occurrences)


class _Lab:
    """A screening provider (the Provider protocol) that remembers its orders."""

    def __init__(self, **options: Any) -> None:
        self.options, self.orders = options, list[str]()

    def place_order(self, order: ScreeningOrder) -> str:
        self.orders.append(order.id)
        return f"lab-{order.id}"

    def collect_results(self) -> list[ScreeningResult]:
        return []


class _Coin:
    """An attendance model (the AttendanceModelImpl protocol): everyone attends at ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        from iopcore.simulation import Dropout

        self.p = p
        self.dropout = Dropout()

    def prepare(self, design: Any, rng: Any) -> object:
        import numpy as np

        return np.full(design.people.n, np.inf)

    def disengaged(self, state: Any) -> Any:
        return state

    def start_week(self, state: object, week: int, active: Any, rng: Any) -> Any:
        return None

    def probability(self, state: object, visit: int, streak: Any, out: Any) -> Any:
        out.fill(self.p)
        return out


class _Clean:
    """A progress model (the ProgressModelImpl protocol): every screen negative, score 0."""

    def __init__(self, score: float = 0.0) -> None:
        self.value = score

    def prepare(self, n: int, rng: Any) -> object:
        return n

    def screen(self, state: Any, week: int, rng: Any) -> Any:
        import numpy as np

        return np.ones(state, bool)

    def score(self, state: Any, week: int, rng: Any) -> Any:
        import numpy as np

        return np.full(state, self.value)


class _Serial:
    """A sweep executor (the SweepExecutor protocol): in order, in this process."""

    def run(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[Any]:
        return map(fn, tasks)

    def close(self) -> None:
        pass


class Provider:
    """A plugin object (not a module) providing one of every registration record."""

    def __init__(self, suffix: str = "") -> None:
        self.exporter = CalendarExporter(
            name=f"test-lines{suffix}", media_type="text/plain", extension="txt", export=_export
        )
        self.lab = ScreeningProvider(name=f"test-lab{suffix}", create=_Lab)
        self.rule = AccountabilityRule(name=f"test-rule{suffix}", evaluate=lambda records: [])
        self.model = AttendanceModel(name=f"test-coin{suffix}", create=_Coin)
        self.sweep = SweepBackend(name=f"test-serial{suffix}", create=_Serial)
        self.progress = ProgressModel(name=f"test-clean{suffix}", create=_Clean)
        self.store = StorageBackend(
            name=f"test-store{suffix}", schemes=[f"teststore{suffix}"], open=MemoryBackend
        )

    @hookimpl
    def iopcore_calendar_exporters(self) -> list[CalendarExporter]:
        return [self.exporter]

    @hookimpl
    def iopcore_screening_providers(self) -> list[ScreeningProvider]:
        return [self.lab]

    @hookimpl
    def iopcore_accountability_rules(self) -> list[AccountabilityRule]:
        return [self.rule]

    @hookimpl
    def iopcore_attendance_models(self) -> list[AttendanceModel]:
        return [self.model]

    @hookimpl
    def iopcore_sweep_backends(self) -> list[SweepBackend]:
        return [self.sweep]

    @hookimpl
    def iopcore_progress_models(self) -> list[ProgressModel]:
        return [self.progress]

    @hookimpl
    def iopcore_storage_backends(self) -> list[StorageBackend]:
        return [self.store]


Lookup = Callable[[PluginHost, str], object]

FACADE: list[tuple[str, str, str, Lookup]] = [
    (
        "iopcore_calendar_exporters",
        "calendar exporter",
        "test-lines",
        lambda host, name: host.calendar_exporter(name),
    ),
    (
        "iopcore_screening_providers",
        "screening provider",
        "test-lab",
        lambda host, name: host.screening_provider(name),
    ),
    (
        "iopcore_accountability_rules",
        "accountability rule",
        "test-rule",
        lambda host, name: host.accountability_rules()[name],
    ),
    (
        "iopcore_attendance_models",
        "attendance model",
        "test-coin",
        lambda host, name: host.attendance_model(name),
    ),
    (
        "iopcore_sweep_backends",
        "sweep backend",
        "test-serial",
        lambda host, name: host.sweep_backend(name),
    ),
    (
        "iopcore_progress_models",
        "progress model",
        "test-clean",
        lambda host, name: host.progress_model(name),
    ),
    (
        "iopcore_storage_backends",
        "storage backend",
        "test-store",
        lambda host, name: host.storage_backends()[name],
    ),
]


@pytest.mark.parametrize(("hook", "what", "name", "lookup"), FACADE, ids=[f[0] for f in FACADE])
def test_the_facade_returns_what_a_plugin_registered(
    hook: str, what: str, name: str, lookup: Lookup
) -> None:
    plugin = Provider()
    host = create_plugin_host(plugins=[("provider", plugin)])
    (registered,) = getattr(plugin, hook)()
    found = lookup(host, name)
    if isinstance(found, AccountabilityRule):  # rules come back guarded (see rule isolation)
        assert found.evaluate.__wrapped__ is registered.evaluate  # type: ignore[attr-defined]
        found = attrs.evolve(found, evaluate=registered.evaluate)
        assert found == registered
    else:
        assert found is registered


def test_registered_records_work() -> None:
    host = create_plugin_host(plugins=[("provider", Provider())])
    sessions = expand(loads_program(EVENING), "evening", start=date(2027, 1, 4), weeks=2)
    exported = host.calendar_exporter("test-lines").export(sessions)
    assert exported == b"".join(f"{o.id}\r\n".encode() for o in sessions)
    lab = host.screening_provider("test-lab").create(account="x")
    assert isinstance(lab, _Lab)
    assert lab.options == {"account": "x"}
    order = ScreeningOrder(id="S-1", participant_id="P-1", ordered_for=date(2027, 1, 5))
    assert lab.place_order(order) == "lab-S-1"
    assert lab.collect_results() == []
    assert list(host.accountability_rules()["test-rule"].evaluate(None)) == []  # type: ignore[arg-type]
    model = host.attendance_model("test-coin").create(p=0.25)
    assert isinstance(model, AttendanceModelImpl)
    assert model.dropout.days == 14
    progress = host.progress_model("test-clean").create(score=3.0)
    assert isinstance(progress, ProgressModelImpl)
    import numpy as np

    rng = np.random.default_rng(0)
    assert progress.score(progress.prepare(2, rng), 0, rng).tolist() == [3.0, 3.0]
    runner = host.sweep_backend("test-serial").create()
    assert isinstance(runner, SweepExecutor)
    assert list(runner.run(abs, [-1, 2])) == [1, 2]
    with host.open_storage("teststore://") as store:
        assert isinstance(store._backend, MemoryBackend)


@pytest.mark.parametrize(
    ("lookup", "what", "wrong", "close"),
    [
        (PluginHost.calendar_exporter, "calendar exporter", "test-line", "test-lines"),
        (PluginHost.screening_provider, "screening provider", "test-labb", "test-lab"),
        (PluginHost.attendance_model, "attendance model", "test-coins", "test-coin"),
        (PluginHost.progress_model, "progress model", "test-cleen", "test-clean"),
        (PluginHost.sweep_backend, "sweep backend", "test-seria", "test-serial"),
    ],
)
def test_an_unknown_name_is_an_error_listing_the_choices(
    lookup: Callable[[PluginHost, str], object], what: str, wrong: str, close: str
) -> None:
    host = create_plugin_host(plugins=[("provider", Provider())])
    with pytest.raises(PluginError, match=f"no {what} named '{wrong}'") as excinfo:
        lookup(host, wrong)
    message = str(excinfo.value)
    assert f'(did you mean "{close}"?)' in message
    assert "one of: " in message
    assert close in message.partition("one of: ")[2]

    bare = create_plugin_host(entry_points=False, blocked=host.plugin_names())
    with pytest.raises(PluginError, match="none is installed"):
        lookup(bare, wrong)


# -- event hooks -------------------------------------------------------------------------


class Recorder:
    """A plugin that records every event hook call (event hooks take keyword arguments)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.on_attendance: Callable[[], object] = lambda: None

    @hookimpl
    def iopcore_attendance_recorded(self, records: tuple[Any, ...], store_url: str) -> None:
        self.calls.append(
            (
                "attendance_recorded",
                {"records": records, "store_url": store_url, "visible": self.on_attendance()},
            )
        )

    @hookimpl
    def iopcore_finding_raised(self, finding: Any) -> None:
        self.calls.append(("finding_raised", {"finding": finding}))

    @hookimpl
    def iopcore_stepdown_recommended(self, recommendation: Any) -> None:
        self.calls.append(("stepdown_recommended", {"recommendation": recommendation}))

    @hookimpl
    def iopcore_export_made(self, what: str, key: str, store_url: str) -> None:
        self.calls.append(("export_made", {"what": what, "key": key, "store_url": store_url}))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def host(recorder: Recorder) -> PluginHost:
    return create_plugin_host(plugins=[("recorder", recorder)])


def test_iopcore_attendance_recorded_runs_after_a_store_commits(
    host: PluginHost, recorder: Recorder
) -> None:
    with host.open_storage("memory://") as store:
        store.add_participant(Participant(id="P-1"))
        recorder.on_attendance = lambda: store.attendance("P-1")
        batch = [_attendance("P-1", 0), _attendance("P-1", 1)]
        store.record_attendance(batch)
    ((event, kwargs),) = recorder.calls
    assert event == "attendance_recorded"
    assert kwargs["records"] == tuple(batch)
    assert kwargs["store_url"] == "memory://"
    assert kwargs["visible"] == tuple(batch)  # the hook ran after the commit


def test_iopcore_export_made_runs_when_a_store_records_an_export(
    host: PluginHost, recorder: Recorder
) -> None:
    with host.open_storage("memory://") as store:
        store.record_export("calendar", "P-1")
        assert store.audit_log()[-1].change == "export"
    assert recorder.calls == [
        ("export_made", {"what": "calendar", "key": "P-1", "store_url": "memory://"})
    ]


def test_iopcore_finding_raised_and_iopcore_stepdown_recommended_run_on_emit(
    host: PluginHost, recorder: Recorder
) -> None:
    finding, recommendation = object(), object()
    host.emit("finding_raised", {"finding": finding})
    host.emit("stepdown_recommended", {"recommendation": recommendation})
    assert recorder.calls == [
        ("finding_raised", {"finding": finding}),
        ("stepdown_recommended", {"recommendation": recommendation}),
    ]


def test_events_reach_only_the_host_that_opened_the_store(recorder: Recorder) -> None:
    with open_storage("memory://") as store:
        store.record_export("calendar", "P-1")
    assert recorder.calls == []


# -- bad plugins ---------------------------------------------------------------------------


def test_a_registration_hook_returning_the_wrong_record_type_names_the_plugin() -> None:
    @hookimpl
    def iopcore_storage_backends() -> list[CalendarExporter]:
        return [
            CalendarExporter(
                name="ics", media_type="text/calendar", extension="ics", export=_export
            )
        ]

    confused = SimpleNamespace(iopcore_storage_backends=iopcore_storage_backends)
    host = create_plugin_host(plugins=[("confused", confused)])
    with pytest.raises(PluginError, match="plugin 'confused'") as excinfo:
        host.storage_schemes()
    assert "iopcore_storage_backends must return StorageBackend records" in str(excinfo.value)
    assert "got CalendarExporter" in str(excinfo.value)


def test_a_registration_hook_that_raises_names_the_plugin() -> None:
    @hookimpl
    def iopcore_sweep_backends() -> list[SweepBackend]:
        raise RuntimeError("no cluster configured")

    host = create_plugin_host(
        plugins=[("flaky", SimpleNamespace(iopcore_sweep_backends=iopcore_sweep_backends))]
    )
    with pytest.raises(PluginError, match="plugin 'flaky' failed in iopcore_sweep_backends"):
        host.sweep_backends()


def test_a_hook_implementation_with_unknown_arguments_cannot_register() -> None:
    @hookimpl
    def iopcore_finding_raised(findings: object) -> None:  # a typo: the spec says ``finding``
        raise AssertionError("never called")

    with pytest.raises(PluginError, match="plugin 'typo' cannot be registered"):
        create_plugin_host(
            plugins=[("typo", SimpleNamespace(iopcore_finding_raised=iopcore_finding_raised))]
        )


# -- hosts are independent ------------------------------------------------------------------


def test_each_host_is_independent() -> None:
    first, second = Provider("-a"), Provider("-b")
    host_a = create_plugin_host(plugins=[("a", first)])
    host_b = create_plugin_host(plugins=[("b", second)])
    plain = create_plugin_host()
    assert "a" in host_a.plugin_names()
    assert "a" not in host_b.plugin_names()
    assert "b" not in plain.plugin_names()
    assert "teststore-a" in host_a.storage_schemes()
    assert "teststore-a" not in host_b.storage_schemes()
    assert "teststore-b" in host_b.storage_schemes()
    assert "teststore-b" not in plain.storage_schemes()
    host_a.sweep_backend("test-serial-a")
    with pytest.raises(PluginError, match="test-serial-b"):
        host_a.sweep_backend("test-serial-b")
    # the same plugin object may serve two hosts
    shared = create_plugin_host(plugins=[("a-again", first)])
    assert shared.sweep_backend("test-serial-a") is not None


def test_hosts_do_not_share_event_hooks() -> None:
    mine, theirs = Recorder(), Recorder()
    create_plugin_host(plugins=[("mine", mine)]).emit("finding_raised", {"finding": 1})
    create_plugin_host(plugins=[("theirs", theirs)])
    assert len(mine.calls) == 1
    assert theirs.calls == []


def test_plugins_argument_is_registered_after_entry_points(jsonl_installed: str) -> None:
    host = create_plugin_host(plugins=[("provider", Provider())])
    names = host.plugin_names()
    assert names.index("memory") < names.index("jsonl") < names.index("provider")


def test_a_failing_event_subscriber_does_not_fail_the_write(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[int] = []

    @hookimpl
    def iopcore_attendance_recorded(records: tuple[Any, ...], store_url: str) -> None:
        raise RuntimeError("subscriber is down")

    broken = SimpleNamespace(iopcore_attendance_recorded=iopcore_attendance_recorded)
    working = SimpleNamespace(
        iopcore_attendance_recorded=hookimpl(lambda records, store_url: seen.append(len(records)))
    )
    host = create_plugin_host(plugins=[("broken", broken), ("working", working)])
    record = AttendanceRecord(
        participant_id="P-1", occurrence_id="o", session_date=date(2027, 1, 4), status="attended"
    )
    with host.open_storage("memory://") as store:
        summary = store.record_attendance([record])
        assert summary.inserted == 1
        assert len(store.attendance("P-1")) == 1
    assert seen == [1]  # the other subscriber still ran
    (failure,) = host.event_failures
    assert failure.name == "broken"
    assert "subscriber is down" in failure.error
    assert "failed in iopcore_attendance_recorded after the fact" in caplog.text


def test_blocking_a_name_no_plugin_has_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    host = create_plugin_host(blocked=["nonsense", "sqlite"])
    assert host.blocked == ("sqlite",)
    assert "IOPCORE_BLOCK_PLUGINS names 'nonsense', which is no installed plugin" in caplog.text


# -- dispatch through pluggy: typos, wrappers, blocking ------------------------------------


def test_a_misspelled_hook_is_an_error_naming_the_plugin_and_the_hook_with_strict() -> None:
    @hookimpl
    def iopcore_storage_backend() -> list[StorageBackend]:  # the spec is ..._backends
        raise AssertionError("pluggy never calls it")

    typo = SimpleNamespace(iopcore_storage_backend=iopcore_storage_backend)
    with pytest.raises(PluginError) as excinfo:
        create_plugin_host(strict=True, plugins=[("typo", typo)])
    message = str(excinfo.value)
    assert "plugin 'typo' implements 'iopcore_storage_backend', which is no iopcore hook" in message
    assert '(did you mean "iopcore_storage_backends"?)' in message


def test_a_misspelled_hook_is_a_logged_warning_without_strict(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @hookimpl
    def iopcore_finding_raise(finding: object) -> None:
        raise AssertionError("pluggy never calls it")

    typo = SimpleNamespace(iopcore_finding_raise=iopcore_finding_raise)
    host = create_plugin_host(plugins=[("typo", typo)])
    assert "typo" in host.plugin_names()
    assert "plugin 'typo' implements 'iopcore_finding_raise'" in caplog.text
    assert '"iopcore_finding_raised"' in caplog.text
    host.emit("finding_raised", {"finding": "x"})  # never reaches the typo


def test_an_optional_hook_of_another_version_is_no_error() -> None:
    @hookimpl(optionalhook=True)
    def iopcore_future_hook() -> None:
        raise AssertionError("never called")

    future = SimpleNamespace(iopcore_future_hook=iopcore_future_hook)
    assert "future" in create_plugin_host(strict=True, plugins=[("future", future)]).plugin_names()


def test_a_wrapper_on_a_registration_hook_runs_as_pluggy_defines_it() -> None:
    """A new-style wrapper sees (and may change) every plugin's records: here it hides the
    built-in PostgreSQL backend, which proves the host calls the hook through pluggy."""
    seen: list[int] = []

    class HidePostgres:
        @hookimpl(wrapper=True)
        def iopcore_storage_backends(self) -> Any:
            results = yield
            seen.append(len(results))
            return [[b for b in result if b.name != "postgresql"] for result in results]

    host = create_plugin_host(plugins=[("hide-postgres", HidePostgres())])
    assert "postgresql" not in host.storage_schemes()
    assert {"memory", "sqlite"} <= set(host.storage_schemes())
    assert seen
    assert seen[0] >= 3  # every plugin's records, in one pluggy call


def test_an_old_style_hookwrapper_on_a_registration_hook_runs() -> None:
    calls: list[str] = []

    class Tracer:
        @hookimpl(hookwrapper=True)
        def iopcore_calendar_exporters(self) -> Any:
            calls.append("before")
            outcome = yield
            calls.append(f"after {len(outcome.get_result())}")

    host = create_plugin_host(plugins=[("tracer", Tracer())])
    assert "ics" in host.calendar_exporters()
    assert calls[:2] == ["before", "after 1"]


def test_a_failing_wrapper_on_a_registration_hook_is_named() -> None:
    class Duplicator:
        @hookimpl(wrapper=True)
        def iopcore_sweep_backends(self) -> Any:
            results = yield
            return [*results, *results]  # every backend twice

    host = create_plugin_host(plugins=[("duplicator", Duplicator())])
    with pytest.raises(PluginError, match=r"wrapper of plugin\(s\) 'duplicator' failed"):
        host.sweep_backends()


@pytest.mark.parametrize("style", ["wrapper", "hookwrapper"])
def test_a_wrapper_on_an_event_hook_is_refused_clearly(style: str) -> None:
    class Wrapping:
        @hookimpl(wrapper=style == "wrapper", hookwrapper=style == "hookwrapper")
        def iopcore_export_made(self, what: str, key: str, store_url: str) -> Any:
            yield

    with pytest.raises(PluginError) as excinfo:
        create_plugin_host(plugins=[("wrapping", Wrapping())])
    message = str(excinfo.value)
    assert "plugin 'wrapping' cannot be registered: iopcore_export_made is an event" in message
    assert "make it a plain @hookimpl" in message


def test_blocking_uses_pluggys_set_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BLOCK_ENV, "rules")
    host = create_plugin_host()
    assert host._pm.is_blocked("rules")
    assert "rules" not in host.plugin_names()
    assert host.accountability_rules() == {}
    assert host._pm.register(SimpleNamespace(), name="rules") is None  # pluggy refuses it


# -- one default host per process -----------------------------------------------------------


def test_library_calls_share_one_default_host_and_create_plugin_host_is_fresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(BLOCK_ENV, raising=False)
    assert default_host() is default_host()
    assert create_plugin_host() is not create_plugin_host()
    assert create_plugin_host() is not default_host()
    monkeypatch.setenv(BLOCK_ENV, "sqlite")  # a changed environment gets a new default
    blocked = default_host()
    assert "sqlite" not in blocked.storage_schemes()
    assert default_host() is blocked
    monkeypatch.delenv(BLOCK_ENV)
    assert "sqlite" in default_host().storage_schemes()


def test_open_storage_uses_the_default_host(recorder: Recorder) -> None:
    with open_storage("memory://") as store:
        assert store._events == default_host().emit


# -- the examples of docs/hooks.md, installed as real plugins --------------------------------


def _docs_plugin(hook: str) -> str:
    """The plugin part of hooks.md's example for ``hook`` (the code before it makes a host),
    plus ``plugin``: an instance of its plugin class."""
    text = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    section = text[text.index(f"\n## {hook}\n") :]
    section = section[: section.find("\n## ", 1)]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    code = match.group(1)
    made = re.search(r"^.*create_plugin_host\(", code, re.M)
    assert made is not None
    code = code[: made.start()]
    (cls,) = re.findall(r"^class (\w+Plugin):", code, re.M)
    return f"{code}\nplugin = {cls}()\n"


def _install_docs_plugin(hook: str, name: str, site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = f"iopcore_docs_{name.replace('-', '_')}"
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(_docs_plugin(hook), encoding="utf-8")
    install_distribution(
        site, f"iopcore-docs-{name}", "1.0", {name: f"{module}:plugin"}, monkeypatch
    )


def test_the_rule_example_runs_installed_and_its_failing_rule_is_a_one_line_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from iopcore import Enrollment
    from iopcore.app.cli import main

    _install_docs_plugin("iopcore_accountability_rules", "my-rules", tmp_path / "site", monkeypatch)
    start = date(2027, 1, 4)
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    program = loads_program(EVENING)
    with open_storage(url, actor="test") as store:
        store.save_program(program)
        for pid in ("P-0001", "P-0002"):
            store.add_participant(Participant(id=pid))
            store.enroll(
                Enrollment(
                    id=f"E-{pid}",
                    participant_id=pid,
                    program="evening",
                    track="evening",
                    start=start,
                )
            )
            store.record_attendance(
                [
                    AttendanceRecord(
                        participant_id=pid,
                        occurrence_id=o.id,
                        session_date=o.start.date(),
                        status="unexcused-absence",
                    )
                    for o in expand(program, "evening", start=start, weeks=3)
                ]
            )
    assert main(["findings", "--store", url, "--as-of", "2027-01-25"]) == 0
    out, err = capsys.readouterr()
    assert out.count("no-show-streak: three unexcused absences in a row") == 2  # the example
    assert "consecutive-absences" in out  # the built-in rules still ran
    assert err.splitlines() == [
        # the exception's type only: a plugin's message may carry a participant's data
        "iopcore: warning: plugin 'my-rules': accountability rule 'broken' failed and was "
        "skipped: AttributeError"
    ]
    assert "Traceback" not in out + err
    (failure,) = default_host().rule_failures  # kept on the host, once for two participants
    assert (failure.name, failure.distribution) == ("my-rules", "iopcore-docs-my-rules")


def test_a_rule_yielding_something_else_than_findings_is_skipped_and_reported() -> None:
    @hookimpl
    def iopcore_accountability_rules() -> list[AccountabilityRule]:
        return [AccountabilityRule(name="words", evaluate=lambda records: ["look at this"])]  # type: ignore[list-item]

    host = create_plugin_host(
        plugins=[
            ("wordy", SimpleNamespace(iopcore_accountability_rules=iopcore_accountability_rules))
        ]
    )
    rules = host.accountability_rules()
    assert rules["words"].evaluate(None) == ()  # type: ignore[arg-type]
    assert "consecutive-absences" in rules
    (failure,) = host.rule_failures
    assert failure.error == (
        "accountability rule 'words' failed and was skipped: it yielded a str, "
        "not an iopcore Finding"
    )


def test_the_screening_provider_example_runs_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_docs_plugin("iopcore_screening_providers", "instant-lab", tmp_path, monkeypatch)
    lab = default_host().screening_provider("instant-lab").create(substances=("cocaine",))
    order = ScreeningOrder(id="S-9", participant_id="P-0001", ordered_for=date(2027, 1, 5))
    reference = lab.place_order(order)  # the Provider protocol, as iopcore_plugins.manual
    assert isinstance(reference, str)
    (result,) = lab.collect_results()
    assert (result.order_id, [r.result.value for r in result.results]) == ("S-9", ["negative"])
    assert lab.collect_results() == []  # handed over once


def test_the_attendance_model_example_runs_installed_from_a_scenario_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("numpy")
    from iopcore.simulation import loads_scenarios, simulate

    _install_docs_plugin("iopcore_attendance_models", "fading", tmp_path / "site", monkeypatch)
    text = """
name = "fading"
participants = 200
seed = 3
program = "programs/adult-evening.toml"
track = "evening"
model = { name = "fading", decay = 0.05 }
"""
    (scenario,) = loads_scenarios(text, folder=ROOT / "examples")
    assert type(scenario.model).__name__ == "Fading"
    assert scenario.model.decay == 0.05  # type: ignore[attr-defined]
    result = simulate(scenario, replications=1)
    assert len(result.participants) == 200


def test_the_progress_model_example_runs_installed_from_a_scenario_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A third-party progress model, installed, is named in a scenario file and drives
    step-down by criteria: with screens clean from week 0 people step down sooner than with
    screens clean from week 8."""
    pytest.importorskip("numpy")
    from iopcore.simulation import loads_scenarios, simulate

    _install_docs_plugin("iopcore_progress_models", "recovering", tmp_path / "site", monkeypatch)

    def run(weeks: int) -> Any:
        text = f"""
participants = 400
seed = 3
program = "programs/adult-day.toml"
progress = {{ name = "recovering", weeks_to_clean = {weeks} }}
options = {{ step_down_by = "criteria" }}
"""
        (scenario,) = loads_scenarios(text, folder=ROOT / "examples")
        assert type(scenario.progress).__name__ == "Recovering"
        return simulate(scenario).participants

    soon, late = run(0), run(8)
    assert soon["step_downs"].mean() > late["step_downs"].mean() + 0.2


def test_the_cli_formats_come_from_the_registered_exporters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adding an exporter takes its plugin (here the CSV example of docs/hooks.md, installed),
    its test and its docs: ``schedule --format`` and ``export --format`` offer it."""
    from iopcore.app.cli import main

    program_file = tmp_path / "evening.toml"
    program_file.write_text(EVENING, encoding="utf-8")
    schedule = ["schedule", str(program_file), "--track", "evening", "--start", "2027-01-04"]
    assert main([*schedule, "--format", "csv"]) == 2
    assert "invalid choice: 'csv' (choose from 'table', 'json', 'ics')" in capsys.readouterr().err
    _install_docs_plugin("iopcore_calendar_exporters", "csv", tmp_path / "site", monkeypatch)
    assert main([*schedule, "--weeks", "2", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "id,start,end"
    assert len(out.splitlines()) == 3

    from iopcore import Enrollment

    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    with open_storage(url, actor="test") as store:
        store.save_program(loads_program(EVENING))
        store.add_participant(Participant(id="P-0001"))
        store.enroll(
            Enrollment(
                id="E-1",
                participant_id="P-0001",
                program="evening",
                track="evening",
                start=date(2027, 1, 4),
            )
        )
    exported = ["export", "--store", url, "--participant", "P-0001", "--as-of", "2027-01-04"]
    assert main([*exported, "--format", "csv", "-o", str(tmp_path / "p.csv")]) == 0
    assert (tmp_path / "p.csv").read_bytes().startswith(b"id,start,end\r\n")
    assert main([*exported, "--format", "cvs"]) == 2
    assert "invalid choice: 'cvs' (choose from 'csv', 'ics')" in capsys.readouterr().err


def test_a_failing_rule_is_named_by_its_type_and_its_rule_counts_as_skipped() -> None:
    from iopcore.plugins import AccountabilityRule, hookimpl

    def boom(records: ParticipantRecords) -> list[Finding]:
        raise RuntimeError("P-1 positive for fentanyl")  # a plugin's words: never shown

    class Plugin:
        @hookimpl
        def iopcore_accountability_rules(self) -> list[AccountabilityRule]:
            return [AccountabilityRule(name="boom", evaluate=boom)]

    host = create_plugin_host(plugins=[("boom-plugin", Plugin())])
    assert host.accountability_rules()["boom"].evaluate(None) == ()  # type: ignore[arg-type]
    assert host.rules_skipped == {"boom"}
    assert host.rule_failures[0].error.endswith("failed and was skipped: RuntimeError")
