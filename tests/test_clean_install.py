"""Installing iopcore never breaks someone else's test run.

pytest loads iopcore's ``pytest11`` entry point in every environment where iopcore is
installed. This builds a fresh virtual environment with ``pip install <this repository>`` (no
extras, so no hypothesis) plus pytest, and runs ``pytest --help`` and a trivial test there.

It needs a package index (the network, or pip's configured local wheels): locally it is
skipped, with the reason, when there is none; under CI (``CI`` set) it always runs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _index_unreachable() -> str:
    """Why pip cannot install here ("" when it can): no network and no local wheels."""
    if os.environ.get("CI"):
        return ""
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
    except OSError:
        pass
    else:
        return ""
    config = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    ).stdout + "".join(f"{k}={v}\n" for k, v in os.environ.items() if k.startswith("PIP_"))
    if "find-links" in config.lower().replace("_", "-") or "file://" in config:
        return ""
    return "no package index: pypi.org is unreachable and pip has no local wheels (CI runs it)"


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.skipif(bool(_index_unreachable()), reason=_index_unreachable() or "-")
def test_pytest_runs_in_a_project_that_installed_iopcore_without_extras(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = _run(python, "-m", "pip", "install", "--quiet", ROOT, "pytest", cwd=tmp_path)
    assert install.returncode == 0, install.stderr[-3000:]

    probe = _run(
        python,
        "-c",
        "import importlib.util as u, iopcore.testing as t; "
        "print(u.find_spec('hypothesis') is None, hasattr(t, '__getattr__'))",
        cwd=tmp_path,
    )
    assert probe.stdout.split() == ["True", "True"], probe.stderr  # really without hypothesis

    project = tmp_path / "someone-else"
    project.mkdir()
    (project / "test_trivial.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    helped = _run(python, "-m", "pytest", "--help", cwd=project)
    assert helped.returncode == 0, helped.stdout[-2000:] + helped.stderr[-2000:]
    assert "--iopcore-storage" in helped.stdout  # iopcore's plugin loaded, and did no harm
    ran = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert "1 passed" in ran.stdout

    # the contract still loads on demand, and says what is missing
    contract = _run(python, "-c", "from iopcore.testing import StorageContract", cwd=project)
    assert contract.returncode != 0
    assert "hypothesis" in contract.stderr
