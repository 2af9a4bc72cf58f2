"""`gateway serve` as a process: drain on signals, the embedded database's
lifetime, one serve per data directory, and start-up failures."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import MOTO_CREDENTIALS, private_tmp_dir
from tests.harness import parse_response, wait_for
from tests.serve_process import ServeProcess, clean_env, free_port, gateway_cli, postgres_processes

ServeFactory = Callable[..., Awaitable[ServeProcess]]


@pytest.fixture
async def serve_factory(cluster_dir: Path) -> AsyncIterator[ServeFactory]:
    """Starts `gateway serve` processes in one folder (embedded database, fs
    storage by default); stops them all and checks no postgres is left."""
    started: list[ServeProcess] = []

    async def start(**env: str) -> ServeProcess:
        process = await ServeProcess(clean_env(**env), cluster_dir).start()
        started.append(process)
        return process

    yield start
    for process in started:
        await process.stop()
    await wait_for(lambda: not postgres_processes(cluster_dir / "gateway-data" / "postgres"), 30)


async def developer_token(folder: Path) -> str:
    env = clean_env()
    for args in (("project", "create", "demo/app"), ("user", "create", "dev"),
                 ("member", "add", "--project", "demo/app", "--user", "dev", "--role", "developer")):
        code, _, err = await gateway_cli("admin", *args, env=env, cwd=folder)
        assert code == 0, err
    code, token, err = await gateway_cli("admin", "token", "create", "--user", "dev", "--scopes",
                                         "api", env=env, cwd=folder)
    assert code == 0, err
    return token.strip()


PACKAGE = "/api/v4/projects/demo%2Fapp/packages/generic/app/1.0.0"


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body, off a raw connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    parsed = parse_response(head)
    body = await reader.readexactly(int(parsed.headers.get("content-length", "0")))
    return parsed.status, parsed.headers, body


async def slow_upload(port: int, token: str, file_name: str, body: bytes, *,
                      seconds: float, started: asyncio.Event) -> tuple[int, bytes]:
    """A client that sends its body over `seconds`; `started` once the headers
    and a first slice are out."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (f"PUT {PACKAGE}/{file_name} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"PRIVATE-TOKEN: {token}\r\nContent-Length: {len(body)}\r\n\r\n")
    writer.write(head.encode())
    slices = 30
    size = -(-len(body) // slices)

    async def send() -> None:
        with contextlib.suppress(ConnectionError):  # answered early, and closed
            for number in range(slices):
                writer.write(body[number * size:(number + 1) * size])
                await writer.drain()
                started.set()
                await asyncio.sleep(seconds / slices)

    sending = asyncio.create_task(send())
    try:  # read while sending: the answer may come before the body is out
        status, _, answer = await read_response(reader)
    finally:
        sending.cancel()
        writer.close()
    return status, answer


async def slow_download(port: int, token: str, file_name: str, *, seconds: float,
                        started: asyncio.Event) -> bytes:
    """A client that reads its download over `seconds`, far slower than sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {PACKAGE}/{file_name} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                 f"PRIVATE-TOKEN: {token}\r\n\r\n".encode())
    try:
        parsed = parse_response(await reader.readuntil(b"\r\n\r\n"))
        assert parsed.status == 200
        length = int(parsed.headers["content-length"])
        body = bytearray()
        while len(body) < length:
            body += await reader.readexactly(min(1 << 20, length - len(body)))
            started.set()
            await asyncio.sleep(seconds * (1 << 20) / length)
    finally:
        writer.close()
    return bytes(body)


async def wait_until_refused(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return
        writer.close()
        await asyncio.sleep(0.05)
    raise AssertionError(f"127.0.0.1:{port} still accepts connections")


async def test_sigterm_lets_uploads_in_flight_finish(serve_factory: ServeFactory,
                                                     cluster_dir: Path) -> None:
    serve = await (await serve_factory(GATEWAY_SHUTDOWN_GRACE="30")).ready()
    token = await developer_token(cluster_dir)
    pgdata = cluster_dir / "gateway-data" / "postgres"
    # A keep-alive connection opened before the signal, used again during the drain.
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", serve.port)
    liveness = f"GET /-/liveness HTTP/1.1\r\nHost: 127.0.0.1:{serve.port}\r\n\r\n".encode()
    idle_writer.write(liveness)
    assert (await read_response(idle_reader))[0] == 200

    large = os.urandom(48 * 1024 * 1024)  # more than socket buffers hold
    async with aiohttp.ClientSession(headers={"PRIVATE-TOKEN": token}) as http:
        async with http.put(f"{serve.base}{PACKAGE}/large.bin",
                            data=io.BytesIO(large)) as response:
            assert response.status == 201

    bodies = {"one.bin": os.urandom(3 * 1024 * 1024), "two.bin": os.urandom(2 * 1024 * 1024 + 7)}
    started = {name: asyncio.Event() for name in [*bodies, "large.bin"]}
    uploads = [asyncio.create_task(slow_upload(serve.port, token, name, body, seconds=4,
                                               started=started[name]))
               for name, body in bodies.items()]
    download = asyncio.create_task(slow_download(serve.port, token, "large.bin", seconds=4,
                                                 started=started["large.bin"]))
    for event in started.values():
        await event.wait()
    await asyncio.sleep(0.5)  # both requests past authentication, their bodies streaming
    serve.send_signal(signal.SIGTERM)
    await wait_until_refused(serve.port)  # stops listening (after it began to drain)

    idle_writer.write(liveness)
    status, headers, body = await read_response(idle_reader)
    assert status == 503 and headers["connection"] == "close"
    assert json.loads(body) == {
        "message": "503 Service Unavailable - the gateway is shutting down"}
    assert headers["retry-after"] == "5"
    assert await idle_reader.read() == b""  # and the connection is closed
    idle_writer.close()

    for status, answer in await asyncio.gather(*uploads):
        assert (status, json.loads(answer)) == (201, {"message": "201 Created"})
    assert await download == large
    assert await serve.wait(30) == 0, serve.output
    assert postgres_processes(pgdata) == []
    assert '"event": "draining"' in serve.stdout.decode()

    again = await (await serve_factory()).ready()
    async with aiohttp.ClientSession(headers={"PRIVATE-TOKEN": token}) as http:
        for name, sent in bodies.items():
            async with http.get(f"{again.base}{PACKAGE}/{name}") as response:
                assert response.status == 200
                assert await response.read() == sent
    again.send_signal(signal.SIGINT)
    assert await again.wait() == 0
    assert postgres_processes(pgdata) == []


async def test_grace_over_cancels_what_is_left(serve_factory: ServeFactory,
                                               cluster_dir: Path) -> None:
    serve = await (await serve_factory(GATEWAY_SHUTDOWN_GRACE="1")).ready()
    token = await developer_token(cluster_dir)
    started = asyncio.Event()
    upload = asyncio.create_task(slow_upload(serve.port, token, "late.bin", os.urandom(1 << 20),
                                             seconds=20, started=started))
    await started.wait()
    await asyncio.sleep(0.5)
    began = time.monotonic()
    serve.send_signal(signal.SIGTERM)
    # The upload still sending its body is answered, not cut off.
    status, answer = await upload
    assert (status, json.loads(answer)) == (
        503, {"message": "503 Service Unavailable - the gateway is shutting down"})
    assert await serve.wait(30) == 0, serve.output
    assert time.monotonic() - began < 15
    objects = cluster_dir / "gateway-data" / "objects"
    assert [p for p in objects.rglob("*") if p.is_file()] == []  # the upload aborted cleanly
    lines = [json.loads(line) for line in serve.stdout.decode().splitlines()
             if line.startswith("{") and "late.bin" in line]
    assert [entry["status"] for entry in lines if entry.get("event") == "request"] == [503]


async def test_grace_over_cancels_a_download_and_logs_it(serve_factory: ServeFactory,
                                                          cluster_dir: Path) -> None:
    """A download still going when the grace (and the 5 s given to uploads to
    answer) is over is cancelled: the client is cut off, and the log says this
    server stopped it (503), not that the client went away (nginx's 499)."""
    serve = await (await serve_factory(GATEWAY_SHUTDOWN_GRACE="1")).ready()
    token = await developer_token(cluster_dir)
    large = os.urandom(48 * 1024 * 1024)  # more than socket buffers hold
    async with aiohttp.ClientSession(headers={"PRIVATE-TOKEN": token}) as http:
        async with http.put(f"{serve.base}{PACKAGE}/large.bin",
                            data=io.BytesIO(large)) as response:
            assert response.status == 201
    started = asyncio.Event()
    download = asyncio.create_task(slow_download(serve.port, token, "large.bin", seconds=60,
                                                 started=started))
    await started.wait()
    began = time.monotonic()
    serve.send_signal(signal.SIGTERM)
    assert await serve.wait(30) == 0, serve.output
    assert time.monotonic() - began < 15
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await download
    lines = [json.loads(line) for line in serve.stdout.decode().splitlines()
             if line.startswith("{") and "large.bin" in line]
    assert [(entry["status"], entry.get("stopped_at_shutdown")) for entry in lines
            if entry.get("event") == "request" and entry["method"] == "GET"] == [(503, True)]


async def test_sigkill_then_serve_again_reuses_the_database(serve_factory: ServeFactory,
                                                            cluster_dir: Path) -> None:
    pgdata = cluster_dir / "gateway-data" / "postgres"
    first = await (await serve_factory()).ready()
    token = await developer_token(cluster_dir)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    orphans = postgres_processes(pgdata)
    assert orphans  # a SIGKILL cannot be caught: the server outlives the gateway

    second = await (await serve_factory()).ready()
    async with aiohttp.ClientSession(headers={"PRIVATE-TOKEN": token}) as http:
        async with http.put(f"{second.base}{PACKAGE}/after.bin", data=b"after a kill") as response:
            assert response.status == 201
        async with http.get(f"{second.base}/-/readiness") as response:
            assert response.status == 200
    # Reused rather than restarted: same postmaster.
    assert orphans[0].pid in {p.pid for p in postgres_processes(pgdata)}
    second.send_signal(signal.SIGHUP)
    assert await second.wait() == 0, second.output
    assert postgres_processes(pgdata) == []


async def test_a_stale_pid_file_blocks_nothing(serve_factory: ServeFactory,
                                               cluster_dir: Path) -> None:
    pgdata = cluster_dir / "gateway-data" / "postgres"
    first = await (await serve_factory()).ready()
    first.send_signal(signal.SIGKILL)
    await first.wait()
    for process in postgres_processes(pgdata):
        process.kill()
    await wait_for(lambda: not postgres_processes(pgdata), 20)
    # The pid file is left behind; make its pid one that is alive and not postgres.
    pid_file = pgdata / "postmaster.pid"
    lines = pid_file.read_text().splitlines()
    pid_file.write_text("\n".join([str(os.getpid()), *lines[1:]]) + "\n")

    second = await (await serve_factory()).ready()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{second.base}/-/readiness") as response:
            assert response.status == 200
    second.send_signal(signal.SIGTERM)
    assert await second.wait() == 0, second.output
    assert postgres_processes(pgdata) == []


async def test_second_serve_on_the_same_data_dir_fails_at_once(serve_factory: ServeFactory) -> None:
    first = await (await serve_factory()).ready()
    began = time.monotonic()
    second = await serve_factory()
    assert await second.wait(15) == 1
    assert time.monotonic() - began < 5
    lines = second.stderr.decode().strip().splitlines()
    assert len(lines) == 1, second.output
    assert lines[0] == (f"gateway: error: another gateway serve (pid {first.process.pid}) is "
                        f"already running on data directory gateway-data; stop it first or set "
                        f"GATEWAY_DATA_DIR")
    async with aiohttp.ClientSession() as http:  # the first one is unharmed
        async with http.get(f"{first.base}/-/readiness") as response:
            assert response.status == 200


async def serve_failing(env: dict[str, str], cwd: Path, *args: str) -> str:
    """Runs a serve expected to fail; its one line of stderr."""
    began = time.monotonic()
    code, out, err = await asyncio.wait_for(gateway_cli("serve", *args, env=env, cwd=cwd), 60)
    assert code == 1, out + err
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gateway: error: "), err
    assert time.monotonic() - began < 30
    return lines[0]


async def test_port_taken(database_url: str, cluster_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = await serve_failing(clean_env(GATEWAY_DATABASE_URL=database_url), cluster_dir,
                                   "--port", str(port))
    assert line == (f"gateway: error: cannot listen on 127.0.0.1:{port}: Address already in use "
                    f"(GATEWAY_HOST, GATEWAY_PORT or --host, --port)")


def s3_env(database_url: str, endpoint: str, bucket: str) -> dict[str, str]:
    return clean_env(GATEWAY_DATABASE_URL=database_url, GATEWAY_S3_BUCKET=bucket,
                     GATEWAY_S3_ENDPOINT_URL=endpoint, GATEWAY_S3_REGION="us-east-1",
                     GATEWAY_S3_ACCESS_KEY_ID=MOTO_CREDENTIALS["aws_access_key_id"],
                     GATEWAY_S3_SECRET_ACCESS_KEY=MOTO_CREDENTIALS["aws_secret_access_key"])


async def test_bucket_missing(database_url: str, moto_endpoint: str, cluster_dir: Path) -> None:
    line = await serve_failing(s3_env(database_url, moto_endpoint, "no-such-bucket"), cluster_dir,
                               "--port", str(free_port()))
    assert "no-such-bucket" in line and "404" in line
    assert line.endswith("(GATEWAY_S3_BUCKET, GATEWAY_S3_ENDPOINT_URL)")


async def test_bad_endpoint_urls(database_url: str, cluster_dir: Path) -> None:
    line = await serve_failing(s3_env(database_url, "not a url", "bucket"), cluster_dir)
    assert line == ("gateway: error: GATEWAY_S3_ENDPOINT_URL must be an http:// or https:// URL "
                    "with a host")
    nobody = f"http://127.0.0.1:{free_port()}"
    line = await serve_failing(s3_env(database_url, nobody, "bucket"), cluster_dir,
                               "--port", str(free_port()))
    assert "Could not connect" in line
    assert line.endswith("(GATEWAY_S3_BUCKET, GATEWAY_S3_ENDPOINT_URL)")


async def test_database_unreachable(cluster_dir: Path) -> None:
    url = f"postgresql://gateway:secret-pw@127.0.0.1:{free_port()}/gateway"
    line = await serve_failing(clean_env(GATEWAY_DATABASE_URL=url), cluster_dir,
                               "--port", str(free_port()))
    assert line.startswith("gateway: error: cannot connect to the database")
    assert line.endswith("(GATEWAY_DATABASE_URL)") and "secret-pw" not in line


async def test_data_dir_not_a_folder(cluster_dir: Path) -> None:
    (cluster_dir / "file").write_text("")
    line = await serve_failing(clean_env(GATEWAY_DATA_DIR=str(cluster_dir / "file" / "data")),
                               cluster_dir, "--port", str(free_port()))
    assert line == (f"gateway: error: data directory {cluster_dir}/file/data: Not a directory "
                    f"(GATEWAY_DATA_DIR)")


@pytest.mark.skipif(os.geteuid() != 0, reason="the server runs as another user only under root")
async def test_data_dir_the_server_user_cannot_reach() -> None:
    with private_tmp_dir("gateway-closed-") as closed:  # 0700, root's
        data_dir = closed / "data"
        line = await serve_failing(clean_env(GATEWAY_DATA_DIR=str(data_dir)), closed,
                                   "--port", str(free_port()))
        assert line == (
            f"gateway: error: the embedded PostgreSQL runs as system user embedded_postgres "
            f"(PostgreSQL refuses to run as root), which cannot enter {closed} (mode 0700); set "
            f"GATEWAY_DATA_DIR to a folder whose parents that user can enter, run the gateway as "
            f"a user other than root, or set GATEWAY_DATABASE_URL")
        assert oct(closed.stat().st_mode & 0o777) == "0o700"  # not widened
        assert not (data_dir / "postgres").exists()
