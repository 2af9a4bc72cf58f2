"""What every benchmark reports: percentiles of timings, and where they were measured."""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Any


def percentiles(timings: list[float]) -> dict[str, float]:
    """Median, p99 and max, in milliseconds rounded to 0.01."""
    ordered = sorted(timings)
    return {"median_ms": round(statistics.median(ordered), 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
            "max_ms": round(ordered[-1], 2)}


def measured_on() -> dict[str, Any]:
    """The machine, and how busy it was (a shared machine's load shows in the timings)."""
    return {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "load_average": [round(load, 2) for load in os.getloadavg()]},
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
