"""Duplicate files with the group's settings: refused with 409 before any byte is
stored, and race-free when two uploads of one new file name run at once."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from gateway.settings import MiB
from tests.harness import Gateway, GatewayFactory, Identity, wait_for

DUPLICATE = {"message": "409 Conflict - Duplicate package is not allowed"}


async def forbid_duplicates(gateway: Gateway, dev: Identity, regex: str | None = None) -> None:
    group = dev.project_path.rsplit("/", 1)[0]
    await gateway.admin.group_settings(group, False, regex)


async def test_duplicate_is_409_and_stores_nothing(gateway: Gateway) -> None:
    dev = await gateway.developer()
    await forbid_duplicates(gateway, dev)
    assert (await gateway.put(dev, b"first")).status == 201

    response = await gateway.put(dev, os.urandom(11 * MiB))
    assert response.status == 409
    assert await response.json() == DUPLICATE
    assert await gateway.count("package_files") == 1
    assert len(gateway.stored_objects()) == 1
    assert gateway.multipart_uploads() == []
    assert await (await gateway.get(dev)).read() == b"first"

    # Another file name, or another version, is no duplicate.
    assert (await gateway.put(dev, b"x", file_name="other.bin")).status == 201
    assert (await gateway.put(dev, b"x", version="1.0.1")).status == 201


async def test_duplicates_are_allowed_by_default(gateway: Gateway) -> None:
    dev = await gateway.developer()
    assert (await gateway.put(dev, b"one")).status == 201
    assert (await gateway.put(dev, b"two")).status == 201


async def test_concurrent_uploads_of_one_new_name_one_wins(gateway: Gateway) -> None:
    """Both pass the early check (nothing exists yet); the insert decides."""
    dev = await gateway.developer()
    await forbid_duplicates(gateway, dev)
    release = asyncio.Event()

    async def held_body(fill: bytes) -> AsyncIterator[bytes]:
        yield fill * (6 * MiB)
        await release.wait()
        yield fill

    uploads = [asyncio.ensure_future(gateway.put(dev, held_body(fill))) for fill in (b"a", b"b")]
    # Both uploads are past the duplicate check and streaming into storage.
    await wait_for(lambda: gateway.registry.uploads_in_flight == 2)
    await wait_for(lambda: len(gateway.stored_objects()) + len(gateway.multipart_uploads()) >= 2)
    release.set()
    responses = await asyncio.gather(*uploads)

    assert sorted(r.status for r in responses) == [201, 409]
    loser = next(r for r in responses if r.status == 409)
    assert await loser.json() == DUPLICATE
    assert await gateway.count("package_files") == 1
    assert len(gateway.stored_objects()) == 1  # the loser's object was removed
    assert gateway.multipart_uploads() == []


@pytest.mark.parametrize(("allowed", "regex", "second"), [
    (False, ".*kage", 201),   # the exception matches the name
    (False, r"1\.2\..*", 201),  # ... or the version
    (False, ".*zzz.*", 409),
    (True, ".*kage", 409),    # allowed, except for names matching
    (True, r"1\.2\.3", 409),
    (True, ".*zzz.*", 201),
])
async def test_exception_regex(gateway_factory: GatewayFactory, allowed: bool, regex: str,
                               second: int) -> None:
    gateway = await gateway_factory("fs")
    dev = await gateway.developer()
    group = dev.project_path.rsplit("/", 1)[0]
    await gateway.admin.group_settings(group, allowed, regex)
    assert (await gateway.put(dev, b"1", name="mypackage", version="1.2.3")).status == 201
    assert (await gateway.put(dev, b"2", name="mypackage", version="1.2.3")).status == second


async def test_settings_apply_to_the_projects_direct_group(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    parent_project = await gateway.project(path="top/app")
    nested_project = await gateway.project(path="top/sub/app")
    await gateway.admin.group_settings("top", False, None)
    parent_dev = await gateway.user("developer", parent_project)
    nested_dev = await gateway.user("developer", nested_project)
    for dev, second in ((parent_dev, 409), (nested_dev, 201)):
        assert (await gateway.put(dev, b"1")).status == 201
        assert (await gateway.put(dev, b"2")).status == second
