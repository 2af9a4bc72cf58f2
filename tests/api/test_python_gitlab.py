"""The real python-gitlab client, unchanged, against the gateway."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import os

import gitlab
import pytest

from gateway.settings import MiB
from tests.harness import Gateway


async def test_upload_and_download(gateway: Gateway) -> None:
    dev = await gateway.developer()
    data = os.urandom(7 * MiB + 3)

    def use_python_gitlab() -> None:
        gl = gitlab.Gitlab(gateway.base_url, private_token=dev.token)
        project = gl.projects.get(dev.project_path, lazy=True)  # sent URL-encoded
        uploaded = project.generic_packages.upload(
            package_name="tool", package_version="1.2.3", file_name="tool.bin", data=data)
        assert uploaded.message == "201 Created"

        record = project.generic_packages.upload(
            package_name="tool", package_version="1.2.3", file_name="tool.sha", data=b"sum",
            select="package_file")
        assert record.file_sha256 == hashlib.sha256(b"sum").hexdigest()
        assert record.file_name == "tool.sha"

        by_id = gl.projects.get(dev.project_id, lazy=True)
        assert by_id.generic_packages.download(
            package_name="tool", package_version="1.2.3", file_name="tool.bin") == data

        sink = io.BytesIO()
        by_id.generic_packages.download(package_name="tool", package_version="1.2.3",
                                        file_name="tool.bin", streamed=True, action=sink.write)
        assert sink.getvalue() == data

        with pytest.raises(gitlab.exceptions.GitlabGetError) as missing:
            by_id.generic_packages.download(package_name="tool", package_version="1.2.3",
                                            file_name="absent.bin")
        assert missing.value.response_code == 404

    await asyncio.to_thread(use_python_gitlab)
    assert await gateway.count("package_files") == 2


async def test_upload_errors_surface_in_python_gitlab(gateway: Gateway) -> None:
    project = await gateway.project()
    reader = await gateway.user("reporter", project)

    def upload_without_rights() -> int:
        gl = gitlab.Gitlab(gateway.base_url, private_token=reader.token)
        try:
            gl.projects.get(reader.project_id, lazy=True).generic_packages.upload(
                package_name="tool", package_version="1.0", file_name="f", data=b"x")
        except gitlab.exceptions.GitlabUploadError as exc:
            return exc.response_code
        raise AssertionError("upload should have failed")

    assert await asyncio.to_thread(upload_without_rights) == 403
    await gateway.assert_nothing_stored()


async def test_job_and_deploy_tokens_as_oauth_tokens_and_query_tokens(gateway: Gateway) -> None:
    """python-gitlab's `oauth_token` sends `Authorization: Bearer`, which GitLab reads as
    a job token too, and as a deploy token on the generic routes; extra keyword
    arguments go to the query string (`job_token=`, `private_token=`)."""
    project = await gateway.project()
    dev = await gateway.user("developer", project)
    job = await gateway.admin.create_job_token(project["path"], dev.username,
                                               dt.timedelta(hours=1))
    deploy = await gateway.admin.create_deploy_token(
        project["path"], ["read_package_registry", "write_package_registry"], None, None)

    def use_python_gitlab() -> None:
        for number, token in enumerate((job, deploy)):
            packages = gitlab.Gitlab(gateway.base_url, oauth_token=token).projects.get(
                project["id"], lazy=True).generic_packages
            assert packages.upload(package_name="tool", package_version="1.0",
                                   file_name=f"{number}.bin", data=b"x").message == "201 Created"
        anonymous = gitlab.Gitlab(gateway.base_url).projects.get(project["path"], lazy=True)
        assert anonymous.generic_packages.download(
            package_name="tool", package_version="1.0", file_name="0.bin", job_token=job) == b"x"
        listed = anonymous.packages.list(private_token=dev.token, get_all=True)
        assert [p.name for p in listed] == ["tool"]
        with pytest.raises(gitlab.exceptions.GitlabAuthenticationError) as refused:
            anonymous.packages.list(private_token="glpat-unknown", get_all=True)
        assert refused.value.response_code == 401

    await asyncio.to_thread(use_python_gitlab)
    assert await gateway.count("package_files") == 2
