"""Which S3 failures are retried, and how long the tries last."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import botocore.exceptions as boto
import pytest
from botocore.exceptions import ClientError

from gateway.errors import StorageError
from gateway.storage import s3
from gateway.storage.s3 import s3_call


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "UploadPart")


class FlakyClient:
    """Fails with the given errors, in order, then answers."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.meta = SimpleNamespace(config=SimpleNamespace(connect_timeout=1, read_timeout=1))

    async def upload_part(self, **params: Any) -> dict[str, str]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {"ETag": "e"}

    create_multipart_upload = upload_part


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3, "FIRST_BACKOFF", 0.01)


async def test_transient_failures_are_retried_until_success() -> None:
    client = FlakyClient(client_error("SlowDown", 503), client_error("InternalError", 500),
                         boto.ConnectionClosedError(endpoint_url="u"), TimeoutError())
    assert await s3_call(client, "upload_part", Body=b"x") == {"ETag": "e"}
    assert client.calls == 5


async def test_a_refusal_is_not_retried() -> None:
    client = FlakyClient(client_error("NoSuchUpload", 404))
    with pytest.raises(ClientError):
        await s3_call(client, "upload_part", Body=b"x")
    assert client.calls == 1


async def test_tries_are_bounded_in_number_and_time() -> None:
    client = FlakyClient(*[client_error("SlowDown", 503)] * 10)
    with pytest.raises(StorageError):
        await s3_call(client, "upload_part", Body=b"x")
    assert client.calls == s3.MAX_ATTEMPTS

    client = FlakyClient(*[client_error("SlowDown", 503)] * 10)
    started = time.monotonic()
    with pytest.raises(StorageError):
        await s3_call(client, "upload_part", window=0.05, Body=b"x")
    assert client.calls < s3.MAX_ATTEMPTS and time.monotonic() - started < 1


async def test_a_call_that_is_not_idempotent_is_retried_only_if_never_sent() -> None:
    never_sent = FlakyClient(boto.EndpointConnectionError(endpoint_url="u"),
                             boto.ConnectTimeoutError(endpoint_url="u"))
    assert await s3_call(never_sent, "create_multipart_upload", idempotent=False)
    assert never_sent.calls == 3

    answer_lost = FlakyClient(boto.ReadTimeoutError(endpoint_url="u"))
    with pytest.raises(StorageError):
        await s3_call(answer_lost, "create_multipart_upload", idempotent=False)
    assert answer_lost.calls == 1
