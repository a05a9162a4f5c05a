"""Every hook is documented, tested and has a doctest (as datasette checks its hooks).

Adding a hook spec to :mod:`iopcore.plugins.hookspecs` without a ``## <hook>`` section in
docs/hooks.md, a test in tests/test_plugins.py, or a ``>>>`` example in its docstring fails
here. The examples themselves run as doctests (``--doctest-modules`` on src).
"""

from __future__ import annotations

import doctest
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pluggy
import pytest

from iopcore.plugins import hookspecs, records

ROOT = Path(__file__).resolve().parent.parent
HOOKS_MD = ROOT / "docs" / "hooks.md"
PLUGINS_MD = ROOT / "docs" / "plugins.md"
TEST_PLUGINS = ROOT / "tests" / "test_plugins.py"
EXAMPLE = ROOT / "examples" / "plugins" / "iopcore_jsonl"


def _specs() -> dict[str, Callable[..., Any]]:
    """Every function named ``iopcore_*`` in the hookspecs module."""
    return {
        name: function
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("iopcore_")
    }


SPECS = _specs()


def _sections() -> list[str]:
    return re.findall(r"^## (\S+)\s*$", HOOKS_MD.read_text(encoding="utf-8"), re.MULTILINE)


def _section(hook: str) -> str:
    text = HOOKS_MD.read_text(encoding="utf-8")
    start = text.index(f"\n## {hook}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_hooks_are_found() -> None:
    assert len(SPECS) >= 10
    assert "iopcore_storage_backends" in SPECS


def test_every_iopcore_function_in_hookspecs_is_a_hook_spec() -> None:
    """A function named like a hook but not marked @hookspec would never be called."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    registered = {name for name in vars(manager.hook) if name.startswith("iopcore_")}
    assert registered == set(SPECS)


def test_hooks_md_documents_no_hook_that_does_not_exist() -> None:
    assert sorted(_sections()) == sorted(SPECS)
    assert len(_sections()) == len(set(_sections())), "a hook has two sections"


@pytest.mark.parametrize("hook", sorted(SPECS))
def test_hook_has_a_section_in_hooks_md(hook: str) -> None:
    assert hook in _sections(), f"docs/hooks.md has no '## {hook}' section"
    section = _section(hook)
    assert "```python" in section, f"the {hook} section has no example"
    assert "@hookimpl" in section
    assert f"def {hook}(" in section, f"the {hook} section's example does not implement it"


@pytest.mark.parametrize("hook", sorted(SPECS))
def test_hook_section_names_its_record_fields_or_arguments(hook: str) -> None:
    section = _section(hook)
    signature = inspect.signature(SPECS[hook])
    if signature.parameters:  # an event hook: every argument is documented
        for name in signature.parameters:
            assert f"`{name}`" in section, f"the {hook} section does not explain {name!r}"
    else:  # a registration hook: its record and every field of it are documented
        returned = str(signature.return_annotation)  # e.g. "Iterable[StorageBackend]"
        kinds: list[Any] = [
            cls
            for name, cls in vars(records).items()
            if attrs.has(cls) and re.search(rf"\b{name}\b", returned)
        ]
        (record,) = kinds
        assert record.__name__ in section
        for field in attrs.fields(record):
            assert f"`{field.name}`" in section, f"{hook}: field {field.name!r} undocumented"


@pytest.mark.parametrize("hook", sorted(SPECS))
def test_hook_is_tested_in_test_plugins(hook: str) -> None:
    assert re.search(rf"\b{hook}\b", TEST_PLUGINS.read_text(encoding="utf-8")), (
        f"tests/test_plugins.py never mentions {hook}: add a test that a plugin implementing "
        "it is called"
    )


@pytest.mark.parametrize("hook", sorted(SPECS))
def test_hook_spec_has_a_doctest_example(hook: str) -> None:
    docstring = inspect.getdoc(SPECS[hook])
    assert docstring, f"{hook} has no docstring"
    assert ">>>" in docstring, f"{hook}'s docstring has no >>> example"
    (test,) = [t for t in doctest.DocTestFinder().find(hookspecs) if t.name.endswith(f".{hook}")]
    assert test.examples, f"{hook}'s example is not collected as a doctest"


def test_plugins_md_shows_the_example_plugin_as_it_is() -> None:
    """The walk-through quotes the example's module and pyproject.toml verbatim."""
    guide = PLUGINS_MD.read_text(encoding="utf-8")
    module = (EXAMPLE / "iopcore_jsonl.py").read_text(encoding="utf-8")
    pyproject = (EXAMPLE / "pyproject.toml").read_text(encoding="utf-8")
    assert f"```python\n{module}```" in guide
    assert f"```toml\n{pyproject}```" in guide
    assert "pytest --pyargs iopcore.testing.contract --iopcore-storage=jsonl://" in guide
    assert "IOPCORE_BLOCK_PLUGINS" in guide
    assert "strict=True" in guide
