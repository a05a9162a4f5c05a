"""Test kits for plugin authors: the storage contract every backend must pass.

Run it against your backend by subclassing :class:`StorageContract` and providing a
``storage_url`` fixture, or from the command line against any URL::

    pytest --pyargs iopcore.testing.contract --iopcore-storage=mine://somewhere
"""

from iopcore.testing.storage_contract import StorageContract

__all__ = ["StorageContract"]
