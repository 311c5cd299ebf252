"""FileStore on its own: the lock decides the leader, snapshots round-trip, damage is caught."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest
from store_helpers import exit_code

from flagkit.stores import DefinitionsStore, FileStore, StoreError, StoreState

BODY = b'{"flags": [], "group_type_mapping": {}, "cohorts": {}}'


def test_is_a_definitions_store(tmp_path: Path) -> None:
    assert isinstance(FileStore(tmp_path), DefinitionsStore)


def test_only_one_view_holds_the_lock_until_it_releases(tmp_path: Path) -> None:
    a = FileStore(tmp_path).scoped("p1")
    b = FileStore(tmp_path).scoped("p1")
    other_project = FileStore(tmp_path).scoped("p2")
    assert a.try_acquire_leadership(1.0)
    assert a.try_acquire_leadership(1.0)  # renewing is a no-op that stays true
    assert not b.try_acquire_leadership(1.0)
    assert other_project.try_acquire_leadership(1.0)  # scopes are independent
    a.release_leadership()
    assert b.try_acquire_leadership(1.0)
    assert not a.try_acquire_leadership(1.0)
    b.release_leadership()
    other_project.release_leadership()


def test_write_needs_leadership_and_round_trips(tmp_path: Path) -> None:
    leader = FileStore(tmp_path).scoped("p")
    follower = FileStore(tmp_path).scoped("p")
    assert follower.peek() is None
    assert follower.read() is None
    assert leader.write(BODY, '"v1"') is None  # not the leader yet
    assert leader.try_acquire_leadership(1.0)
    version = leader.write(BODY, '"v1"')
    assert version is not None
    state = follower.peek()
    assert state is not None
    assert state.version == version
    assert abs(state.confirmed_at - time.time()) < 60
    stored = follower.read()
    assert stored is not None
    assert (stored.version, stored.body, stored.etag) == (version, BODY, '"v1"')
    assert follower.write(b"{}", None) is None  # followers cannot write
    second = leader.write(BODY, None)
    assert second not in (None, version)  # every write is a new version, same body or not
    stored = follower.read()
    assert stored is not None
    assert stored.etag is None
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_confirm_moves_the_time_not_the_version(tmp_path: Path) -> None:
    leader = FileStore(tmp_path).scoped("p")
    assert leader.try_acquire_leadership(1.0)
    version = leader.write(BODY, None)
    before = leader.peek()
    assert before is not None
    old = before.confirmed_at - 100
    os.utime(leader.snapshot_path, (old, old))
    assert leader.peek() == StoreState(before.version, old)
    leader.confirm()
    after = leader.peek()
    assert after is not None
    assert after.version == version
    assert after.confirmed_at > old + 50


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"garbage without a header line",
        b"not json\n" + BODY,
        b'{"flagkit_shared": 99, "version": "x", "length": 1, "checksum": "y"}\n{}',
        b'{"flagkit_shared": 1, "length": 2, "checksum": "y"}\n{}',
    ],
)
def test_a_damaged_header_reads_as_nothing(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    store = FileStore(tmp_path).scoped("p")
    store.snapshot_path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="flagkit.client"):
        assert store.peek() is None
        assert store.read() is None
        assert store.peek() is None  # same file: warned once, not on every look
    assert len([r for r in caplog.records if "ignoring shared snapshot" in r.message]) == 1


def test_a_truncated_or_altered_body_is_refused(tmp_path: Path) -> None:
    leader = FileStore(tmp_path).scoped("p")
    assert leader.try_acquire_leadership(1.0)
    assert leader.write(BODY, None) is not None
    raw = leader.snapshot_path.read_bytes()
    leader.snapshot_path.write_bytes(raw[:-5])
    assert leader.peek() is not None  # the header alone looks fine...
    assert leader.read() is None  # ...but the body is checked against length and checksum
    header = json.loads(raw.partition(b"\n")[0])
    altered = raw.replace(b"[]", b"{}")
    assert len(altered) == len(raw)
    leader.snapshot_path.write_bytes(altered)
    assert header["length"] == len(BODY)
    assert leader.read() is None


def test_a_deleted_lock_file_ends_leadership(tmp_path: Path) -> None:
    a = FileStore(tmp_path).scoped("p")
    b = FileStore(tmp_path).scoped("p")
    assert a.try_acquire_leadership(1.0)
    a.lock_path.unlink()  # e.g. a tmp cleaner: the lock now guards a file nobody sees
    assert b.try_acquire_leadership(1.0)  # creates and locks a new lock file
    assert not a.try_acquire_leadership(1.0)  # a notices it no longer holds the real lock
    assert a.write(BODY, None) is None
    b.release_leadership()


def test_unusable_directory_raises_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    store = FileStore(blocker / "sub").scoped("p")
    with pytest.raises(StoreError, match="lock file"):
        store.try_acquire_leadership(1.0)


def test_invalid_scope_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scope"):
        FileStore(tmp_path).scoped("../escape")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_inherit_leadership(tmp_path: Path) -> None:
    leader = FileStore(tmp_path).scoped("p")
    assert leader.try_acquire_leadership(1.0)
    leader._guard.lock().acquire()  # as if a poller thread were inside the store at fork time
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            if leader.write(BODY, None) is not None:
                code = 1  # the child must not act as the leader
            elif leader.try_acquire_leadership(1.0):
                code = 2  # the parent still holds the lock
        finally:
            os._exit(code)
    leader._guard.lock().release()
    assert exit_code(pid) == 0
    # The child closed its copy of the descriptor: the parent still holds the lock.
    assert leader.try_acquire_leadership(1.0)
    assert not FileStore(tmp_path).scoped("p").try_acquire_leadership(1.0)  # fd closed on fail
    leader.release_leadership()
    successor = FileStore(tmp_path).scoped("p")
    assert successor.try_acquire_leadership(1.0)
    successor.release_leadership()
