"""The filesystem download baseline: aiohttp's FileResponse (sendfile) over a folder.

    python -m benchmarks.sendfile_server ROOT PORT      (binds 127.0.0.1 only)
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web


def make_app(root: Path) -> web.Application:
    async def send(request: web.Request) -> web.StreamResponse:
        path = (root / request.match_info["name"]).resolve()
        if path.parent != root or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    app = web.Application()
    app.router.add_get("/{name}", send)
    return app


def main() -> None:
    root, port = Path(sys.argv[1]).resolve(), int(sys.argv[2])
    web.run_app(make_app(root), host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
