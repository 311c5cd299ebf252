"""PostHog's bucketing hash against independently verified vectors."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flagkit._evaluation.hashing import bucket, bucket_with, hash_text, holdout_bucket, key_hasher

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
    assert bucket_with(key_hasher(key), identifier, salt) == expected
    assert 0.0 <= expected <= 1.0


def test_buckets_are_uniform() -> None:
    counts = [0] * 10
    for i in range(20_000):
        counts[min(int(bucket("uniformity", f"user-{i}") * 10), 9)] += 1
    # Each decile expects 2,000; 5 standard deviations is about +-212.
    assert all(1_780 < count < 2_220 for count in counts), counts
