"""A response whose body is a byte range of a local file, sent by the kernel.

It is what aiohttp's `web.FileResponse` does to send (`loop.sendfile`, and
reading in a worker thread where the loop cannot, as uvloop's), without
FileResponse's own conditional handling: that would replace our ETag (the
file's SHA-256) with one made of the file's mtime and size, and evaluate
If-Range as a date only. Ranges and conditions are decided by the caller.
"""

from __future__ import annotations

import asyncio
import os
from typing import BinaryIO

from aiohttp import web

from gateway.errors import StorageError

# Read and written at a time where the kernel cannot send the file itself.
FALLBACK_CHUNK = 1024 * 1024


async def send_local_range(request: web.Request, response: web.StreamResponse,
                           handle: BinaryIO, offset: int, length: int) -> None:
    """Send `response`'s headers, then `length` bytes of `handle` from `offset`."""
    await response.prepare(request)
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("the client went away")
    try:
        # fallback=False: asyncio's own fallback would read the file on the loop.
        sent = await asyncio.get_running_loop().sendfile(transport, handle, offset, length,
                                                         fallback=False)
    except (NotImplementedError, asyncio.SendfileNotAvailableError):
        await _copy_range(response, handle, offset, length)
    else:
        if sent < length:  # the file ended early: the caller cuts the connection
            raise StorageError("object is shorter than its record")
    await response.write_eof()


async def _copy_range(response: web.StreamResponse, handle: BinaryIO, offset: int,
                      length: int) -> None:
    fd = handle.fileno()
    while length > 0:
        chunk = await asyncio.to_thread(os.pread, fd, min(FALLBACK_CHUNK, length), offset)
        if not chunk:
            raise StorageError("object is shorter than its record")
        await response.write(chunk)
        offset += len(chunk)
        length -= len(chunk)
