"""Every Python block of docs/researchers.md runs as it is (from a folder with examples/).

Blocks run as a script would (``__name__ == "__main__"``), so the parts under the guard that
start worker processes run too (tests/test_docs.py runs them under another name, so it runs
only the unguarded parts).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "researchers.md"
BLOCKS = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)


def test_the_guide_has_code() -> None:
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_guide_block_runs(
    code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(GUIDE), "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out.strip()


def test_blocks_that_start_worker_processes_start_them_under_the_guard() -> None:
    """Worker processes re-import the script: a block copied into a file must start its
    sweep under the guard and do no work or printing before it, which every worker would
    repeat (test_simulation_sweep.py runs such scripts)."""
    starting = [b for b in BLOCKS if 'backend="process"' in b or "DaskExecutor(" in b]
    assert len(starting) == 2
    for code in starting:
        before, _ = code.split('if __name__ == "__main__":', 1)
        assert "run(" not in before
        assert "DaskExecutor(" not in before
        assert "print(" not in before
