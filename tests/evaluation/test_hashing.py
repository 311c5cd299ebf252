"""PostHog's bucketing hash against independently verified vectors."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flagkit._evaluation.hashing import (
    above_digest,
    bucket,
    bucket_with,
    hash_text,
    holdout_bucket,
    key_prefix,
    reached_digest,
)

VECTORS = [
    ("simple-flag.distinct_id_0", 0.7836963764220432),
    ("multivariate-flag.distinct_id_0variant", 0.6186454537930379),
    ("my-flag.ünïcødé", 0.7836776861918305),
    ("my-flag.123", 0.31933207120952506),
    ("my-flag.", 0.8244040992181549),
    ("new-checkout.u_42", 0.6729059414944576),
    ("new-checkout.u_42variant", 0.18510865603197107),
]

HOLDOUT_VECTORS = [
    ("some_distinct_id", 0.7270002403585725),
    ("test-identifier", 0.4493881716040236),
    ("example_id", 0.9402003475831224),
    ("example_id2", 0.6292740389966519),
    ("user-1", 0.17805599206573022),
    ("user-5", 0.6563813925994418),
]


@pytest.mark.parametrize(("text", "expected"), VECTORS)
def test_hash_vectors(text: str, expected: float) -> None:
    assert hash_text(text) == expected


def test_int_identifier_is_hashed_as_decimal() -> None:
    assert bucket("my-flag", 123) == 0.31933207120952506


@pytest.mark.parametrize(("identifier", "expected"), HOLDOUT_VECTORS)
def test_holdout_vectors(identifier: str, expected: float) -> None:
    assert holdout_bucket(identifier) == expected


def _reference(text: str) -> float:
    # PostHog's formula, spelled out: 15 hex digits over float(2**60 - 1).
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:15], 16) / float(0xFFFFFFFFFFFFFFF)


@given(st.text(), st.text(), st.sampled_from(["", "variant"]))
def test_fast_paths_agree_with_the_formula(key: str, identifier: str, salt: str) -> None:
    try:
        expected = _reference(f"{key}.{identifier}{salt}")
    except UnicodeEncodeError:  # lone surrogates cannot be hashed by PostHog either
        return
    assert bucket(key, identifier, salt) == expected
    assert bucket_with(key_prefix(key), identifier, salt) == expected
    assert 0.0 <= expected <= 1.0


def test_buckets_are_uniform() -> None:
    counts = [0] * 10
    for i in range(20_000):
        counts[min(int(bucket("uniformity", f"user-{i}") * 10), 9)] += 1
    # Each decile expects 2,000; 5 standard deviations is about +-212.
    assert all(1_780 < count < 2_220 for count in counts), counts


def _bucket_of(digest: bytes) -> float:
    return (int.from_bytes(digest[:8], "big") >> 4) / float(0xFFFFFFFFFFFFFFF)


def _digest_near(first: int, offset: int, tail: bytes) -> bytes:
    """A 20-byte digest whose top 60 bits are ``first + offset`` (clamped to 60 bits)."""
    value = min(max(first + offset, 0), (1 << 60) - 1)
    low_nibble = tail[0] & 0xF
    return ((value << 4) | low_nibble).to_bytes(8, "big") + tail[1:13]


THRESHOLDS = st.one_of(
    st.floats(min_value=-0.5, max_value=1.5, allow_nan=False),
    st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.07, 0.99, 1.0, 1 / 3, float("nan"), -float("inf")]),
    st.integers(min_value=0, max_value=100).map(lambda percent: percent / 100),
)


@given(THRESHOLDS, st.integers(min_value=-3, max_value=3), st.binary(min_size=13, max_size=13))
def test_rollout_digest_bound_decides_as_the_bucket_does(
    threshold: float, offset: int, tail: bytes
) -> None:
    # Digests right around the bound (where rounding decides) and anywhere else.
    bound = above_digest(threshold)
    first = int.from_bytes(bound[:8], "big") >> 4 if len(bound) == 20 else (1 << 60) - 1
    for digest in (_digest_near(first, offset, tail), hashlib.sha1(tail).digest()):
        assert (digest >= bound) == (_bucket_of(digest) > threshold)


@given(
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
    st.integers(min_value=-3, max_value=3),
    st.binary(min_size=13, max_size=13),
)
def test_variant_digest_bound_decides_as_the_bucket_does(
    high: float, offset: int, tail: bytes
) -> None:
    bound = reached_digest(high)
    first = int.from_bytes(bound[:8], "big") >> 4
    for digest in (_digest_near(first, offset, tail), hashlib.sha1(tail).digest()):
        assert (digest >= bound) == (_bucket_of(digest) >= high)


def test_digest_bounds_at_the_edges() -> None:
    top = b"\xff" * 20
    assert above_digest(1.0) > top  # nobody is above 100%
    assert above_digest(float("nan")) > top  # a NaN threshold puts nobody out, as "h > nan"
    assert above_digest(-0.1) == bytes(20)  # everybody is above a negative threshold
    assert reached_digest(0.0) == bytes(20)
    assert bytes(20) < above_digest(0.0) <= b"\x00" * 7 + b"\x20" + bytes(12)
