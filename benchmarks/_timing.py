"""Timing helper shared by the benchmarks (run as scripts: ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import time


def timed(fn, repeat: int = 3):
    """(result of the last call, list of wall times in seconds).

    Example::

        rows, times = timed(lambda: client.materialize.query_table("synapses_pni_2"), repeat=5)
    """
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, times
