"""Test-wide settings. Under CI (``CI`` set), hypothesis runs a fixed, derandomized set of
examples without time limits, so a green main stays green on a loaded machine; locally it
explores new examples on every run."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
