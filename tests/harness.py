"""A running gateway plus what tests need around it: identities, requests, and
looks at the database and storage behind its back."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import ClientResponse, web

from gateway.admin import Admin
from gateway.app import create_app
from gateway.db.identity import IdentityRepository
from gateway.keys import DB_POOL, REGISTRY
from gateway.registry import Registry
from gateway.settings import Settings


@dataclass
class Identity:
    """A user with a token, and the project they were given a role in."""

    username: str
    token: str
    project_id: int
    project_path: str

    @property
    def headers(self) -> dict[str, str]:
        return {"PRIVATE-TOKEN": self.token}


class Gateway:
    def __init__(self, client: Any, settings: Settings, s3_admin: Any) -> None:
        self.client = client
        self.settings = settings
        self.s3_admin = s3_admin
        self._counter = 0

    @classmethod
    async def start(cls, aiohttp_client: Any, settings: Settings, s3_admin: Any) -> Gateway:
        client = await aiohttp_client(create_app(settings))
        return cls(client, settings, s3_admin)

    # -- the app's own resources -------------------------------------------------
    @property
    def app(self) -> web.Application:
        return self.client.server.app

    @property
    def pool(self) -> asyncpg.Pool:
        return self.app[DB_POOL]

    @property
    def registry(self) -> Registry:
        return self.app[REGISTRY]

    @property
    def admin(self) -> Admin:
        return Admin(IdentityRepository(self.pool))

    @property
    def base_url(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    # -- identities --------------------------------------------------------------
    def unique(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    async def project(self, *, public: bool = False, path: str | None = None) -> dict[str, Any]:
        return await self.admin.create_project(path or self.unique("group/project"), public)

    async def user(self, role: str | None, project: dict[str, Any], *,
                   scopes: tuple[str, ...] = ("api",), expires_at: Any = None) -> Identity:
        username = self.unique("user")
        await self.admin.create_user(username)
        if role is not None:
            await self.admin.add_member(project["path"], username, role)
        token = await self.admin.create_personal_token(username, list(scopes), None, expires_at)
        return Identity(username, token, project["id"], project["path"])

    async def developer(self, *, public: bool = False) -> Identity:
        return await self.user("developer", await self.project(public=public))

    # -- requests ----------------------------------------------------------------
    @staticmethod
    def package_path(project: int | str, name: str, version: str, file_name: str) -> str:
        ref = str(project).replace("/", "%2F")
        return f"/api/v4/projects/{ref}/packages/generic/{name}/{version}/{file_name}"

    async def put(self, who: Identity | None, data: Any, *, name: str = "pkg",
                  version: str = "1.0.0", file_name: str = "file.bin", project: Any = None,
                  headers: dict[str, str] | None = None, params: dict[str, str] | None = None,
                  path: str | None = None) -> ClientResponse:
        url = path or self.package_path(project or (who.project_id if who else 1), name, version,
                                        file_name)
        all_headers = {**(who.headers if who else {}), **(headers or {})}
        if isinstance(data, bytes):
            data = io.BytesIO(data)  # sent with Content-Length, without blocking the loop
        return await self.client.put(url, data=data, headers=all_headers, params=params)

    async def get(self, who: Identity | None, *, name: str = "pkg", version: str = "1.0.0",
                  file_name: str = "file.bin", project: Any = None,
                  headers: dict[str, str] | None = None, method: str = "GET",
                  path: str | None = None, params: dict[str, str] | None = None) -> ClientResponse:
        url = path or self.package_path(project or (who.project_id if who else 1), name, version,
                                        file_name)
        all_headers = {**(who.headers if who else {}), **(headers or {})}
        return await self.client.request(method, url, headers=all_headers, params=params)

    # -- looks behind the gateway's back ----------------------------------------
    async def count(self, table: str) -> int:
        assert table in {"packages", "package_files", "projects", "users", "upload_intents"}
        async with self.pool.acquire() as conn:
            return await conn.fetchval(f"SELECT count(*) FROM {table}")

    def stored_objects(self) -> list[str]:
        """Every object or file in storage, temporary files included."""
        if self.settings.s3 is None:
            root = self.settings.objects_dir
            if not root.exists():
                return []
            return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file())
        response = self.s3_admin.list_objects_v2(Bucket=self.settings.s3.bucket)
        return sorted(obj["Key"] for obj in response.get("Contents", []))

    def multipart_uploads(self) -> list[dict[str, Any]]:
        if self.settings.s3 is None:
            return []
        return self.s3_admin.list_multipart_uploads(Bucket=self.settings.s3.bucket).get("Uploads", [])

    async def assert_nothing_stored(self) -> None:
        """No package-file row, no object (nor temp file), no dangling multipart upload."""
        assert await self.count("package_files") == 0
        assert await self.count("upload_intents") == 0
        assert await asyncio.to_thread(self.stored_objects) == []
        assert await asyncio.to_thread(self.multipart_uploads) == []

    async def wait_until_idle(self, timeout: float = 15.0) -> None:
        """Until no upload is in flight (after a client went away mid-body)."""
        await wait_for(lambda: self.registry.uploads_in_flight == 0, timeout)


GatewayFactory = Callable[..., Awaitable[Gateway]]


async def held_upload(gateway: Gateway, who: Identity, head: bytes,
                      tail: bytes) -> tuple[asyncio.Future[ClientResponse], asyncio.Event]:
    """A PUT that sends `head`, then waits for the event before sending `tail`;
    returns once the upload is under way in storage."""
    release = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield head
        await release.wait()
        yield tail

    upload = asyncio.ensure_future(gateway.put(who, body()))
    await wait_for(lambda: bool(gateway.stored_objects() or gateway.multipart_uploads()))
    return upload, release


async def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


async def raw_request(gateway: Gateway, method: str, raw_path: str, *,
                      headers: dict[str, str] | None = None, body: bytes = b"") -> RawResponse:
    """One request with the path sent byte for byte (no client-side normalisation
    of `..` or percent-escapes), so traversal attempts reach the server as written."""
    host, port = gateway.client.server.host, gateway.client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    lines = [f"{method} {raw_path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
             f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    data = await reader.read()
    writer.close()
    return parse_response(data)


def parse_response(data: bytes) -> RawResponse:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        parsed[key.strip().lower()] = value.strip()
    return RawResponse(int(status_line.split()[1]), parsed, body)


class FaultProxy:
    """A TCP proxy in front of a real server (S3, PostgreSQL) that injects network
    faults on demand, for new and already open connections alike:

    - `mode = "pass"`: forward both ways (the default);
    - `mode = "stall"`: keep connections open but forward nothing (a hung server);
    - `mode = "refuse"`: cut every open connection and close new ones at once (down);
    - `cut_after = N`: cut each connection after N bytes of the server's answer.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.upstream_socket: str | None = None
        self.mode = "pass"
        self.cut_after: int | None = None
        self.cuts = 0
        self.connections = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @classmethod
    def for_unix_socket(cls, path: str) -> FaultProxy:
        """In front of a Unix socket (the embedded PostgreSQL's), served on TCP."""
        proxy = cls("", 0)
        proxy.upstream_socket = path
        return proxy

    @classmethod
    def for_url(cls, url: str) -> FaultProxy:
        host, _, port = url.removeprefix("http://").rstrip("/").rpartition(":")
        return cls(host, int(port))

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.port = port
        return f"http://{host}:{port}"

    def set_mode(self, mode: str) -> None:
        assert mode in {"pass", "stall", "refuse"}
        self.mode = mode
        if mode == "refuse":
            for writer in list(self._writers):
                writer.close()

    async def stop(self) -> None:
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, client_reader: asyncio.StreamReader,
                     client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.mode == "refuse":
            client_writer.close()
            return
        try:
            if self.upstream_socket is not None:
                upstream_reader, upstream_writer = await asyncio.open_unix_connection(
                    self.upstream_socket)
            else:
                upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        self._writers.update((client_writer, upstream_writer))

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       limit: int | None) -> None:
            sent = 0
            try:
                while chunk := await reader.read(65536):
                    while self.mode == "stall":
                        await asyncio.sleep(0.05)
                    if self.mode == "refuse":
                        return
                    if limit is not None and sent + len(chunk) >= limit:
                        writer.write(chunk[:limit - sent])
                        await writer.drain()
                        self.cuts += 1
                        return
                    writer.write(chunk)
                    await writer.drain()
                    sent += len(chunk)
            except ConnectionError:
                pass
            finally:
                client_writer.close()
                upstream_writer.close()
                self._writers.discard(client_writer)
                self._writers.discard(upstream_writer)

        await asyncio.gather(pipe(client_reader, upstream_writer, None),
                             pipe(upstream_reader, client_writer, self.cut_after))

