"""``sha1_60_v1``: the assignment hash of rules v2.

SHA-1 of the UTF-8 input; its first 15 hex digits (60 bits) form an integer ``n``;
``hash01 = float(n) / float(0xFFFFFFFFFFFFFFF)``, both operands binary64 before the single
division (the scale rounds to exactly 2**60). Thresholds are ``percentage / 100`` in
binary64 and a subject is inside when ``hash01 <= threshold``.

Only the first 200 Unicode code points of an identifier are hashed (the corpus' 201-character
cases hash like their 200-character prefixes, for ASCII, multibyte and supplementary text).
"""

from __future__ import annotations

from hashlib import sha1

from flagkit._evaluation.hashing import SCALE

__all__ = [
    "MAX_IDENTIFIER_CHARS",
    "SCALE",
    "hash01",
    "holdout_input",
    "in_bucket",
    "rollout_input",
    "sha1_60",
    "threshold",
    "variant_input",
]


MAX_IDENTIFIER_CHARS = 200


def rollout_input(seed: str, identifier: str) -> str:
    """The text hashed for rollout enrollment: ``seed + "." + identifier[:200]``."""
    return f"{seed}.{identifier[:MAX_IDENTIFIER_CHARS]}"


def variant_input(seed: str, identifier: str) -> str:
    """The text hashed for a variant split (provisional: not pinned by corpus 1.0.0).

    The legacy variant salt is kept so a seed migrated from a v1 flag key splits the same
    subjects the same way, and so the split is independent of rollout enrollment.
    """
    return f"{seed}.{identifier[:MAX_IDENTIFIER_CHARS]}variant"


def holdout_input(seed: str, identifier: str) -> str:
    """The text hashed for a holdout (provisional): ``seed + identifier``, which with the
    conventional seed ``holdout-`` matches the legacy holdout hash."""
    return f"{seed}{identifier[:MAX_IDENTIFIER_CHARS]}"


def sha1_60(text: str) -> int:
    """The 60-bit integer ``n``: the first 15 hex digits of SHA-1 of UTF-8 ``text``."""
    return int.from_bytes(sha1(text.encode("utf-8")).digest()[:8], "big") >> 4


def hash01(text: str) -> float:
    """``float(n) / float(2**60 - 1)``: one binary64 division, in [0, 1]."""
    return float(sha1_60(text)) / SCALE


def threshold(percentage: float) -> float:
    """``percentage / 100`` in binary64."""
    return float(percentage) / 100.0


def in_bucket(value: float, bound: float) -> bool:
    """Inclusive: a hash equal to the threshold is inside (0 % still admits hash 0.0)."""
    return value <= bound
