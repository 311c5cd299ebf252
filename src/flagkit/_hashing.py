"""PostHog's deterministic bucketing hash.

``SHA-1(text)``; the first 15 hex digits (60 bits) as an integer, converted to binary64 and
divided by ``float(0xFFFFFFFFFFFFFFF)`` (which rounds to 2**60). The result is in [0, 1].
"""

from __future__ import annotations

from hashlib import sha1
from typing import Any

# float(2**60 - 1) rounds to exactly 2**60; keep the expression PostHog uses so the
# division is bit-identical.
_SCALE = float(0xFFFFFFFFFFFFFFF)


def hash_text(text: str) -> float:
    """The bucket in [0, 1] of an already assembled hash text."""
    # The top 60 bits of the digest are the first 15 hex digits: no hex round trip needed.
    return (int.from_bytes(sha1(text.encode("utf-8")).digest()[:8], "big") >> 4) / _SCALE


def key_hasher(flag_key: str) -> Any:
    """A SHA-1 state already fed with ``flag_key + "."``, to copy per evaluation."""
    return sha1(f"{flag_key}.".encode("utf-8", "surrogatepass"))


def bucket_with(hasher: Any, identifier: Any, salt: str = "") -> float:
    """:func:`bucket` from a :func:`key_hasher` state: the same value, computed faster."""
    state = hasher.copy()
    state.update(f"{identifier}{salt}".encode())
    return (int.from_bytes(state.digest()[:8], "big") >> 4) / _SCALE


def bucket(flag_key: str, identifier: Any, salt: str = "") -> float:
    """The rollout (``salt=""``) or variant (``salt="variant"``) bucket of an identifier."""
    return hash_text(f"{flag_key}.{identifier}{salt}")


def holdout_bucket(identifier: Any) -> float:
    """The bucket used for experiment holdouts: ``"holdout-" + identifier``."""
    return hash_text(f"holdout-{identifier}")
