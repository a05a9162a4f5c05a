"""The storage contract as a test module: ``pytest --pyargs iopcore.testing.contract``."""

from iopcore.testing.storage_contract import StorageContract


class TestStorageContract(StorageContract):
    """Runs against ``--iopcore-storage=URL`` (default ``memory://``)."""
