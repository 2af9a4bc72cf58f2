"""`GET /projects/:id/packages/:package_id/package_files/:file_id/download`: the
file with the generic download's headers, Range and ETag handling."""

from __future__ import annotations

import asyncio
import hashlib
import os

import gitlab
import pytest

from tests.harness import Gateway, GatewayFactory


async def test_python_gitlab_downloads_by_file_id(gateway: Gateway) -> None:
    dev = await gateway.developer()
    data = os.urandom(300_000)
    assert (await gateway.put(dev, data, name="tool", version="2.0", file_name="tool.bin")).status == 201
    nested = gateway.package_path(dev.project_id, "tool", "2.0", "bin/cli")
    assert (await gateway.put(dev, b"nested", path=nested)).status == 201

    def use() -> None:
        gl = gitlab.Gitlab(gateway.base_url, private_token=dev.token)
        package = gl.projects.get(dev.project_path, lazy=True).packages.list(get_all=True)[0]
        files = {f.file_name: f for f in package.package_files.list(get_all=True)}
        path = (f"/projects/{dev.project_id}/packages/{package.id}/package_files/"
                f"{files['tool.bin'].id}/download")
        response = gl.http_get(path, raw=True, streamed=False)
        assert response.content == data
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["X-Checksum-SHA256"] == hashlib.sha256(data).hexdigest()
        assert 'filename="tool.bin"' in response.headers["Content-Disposition"]
        nested_response = gl.http_get(
            f"/projects/{dev.project_id}/packages/{package.id}/package_files/"
            f"{files['bin%2Fcli'].id}/download", raw=True)
        assert nested_response.content == b"nested"
        assert 'filename="cli"' in nested_response.headers["Content-Disposition"]

        with pytest.raises(gitlab.exceptions.GitlabHttpError) as missing:
            gl.http_get(f"/projects/{dev.project_id}/packages/{package.id}/package_files/999999/download",
                        raw=True)
        assert missing.value.response_code == 404

    await asyncio.to_thread(use)


async def test_range_etag_and_rights(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project()
    dev = await gateway.user("developer", project)
    guest = await gateway.user("guest", project)
    assert (await gateway.put(dev, b"0123456789")).status == 201
    async with gateway.pool.acquire() as conn:
        package_id, file_id = await conn.fetchrow("SELECT package_id, id FROM package_files")
    url = f"/api/v4/projects/{project['id']}/packages/{package_id}/package_files/{file_id}/download"

    ranged = await gateway.client.get(url, headers={**dev.headers, "Range": "bytes=2-4"})
    assert ranged.status == 206
    assert await ranged.read() == b"234"
    assert ranged.headers["Content-Range"] == "bytes 2-4/10"
    etag = ranged.headers["ETag"]
    cached = await gateway.client.get(url, headers={**dev.headers, "If-None-Match": etag})
    assert cached.status == 304
    head = await gateway.client.head(url, headers=dev.headers)
    assert head.status == 200 and head.headers["Content-Length"] == "10"

    assert (await gateway.client.get(url, headers=guest.headers)).status == 403
    assert (await gateway.client.get(url)).status == 404  # private, anonymous, Packages API
    other = await gateway.project()
    wrong_project = url.replace(f"/projects/{project['id']}/", f"/projects/{other['id']}/")
    maintainer_elsewhere = await gateway.user("maintainer", other)
    assert (await gateway.client.get(wrong_project, headers=maintainer_elsewhere.headers)).status == 404
