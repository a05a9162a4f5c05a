"""``postgresql://user@host/db``: PostgreSQL through psycopg 3 (extra ``postgres``)."""

from __future__ import annotations

from iopcore.errors import StorageError
from iopcore.plugins.hookspecs import hookimpl
from iopcore.plugins.records import StorageBackend


def open_postgresql(url: str) -> object:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StorageError(
            f"{url}: PostgreSQL storage needs psycopg; install it with: "
            "pip install 'iopcore[postgres]'"
        ) from None
    raise StorageError("PostgreSQL storage is not implemented yet")


@hookimpl
def iopcore_storage_backends() -> list[StorageBackend]:
    return [
        StorageBackend(
            name="postgresql",
            schemes=["postgresql", "postgres"],
            open=open_postgresql,
            description="a PostgreSQL database (psycopg 3)",
        )
    ]
