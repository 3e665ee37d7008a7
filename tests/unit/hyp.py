"""Hypothesis profiles for the property tests: ``ci`` (default, quick enough for every run) and
``long`` (ten times the examples; run it before closing an issue and quote its figures).

    HYPOTHESIS_PROFILE=long pytest tests/unit/test_table_engine_properties.py

Example::

    from hyp import examples

    @examples(200)          # 200 in CI, 2,000 with the long profile
    @given(st.integers())
    def test_x(i): ...
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
SCALE = {"ci": 1, "long": 10}[PROFILE]

# no deadline: the machine is shared, a slow example is not a wrong one
settings.register_profile("ci", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", parent=settings.get_profile("ci"))
settings.load_profile(PROFILE)


def examples(n: int):
    """``settings`` running ``n`` examples in the ci profile (``n * 10`` in the long one)."""
    return settings(max_examples=n * SCALE)
