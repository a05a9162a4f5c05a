"""pytest plugin (entry point ``pytest11``): ``--iopcore-storage=URL`` for the contract suite.

pytest loads this in every project where iopcore is installed, so it imports pytest and
nothing else (no hypothesis, no iopcore modules): installing iopcore never breaks someone
else's test run (tests/test_clean_install.py installs it into a bare environment to check).
"""

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
