"""S3 object store on aiobotocore: multipart uploads only, ranged streaming reads.

botocore errors are translated here, at the module that calls S3. Every call
has connect and read timeouts, and transient failures (connection errors,
timeouts, 5xx, SlowDown) are retried here with backoff within a bounded window,
so an S3 outage fails a request in seconds rather than hanging it. The error
detail (endpoint, key, upload id) goes to StorageError's detail, which is
logged and never sent to clients.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import aiohttp.payload
import botocore.exceptions
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from gateway.errors import NotFoundInStorage, StorageError
from gateway.hashing import INLINE_HASH_LIMIT
from gateway.logs import get_logger
from gateway.metrics import instrument_s3_client
from gateway.settings import S3Settings
from gateway.storage.base import (
    FILE_STORE_REMOTE, OBJECT_KEY_PREFIX, OBJECT_KEY_RE, ObjectStore, ObjectUpload, PartBuffer,
    StoredItem, WholeObjectUpload, settle,
)
from gateway.storage.read_ahead import read_ahead

log = get_logger(__name__)

# Downloads read up to this much at once (what has arrived, when less); read
# ahead of the client by a few such chunks.
READ_CHUNK = 1024 * 1024
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}

# One call, retries included, gives up once this long has passed: with the
# read timeout it bounds how long an outage holds a request (a part's write,
# then the abort) to well under 30 s.
RETRY_WINDOW = 20.0
# Cleaning up after a failure is bounded harder: the failure is answered
# first, and the upload's intent keeps what could not be removed for the
# garbage collector.
CLEANUP_WINDOW = 5.0
MAX_ATTEMPTS = 5
# A request with a body (a part) gets the read timeout plus the time to send
# the body at this rate, whatever the HTTP client does: its own read timeout
# does not run while a stalled server leaves the body unsent.
MIN_SEND_RATE = 8 * 1024 * 1024
FIRST_BACKOFF = 0.2
MAX_BACKOFF = 2.0
_TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeoutException",
    "InternalError", "ServiceUnavailable", "503", "500", "502", "504",
}
_TRANSPORT_ERRORS = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError,
                     aiohttp.ClientError, OSError, TimeoutError)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip(": ")
    return str(exc) or type(exc).__name__


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_transient(exc: BaseException, idempotent: bool) -> bool:
    if isinstance(exc, ClientError):
        # S3 answered: the request did nothing, whatever it was.
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return _code(exc) in _TRANSIENT_CODES or status >= 500
    if not idempotent:
        # Only when the request surely never reached S3.
        return isinstance(exc, (botocore.exceptions.EndpointConnectionError,
                                botocore.exceptions.ConnectTimeoutError,
                                aiohttp.ClientConnectorError))
    return isinstance(exc, _TRANSPORT_ERRORS)


async def s3_call(client: Any, operation: str, *, window: float = RETRY_WINDOW,
                  idempotent: bool = True, **params: Any) -> Any:
    """`client.<operation>(**params)`, retried with backoff on transient failures
    while the window lasts. A ClientError that is not transient is raised as it
    is, for the caller to read its code; anything else that ends the tries is
    raised as StorageError. A call that is not `idempotent` is retried only when
    S3 cannot have acted on it."""
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + window
    delay = FIRST_BACKOFF
    attempt = 1
    attempt_limit = None
    if "Body" in params:
        config = client.meta.config
        attempt_limit = config.read_timeout + len(params["Body"]) / MIN_SEND_RATE
    while True:
        try:
            async with asyncio.timeout(attempt_limit):
                return await getattr(client, operation)(**params)
        except (ClientError, BotoCoreError, *_TRANSPORT_ERRORS) as exc:
            transient = _is_transient(exc, idempotent)
            if not transient or attempt >= MAX_ATTEMPTS or loop.time() + delay >= give_up_at:
                if isinstance(exc, ClientError) and not transient:
                    raise
                raise StorageError(f"{operation} failed after {attempt} attempt(s): "
                                   f"{_describe(exc)}") from exc
            log.warning("s3_retry", operation=operation, attempt=attempt, error=_describe(exc),
                        retry_in_s=delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_BACKOFF)
        attempt += 1


async def _cleanup_call(client: Any, operation: str, **params: Any) -> Any:
    """An s3_call after a failure: bounded by CLEANUP_WINDOW whatever S3 does."""
    try:
        async with asyncio.timeout(CLEANUP_WINDOW):
            return await s3_call(client, operation, window=CLEANUP_WINDOW, **params)
    except TimeoutError:
        raise StorageError(f"{operation} took longer than {CLEANUP_WINDOW} s") from None


class _PartPayload(aiohttp.payload.Payload):
    """How aiohttp sends a part botocore hands it: slices of the buffer itself,
    each written once the connection has taken the previous ones. aiohttp's own
    choices would copy the part (bytes become a BytesIO that botocore's handlers
    make and aiohttp reads back 64 KiB at a time) or hand the transport the
    whole buffer in one write, which Python 3.11's transports copy whole and
    keep queued, outside the upload budget, even after the request is cancelled."""

    def __init__(self, value: PartBuffer, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("content_type", "application/octet-stream")
        super().__init__(value, *args, **kwargs)
        self._size = len(value)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return bytes(self._value).decode(encoding, errors)

    async def as_bytes(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return bytes(self._value)

    async def write(self, writer: Any) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(self, writer: Any, content_length: int | None) -> None:
        with memoryview(self._value) as view:
            end = len(view) if content_length is None else min(content_length, len(view))
            for start in range(0, end, _SEND_SLICE):
                # Awaits the transport's drain: at most a slice or so is ever queued.
                await writer.write(view[start:min(start + _SEND_SLICE, end)])


# A part goes to the connection this much at a time.
_SEND_SLICE = 256 * 1024


aiohttp.payload.register_payload(_PartPayload, PartBuffer, order=aiohttp.payload.Order.try_first)


async def part_checksum(kind: str, data: bytes | bytearray) -> dict[str, str]:
    """The request parameter S3 verifies a part against: `kind` is the
    `part_checksum` setting (crc32, md5 or none). Off the event loop when large."""
    if kind == "none":
        return {}
    compute = _crc32_base64 if kind == "crc32" else _md5_base64
    value = compute(data) if len(data) <= INLINE_HASH_LIMIT else await asyncio.to_thread(compute, data)
    return {"ChecksumCRC32": value} if kind == "crc32" else {"ContentMD5": value}


def _md5_base64(data: bytes | bytearray) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def _crc32_base64(data: bytes | bytearray) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


class S3Upload(ObjectUpload):
    def __init__(self, client: Any, bucket: str, key: str, upload_id: str, *,
                 checksum: str = "crc32") -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._upload_id = upload_id
        self._checksum = checksum
        # What CompleteMultipartUpload lists per part: its ETag and, with
        # crc32, the checksum the part was sent with (S3 requires it then).
        self._parts: dict[int, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"S3Upload(s3://{self._bucket}/{self._key}, upload_id={self._upload_id})"

    async def write_part(self, number: int, data: bytes | bytearray) -> None:
        checksum = await part_checksum(self._checksum, data)
        try:
            response = await s3_call(
                self._client, "upload_part", Bucket=self._bucket, Key=self._key,
                UploadId=self._upload_id, PartNumber=number, Body=data, **checksum,
            )
        except ClientError as exc:
            raise StorageError(f"uploading part {number} of {self!r}: {_describe(exc)}") from exc
        self._parts[number] = {"PartNumber": number, "ETag": response["ETag"]}
        if "ChecksumCRC32" in checksum:
            self._parts[number]["ChecksumCRC32"] = checksum["ChecksumCRC32"]

    async def _complete(self) -> None:
        parts = [self._parts[n] for n in sorted(self._parts)]
        try:
            await s3_call(self._client, "complete_multipart_upload", Bucket=self._bucket,
                          Key=self._key, UploadId=self._upload_id,
                          MultipartUpload={"Parts": parts})
        except ClientError as exc:
            # A retried complete finds the upload gone if the lost first try
            # completed it: the object is then there, under our unique key.
            if _code(exc) == "NoSuchUpload" and await self._object_exists():
                return
            raise StorageError(f"completing {self!r}: {_describe(exc)}") from exc

    async def _object_exists(self) -> bool:
        try:
            await s3_call(self._client, "head_object", Bucket=self._bucket, Key=self._key)
        except (ClientError, StorageError):
            return False
        return True

    async def _abort(self) -> None:
        await abort_multipart_upload(self._client, self._bucket, self._key, self._upload_id)

    async def _discard(self) -> None:
        await _delete_object(self._client, self._bucket, self._key)


class S3WholeUpload(WholeObjectUpload):
    """A one-part object written with a single PutObject when it completes."""

    def __init__(self, client: Any, bucket: str, key: str, content_md5: str | None) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._content_md5 = content_md5

    def __repr__(self) -> str:
        return f"S3WholeUpload(s3://{self._bucket}/{self._key})"

    async def _write(self, data: bytes | bytearray) -> None:
        checksum = {"ContentMD5": self._content_md5} if self._content_md5 else {}
        try:
            # Repeating it writes the same bytes under our unique key: safe to retry.
            await s3_call(self._client, "put_object", Bucket=self._bucket, Key=self._key,
                          Body=data, ContentType="application/octet-stream", **checksum)
        except ClientError as exc:
            raise StorageError(f"writing {self!r}: {_describe(exc)}") from exc

    async def _discard(self) -> None:
        await _delete_object(self._client, self._bucket, self._key)


async def abort_multipart_upload(client: Any, bucket: str, key: str, upload_id: str) -> None:
    try:
        await _cleanup_call(client, "abort_multipart_upload", Bucket=bucket, Key=key,
                            UploadId=upload_id)
    except ClientError as exc:
        if _code(exc) != "NoSuchUpload":
            raise StorageError(f"aborting upload {upload_id} of {key}: {_describe(exc)}") from exc


async def _delete_object(client: Any, bucket: str, key: str) -> None:
    try:
        await _cleanup_call(client, "delete_object", Bucket=bucket, Key=key)
    except ClientError as exc:
        raise StorageError(f"deleting {key}: {_describe(exc)}") from exc


class S3ObjectStore(ObjectStore):
    name = "s3"
    file_store = FILE_STORE_REMOTE

    def __init__(self, client: Any, settings: S3Settings, part_concurrency: int) -> None:
        self._client = client
        self._bucket = settings.bucket
        self._prefix = settings.prefix
        self._part_checksum = settings.part_checksum
        self.part_concurrency = part_concurrency

    def full_key(self, key: str) -> str:
        return self._prefix + key

    async def begin_upload(self, key: str) -> S3Upload:
        full_key = self.full_key(key)

        async def undo(response: dict[str, Any]) -> None:
            await abort_multipart_upload(self._client, self._bucket, full_key, response["UploadId"])

        try:
            # Settled even if cancelled: S3 may create the upload before we hear back.
            # Not retried once sent: a lost answer would leave a second upload.
            # A CRC32 per part is declared up front, as S3 requires for checking it.
            algorithm = {"ChecksumAlgorithm": "CRC32"} if self._part_checksum == "crc32" else {}
            response = await settle(s3_call(
                self._client, "create_multipart_upload", idempotent=False, Bucket=self._bucket,
                Key=full_key, ContentType="application/octet-stream", **algorithm,
            ), undo)
        except ClientError as exc:
            raise StorageError(f"starting upload of {full_key}: {_describe(exc)}") from exc
        return S3Upload(self._client, self._bucket, full_key, response["UploadId"],
                        checksum=self._part_checksum)

    async def begin_whole(self, key: str, md5_base64: str) -> S3WholeUpload:
        # Its MD5 is known already: S3 checks the whole file against it for free.
        return S3WholeUpload(self._client, self._bucket, self.full_key(key),
                             md5_base64 if self._part_checksum != "none" else None)

    async def presigned_download(self, key: str, expires_in: int,
                                 content_disposition: str) -> str:
        """A GET URL for the object, valid `expires_in` seconds, answered with
        `content_disposition` (signed locally: no request to S3)."""
        return await self._client.generate_presigned_url(
            "get_object", ExpiresIn=expires_in,
            Params={"Bucket": self._bucket, "Key": self.full_key(key),
                    "ResponseContentDisposition": content_disposition},
        )

    @asynccontextmanager
    async def open(self, key: str, offset: int, length: int) -> AsyncIterator[AsyncIterator[bytes]]:
        request: dict[str, Any] = {"Bucket": self._bucket, "Key": self.full_key(key)}
        request["Range"] = f"bytes={offset}-{offset + length - 1}"
        try:
            response = await s3_call(self._client, "get_object", **request)
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                raise NotFoundInStorage(f"object {key} is missing") from exc
            raise StorageError(f"reading {key}: {_describe(exc)}") from exc
        async with response["Body"] as body, read_ahead(_chunks(body)) as chunks:
            yield chunks

    async def delete(self, key: str) -> None:
        try:
            await s3_call(self._client, "delete_object", Bucket=self._bucket,
                          Key=self.full_key(key))
        except ClientError as exc:
            raise StorageError(f"deleting {key}: {_describe(exc)}") from exc

    async def check(self) -> None:
        try:
            await s3_call(self._client, "head_bucket", Bucket=self._bucket)
        except ClientError as exc:
            raise StorageError(f"S3 bucket {self._bucket!r} is not usable: {_describe(exc)}") from exc

    # -- for the garbage collector ---------------------------------------------
    def _our_key(self, full_key: str) -> str | None:
        """The object key of a bucket key, if it is one the gateway made."""
        key = full_key.removeprefix(self._prefix)
        return key if full_key.startswith(self._prefix) and OBJECT_KEY_RE.match(key) else None

    async def list_objects(self) -> AsyncIterator[list[StoredItem]]:
        params: dict[str, Any] = {"Bucket": self._bucket,
                                  "Prefix": self._prefix + OBJECT_KEY_PREFIX}
        while True:
            page = await self._list("list_objects_v2", params)
            yield [StoredItem(key, _utc(obj["LastModified"])) for obj in page.get("Contents", [])
                   if (key := self._our_key(obj["Key"]))]
            if not page.get("IsTruncated"):
                return
            params["ContinuationToken"] = page["NextContinuationToken"]

    async def list_unfinished(self) -> AsyncIterator[list[StoredItem]]:
        params: dict[str, Any] = {"Bucket": self._bucket,
                                  "Prefix": self._prefix + OBJECT_KEY_PREFIX}
        while True:
            page = await self._list("list_multipart_uploads", params)
            yield [StoredItem(key, _utc(upload["Initiated"]), upload["UploadId"])
                   for upload in page.get("Uploads", []) if (key := self._our_key(upload["Key"]))]
            if not page.get("IsTruncated"):
                return
            params["KeyMarker"] = page["NextKeyMarker"]
            params["UploadIdMarker"] = page["NextUploadIdMarker"]

    async def _list(self, operation: str, params: dict[str, Any]) -> Any:
        try:
            return await s3_call(self._client, operation, **params)
        except ClientError as exc:
            raise StorageError(f"{operation} in {self._bucket}: {_describe(exc)}") from exc

    async def remove_unfinished(self, item: StoredItem) -> None:
        assert item.upload_ref is not None
        await abort_multipart_upload(self._client, self._bucket, self.full_key(item.key),
                                     item.upload_ref)

    async def remove_all_for(self, key: str) -> None:
        full_key = self.full_key(key)
        params: dict[str, Any] = {"Bucket": self._bucket, "Prefix": full_key}
        while True:
            page = await self._list("list_multipart_uploads", params)
            for upload in page.get("Uploads", []):
                if upload["Key"] == full_key:
                    await abort_multipart_upload(self._client, self._bucket, full_key,
                                                 upload["UploadId"])
            if not page.get("IsTruncated"):
                break
            params["KeyMarker"] = page["NextKeyMarker"]
            params["UploadIdMarker"] = page["NextUploadIdMarker"]
        await self.delete(key)


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


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
        # Retries are ours (s3_call): bounded in time, not only in count.
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        # Part bodies are not SigV4-hashed (UNSIGNED-PAYLOAD): the explicit
        # setting applies over http too, and S3 checks each part's Content-MD5.
        s3={"addressing_style": settings.addressing_style, "payload_signing_enabled": False},
        # SigV4 for presigned download URLs too (botocore presigns with SigV2 otherwise).
        signature_version="s3v4",
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
