"""PostHog's deterministic bucketing hash.

``SHA-1(text)``; the first 15 hex digits (60 bits) as an integer, converted to binary64 and
divided by ``float(0xFFFFFFFFFFFFFFF)`` (which rounds to 2**60). The result is in [0, 1].
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from hashlib import sha1
from typing import Any

# float(2**60 - 1) rounds to exactly 2**60; keep the expression PostHog uses so the
# division is bit-identical.
SCALE = float(0xFFFFFFFFFFFFFFF)
# The first 8 digest bytes as a big-endian integer; >> 4 keeps the top 60 bits.
first_u64: Callable[[bytes], tuple[int]] = struct.Struct(">Q").unpack_from


def hash_text(text: str) -> float:
    """The bucket in [0, 1] of an already assembled hash text."""
    # The top 60 bits of the digest are the first 15 hex digits: no hex round trip needed.
    return (first_u64(sha1(text.encode()).digest())[0] >> 4) / SCALE


# An empty SHA-1 state, copied for every hash and fed the flag's "<key>." prefix: one call
# more per hash than copying a state kept per flag already fed with it, but no state per
# flag (OpenSSL allocates each outside Python's memory, about 216 bytes). Only ever copied,
# never updated, so threads share it safely.
EMPTY_SHA1 = sha1()


def key_prefix(flag_key: str) -> bytes | None:
    """``flag_key + "."`` as UTF-8: how every hash text of the flag starts. None for a key
    with lone surrogates, which UTF-8 cannot encode: PostHog's SDK fails as soon as it
    hashes such a key, and so does hashing with None, at the same point."""
    try:
        return f"{flag_key}.".encode()
    except UnicodeEncodeError:
        return None


def encode_identifier(identifier: Any) -> bytes | None:
    """The UTF-8 text a bucketing identifier is hashed as, or None when it has none.

    None means hashing this identifier fails (lone surrogates, a raising ``__format__``):
    PostHog's SDK fails at the point it hashes, so callers take the generic path, which
    fails at that same point.
    """
    try:
        return (identifier if type(identifier) is str else f"{identifier}").encode()
    except Exception:
        return None


def bucket_with(prefix: bytes | None, identifier: Any, salt: str = "") -> float:
    """:func:`bucket` from a :func:`key_prefix`: the same value, computed faster."""
    state = EMPTY_SHA1.copy()
    state.update(prefix)  # type: ignore[arg-type]  # None raises, as documented above
    state.update((identifier if type(identifier) is str else f"{identifier}").encode())
    if salt:
        state.update(salt.encode())
    return (first_u64(state.digest())[0] >> 4) / SCALE


def bucket(flag_key: str, identifier: Any, salt: str = "") -> float:
    """The rollout (``salt=""``) or variant (``salt="variant"``) bucket of an identifier."""
    return hash_text(f"{flag_key}.{identifier}{salt}")


def holdout_bucket(identifier: Any) -> float:
    """The bucket used for experiment holdouts: ``"holdout-" + identifier``."""
    return hash_text(f"holdout-{identifier}")


# Greater than every 20-byte digest: a bound no caller reaches.
_UNREACHED = b"\xff" * 21


def _first_bucket(passes: Callable[[float], bool]) -> int | None:
    """The smallest 60-bit hash value whose bucket passes ``passes`` (monotone: once a
    value passes, every larger one does), or None when none does."""
    top = (1 << 60) - 1
    if not passes(top / SCALE):
        return None
    low, high = 0, top
    while low < high:
        middle = (low + high) // 2
        if passes(middle / SCALE):
            high = middle
        else:
            low = middle + 1
    return low


def _bound(first: int | None) -> bytes:
    # A digest is at or above this bound exactly when its top 60 bits are >= first: the
    # bytes compare as the big-endian integer does, and the zero tail is below any tail.
    return _UNREACHED if first is None else (first << 4).to_bytes(8, "big") + bytes(12)


@functools.lru_cache(maxsize=4096)
def above_digest(threshold: float) -> bytes:
    """The digest bound of a rollout threshold: ``state.digest() >= above_digest(t)``
    exactly when the digest's bucket is ``> t`` (out of rollout), without converting the
    digest to a float. Bucketing is monotone in the digest, so the bound is found once, by
    bisection with the bucket's own arithmetic."""
    return _bound(_first_bucket(lambda bucket: bucket > threshold))


@functools.lru_cache(maxsize=4096)
def reached_digest(high: float) -> bytes:
    """The digest bound of a variant's upper edge: ``digest >= reached_digest(h)`` exactly
    when the digest's bucket is ``>= h`` (past that variant)."""
    return _bound(_first_bucket(lambda bucket: bucket >= high))
