"""Test kits for plugin authors: the storage contract every backend must pass.

Run it against your backend by subclassing :class:`StorageContract` and providing a
``storage_url`` fixture, or from the command line against any URL::

    pytest --pyargs iopcore.testing.contract --iopcore-storage=mine://somewhere

Importing this package imports nothing but iopcore: the contract (which needs pytest and
hypothesis) is imported when ``StorageContract`` is first used, so iopcore's ``pytest11``
entry point (:mod:`iopcore.testing.pytest_plugin`) never breaks a project without hypothesis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iopcore.testing.storage_contract import StorageContract

__all__ = ["StorageContract"]


def __getattr__(name: str) -> Any:
    if name == "StorageContract":
        from iopcore.testing.storage_contract import StorageContract

        return StorageContract
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
