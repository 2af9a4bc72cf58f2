"""MD5, SHA-1 and SHA-256 of a stream, computed off the event loop.

hashlib releases the GIL for buffers over 2 KiB, so hashing part-sized buffers in
worker threads keeps one large upload from stalling every other request. MD5 runs
in one thread while SHA-1 and SHA-256 run in another: MD5 alone costs about as
much as the two SHAs together (which use the CPU's SHA instructions), so a part
is hashed in about half the time when a second core is free.
Parts must be fed in order; `update` is awaited before the next part is fed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import dataclass

# Below this, a thread hop costs more than the hashing (or checksum) it would move.
INLINE_HASH_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Digests:
    md5: str
    sha1: str
    sha256: str

    @property
    def md5_base64(self) -> str:
        return base64.b64encode(bytes.fromhex(self.md5)).decode()


class MultiHasher:
    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha1 = hashlib.sha1(usedforsecurity=False)
        self._sha256 = hashlib.sha256()

    def update_sync(self, data: bytes | bytearray | memoryview) -> None:
        self._md5.update(data)
        self._update_shas(data)

    def _update_shas(self, data: bytes | bytearray | memoryview) -> None:
        self._sha1.update(data)
        self._sha256.update(data)

    async def update(self, data: bytes | bytearray | memoryview) -> None:
        if len(data) <= INLINE_HASH_LIMIT:
            self.update_sync(data)
            return
        hashing = asyncio.gather(asyncio.to_thread(self._md5.update, data),
                                 asyncio.to_thread(self._update_shas, data))
        try:
            await asyncio.shield(hashing)
        except asyncio.CancelledError:
            # The threads cannot be stopped: let them finish with `data` before
            # the caller hands its buffer back to the upload budget.
            await asyncio.wait({hashing})
            raise

    def digests(self) -> Digests:
        return Digests(self._md5.hexdigest(), self._sha1.hexdigest(), self._sha256.hexdigest())
