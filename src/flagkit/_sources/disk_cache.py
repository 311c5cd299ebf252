"""Last-known-good definitions on disk, so a restart during an outage still serves flags.

File format: one JSON header line, a newline, then the raw body bytes exactly as the server
sent them. The header carries the ETag, when it was saved, the body length and an mmh3
checksum, plus ``source``: a hash of host, endpoint and project key, so a cache written for
another project is never served. Writes are atomic (temp file, fsync, ``os.replace``);
a damaged or foreign file is ignored with a warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path

import attrs
import mmh3

logger = logging.getLogger("flagkit.client")

_FORMAT = 1


@attrs.frozen(slots=True)
class CachedDefinitions:
    """A definitions body read back from disk."""

    body: bytes
    etag: str | None
    saved_at: float


def body_hash(body: bytes) -> str:
    """A fast, stable fingerprint of raw body bytes (mmh3, 128 bits, hex)."""
    return format(mmh3.hash128(body, signed=False), "032x")


def source_id(*parts: str) -> str:
    """An opaque identity for "where these definitions came from"; keys are not recoverable."""
    return body_hash("\x1f".join(parts).encode("utf-8"))


class DiskCache:
    """Reads and atomically writes one cache file. Never raises on I/O trouble."""

    def __init__(self, path: str | os.PathLike[str], *, source: str) -> None:
        self.path = Path(path)
        self._source = source

    def load(self) -> CachedDefinitions | None:
        """The cached body, or ``None`` when missing, damaged or from another source."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("flagkit: cannot read definitions cache %s: %s", self.path, exc)
            return None
        problem, cached = self._decode(raw)
        if problem:
            logger.warning("flagkit: ignoring definitions cache %s: %s", self.path, problem)
        return cached

    def _decode(self, raw: bytes) -> tuple[str | None, CachedDefinitions | None]:
        head, sep, body = raw.partition(b"\n")
        if not sep:
            return "no header", None
        try:
            header = json.loads(head)
        except ValueError:
            return "header is not JSON", None
        if not isinstance(header, dict) or header.get("flagkit_cache") != _FORMAT:
            return "not a flagkit cache file (or an unknown version)", None
        if header.get("source") != self._source:
            return "written for another host, endpoint or project", None
        if header.get("length") != len(body) or header.get("checksum") != body_hash(body):
            return "body is truncated or corrupted", None
        etag = header.get("etag")
        saved_at = header.get("saved_at")
        return None, CachedDefinitions(
            body=body,
            etag=etag if isinstance(etag, str) and etag else None,
            saved_at=float(saved_at) if isinstance(saved_at, (int, float)) else 0.0,
        )

    def save(self, body: bytes, etag: str | None, *, saved_at: float) -> bool:
        """Atomically replace the cache file; False (and a warning) if that failed."""
        header = {
            "flagkit_cache": _FORMAT,
            "source": self._source,
            "etag": etag,
            "saved_at": saved_at,
            "length": len(body),
            "checksum": body_hash(body),
        }
        encoded = json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n"
        directory = self.path.parent
        tmp_name: str | None = None
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(
                dir=directory, prefix=f".{self.path.name}.", suffix=".tmp"
            )
            with os.fdopen(fd, "wb") as handle:
                handle.write(encoded)
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, self.path)
            tmp_name = None
            _fsync_directory(directory)
        except OSError as exc:
            logger.warning("flagkit: cannot write definitions cache %s: %s", self.path, exc)
            return False
        finally:
            if tmp_name is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)
        return True


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, so best effort.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
