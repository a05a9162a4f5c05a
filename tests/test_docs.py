"""Every python code block in the docs and the README runs, in order, per page; a block
followed by an ``Output`` block must print exactly that."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
BLOCK = re.compile(r'^```python\n(.*?)^```\n(?:\n```text title="Output"\n(.*?)^```)?', re.S | re.M)


def _blocks(page: Path) -> list[tuple[str, str]]:
    """(code, expected output or "") of each python block."""
    return BLOCK.findall(page.read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", [p for p in PAGES if _blocks(p)], ids=lambda p: p.name)
def test_code_blocks_run(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Blocks run in a scratch folder that has the repository's examples, like a reader's."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    printed = False
    for number, (code, expected) in enumerate(_blocks(page), start=1):
        try:
            exec(compile(code, f"{page.name} block {number}", "exec"), {"__name__": "__docs__"})
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{page.name}, python block {number} failed: {exc!r}\n{code}")
        out = capsys.readouterr().out
        printed = printed or bool(out.strip())
        if expected:
            assert out.strip() == expected.strip(), f"{page.name}, output of block {number}"
    assert printed, f"{page.name} printed nothing"


def test_output_blocks_follow_a_python_block() -> None:
    """An Output block that is not right after a python block would never be checked."""
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        checked = sum(1 for _, expected in _blocks(page) if expected)
        assert text.count('```text title="Output"') == checked, page.name
