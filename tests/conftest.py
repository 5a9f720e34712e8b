"""Shared test configuration: Hypothesis profiles.

``default`` is fast for local runs; ``ci`` (``HYPOTHESIS_PROFILE=ci``, set by .ci/run) tries ten
times as many examples per property.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile(
    "ci", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
