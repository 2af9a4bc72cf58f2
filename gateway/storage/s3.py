"""S3 object store on aiobotocore: multipart uploads only, ranged streaming reads.

botocore errors are translated here, at the module that calls S3.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from gateway.errors import NotFoundInStorage, StorageError
from gateway.metrics import instrument_s3_client
from gateway.settings import S3Settings
from gateway.storage.base import FILE_STORE_REMOTE, ObjectStore, ObjectUpload, settle

READ_CHUNK = 1024 * 1024
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip(": ")
    return str(exc)


class S3Upload(ObjectUpload):
    def __init__(self, client: Any, bucket: str, key: str, upload_id: str) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._upload_id = upload_id
        self._etags: dict[int, str] = {}

    def __repr__(self) -> str:
        return f"S3Upload(s3://{self._bucket}/{self._key}, upload_id={self._upload_id})"

    async def write_part(self, number: int, data: bytes) -> None:
        try:
            response = await self._client.upload_part(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload_id,
                PartNumber=number, Body=data,
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"uploading part {number}: {_describe(exc)}") from exc
        self._etags[number] = response["ETag"]

    async def _complete(self) -> None:
        parts = [{"PartNumber": n, "ETag": self._etags[n]} for n in sorted(self._etags)]
        try:
            await self._client.complete_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload_id,
                MultipartUpload={"Parts": parts},
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"completing upload: {_describe(exc)}") from exc

    async def _abort(self) -> None:
        await abort_multipart_upload(self._client, self._bucket, self._key, self._upload_id)

    async def _discard(self) -> None:
        await self._client.delete_object(Bucket=self._bucket, Key=self._key)


async def abort_multipart_upload(client: Any, bucket: str, key: str, upload_id: str) -> None:
    try:
        await client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
            raise


class S3ObjectStore(ObjectStore):
    name = "s3"
    file_store = FILE_STORE_REMOTE

    def __init__(self, client: Any, settings: S3Settings, part_concurrency: int) -> None:
        self._client = client
        self._bucket = settings.bucket
        self._prefix = settings.prefix
        self.part_concurrency = part_concurrency

    def full_key(self, key: str) -> str:
        return self._prefix + key

    async def begin_upload(self, key: str) -> S3Upload:
        full_key = self.full_key(key)

        async def undo(response: dict[str, Any]) -> None:
            await abort_multipart_upload(self._client, self._bucket, full_key, response["UploadId"])

        try:
            # Settled even if cancelled: S3 may create the upload before we hear back.
            response = await settle(self._client.create_multipart_upload(
                Bucket=self._bucket, Key=full_key, ContentType="application/octet-stream",
            ), undo)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"starting upload: {_describe(exc)}") from exc
        return S3Upload(self._client, self._bucket, full_key, response["UploadId"])

    @asynccontextmanager
    async def open(self, key: str, offset: int, length: int) -> AsyncIterator[AsyncIterator[bytes]]:
        request: dict[str, Any] = {"Bucket": self._bucket, "Key": self.full_key(key)}
        request["Range"] = f"bytes={offset}-{offset + length - 1}"
        try:
            response = await self._client.get_object(**request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
                raise NotFoundInStorage(f"object {key} is missing") from exc
            raise StorageError(f"reading {key}: {_describe(exc)}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"reading {key}: {_describe(exc)}") from exc
        async with response["Body"] as body:
            yield _chunks(body)

    async def delete(self, key: str) -> None:
        try:
            await self._client.delete_object(Bucket=self._bucket, Key=self.full_key(key))
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"deleting {key}: {_describe(exc)}") from exc

    async def check(self) -> None:
        try:
            await self._client.head_bucket(Bucket=self._bucket)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"S3 bucket {self._bucket!r} is not usable: {_describe(exc)}") from exc


async def _chunks(body: Any) -> AsyncIterator[bytes]:
    try:
        async for chunk in body.iter_chunks(READ_CHUNK):
            yield chunk
    except (BotoCoreError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        # A connection cut mid-body surfaces as aiohttp's ClientPayloadError.
        raise StorageError(f"reading object: {exc}") from exc


@asynccontextmanager
async def s3_client(settings: S3Settings, max_connections: int) -> AsyncIterator[Any]:
    """An aiobotocore S3 client; credentials from settings or the standard AWS chain."""
    config = AioConfig(
        max_pool_connections=max_connections,
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=10,
        read_timeout=120,
        s3={"addressing_style": settings.addressing_style},
        # Only checksums S3 requires: other S3 APIs (SeaweedFS, older MinIO) may
        # not know the newer flexible checksums, and we hash the body ourselves.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    credentials: dict[str, str] = {}
    if settings.access_key_id and settings.secret_access_key:
        credentials = {
            "aws_access_key_id": settings.access_key_id,
            "aws_secret_access_key": settings.secret_access_key,
        }
    async with get_session().create_client(
        "s3", endpoint_url=settings.endpoint_url, region_name=settings.region or "us-east-1",
        config=config, **credentials,
    ) as client:
        instrument_s3_client(client)
        yield client
