"""The simulation's error (importable without the ``sim`` extra)."""

from __future__ import annotations

from iopcore.core.errors import IopcoreError


class SimulationError(IopcoreError):
    """A simulation cannot run as asked (bad options, a missing extra, unwritable output)."""


__all__ = ["SimulationError"]
