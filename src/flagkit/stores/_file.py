"""Sharing one fetch between the processes of one host: a lock file and a snapshot file.

The leader is whoever holds an exclusive ``flock`` on ``<scope>.lock``. The kernel drops
the lock when the holder's process dies, so leadership needs no lease and no heartbeat.

The snapshot ``<scope>.definitions`` is one JSON header line (format, version token, ETag,
body length, mmh3 checksum), a newline, then the raw body. It is written to a temporary
file, fsynced and moved into place with ``os.replace``, so readers see the old file or the
new one, never half of one. Its modification time is the confirmation time: the leader
bumps it (``os.utime``) on a 304. Followers ``stat`` the file on every check and read the
header only when the inode, size or times moved, and the body only when the version did.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from flagkit._sources.disk_cache import body_hash
from flagkit.stores._process import ProcessGuard
from flagkit.stores._protocol import StoredDefinitions, StoreError, StoreState

logger = logging.getLogger("flagkit.client")

_FORMAT = 1
_HEADER_LIMIT = 64 * 1024
_DEFAULT_SCOPE = "default"

# (device, inode, size, mtime_ns, ctime_ns): changes whenever the file is replaced or touched.
_StatKey = tuple[int, int, int, int, int]


class FileStore:
    """Shares definitions between processes on one host through files in ``directory``.

    ``Client(shared_cache_dir=...)`` creates one. The directory is created on first use;
    every process sharing it must be able to read and write it. Needs POSIX ``flock``
    (Linux, macOS, BSD); local file systems only (``flock`` over NFS is unreliable).
    """

    def __init__(self, directory: str | os.PathLike[str], *, scope: str = _DEFAULT_SCOPE) -> None:
        if importlib.util.find_spec("fcntl") is None:
            raise RuntimeError("FileStore needs POSIX file locks (fcntl), not available here")
        _check_scope(scope)
        self.directory = Path(directory)
        self.scope = scope
        self.lock_path = self.directory / f"{scope}.lock"
        self.snapshot_path = self.directory / f"{scope}.definitions"
        self._guard = ProcessGuard()
        self._lock_fd: int | None = None
        self._peeked: tuple[_StatKey, StoreState | None] | None = None
        self._warned_key: _StatKey | None = None

    def __repr__(self) -> str:
        return f"<flagkit.stores.FileStore {str(self.directory)!r} scope={self.scope!r}>"

    def scoped(self, scope: str) -> FileStore:
        """A store for ``scope`` in the same directory (its own lock and snapshot file)."""
        return FileStore(self.directory, scope=scope)

    # -- leadership -----------------------------------------------------------------------

    def try_acquire_leadership(self, ttl: float) -> bool:
        """Hold the lock file, or take it if free. ``ttl`` is ignored: the OS ends it."""
        import fcntl

        with self._guard.lock():
            self._forget_inherited_lock()
            if self._lock_fd is not None:
                if self._still_our_lock_file(self._lock_fd):
                    return True
                self._close_lock_fd()  # someone deleted the lock file: it locks nothing now
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError as exc:
                raise StoreError(f"cannot open lock file {self.lock_path}: {exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # held by another process (or another view in this one)
                os.close(fd)
                return False
            if not self._still_our_lock_file(fd):  # replaced between our open and flock
                os.close(fd)
                return False
            self._lock_fd = fd
            return True

    def release_leadership(self) -> None:
        """Unlock the lock file (if held): another process can take over at once."""
        with self._guard.lock():
            self._forget_inherited_lock()
            self._close_lock_fd()

    def _forget_inherited_lock(self) -> None:
        # A forked child shares the parent's lock: closing our copy leaves the parent's
        # lock in place, and the child is not the leader.
        if self._guard.forked() and self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    def _close_lock_fd(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)  # closing the only descriptor releases the flock
            self._lock_fd = None

    def _still_our_lock_file(self, fd: int) -> bool:
        try:
            ours = os.fstat(fd)
            on_disk = os.stat(self.lock_path)
        except OSError:
            return False
        return (ours.st_dev, ours.st_ino) == (on_disk.st_dev, on_disk.st_ino)

    def _is_leader(self) -> bool:
        with self._guard.lock():
            self._forget_inherited_lock()
            return self._lock_fd is not None

    # -- snapshot -------------------------------------------------------------------------

    def peek(self) -> StoreState | None:
        """Version and confirmation time from the header; ``None`` if missing or damaged."""
        try:
            st = os.stat(self.snapshot_path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot stat {self.snapshot_path}: {exc}") from None
        key = _stat_key(st)
        cached = self._peeked
        if cached is not None and cached[0] == key:
            return cached[1]
        read = self._read_snapshot(lambda handle: handle.readline(_HEADER_LIMIT))
        if read is None:
            return None
        head, st = read
        key = _stat_key(st)
        header = self._header(head, key)
        state = None if header is None else StoreState(header[0], st.st_mtime)
        self._peeked = (key, state)
        return state

    def read(self) -> StoredDefinitions | None:
        """The whole snapshot, checked against its length and checksum."""
        read = self._read_snapshot(lambda handle: handle.read())
        if read is None:
            return None
        raw, st = read
        key = _stat_key(st)
        head, sep, body = raw.partition(b"\n")
        header = self._header(head + sep, key)
        if header is None:
            return None
        version, length, checksum, etag = header
        if length != len(body) or checksum != body_hash(body):
            self._warn(key, "body is truncated or corrupted")
            return None
        return StoredDefinitions(version, body, etag, st.st_mtime)

    def _read_snapshot(
        self, read: Callable[[BinaryIO], bytes]
    ) -> tuple[bytes, os.stat_result] | None:
        """What ``read`` takes from the snapshot file, with the file's stat from the same
        open (so both describe one version); ``None`` when there is no snapshot."""
        try:
            with open(self.snapshot_path, "rb") as handle:
                data = read(handle)
                return data, os.fstat(handle.fileno())
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {self.snapshot_path}: {exc}") from None

    def write(self, body: bytes, etag: str | None) -> str | None:
        """Atomically replace the snapshot (leader only); the new version token."""
        if not self._is_leader():
            return None
        version = secrets.token_hex(8)
        header = {
            "flagkit_shared": _FORMAT,
            "version": version,
            "etag": etag,
            "length": len(body),
            "checksum": body_hash(body),
        }
        encoded = json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n"
        tmp_name: str | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(
                dir=self.directory, prefix=f".{self.snapshot_path.name}.", suffix=".tmp"
            )
            with os.fdopen(fd, "wb") as handle:
                handle.write(encoded)
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp_name, 0o644)  # mkstemp makes it private; other users may follow
            os.replace(tmp_name, self.snapshot_path)
            tmp_name = None
        except OSError as exc:
            raise StoreError(f"cannot write {self.snapshot_path}: {exc}") from None
        finally:
            if tmp_name is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)
        return version

    def confirm(self) -> None:
        """Set the snapshot's modification time to now (leader only)."""
        if not self._is_leader():
            return
        try:
            os.utime(self.snapshot_path)
        except FileNotFoundError:
            return  # nothing to confirm: the leader notices and writes a new one
        except OSError as exc:
            raise StoreError(f"cannot touch {self.snapshot_path}: {exc}") from None

    def _header(self, head: bytes, key: _StatKey) -> tuple[str, int, str, str | None] | None:
        """(version, length, checksum, etag) from the header line, or None (warned once)."""
        if not head.endswith(b"\n"):
            self._warn(key, "no header line")
            return None
        try:
            header = json.loads(head)
        except ValueError:
            self._warn(key, "header is not JSON")
            return None
        if not isinstance(header, dict) or header.get("flagkit_shared") != _FORMAT:
            self._warn(key, "not a flagkit snapshot file (or an unknown version)")
            return None
        version = header.get("version")
        length = header.get("length")
        checksum = header.get("checksum")
        etag = header.get("etag")
        if not (isinstance(version, str) and version and isinstance(length, int)):
            self._warn(key, "header has no version or length")
            return None
        if not isinstance(checksum, str):
            self._warn(key, "header has no checksum")
            return None
        return version, length, checksum, etag if isinstance(etag, str) and etag else None

    def _warn(self, key: _StatKey, problem: str) -> None:
        # Once per file version: followers look at the file every second.
        if self._warned_key != key:
            self._warned_key = key
            logger.warning("flagkit: ignoring shared snapshot %s: %s", self.snapshot_path, problem)


def _stat_key(st: os.stat_result) -> _StatKey:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _check_scope(scope: str) -> None:
    # The scope becomes part of file names.
    if not scope or scope.startswith(".") or any(c in scope for c in "/\\\0"):
        raise ValueError(f"invalid store scope {scope!r}")
