"""The registry pages over HTTP: what each visitor sees, sessions, CSRF, headers."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

import pytest

from tests.harness import Gateway, GatewayFactory
from tests.web.pages import csrf_token, page, push, sign_in


@pytest.fixture
async def gateway(gateway_factory: GatewayFactory) -> Gateway:
    return await gateway_factory("fs")


async def test_home_shows_public_projects_signed_out_and_private_ones_signed_in(
        gateway: Gateway) -> None:
    public = await gateway.project(public=True, path="demo/public-app")
    private = await gateway.project(path="demo/secret-app")
    owner = await gateway.user("developer", public)
    await gateway.admin.add_member(private["path"], owner.username, "reporter")
    await push(gateway, owner, b"x" * 3000, name="tool", version="1.0.0")

    html = await page(gateway, "/")
    assert "demo/public-app" in html and "demo/secret-app" not in html
    assert "1 package · 2.93 KiB" in html
    assert 'href="/-/sign_in' in html

    await sign_in(gateway, owner)
    html = await page(gateway, "/")
    assert "demo/public-app" in html and "demo/secret-app" in html
    assert f"Signed in as <strong>{owner.username}</strong>" in html


async def test_registry_shows_totals_and_packages_grouped_by_name(gateway: Gateway) -> None:
    project = await gateway.project(public=True)
    dev = await gateway.user("developer", project)
    await push(gateway, dev, b"a" * 1024 * 1024, name="app", version="1.0.0", file_name="a.bin")
    await push(gateway, dev, b"b" * 2048, name="app", version="1.0.0", file_name="b.bin")
    await push(gateway, dev, b"c" * 100, name="app", version="2.0.0", file_name="c.bin")
    await push(gateway, dev, b"d" * 10, name="lib", version="0.1", file_name="d.bin")

    html = await page(gateway, f"/{project['path']}/-/packages")
    assert 'class="total-size">1.00 MiB<' in html  # 1,050,830 bytes
    assert '<span class="package-count">3</span> packages' in html
    groups = re.findall(r'<span class="package-name">([^<]+)</span>', html)
    assert groups == ["lib", "app"]  # newest first
    app = html[html.index('<span class="package-name">app'):]
    assert "2 versions" in app
    assert re.search(r'data-label="Size" class="num">1.00 MiB</td>\s*<td data-label="Files" '
                     r'class="num">2</td>', app)
    assert f'data-label="Pushed by">{dev.username}</td>' in app
    assert re.search(r'<time datetime="[0-9T:-]+Z" title="[0-9: -]+ UTC">just now</time>', html)


async def test_registry_search_sort_and_pagination(gateway: Gateway) -> None:
    project = await gateway.project(public=True)
    dev = await gateway.user("developer", project)
    for n in range(25):
        await push(gateway, dev, b"x", name=f"pkg-{n:02d}", version="1.0")
    base = f"/{project['path']}/-/packages"

    first = await page(gateway, f"{base}?order_by=name&sort=asc")
    names = re.findall(r'<span class="package-name">([^<]+)</span>', first)
    assert names == [f"pkg-{n:02d}" for n in range(20)]
    assert "Page 1 of 2 · 25 names" in first
    assert 'rel="next" href="' + base + '?order_by=name&amp;sort=asc&amp;page=2"' in first

    second = await page(gateway, f"{base}?order_by=name&sort=asc&page=2")
    assert re.findall(r'<span class="package-name">([^<]+)</span>', second) == \
        [f"pkg-{n:02d}" for n in range(20, 25)]

    found = await page(gateway, f"{base}?search=G-1")  # any case, a substring
    assert sorted(re.findall(r'<span class="package-name">([^<]+)</span>', found)) == \
        [f"pkg-{n:02d}" for n in range(10, 20)]
    none = await page(gateway, f"{base}?search=%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>alert(1)" not in none
    assert "No packages match “&lt;script&gt;alert(1)&lt;/script&gt;”." in none

    await page(gateway, f"{base}?order_by=size", status=400)
    await page(gateway, f"{base}?page=0", status=400)


async def test_registry_sorts_versions_within_a_name(gateway: Gateway) -> None:
    project = await gateway.project(public=True)
    dev = await gateway.user("developer", project)
    for version in ("1.1", "1.3", "1.2"):
        await push(gateway, dev, b"x", name="app", version=version)
    base = f"/{project['path']}/-/packages"
    by_version = await page(gateway, f"{base}?order_by=version&sort=asc")
    assert re.findall(r'/packages/\d+">([0-9.]+)</a>', by_version) == ["1.1", "1.2", "1.3"]
    newest = await page(gateway, base)
    assert re.findall(r'/packages/\d+">([0-9.]+)</a>', newest) == ["1.2", "1.3", "1.1"]


async def test_a_name_shows_its_first_versions_and_links_to_all_of_them(gateway: Gateway) -> None:
    project = await gateway.project(public=True)
    dev = await gateway.user("developer", project)
    for n in range(7):
        await push(gateway, dev, b"x", name="nightly", version=f"0.{n}")
    await push(gateway, dev, b"x", name="other", version="1.0")
    base = f"/{project['path']}/-/packages"
    html = await page(gateway, base)
    nightly = html[html.index('<span class="package-name">nightly'):]
    assert re.findall(r'/packages/\d+">(0\.\d)</a>', nightly) == ["0.6", "0.5", "0.4", "0.3", "0.2"]
    assert '<span class="subtle version-count">7 versions</span>' in nightly
    link = f'{base}?name=nightly'
    assert f'<a href="{link}">All 7 versions of nightly ›</a>' in nightly

    every = await page(gateway, f"{link}&order_by=version&sort=asc")
    assert re.findall(r'/packages/\d+">(0\.\d)</a>', every) == [f"0.{n}" for n in range(7)]
    assert ">other<" not in every and "All 7 versions" not in every
    assert '<input type="hidden" name="name" value="nightly">' in every
    assert "No package named “missing”." in await page(gateway, f"{base}?name=missing")


async def test_hidden_packages_are_left_out_unless_asked(gateway: Gateway) -> None:
    project = await gateway.project(public=True)
    dev = await gateway.user("developer", project)
    await push(gateway, dev, b"x", name="shown", version="1.0")
    response = await gateway.put(dev, b"y", name="secret-build", version="1.0",
                                 params={"status": "hidden"})
    assert response.status == 201
    base = f"/{project['path']}/-/packages"
    html = await page(gateway, base)
    assert "shown" in html and "secret-build" not in html and "(1 hidden)" in html
    hidden = await page(gateway, f"{base}?status=hidden")
    assert "secret-build" in hidden and ">shown<" not in hidden


async def test_package_page_lists_files_newest_first_with_digests(gateway: Gateway) -> None:
    project = await gateway.project(public=True)
    dev = await gateway.user("developer", project)
    old = await push(gateway, dev, b"old" * 100, name="app", version="1.0", file_name="old.bin")
    data = b"new bytes" * 1000
    new = await push(gateway, dev, data, name="app", version="1.0", file_name="new.bin")
    other = await push(gateway, dev, b"z", name="app", version="2.0", file_name="z.bin")

    html = await page(gateway, f"/{project['path']}/-/packages/{new['package_id']}")
    assert re.findall(r'class="file" data-file-id="(\d+)"', html) == [str(new["id"]), str(old["id"])]
    assert hashlib.sha256(data).hexdigest() in html
    assert f'<code class="md5">{hashlib.md5(data).hexdigest()}</code>' in html
    assert f'<code class="sha1">{hashlib.sha1(data).hexdigest()}</code>' in html
    assert "9,000 bytes" in html and "8.79 KiB" in html
    download = f"/api/v4/projects/{project['id']}/packages/generic/app/1.0/new.bin"
    assert f'href="{download}"' in html
    assert f"--remote-name &#34;http://127.0.0.1:{gateway.client.server.port}{download}&#34;" in html
    assert f'/-/packages/{other["package_id"]}">2.0</a>' in html  # the other version
    assert "No history recorded yet" not in html
    history = await page(gateway, f"/{project['path']}/-/packages/{new['package_id']}?tab=history")
    assert history.count(">pushed<") == 2 and "No history recorded yet." not in history


async def test_a_hostile_folder_name_is_encoded_in_links_and_the_curl_line(
        gateway: Gateway) -> None:
    """A folder name may hold any printable character (as in GitLab): the page's
    link and curl line carry it percent-encoded, so pasting the line into a shell
    runs nothing, and the link downloads the file."""
    project = await gateway.project(public=True)
    dev = await gateway.user("developer", project)
    folder = '"$(id)`id`";x?y#z'
    path = gateway.package_path(project["id"], "app", "1.0", f"{quote(folder, safe='')}/f.txt")
    pushed = await gateway.client.put(path, data=b"payload", headers=dev.headers,
                                      params={"select": "package_file"})
    assert pushed.status == 200, await pushed.text()
    record = await pushed.json()
    encoded = (f"/api/v4/projects/{project['id']}/packages/generic/app/1.0/"
               "%22%24%28id%29%60id%60%22%3Bx%3Fy%23z/f.txt")
    assert record["file"]["url"] == encoded

    html = await page(gateway, f"/{project['path']}/-/packages/{record['package_id']}")
    assert f'href="{encoded}"' in html
    assert f"--remote-name &#34;http://127.0.0.1:{gateway.client.server.port}{encoded}&#34;" in html
    assert "$(" not in html and "`" not in html
    download = await gateway.client.get(encoded, headers=dev.headers)
    assert download.status == 200 and await download.read() == b"payload"


async def test_private_project_pages_are_404_signed_out_and_403_for_a_guest(gateway: Gateway) -> None:
    project = await gateway.project()
    dev = await gateway.user("developer", project)
    pushed = await push(gateway, dev, b"x")
    registry = f"/{project['path']}/-/packages"
    for path in (registry, f"{registry}/{pushed['package_id']}",
                 f"{registry}/{pushed['package_id']}/delete", "/no/such-project/-/packages"):
        html = await page(gateway, path, status=404)
        # Nothing tells it exists; the path appears only as the sign-in link's way back.
        assert "<h1>404 · Page not found</h1>" in html
        assert project["path"] not in html.replace(f"next={path}", "")
    guest = await gateway.user("guest", project)
    await sign_in(gateway, guest)
    await page(gateway, registry, status=403)


async def test_pages_carry_security_headers_and_the_api_keeps_its_routes(gateway: Gateway) -> None:
    project = await gateway.project(public=True)
    for path in ("/", "/-/sign_in", f"/{project['path']}/-/packages", "/-/static/style.css",
                 "/-/static/copy.js", "/nobody/nothing/-/packages"):
        response = await gateway.client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    html = await page(gateway, "/")
    assert "<script>" not in html and " style=" not in html and "onclick" not in html

    health = await gateway.client.get("/-/health")
    assert health.status == 200 and (await health.json())["status"] == "ok"
    listing = await gateway.client.get(f"/api/v4/projects/{project['id']}/packages")
    assert listing.status == 200 and await listing.json() == []
    missing = await gateway.client.get("/api/v4/no/such/route")
    assert missing.status == 404 and await missing.json() == {"error": "404 Not Found"}
    assert "Content-Security-Policy" not in missing.headers


async def test_sign_in_keeps_only_a_signed_session_id(gateway: Gateway) -> None:
    project = await gateway.project()
    dev = await gateway.user("developer", project)
    response = await gateway.client.post("/-/sign_in", data={"token": dev.token, "next": "/x/y/-/packages"},
                                         allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/x/y/-/packages"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    value = response.cookies["gateway_session"].value
    assert dev.token not in value
    session_id, _, signature = value.partition(".")
    async with gateway.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM web_sessions")
    assert bytes(row["session_digest"]) == hashlib.sha256(session_id.encode()).digest()
    assert dev.token not in str(dict(row))

    # A tampered signature is no session at all.
    jar = gateway.client.session.cookie_jar
    jar.clear()
    jar.update_cookies({"gateway_session": f"{session_id}.{'0' * 64}"})
    assert "Signed in as" not in await page(gateway, "/")
    jar.clear()
    jar.update_cookies({"gateway_session": value})
    assert "Signed in as" in await page(gateway, "/")


@pytest.mark.parametrize("token", ["", "glpat-unknown", "not a token at all"])
async def test_sign_in_with_a_bad_token_is_refused(gateway: Gateway, token: str) -> None:
    response = await gateway.client.post("/-/sign_in", data={"token": token}, allow_redirects=False)
    assert response.status == 401
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "That token was not accepted" in await response.text()
    assert "gateway_session" not in response.cookies


async def test_sign_in_refuses_deploy_tokens_and_offsite_next(gateway: Gateway) -> None:
    project = await gateway.project()
    deploy = await gateway.admin.create_deploy_token(project["path"], ["read_package_registry"],
                                                     "bot", None)
    response = await gateway.client.post("/-/sign_in", data={"token": deploy}, allow_redirects=False)
    assert response.status == 401
    dev = await gateway.user("developer", project)
    response = await gateway.client.post("/-/sign_in", data={"token": dev.token,
                                                             "next": "//evil.example/"},
                                         allow_redirects=False)
    assert response.headers["Location"] == "/"


async def test_cookie_is_secure_when_the_external_url_is_https(
        gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs", external_url="https://packages.example.com")
    dev = await gateway.user("developer", await gateway.project())
    response = await gateway.client.post("/-/sign_in", data={"token": dev.token},
                                         allow_redirects=False)
    assert "Secure" in response.headers["Set-Cookie"]


async def test_revoking_the_token_or_signing_out_ends_the_session(gateway: Gateway) -> None:
    project = await gateway.project()
    dev = await gateway.user("developer", project)
    registry = f"/{project['path']}/-/packages"
    await sign_in(gateway, dev)
    html = await page(gateway, registry)
    await gateway.client.post("/-/sign_out", data={"csrf_token": "wrong"})
    await page(gateway, registry)  # still signed in: the sign-out needs the CSRF token
    response = await gateway.client.post("/-/sign_out", data={"csrf_token": csrf_token(html)},
                                         allow_redirects=False)
    assert response.status == 303
    await page(gateway, registry, status=404)
    async with gateway.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM web_sessions") == 0

    await sign_in(gateway, dev)
    await page(gateway, registry)
    tokens = await gateway.admin.list_tokens(dev.username, None)
    await gateway.admin.revoke_token(tokens[0]["id"])
    await page(gateway, registry, status=404)


async def test_the_session_downloads_through_the_api_but_never_writes(gateway: Gateway) -> None:
    project = await gateway.project()
    dev = await gateway.user("developer", project)
    await push(gateway, dev, b"private bytes")
    await sign_in(gateway, dev)
    path = gateway.package_path(project["id"], "pkg", "1.0.0", "file.bin")
    download = await gateway.client.get(path)
    assert download.status == 200 and await download.read() == b"private bytes"
    upload = await gateway.client.put(path.replace("file.bin", "other.bin"), data=b"x")
    assert upload.status == 401
    listed = await gateway.client.get(f"/api/v4/projects/{project['id']}/packages")
    assert listed.status == 200 and len(await listed.json()) == 1


async def test_maintainer_deletes_a_file_after_confirming_with_the_csrf_token(gateway: Gateway) -> None:
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    kept = await push(gateway, maintainer, b"keep", file_name="keep.bin")
    gone = await push(gateway, maintainer, b"gone", file_name="gone.bin")
    package_page = f"/{project['path']}/-/packages/{gone['package_id']}"
    await sign_in(gateway, maintainer)
    html = await page(gateway, package_page)
    delete = f"{package_page}/files/{gone['id']}/delete"
    assert f'href="{delete}"' in html
    confirm = await page(gateway, delete)
    assert "Delete file <span class=\"file-name\">gone.bin</span>?" in confirm

    refused = await gateway.client.post(delete, data={}, allow_redirects=False)
    assert refused.status == 403 and "403 · Not allowed" in await refused.text()
    assert "script-src 'self'" in refused.headers["Content-Security-Policy"]
    for origin in ("http://evil.example", "null"):
        forged = await gateway.client.post(delete, data={"csrf_token": csrf_token(confirm)},
                                           headers={"Origin": origin}, allow_redirects=False)
        assert forged.status == 403
    assert await gateway.count("package_files") == 2

    done = await gateway.client.post(delete, data={"csrf_token": csrf_token(confirm)},
                                     allow_redirects=False)
    assert done.status == 303 and done.headers["Location"] == package_page
    html = await page(gateway, package_page)
    assert "gone.bin" not in html and "keep.bin" in html
    files = await gateway.client.get(
        f"/api/v4/projects/{project['id']}/packages/{gone['package_id']}/package_files",
        headers=maintainer.headers)
    assert [f["id"] for f in await files.json()] == [kept["id"]]


async def test_maintainer_deletes_a_package(gateway: Gateway) -> None:
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    pushed = await push(gateway, maintainer, b"x", name="doomed")
    await sign_in(gateway, maintainer)
    delete = f"/{project['path']}/-/packages/{pushed['package_id']}/delete"
    confirm = await page(gateway, delete)
    response = await gateway.client.post(delete, data={"csrf_token": csrf_token(confirm)},
                                         allow_redirects=False)
    assert response.status == 303
    assert "doomed" not in await page(gateway, response.headers["Location"])
    api = await gateway.client.get(f"/api/v4/projects/{project['id']}/packages/{pushed['package_id']}",
                                   headers=maintainer.headers)
    assert api.status == 404


async def test_reporter_sees_no_delete_control_and_cannot_delete(gateway: Gateway) -> None:
    project = await gateway.project()
    dev = await gateway.user("developer", project)
    pushed = await push(gateway, dev, b"x")
    reporter = await gateway.user("reporter", project)
    await sign_in(gateway, reporter)
    package_page = f"/{project['path']}/-/packages/{pushed['package_id']}"
    html = await page(gateway, package_page)
    assert "/delete" not in html and "Delete" not in html
    assert "/delete" not in await page(gateway, f"/{project['path']}/-/packages")
    await page(gateway, f"{package_page}/delete", status=403)
    response = await gateway.client.post(f"{package_page}/files/{pushed['id']}/delete",
                                         data={"csrf_token": csrf_token(html)})
    assert response.status == 403
    assert await gateway.count("package_files") == 1
