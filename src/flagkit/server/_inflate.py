"""Bounded decompression of request bodies: the size limit applies to what a body inflates
to, checked while inflating, so a small gzip bomb never becomes a huge allocation."""

from __future__ import annotations

import zlib

GZIP = 16 + zlib.MAX_WBITS
DEFLATE = zlib.MAX_WBITS


class TooLargeError(ValueError):
    """The body inflates past the limit."""


class CorruptError(ValueError):
    """The body is not valid compressed data (or is truncated)."""


def inflate(data: bytes, limit: int, wbits: int = GZIP) -> bytes:
    """``data`` decompressed (every gzip member, for gzip), never more than ``limit`` bytes.

    Raises :class:`TooLargeError` past ``limit`` and :class:`CorruptError` on bad data.
    """
    out = bytearray()
    rest = data
    while True:
        inflater = zlib.decompressobj(wbits)
        try:
            while rest:
                out += inflater.decompress(rest, limit + 1 - len(out))
                if len(out) > limit:
                    raise TooLargeError(f"body inflates past {limit} bytes")
                rest = inflater.unconsumed_tail
            out += inflater.flush()
        except zlib.error as error:
            raise CorruptError(str(error)) from None
        if len(out) > limit:
            raise TooLargeError(f"body inflates past {limit} bytes")
        if not inflater.eof:
            raise CorruptError("truncated compressed body")
        rest = inflater.unused_data
        if wbits != GZIP or not rest:  # gzip bodies may hold several members
            return bytes(out)
