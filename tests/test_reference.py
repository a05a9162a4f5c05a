"""The generated reference pages agree with the loader, the store and the public API."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import attrs
import pytest

from iopcore import Program, ProgramFileError
from iopcore.app import reference
from iopcore.io.convert import DecodeError, decode, keys, section

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples/programs").glob("*.toml"))
JUNK = object()


def _documented(page: str) -> dict[str, list[str]]:
    """anchor -> the keys in that section's table, read back from the markdown."""
    out: dict[str, list[str]] = {}
    anchor = ""
    for line in page.splitlines():
        heading = re.match(r"^##+ .*\{#([\w-]+)\}$", line)
        if heading:
            anchor = heading[1]
        row = re.match(r"^\| `(\w+)` \|", line)
        if row and anchor:
            out.setdefault(anchor, []).append(row[1])
    return out


PROGRAM_PAGE = _documented(reference.program_files_page())
PROGRAM_TABLES = list(reference.tables(Program))


def _leaf_paths(value: object, path: str = "") -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaf_paths(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [p for i, v in enumerate(value) for p in _leaf_paths(v, f"{path}[{i}]")]
    return [path]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_key_the_loader_accepts_in_the_examples_is_documented(path: Path) -> None:
    for key_path in _leaf_paths(tomllib.loads(path.read_text())):
        anchor = section(Program, key_path)
        leaf = re.sub(r"\[\d+\]$", "", key_path).rsplit(".", 1)[-1]
        assert leaf in PROGRAM_PAGE[anchor], (key_path, anchor)


def test_every_table_documents_exactly_the_keys_its_class_accepts() -> None:
    for table in PROGRAM_TABLES:
        assert PROGRAM_PAGE[table.anchor] == keys(table.cls), table.header
        assert all(k.meaning for k in table.keys), table.header
        assert all(k.type and k.default for k in table.keys), table.header


HEADERS = {t.anchor: t.header for t in PROGRAM_TABLES}


def _insert(data: dict[str, Any], anchor: str, key: str) -> str:
    """Put ``key`` into the first table ``anchor`` of ``data`` (creating it); its key path."""
    node: Any = data
    path = ""
    parts = [] if anchor == "top-level-keys" else anchor.split("-")
    for i, part in enumerate(parts):
        path = f"{path}.{part}" if path else part
        header = HEADERS["-".join(parts[: i + 1])]
        if header.endswith(".NAME]"):
            node = node.setdefault(part, {"x": {}})
            name = next(iter(node))
            node, path = node[name], f"{path}.{name}"
        elif header.startswith("[["):
            items = node.get(part) or [{}]
            node[part] = items
            node, path = items[0], f"{path}[0]"
        else:
            node = node.setdefault(part, {})
    node[key] = JUNK
    return f"{path}.{key}" if path else key


def _refusal(data: dict[str, Any]) -> DecodeError | None:
    try:
        decode(Program, data)
    except DecodeError as exc:
        return exc
    return None


def _richest(anchor: str) -> Path:
    """An example program that has the table ``anchor`` (the first, if none has)."""
    for path in EXAMPLES:
        paths = _leaf_paths(tomllib.loads(path.read_text()))
        if any(section(Program, p) == anchor for p in paths):
            return path
    return EXAMPLES[0]


@pytest.mark.parametrize("table", PROGRAM_TABLES, ids=lambda t: t.anchor)
def test_no_documented_key_is_refused_by_the_loader(table: reference.Table) -> None:
    example = _richest(table.anchor).read_text()
    for key in PROGRAM_PAGE[table.anchor]:
        data = tomllib.loads(example)
        key_path = _insert(data, table.anchor, key)
        error = _refusal(data)
        assert error is None or not (
            error.problem.startswith("unknown key") and error.key_path == key_path
        ), error
    # and the loader does refuse a key that is not documented
    data = tomllib.loads(example)
    key_path = _insert(data, table.anchor, "not_a_key")
    error = _refusal(data)
    assert error is not None
    assert error.problem.startswith("unknown key")
    assert error.key_path == key_path


def test_check_errors_link_to_the_section_of_their_key() -> None:
    from iopcore import loads_program

    good = next(p for p in EXAMPLES if "[[step_down]]" in p.read_text()).read_text()
    text = good.replace("[[step_down]]", "[[step_down]]\nmin_wekes = 2", 1)
    with pytest.raises(ProgramFileError, match=r"see docs: program-files#step_down$"):
        loads_program(text, file="x.toml")
    page = reference.program_files_page()
    for table in PROGRAM_TABLES:
        assert f"{{#{table.anchor}}}" in page


def _scenario_documented() -> dict[str, list[str]]:
    return _documented(reference.scenario_files_page())


def test_scenario_page_documents_every_key_the_scenario_loader_accepts() -> None:
    from iopcore.simulation.files import _TOP

    page = _scenario_documented()
    assert sorted(page["top-level-keys"]) == sorted(
        k for k in _TOP if k not in ("population", "options", "exits")
    )
    for table, _title in reference.scenario_tables()[1:]:
        assert page[table.anchor] == keys(table.cls), table.anchor
        assert all(k.meaning for k in table.keys), table.anchor
    for anchor in ("population", "options", "exits", "model-logistic", "model-markov"):
        assert anchor in page
    assert "{#arms}" in reference.scenario_files_page()
    assert "{#grid}" in reference.scenario_files_page()


def _scenario_refusal(load: Any, text: str, folder: Path) -> ProgramFileError | None:
    try:
        load(text, file="s.toml", folder=folder)
    except ProgramFileError as exc:
        return exc
    return None


def test_no_documented_scenario_key_is_refused(tmp_path: Path) -> None:
    from iopcore.simulation.files import loads_scenarios

    (tmp_path / "p.toml").write_text((ROOT / "examples/programs/adult-evening.toml").read_text())
    for table, _title in reference.scenario_tables()[1:]:
        section_, *rest = table.anchor.split("-")
        model = rest[0] if section_ == "model" else None
        sub = rest[1:] if model else rest
        for key in keys(table.cls):
            dotted = ".".join([section_, *sub, key])
            text = 'program = "p.toml"\n'
            if model:
                text += f'model.name = "{model}"\n'
            text += f"{dotted} = []\n"
            error = _scenario_refusal(loads_scenarios, text, tmp_path)
            assert error is None or "unknown key" not in error.problem or error.key_path != dotted
        text = f'program = "p.toml"\n{section_}.not_a_key = 1\n'
        if not model:
            with pytest.raises(ProgramFileError, match="unknown key"):
                loads_scenarios(text, file="s.toml", folder=tmp_path)


def test_records_page_covers_every_record_status_and_store_method() -> None:
    from iopcore.core.attendance import AttendanceStatus
    from iopcore.io import storage

    page = reference.records_page()
    for cls, kind in storage._KINDS.items():
        assert f"### {cls.__name__} {{#{kind.name}}}" in page
        for field in attrs.fields(cls):
            assert f"| `{field.name}` |" in page
    for status in AttendanceStatus:
        assert f"| `{status.value}` |" in page
    methods = [m for names in reference.store_methods().values() for m in names]
    public = [
        n
        for n in dir(storage.Store)
        if not n.startswith("_") and callable(getattr(storage.Store, n))
    ]
    assert sorted(methods) == sorted(public)
    for name in public:
        assert f"`Store.{name}(" in page
    for fields in _documented(page).values():
        assert fields


@pytest.mark.parametrize("module", sorted(reference.API_MODULES))
def test_every_public_name_appears_on_an_api_page(module: str) -> None:
    page = reference.api_page(module)
    for name in reference.public_names(module):
        assert f"::: {module}.{name}\n" in page


def test_example_files_are_on_the_site() -> None:
    page = reference.examples_page()
    for path in [*EXAMPLES, *sorted((ROOT / "examples/scenarios").glob("*.toml"))]:
        assert path.read_text().rstrip() in page


def test_the_docs_build_adds_every_generated_page_to_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    for name in reference.pages():
        assert f" {name}" in nav, name


def test_the_records_page_says_which_fields_may_be_none() -> None:
    """A field that may be None says so, even when it must be given (a disclosure to the
    patient relies on no consent)."""
    page = reference.records_page()
    disclosure = page.split("### Disclosure {#disclosure}")[1].split("###")[0]
    (row,) = [line for line in disclosure.splitlines() if line.startswith("| `consent_id` |")]
    assert "| string or none | required |" in row
    assert "disclosure to the patient" in row
    revocation = page.split("### ConsentRevocation")[1].split("###")[0]
    assert "| `consent_id` | string | required |" in revocation
