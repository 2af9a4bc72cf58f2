"""The registry pages in a real browser: headless Chromium, driven by Playwright."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Response, expect

from tests.harness import Gateway, GatewayFactory, Identity
from tests.web.pages import push


@pytest.fixture
async def gateway(gateway_factory: GatewayFactory) -> Gateway:
    return await gateway_factory("fs")


@pytest.fixture
async def context(browser: Browser, gateway: Gateway) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(base_url=gateway.base_url, accept_downloads=True)
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    """A tab that fails the test on any console error (a CSP violation, a script
    error) or any stylesheet, script or icon that fails to load. (Pages answered
    with an error status are what some tests want; the console notes them too.)"""
    page = await context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response: Response) -> None:
        if response.request.resource_type != "document" and response.status >= 400:
            errors.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert errors == []


async def sign_in(page: Page, who: Identity) -> None:
    await page.goto("/")
    await page.get_by_role("link", name="Sign in").first.click()
    await page.get_by_label("Personal access token").fill(who.token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator(".signed-in")).to_contain_text(who.username)


async def test_sign_in_see_size_and_sha256_and_download_the_file(
        gateway: Gateway, page: Page, tmp_path: Path) -> None:
    project = await gateway.project(path="acme/releases")
    dev = await gateway.user("developer", project)
    data = bytes(range(256)) * 4096 + b"tail"  # 1,048,580 bytes
    await push(gateway, dev, b"older", name="httpcats", version="1.0.0", file_name="old.tar.gz")
    pushed = await push(gateway, dev, data, name="httpcats", version="1.0.0",
                        file_name="httpcats.tar.gz")

    response = await page.goto(f"/{project['path']}/-/packages")
    assert response is not None and response.status == 404  # private, signed out
    await sign_in(page, dev)
    await page.goto("/")
    await page.get_by_role("link", name="acme/releases").click()
    await expect(page.locator(".total-size")).to_have_text("1.00 MiB")
    await page.get_by_role("link", name="1.0.0").click()

    row = page.locator(f'.file[data-file-id="{pushed["id"]}"]')
    await expect(page.locator(".file").first).to_have_attribute("data-file-id", str(pushed["id"]))
    await expect(row.locator(".file-size")).to_have_text("1.00 MiB")
    await expect(row.locator(".file-actor")).to_have_text(dev.username)
    sha256 = row.locator("code.sha256")
    await expect(sha256).to_be_hidden()  # inside the closed <details>
    await row.locator("summary").click()
    await expect(sha256).to_have_text(hashlib.sha256(data).hexdigest())
    await expect(row.locator(".exact-size")).to_have_text("1,048,580 bytes")
    await expect(row.get_by_role("button", name="Copy SHA-256")).to_be_visible()  # the script ran

    async with page.expect_download() as download_info:
        await row.locator("a.file-name").click()
    download = await download_info.value
    assert download.suggested_filename == "httpcats.tar.gz"
    saved = tmp_path / "downloaded"
    await download.save_as(saved)
    assert saved.read_bytes() == data


async def test_copy_button_copies_the_digest(gateway: Gateway, context: BrowserContext,
                                             page: Page) -> None:
    project = await gateway.project(public=True)
    dev = await gateway.user("developer", project)
    pushed = await push(gateway, dev, b"copy me")
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.goto(f"/{project['path']}/-/packages/{pushed['package_id']}")
    await page.locator("summary").click()
    await page.get_by_role("button", name="Copy SHA-256").click()
    assert await page.evaluate("navigator.clipboard.readText()") == hashlib.sha256(b"copy me").hexdigest()


async def test_maintainer_deletes_a_file_and_it_is_gone_from_the_api(
        gateway: Gateway, page: Page) -> None:
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    kept = await push(gateway, maintainer, b"keep", file_name="keep.bin")
    gone = await push(gateway, maintainer, b"gone", file_name="gone.bin")
    await sign_in(page, maintainer)
    await page.goto(f"/{project['path']}/-/packages/{gone['package_id']}")
    await page.locator(f'.file[data-file-id="{gone["id"]}"]').get_by_role("link", name="Delete").click()
    await expect(page.get_by_role("heading")).to_contain_text("Delete file gone.bin?")
    await page.get_by_role("button", name="Delete").click()

    await expect(page.locator(".file")).to_have_count(1)
    await expect(page.locator(".file-name")).to_have_text("keep.bin")
    files = await gateway.client.get(
        f"/api/v4/projects/{project['id']}/packages/{gone['package_id']}/package_files",
        headers=maintainer.headers)
    assert [f["file_name"] for f in await files.json()] == ["keep.bin"]
    download = await gateway.get(maintainer, file_name="gone.bin")
    assert download.status == 404
    assert kept["id"] != gone["id"]


async def test_reporter_sees_no_delete_control(gateway: Gateway, page: Page) -> None:
    project = await gateway.project()
    dev = await gateway.user("developer", project)
    pushed = await push(gateway, dev, b"x")
    reporter = await gateway.user("reporter", project)
    await sign_in(page, reporter)
    await page.goto(f"/{project['path']}/-/packages")
    await expect(page.locator(".package-row")).to_have_count(1)
    await expect(page.get_by_text("Delete")).to_have_count(0)
    await page.goto(f"/{project['path']}/-/packages/{pushed['package_id']}")
    await expect(page.locator(".file")).to_have_count(1)
    await expect(page.get_by_text("Delete")).to_have_count(0)


async def test_private_project_is_404_signed_out(gateway: Gateway, page: Page) -> None:
    project = await gateway.project()
    dev = await gateway.user("developer", project)
    pushed = await push(gateway, dev, b"x")
    for path in (f"/{project['path']}/-/packages",
                 f"/{project['path']}/-/packages/{pushed['package_id']}"):
        response = await page.goto(path)
        assert response is not None and response.status == 404
        await expect(page.get_by_role("heading")).to_have_text("404 · Page not found")
    await page.goto("/")
    await expect(page.get_by_text(project["path"])).to_have_count(0)


async def test_script_like_names_render_inert(gateway: Gateway, page: Page) -> None:
    """Package names are checked on upload, so hostile text is put straight into
    the tables, as an older or foreign writer could have left it."""
    project = await gateway.project(public=True)
    hostile_name = "<script>window.pwned = 1</script>"
    hostile_actor = '<img src=x onerror="window.pwned = 2">'
    hostile_file = '"><script>window.pwned = 3</script>.bin'
    async with gateway.pool.acquire() as conn:
        package_id = await conn.fetchval(
            "INSERT INTO packages (project_id, name, version) VALUES ($1, $2, '1.0') RETURNING id",
            project["id"], hostile_name)
        await conn.execute(
            "INSERT INTO package_files (package_id, file_name, size, file_md5, file_sha1, "
            "file_sha256, file_store, object_key, actor_kind, actor_name) "
            "VALUES ($1, $2, 3, 'm', 's', 'h', 1, 'inert/1', 'proxy', $3)",
            package_id, hostile_file, hostile_actor)

    await page.goto(f"/{project['path']}/-/packages?search=%3Cscript%3E")
    await expect(page.locator(".package-name")).to_have_text(hostile_name)
    await expect(page.locator('td[data-label="Pushed by"]')).to_have_text(hostile_actor)
    await page.goto(f"/{project['path']}/-/packages/{package_id}")
    await expect(page.locator("h1 .package-name")).to_have_text(hostile_name)
    await expect(page.locator(".file-name")).to_have_text(hostile_file)
    await expect(page.locator(".file-actor")).to_have_text(hostile_actor)
    assert await page.evaluate("window.pwned") is None
    assert await page.locator("img").count() == 0


async def test_delete_post_without_csrf_token_is_refused(
        gateway: Gateway, context: BrowserContext, page: Page) -> None:
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    pushed = await push(gateway, maintainer, b"x")
    await sign_in(page, maintainer)
    delete = f"/{project['path']}/-/packages/{pushed['package_id']}/files/{pushed['id']}/delete"
    for form in ({}, {"csrf_token": "forged"}):
        response = await context.request.post(delete, form=form, max_redirects=0)
        assert response.status == 403
    package = f"/{project['path']}/-/packages/{pushed['package_id']}/delete"
    assert (await context.request.post(package, form={}, max_redirects=0)).status == 403
    assert await gateway.count("package_files") == 1
    await page.goto(f"/{project['path']}/-/packages/{pushed['package_id']}")
    await expect(page.locator(".file")).to_have_count(1)
