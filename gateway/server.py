"""`gateway serve`: start, listen, and on a signal drain before exiting.

aiohttp's own shutdown (`web.run_app`, `AppRunner.cleanup`) first calls
`close()` on every connection, and a closed connection drops every byte it
receives (`RequestHandler.data_received` returns early once `_close` is set):
uploads in flight stop receiving their body and wait for the shutdown timeout.
So the drain happens before that cleanup: stop listening, refuse new requests,
let those running finish (within the grace), cancel what is left, and only then
hand over to the runner's cleanup, which closes idle connections and releases
the app's resources (the embedded PostgreSQL last).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
from pathlib import Path

from aiohttp import web

from gateway import event_loop
from gateway.app import create_app
from gateway.errors import DatabaseError, StorageError
from gateway.keys import LIFECYCLE
from gateway.logs import get_logger
from gateway.settings import Settings

log = get_logger("gateway")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# After the grace: how long uploads whose body was stopped get to abort and answer,
# then how long cancelled requests get to abort theirs.
ANSWER_TIMEOUT = 5.0
CANCEL_TIMEOUT = 15.0
# For the runner's cleanup: by then only idle connections are left.
CLOSE_TIMEOUT = 5.0


class StartupError(Exception):
    """`serve` cannot start; the message is one line naming the setting to fix."""


def serve(settings: Settings, *, worker: bool = False) -> None:
    """One serving process; `worker`: one of `serve --workers N`'s, which shares the
    port with its siblings and leaves the data-directory lock to its supervisor."""
    event_loop.run(run(settings, worker=worker))


async def run(settings: Settings, *, worker: bool = False) -> None:
    lock = acquire_serve_lock(settings) if settings.database_url is None and not worker else None
    try:
        await _run(settings, reuse_port=worker)
    finally:
        if lock is not None:
            os.close(lock)


async def _run(settings: Settings, *, reuse_port: bool = False) -> None:
    stop = asyncio.Event()
    hurry = asyncio.Event()  # a second signal: skip the grace

    def on_signal(signum: int) -> None:
        log.info("shutdown_signal", signal=signal.Signals(signum).name,
                 draining=stop.is_set())
        (hurry if stop.is_set() else stop).set()

    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None,  # the request middleware logs each one
                           handle_signals=False, shutdown_timeout=CLOSE_TIMEOUT)
    try:
        try:
            await runner.setup()
        except (DatabaseError, StorageError) as exc:
            raise StartupError(_describe_startup_failure(exc, settings)) from exc
        try:
            await web.TCPSite(runner, settings.host, settings.port,
                              reuse_port=reuse_port or None).start()
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise StartupError(f"cannot listen on {settings.host}:{settings.port}: {reason} "
                               f"(GATEWAY_HOST, GATEWAY_PORT or --host, --port)") from exc
        log.info("listening", host=settings.host, port=settings.port,
                 storage="s3" if settings.s3 else "fs", shutdown_grace=settings.shutdown_grace,
                 event_loop=type(asyncio.get_running_loop()).__module__.split(".")[0])
        await stop.wait()
        await drain(runner, app, settings.shutdown_grace, hurry)
    finally:
        await runner.cleanup()  # also after a failed start: stops what did start
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
    log.info("stopped")


async def drain(runner: web.AppRunner, app: web.Application, grace: float,
                hurry: asyncio.Event) -> None:
    lifecycle = app[LIFECYCLE]
    lifecycle.begin_drain()
    for site in list(runner.sites):
        await site.stop()  # closes the listening socket only
    log.info("draining", in_flight=lifecycle.in_flight, grace=grace)
    hurried = asyncio.ensure_future(hurry.wait())
    try:
        idle = asyncio.ensure_future(lifecycle.wait_idle(grace))
        await asyncio.wait({idle, hurried}, return_when=asyncio.FIRST_COMPLETED)
        if not (idle.done() and idle.result()):
            idle.cancel()
            # Uploads still receiving their body end now and are answered 503;
            # what is left after that (downloads, stuck calls) is cancelled.
            stopped = lifecycle.stop_bodies()
            log.warning("grace_over", bodies_stopped=stopped, in_flight=lifecycle.in_flight)
            if not await lifecycle.wait_idle(ANSWER_TIMEOUT):
                log.warning("cancelling_requests", in_flight=lifecycle.cancel_in_flight())
                if not await lifecycle.wait_idle(CANCEL_TIMEOUT):
                    log.error("requests_still_running", in_flight=lifecycle.in_flight)
    finally:
        hurried.cancel()


def acquire_serve_lock(settings: Settings) -> int:
    """One `serve` per data directory with the embedded database: the second
    fails at once. The kernel drops the lock when the process dies, however."""
    data_dir = settings.data_dir
    path = data_dir / "serve.lock"
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StartupError(f"data directory {data_dir}: {exc.strerror} (GATEWAY_DATA_DIR)") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_pid(path)
        os.close(fd)
        raise StartupError(
            f"another gateway serve{f' (pid {holder})' if holder else ''} is already running "
            f"on data directory {data_dir}; stop it first or set GATEWAY_DATA_DIR") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _read_pid(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _describe_startup_failure(exc: DatabaseError | StorageError, settings: Settings) -> str:
    text = exc.detail or exc.message
    if "GATEWAY_" in text:
        return text  # names its setting already
    if isinstance(exc, DatabaseError):
        setting = "GATEWAY_DATABASE_URL" if settings.database_url else "GATEWAY_DATA_DIR"
    else:
        setting = "GATEWAY_S3_BUCKET, GATEWAY_S3_ENDPOINT_URL" if settings.s3 else "GATEWAY_DATA_DIR"
    return f"{text} ({setting})"
