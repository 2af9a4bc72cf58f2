"""Screenshots of the registry pages for the README: the project registry and a
package page, at desktop (1280 px) and phone (390 px) widths.

Starts an embedded PostgreSQL and `gateway serve` on 127.0.0.1, pushes a few
packages through the API, signs in through the page in headless Chromium
(Debian's `chromium`), and writes docs/*.png.

    python docs/screenshots.py
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp
from playwright.async_api import Page, async_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.services import cli, gateway_process, postgres, workdir  # noqa: E402
from gateway.embedded import ensure_database  # noqa: E402

DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
WIDTHS = {"desktop": 1280, "phone": 390}
PROJECT = "bookshelf/httpcats"
# name, version, files (name, size in bytes)
PACKAGES = [
    ("httpcats", "1.0.0", [("httpcats-linux-amd64.tar.gz", 9_437_184), ("SHA256SUMS", 190)]),
    ("httpcats", "1.1.0", [("httpcats-linux-amd64.tar.gz", 9_961_472),
                           ("httpcats-darwin-arm64.tar.gz", 9_175_040), ("SHA256SUMS", 190)]),
    ("httpcats", "1.2.0", [("httpcats-linux-amd64.tar.gz", 10_223_616),
                           ("httpcats-darwin-arm64.tar.gz", 9_437_184), ("SHA256SUMS", 190)]),
    ("httpcats-docs", "2021.08", [("site.zip", 1_572_864)]),
    ("cat-images", "3", [("images.tar.zst", 4_718_592)]),
]


def content(size: int, seed: int) -> bytes:
    return (bytes([seed % 251]) + os.urandom(31)) * (size // 32) + b"\n" * (size % 32)


async def push_all(base_url: str, token: str) -> int:
    """Pushes the packages; returns the id of the newest httpcats package."""
    package_id = 0
    async with aiohttp.ClientSession(base_url, headers={"PRIVATE-TOKEN": token}) as http:
        for seed, (name, version, files) in enumerate(PACKAGES):
            for file_name, size in files:
                url = (f"/api/v4/projects/{PROJECT.replace('/', '%2F')}/packages/generic/"
                       f"{name}/{version}/{file_name}?select=package_file")
                async with http.put(url, data=content(size, seed)) as response:
                    response.raise_for_status()
                    if name == "httpcats":
                        package_id = (await response.json())["package_id"]
    return package_id


async def shoot(page: Page, url: str, name: str, *, open_details: bool = False) -> None:
    for label, width in WIDTHS.items():
        await page.set_viewport_size({"width": width, "height": 900})
        await page.goto(url)
        if open_details:
            await page.locator("details").first.evaluate("element => element.open = true")
        path = DOCS / f"{name}-{label}.png"
        await page.screenshot(path=str(path), full_page=True)
        print(f"written {path.relative_to(ROOT)}")


async def main() -> None:
    with workdir() as wd, postgres(wd) as pg:
        await ensure_database(pg)
        env = {"GATEWAY_DATABASE_URL": pg.dsn}
        await cli(env, wd, "admin", "project", "create", PROJECT)
        await cli(env, wd, "admin", "user", "create", "alice")
        await cli(env, wd, "admin", "member", "add", "--project", PROJECT, "--user", "alice",
                  "--role", "maintainer")
        token = await cli(env, wd, "admin", "token", "create", "--user", "alice", "--scopes", "api")
        with gateway_process(env, wd) as gw:
            package_id = await push_all(gw.base_url, token)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                           args=CHROMIUM_ARGS)
                try:
                    context = await browser.new_context(base_url=gw.base_url)
                    page = await context.new_page()
                    await page.goto("/-/sign_in")
                    await page.get_by_label("Personal access token").fill(token)
                    await page.get_by_role("button", name="Sign in").click()
                    await page.wait_for_url("**/")
                    await shoot(page, f"/{PROJECT}/-/packages", "registry")
                    await shoot(page, f"/{PROJECT}/-/packages/{package_id}", "package",
                                open_details=True)
                finally:
                    await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
