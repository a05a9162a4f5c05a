"""pytest plugin (entry point ``pytest11``): ``--iopcore-storage=URL`` for the contract suite."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("iopcore").addoption(
        "--iopcore-storage",
        metavar="URL",
        default=None,
        help="storage URL the iopcore storage contract runs against (default: memory://)",
    )


@pytest.fixture
def storage_url(request: pytest.FixtureRequest) -> str:
    """The store under test: ``--iopcore-storage`` or ``memory://``."""
    url = request.config.getoption("--iopcore-storage")
    return str(url) if url else "memory://"
