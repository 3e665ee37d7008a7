"""Timing helper shared by the benchmarks (run as scripts: ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import statistics
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


def stats(values: list) -> dict:
    """Median, p90, min, max and count of the numbers in ``values`` (anything else counts as failed).

    Example::

        stats([12.0, 15.5, {"timeout": "..."}])  # {"median": 13.8, "p90": 15.5, ..., "n": 2, "failed": 1}
    """
    ok = sorted(v for v in values if isinstance(v, (int, float)))
    if not ok:
        return {"median": None, "p90": None, "n": 0, "failed": len(values)}
    p90 = ok[min(len(ok) - 1, int(round(0.9 * (len(ok) - 1))))]
    return {"median": round(statistics.median(ok), 1), "p90": round(p90, 1), "min": round(ok[0], 1), "max": round(ok[-1], 1),
            "n": len(ok), "failed": len(values) - len(ok)}
