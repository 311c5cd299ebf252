"""The on-disk last-known-good cache: round trip, atomicity, damage detection."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from flagkit._sources.disk_cache import DiskCache, body_hash, source_id

BODY = b'{"flags": [], "group_type_mapping": {}, "cohorts": {}}'


def test_round_trip(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "defs.cache", source="s1")
    assert cache.load() is None
    assert cache.save(BODY, 'W/"abc"', saved_at=123.5)
    loaded = cache.load()
    assert loaded is not None
    assert loaded.body == BODY
    assert loaded.etag == 'W/"abc"'
    assert loaded.saved_at == 123.5
    # Only the cache file remains: the temp file was renamed into place.
    assert [p.name for p in tmp_path.iterdir()] == ["defs.cache"]


def test_binary_body_and_no_etag(tmp_path: Path) -> None:
    body = bytes(range(256)) * 10 + b"\n\n"
    cache = DiskCache(tmp_path / "sub" / "dir" / "c", source="s")
    assert cache.save(body, None, saved_at=1.0)
    loaded = cache.load()
    assert loaded is not None
    assert loaded.body == body
    assert loaded.etag is None


def test_overwrite_replaces(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "c", source="s")
    cache.save(b"one", "e1", saved_at=1.0)
    cache.save(b"two", "e2", saved_at=2.0)
    loaded = cache.load()
    assert loaded is not None
    assert (loaded.body, loaded.etag) == (b"two", "e2")


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[:-5],  # truncated body
        lambda raw: raw[:-1] + b"X",  # flipped byte
        lambda raw: b"garbage",  # no header
        lambda raw: b"{not json\n" + raw,  # bad header
        lambda raw: b'{"flagkit_cache": 99}\n',  # unknown version
        lambda raw: b"",
    ],
)
def test_damaged_file_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: object
) -> None:
    path = tmp_path / "c"
    cache = DiskCache(path, source="s")
    cache.save(BODY, "e", saved_at=1.0)
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    with caplog.at_level(logging.WARNING, logger="flagkit.client"):
        assert cache.load() is None
    assert "ignoring definitions cache" in caplog.text


def test_cache_from_another_source_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "c"
    DiskCache(path, source=source_id("https://a", "/flags/definitions", "phc_1")).save(
        BODY, None, saved_at=1.0
    )
    other = DiskCache(path, source=source_id("https://a", "/flags/definitions", "phc_2"))
    assert other.load() is None
    same = DiskCache(path, source=source_id("https://a", "/flags/definitions", "phc_1"))
    assert same.load() is not None


def test_source_id_does_not_contain_the_key() -> None:
    ident = source_id("https://a", "/p", "phc_supersecret")
    assert "supersecret" not in ident
    assert len(ident) == 32


def test_unwritable_location_warns_and_returns_false(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = DiskCache(blocker / "sub" / "c", source="s")  # parent is a file
    with caplog.at_level(logging.WARNING, logger="flagkit.client"):
        assert cache.save(BODY, None, saved_at=1.0) is False
    assert "cannot write definitions cache" in caplog.text


def test_failed_rename_cleans_up_the_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "c"
    path.mkdir()
    (path / "keep").write_text("x")  # a non-empty directory cannot be replaced by a file
    cache = DiskCache(path, source="s")
    assert cache.save(b"new", "e2", saved_at=2.0) is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]
    assert cache.load() is None


def test_body_hash_is_stable_and_sensitive() -> None:
    assert body_hash(b"abc") == body_hash(b"abc")
    assert body_hash(b"abc") != body_hash(b"abd")
