"""What one timed run records: wall time, CPU seconds per process, the gateway's peak
RSS; and the machine's hashing ceiling, measured once per suite run."""

from __future__ import annotations

import hashlib
import os
import statistics
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import psutil

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass
class Measurement:
    """One subject's timed work in one round."""

    seconds: float
    bytes: int = 0
    operations: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    peak_rss_bytes: int | None = None


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def _tree_cpu(process: psutil.Process) -> dict[int, float]:
    """CPU seconds of a process and its live children, by pid. For this process (the
    client) only itself and the children it has reaped (dd): the servers it started
    are its children too, and are measured on their own."""
    own = process.pid == os.getpid()
    seconds: dict[int, float] = {}
    for member in [process] if own else [process, *process.children(recursive=True)]:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds[member.pid] = times.user + times.system
        if own:
            seconds[member.pid] += times.children_user + times.children_system
    return seconds


class CpuMeter:
    """CPU seconds each named process (with its children) spent between start and stop."""

    def __init__(self, processes: Mapping[str, psutil.Process]) -> None:
        self.processes = dict(processes)
        self._before: dict[str, dict[int, float]] = {}

    def start(self) -> None:
        self._before = {name: _tree_cpu(proc) for name, proc in self.processes.items()}

    def stop(self) -> dict[str, float]:
        spent = {}
        for name, proc in self.processes.items():
            after, before = _tree_cpu(proc), self._before[name]
            spent[name] = sum(value - before.get(pid, 0.0) for pid, value in after.items())
        return spent


class RssSampler:
    """Polls a process's resident set size every 10 ms, in a thread of its own."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            time.sleep(0.01)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def hashing_ceiling(total: int, block_size: int = 64 * MiB, piece: int = 8 * MiB) -> dict[str, float]:
    """Seconds per GiB for MD5+SHA-1+SHA-256 in one thread, and for MD5 alone, over
    `total` bytes hashed in memory (a random block, fed in part-sized pieces): the
    least CPU any gateway that stores the three digests spends per GiB."""
    block = memoryview(os.urandom(min(block_size, total)))
    pieces = [block[start:start + piece] for start in range(0, len(block), piece)]
    rounds = max(1, total // len(block))

    def seconds_per_gib(make: Callable[[], list]) -> float:
        hashers = make()
        started = time.process_time()
        for _ in range(rounds):
            for chunk in pieces:
                for hasher in hashers:
                    hasher.update(chunk)
        elapsed = time.process_time() - started
        return elapsed / (rounds * len(block) / GiB)

    three = seconds_per_gib(lambda: [hashlib.md5(), hashlib.sha1(), hashlib.sha256()])
    md5 = seconds_per_gib(lambda: [hashlib.md5()])
    return {
        "hashed_bytes": rounds * len(block),
        "md5_sha1_sha256_s_per_gib": round(three, 3),
        "md5_sha1_sha256_mib_s": round(1024 / three, 1),
        "md5_s_per_gib": round(md5, 3),
        "md5_mib_s": round(1024 / md5, 1),
    }
