"""A download racing the deletion of its package: 200 or 404, never 5xx."""

from __future__ import annotations

import asyncio
import os

import pytest

from gateway.errors import RecordNotFound, StorageError
from gateway.keys import DESTROYER
from tests.harness import Gateway, Identity

ROUNDS = 25
SIZE = 256 * 1024


async def publish(gateway: Gateway, who: Identity, data: bytes) -> int:
    response = await gateway.put(who, data, params={"select": "package_file"})
    assert response.status == 200
    return (await response.json())["package_id"]


async def delete_package(gateway: Gateway, who: Identity, package_id: int) -> None:
    response = await gateway.client.delete(
        f"/api/v4/projects/{who.project_id}/packages/{package_id}", headers=who.headers)
    assert response.status == 204
    await gateway.app[DESTROYER].sweep()  # the objects go now, not at the next wake


async def test_object_gone_with_its_package_is_404_not_503(gateway: Gateway) -> None:
    """The row was found, then the package was deleted and its object removed
    before the store was opened."""
    maintainer = await gateway.user("maintainer", await gateway.project())
    package_id = await publish(gateway, maintainer, os.urandom(SIZE))
    record = await gateway.registry.packages.find_generic_download(
        maintainer.project_id, "pkg", "1.0.0", "file.bin")
    assert record is not None

    await delete_package(gateway, maintainer, package_id)

    with pytest.raises(RecordNotFound) as raised:
        async with gateway.registry.open_file(record, 0, SIZE):
            pass
    assert raised.value.message == "404 Not found"


async def test_live_row_without_its_object_stays_a_storage_error(gateway: Gateway) -> None:
    dev = await gateway.developer()
    await publish(gateway, dev, os.urandom(SIZE))
    async with gateway.pool.acquire() as conn:
        key = await conn.fetchval("SELECT object_key FROM package_files")
    await gateway.registry.store.delete(key)
    record = await gateway.registry.packages.find_generic_download(dev.project_id, "pkg", "1.0.0",
                                                                   "file.bin")
    assert record is not None

    with pytest.raises(StorageError):
        async with gateway.registry.open_file(record, 0, SIZE):
            pass
    response = await gateway.get(dev)
    assert response.status == 503
    assert await response.json() == {
        "message": "503 Service Unavailable - object storage is unavailable"}


async def test_downloads_racing_deletes_are_200_or_404(gateway: Gateway) -> None:
    maintainer = await gateway.user("maintainer", await gateway.project())
    statuses: list[int] = []
    for _ in range(ROUNDS):
        data = os.urandom(SIZE)
        package_id = await publish(gateway, maintainer, data)

        async def download() -> int:
            response = await gateway.get(maintainer)
            if response.status == 200:
                assert await response.read() == data
            else:
                assert await response.json() == {"message": "404 Not found"}
            return response.status

        results = await asyncio.gather(download(), download(), download(),
                                       delete_package(gateway, maintainer, package_id))
        statuses += results[:3]
    assert set(statuses) <= {200, 404}
    # The background sweeper may hold the last rows (our sweep skips them): wait.
    for _ in range(200):
        if await gateway.count("package_files") == 0:
            break
        await asyncio.sleep(0.05)
    assert await gateway.count("package_files") == 0
    assert gateway.stored_objects() == []
