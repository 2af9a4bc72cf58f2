"""Templates and filters on their own: escaping of every user-supplied string, sizes, times."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import aiohttp_jinja2
import pytest
from aiohttp import web

from gateway.models import Package
from gateway.web.format import human_size, relative_time
from gateway.web.queries import ListedFile, PackageName, PackageVersion, ProjectStats
from gateway.web.setup import setup_web
from gateway.web.views import RegistryQuery

HOSTILE = '<script>alert("x")</script>&"\'<img src=x onerror=alert(1)>'
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


@pytest.mark.parametrize(("size", "text"), [
    (0, "0 B"), (1, "1 byte"), (1023, "1023 B"), (1024, "1.00 KiB"), (1536, "1.50 KiB"),
    (30_052_843, "28.66 MiB"), (5 * 1024**3, "5.00 GiB"), (3 * 1024**4, "3.00 TiB"),
])
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(("ago", "text"), [
    (dt.timedelta(seconds=3), "just now"), (dt.timedelta(seconds=50), "1 minute ago"),
    (dt.timedelta(minutes=5, seconds=20), "5 minutes ago"), (dt.timedelta(hours=1), "1 hour ago"),
    (dt.timedelta(days=3), "3 days ago"), (dt.timedelta(days=15), "2 weeks ago"),
    (dt.timedelta(days=400), "1 year ago"),
])
def test_relative_time(ago: dt.timedelta, text: str) -> None:
    assert relative_time(NOW - ago, NOW) == text


def _environment() -> object:
    app = web.Application()
    setup_web(app)
    return aiohttp_jinja2.get_env(app)


def _render(template: str, **context: object) -> str:
    env = _environment()
    base = {"viewer": SimpleNamespace(username=HOSTILE), "csrf_token": HOSTILE,
            "current_path": "/" + HOSTILE}
    return env.get_template(template).render(**base, **context)  # type: ignore[attr-defined]


def _assert_inert(html: str) -> None:
    assert "<script>alert" not in html and "<img" not in html and 'alert("x")' not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_every_user_string_on_the_package_page_is_escaped() -> None:
    project = SimpleNamespace(path=HOSTILE, visibility="public")
    package = Package(1, 1, HOSTILE, "generic", HOSTILE, HOSTILE, "default", NOW, NOW, None)
    files = [ListedFile(7, HOSTILE, 10, HOSTILE, HOSTILE, HOSTILE, NOW, "proxy", HOSTILE)]
    history = [SimpleNamespace(kind=HOSTILE, label=HOSTILE, created_at=NOW, actor_kind=HOSTILE,
                               actor_name=HOSTILE, file_name=HOSTILE, size=1,
                               file_sha256=HOSTILE, ref=HOSTILE, pipeline_id=HOSTILE)]
    for tab in ("files", "history"):
        html = _render(
            "package.html", project=project, package=package, files=files,
            versions=[{"id": 2, "version": HOSTILE, "created_at": NOW}], tab=tab,
            can_delete=True, history=history, registry_path="/" + HOSTILE,
            package_path="/" + HOSTILE, version_path=lambda _: "/" + HOSTILE,
            download_path=lambda _: "/" + HOSTILE, curl=HOSTILE, size=10,
            built_from=SimpleNamespace(ref=HOSTILE, sha=HOSTILE))
        _assert_inert(html)


def test_every_user_string_on_the_registry_page_is_escaped() -> None:
    version = PackageVersion(1, HOSTILE, HOSTILE, "generic", "hidden", NOW, 9, 10, 1, HOSTILE)
    query = RegistryQuery(HOSTILE, HOSTILE, "name", "asc", True, 2)
    html = _render(
        "registry.html", project=SimpleNamespace(path=HOSTILE, visibility="private"),
        stats=ProjectStats(1, 1, 10), names=[PackageName(HOSTILE, [version], 9)], query=query,
        total=50, pages=3, can_delete=True, registry_path="/" + HOSTILE,
        package_path=lambda _: "/" + HOSTILE, built_from=SimpleNamespace(ref=HOSTILE, sha=HOSTILE),
        refs={1: HOSTILE})
    _assert_inert(html)
    listing = _render(
        "registry.html", project=SimpleNamespace(path=HOSTILE, visibility="private"),
        stats=ProjectStats(1, 1, 10), names=[PackageName(HOSTILE, [version], 9)],
        query=RegistryQuery(HOSTILE, "", "name", "asc", False, 1), total=50, pages=3,
        can_delete=True, registry_path="/" + HOSTILE, package_path=lambda _: "/" + HOSTILE,
        built_from=None, refs={})
    assert "All 9 versions of" in listing
    _assert_inert(listing)
    empty = _render(
        "registry.html", project=SimpleNamespace(path=HOSTILE, visibility="private"),
        stats=ProjectStats(0, 0, 0), names=[], query=query, total=0, pages=1,
        can_delete=False, registry_path="/", package_path=lambda _: "/", built_from=None, refs={})
    _assert_inert(empty)


def test_other_pages_escape_too() -> None:
    project = SimpleNamespace(path=HOSTILE, visibility="public", packages=1, size=5)
    _assert_inert(_render("home.html", projects=[project]))
    _assert_inert(_render("sign_in.html", next="/" + HOSTILE, error=HOSTILE))
    _assert_inert(_render("error.html", status=403, title=HOSTILE, detail=HOSTILE))
    package = SimpleNamespace(name=HOSTILE, version=HOSTILE)
    file = SimpleNamespace(id=1, file_name=HOSTILE)
    for target in (file, None):
        _assert_inert(_render("confirm_delete.html", project=project, package=package,
                              file=target, file_count=1, cancel_path="/" + HOSTILE))
