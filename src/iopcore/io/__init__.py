"""Stores and files: TOML program files and the :class:`~iopcore.io.storage.Store` API."""
