"""GitLab's offset pagination: `page`/`per_page` in, X-* and Link headers out."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from gateway.api.params import optional_integer
from gateway.catalog import Listing, Page
from gateway.errors import ParamError
from gateway.keys import SETTINGS

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


def parse_page(request: web.Request) -> Page:
    """GitLab's PaginationParams (Integer `page` and `per_page`, per_page not 0),
    read as Kaminari reads them: a page below 1 is the first, a negative per_page
    the default, and per_page above 100 is 100."""
    page, per_page = optional_integer(request, "page"), optional_integer(request, "per_page")
    if per_page == 0:
        raise ParamError("per_page has a value not allowed")  # Grape's except_values
    if per_page is None or per_page < 0:
        per_page = DEFAULT_PER_PAGE
    return Page(max(page or 1, 1), min(per_page, MAX_PER_PAGE))


def paginated(request: web.Request, listing: Listing[Any], body: list[Any]) -> web.Response:
    page = listing.page
    last = max(1, math.ceil(listing.total / page.size)) if listing.total is not None else None
    # Past the end there is neither a next nor a previous page (Kaminari's out_of_range).
    beyond = not listing.items and page.number > 1
    next_page = page.number + 1 if listing.has_more else None
    prev_page = page.number - 1 if page.number > 1 and not beyond else None
    headers = {
        "X-Page": str(page.number),
        "X-Per-Page": str(page.size),
        "X-Next-Page": str(next_page or ""),
        "X-Prev-Page": str(prev_page or ""),
    }
    links = []
    if prev_page:
        links.append(f'<{_page_url(request, prev_page)}>; rel="prev"')
    if next_page:
        links.append(f'<{_page_url(request, next_page)}>; rel="next"')
    links.append(f'<{_page_url(request, 1)}>; rel="first"')
    if last is not None:
        links.append(f'<{_page_url(request, last)}>; rel="last"')
        headers["X-Total"] = str(listing.total)
        headers["X-Total-Pages"] = str(last)
    headers["Link"] = ", ".join(links)
    return web.json_response(body, headers=headers)


def base_url(request: web.Request) -> str:
    """Where clients reach us: the configured external URL, else this request's origin."""
    external = request.app[SETTINGS].external_url
    return external.rstrip("/") if external else f"{request.scheme}://{request.host}"


def _page_url(request: web.Request, number: int) -> str:
    query: dict[str, str] = {}
    for key, value in request.query.items():
        query.setdefault(key, value)  # the first of repeated keys, as the handlers read them
    query["page"] = str(number)
    query.setdefault("per_page", str(DEFAULT_PER_PAGE))
    return f"{base_url(request)}{request.rel_url.raw_path}?{urlencode(sorted(query.items()))}"
