"""`gateway serve --workers N`: N serving processes on one port, one supervisor.

Each worker is a whole `serve` process binding the port with SO_REUSEPORT, so the
kernel spreads connections over them and a busy or crashed worker holds up no
other. The supervisor holds the data directory's lock, restarts a worker that
dies, and passes SIGTERM, SIGINT and SIGHUP on to every worker, which then drain
as a single `serve` does; it exits 0 once they all have. Everything the workers
share lives in PostgreSQL (row locks, advisory locks), so background work (the
destroyer, the garbage collector, webhook deliveries) is safe in every worker.

If the supervisor itself is killed (SIGKILL, OOM), its workers do not live on
unsupervised: the kernel sends each a SIGTERM (PR_SET_PDEATHSIG), and they drain
and exit. Until the last one has, they hold the data directory's lock (its file
descriptor is inherited), so a new `serve` on that directory refuses to start.

Metrics: the workers write prometheus-client's multiprocess files to `metrics/`
in the data directory (emptied at start), so `/metrics` in any worker counts all.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import multiprocess

from gateway.logs import get_logger
from gateway.server import STOP_SIGNALS, StartupError, acquire_serve_lock
from gateway.settings import Settings

log = get_logger("gateway.supervisor")

# A worker that dies sooner than this after its start failed to start: with every
# worker doing the same, restarting would only loop, so the supervisor gives up.
STARTUP_WINDOW = 20.0
RESTART_DELAY = 1.0
METRICS_DIR = "metrics"


def supervise(settings: Settings, workers: int) -> None:
    if settings.port == 0:
        raise StartupError("--workers needs a fixed port (GATEWAY_PORT or --port), not 0")
    lock = acquire_serve_lock(settings) if settings.database_url is None else None
    try:
        code = asyncio.run(Supervisor(settings, workers, lock).run())
    finally:
        if lock is not None:
            os.close(lock)
    if code:
        raise StartupError(f"the workers could not start (exit status {code}); see their "
                           "messages above")


class Supervisor:
    def __init__(self, settings: Settings, workers: int, lock: int | None = None) -> None:
        self.settings = settings
        self.lock = lock  # the data directory's lock, passed on to every worker
        self.count = workers
        self.metrics_dir = Path(settings.data_dir) / METRICS_DIR
        self.stopping = False
        self.ever_ready = False
        self.processes: dict[int, asyncio.subprocess.Process] = {}

    async def run(self) -> int:
        self._prepare_metrics_dir()
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, self._stop, signum)
        try:
            slots = [asyncio.create_task(self._keep_running(n)) for n in range(self.count)]
            results = await asyncio.gather(*slots)
        finally:
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)
        log.info("workers_stopped")
        return max(results)

    def _prepare_metrics_dir(self) -> None:
        # Values of workers from a previous run would be added to this run's.
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        self.metrics_dir.mkdir(parents=True, mode=0o700)

    async def _keep_running(self, slot: int) -> int:
        """Run worker `slot` until the supervisor stops; 0, or the exit status
        of a worker that failed to start."""
        while not self.stopping:
            started = time.monotonic()
            process = await self._spawn(slot)
            self.processes[slot] = process
            code = await process.wait()
            multiprocess.mark_process_dead(process.pid, str(self.metrics_dir))
            if self.stopping:
                return 0
            if code == 1 and time.monotonic() - started < STARTUP_WINDOW and not self.ever_ready:
                log.error("worker_failed_to_start", slot=slot, exit_status=code)
                self._stop(signal.SIGTERM)
                return code
            log.warning("worker_died", slot=slot, pid=process.pid, exit_status=code,
                        restart_in_s=RESTART_DELAY)
            await asyncio.sleep(RESTART_DELAY)
        return 0

    async def _spawn(self, slot: int) -> asyncio.subprocess.Process:
        settings = self.settings
        env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(self.metrics_dir))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "serve", "--worker",
            "--host", settings.host, "--port", str(settings.port),
            "--data-dir", str(settings.data_dir), env=env,
            pass_fds=() if self.lock is None else (self.lock,),
            preexec_fn=_stop_with_parent(os.getpid()))
        log.info("worker_started", slot=slot, pid=process.pid)
        asyncio.get_running_loop().call_later(STARTUP_WINDOW, self._mark_ready, process)
        return process

    def _mark_ready(self, process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            self.ever_ready = True

    def _stop(self, signum: int) -> None:
        """Pass the signal on: the workers drain; a second one makes them hurry."""
        log.info("shutdown_signal", signal=signal.Signals(signum).name, workers=len(self.processes))
        self.stopping = True
        for process in self.processes.values():
            if process.returncode is None:
                process.send_signal(signum)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _stop_with_parent(parent_pid: int) -> Callable[[], None]:
    """For `preexec_fn`: runs in the worker between fork and exec. The kernel then
    sends it SIGTERM when the supervisor dies, however it dies; the setting
    survives exec. Looked up here, before the fork: the child only calls."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def stop_with_parent() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # died before the call above: no signal comes
            os._exit(1)

    return stop_with_parent
