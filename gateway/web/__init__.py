"""The Package Registry web pages: server-rendered HTML under GitLab's own paths.

`setup_web(app)` adds the routes, the templates, the static files, the page
middleware and the session store; `gateway/app.py` calls it once.
"""

from __future__ import annotations

from gateway.web.setup import setup_web

__all__ = ["setup_web"]
