"""The storage contract against the built-in backends (PostgreSQL in test_postgresql.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iopcore.testing import StorageContract


class TestMemory(StorageContract):
    shared_between_processes = False

    @pytest.fixture
    def storage_url(self) -> str:
        return "memory://"


class TestSQLite(StorageContract):
    @pytest.fixture
    def storage_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'contract.db'}"
