"""A response whose body is a byte range of a local file, sent by the kernel.

It is what aiohttp's `web.FileResponse` does to send (`loop.sendfile`, copying
through the event loop only where the transport cannot, as with TLS), without
FileResponse's own conditional handling: that would replace our ETag (the
file's SHA-256) with one made of the file's mtime and size, and evaluate
If-Range as a date only. Ranges and conditions are decided by the caller.
"""

from __future__ import annotations

import asyncio
from typing import BinaryIO

from aiohttp import web


async def send_local_range(request: web.Request, response: web.StreamResponse,
                           handle: BinaryIO, offset: int, length: int) -> None:
    """Send `response`'s headers, then `length` bytes of `handle` from `offset`."""
    await response.prepare(request)
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("the client went away")
    await asyncio.get_running_loop().sendfile(transport, handle, offset, length)
    await response.write_eof()
