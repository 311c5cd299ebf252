"""PostHog's deterministic bucketing hash.

``SHA-1(text)``; the first 15 hex digits (60 bits) as an integer, converted to binary64 and
divided by ``float(0xFFFFFFFFFFFFFFF)`` (which rounds to 2**60). The result is in [0, 1].
"""

from __future__ import annotations

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


class _UnencodableKey:
    """Stands in for the hasher of a key with lone surrogates, which UTF-8 cannot encode.

    PostHog's SDK fails on such a key as soon as it hashes; so does this, at the same point.
    """

    def copy(self) -> Any:
        raise ValueError("the flag key cannot be encoded as UTF-8")


def key_hasher(flag_key: str) -> Any:
    """A SHA-1 state already fed with ``flag_key + "."``, to copy per evaluation."""
    try:
        return sha1(f"{flag_key}.".encode())
    except UnicodeEncodeError:
        return _UnencodableKey()


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


def bucket_with(hasher: Any, identifier: Any, salt: str = "") -> float:
    """:func:`bucket` from a :func:`key_hasher` state: the same value, computed faster."""
    state = hasher.copy()
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
