"""Aborting a blocked request from another thread (a ``/batch/`` or definitions request).

Closing an ``httpx.Client`` does not wake a thread blocked reading a socket, so a server
that accepts and never answers (or drips its answer) would hold the thread (and its socket)
for the whole request timeout, or longer. :class:`SocketAborter` remembers the sockets its
requests open, through httpx's public ``trace`` request extension, and
:meth:`SocketAborter.abort` shuts them down, which makes the blocked read fail at once.

It must only see requests of a client that serves nothing else (every connection in the
pool then was opened by a traced request).
"""

from __future__ import annotations

import os
import socket
import threading
import weakref
from typing import Any

_OPENED = ("connection.connect_tcp.complete", "connection.start_tls.complete")


class SocketAborter:
    """Tracks the sockets of traced requests; :meth:`abort` shuts them all down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._pid = os.getpid()
        self._aborted = False

    @property
    def extensions(self) -> dict[str, Any]:
        """Request extensions that report the sockets a request opens."""
        return {"trace": self._trace}

    def _trace(self, event_name: str, info: dict[str, Any]) -> None:
        if event_name not in _OPENED:
            return
        stream = info.get("return_value")
        sock = None if stream is None else stream.get_extra_info("socket")
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            self._forget_parent()
            self._sockets.add(sock)
            aborted = self._aborted
        if aborted:  # opened while closing: never let it block
            _shutdown(sock)

    def _forget_parent(self) -> None:
        # A forked child shares the parent's sockets: shutting them down would cut the
        # parent's connections too.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._sockets = weakref.WeakSet()

    def abort(self) -> None:
        """Shut down every tracked socket (reads blocked on them fail now), and any socket
        opened from now on."""
        with self._lock:
            self._aborted = True
        self.cut()

    def cut(self) -> None:
        """Shut down every tracked socket now (a request past its deadline); sockets opened
        later are left alone."""
        with self._lock:
            self._forget_parent()
            sockets = list(self._sockets)
            self._sockets = weakref.WeakSet()
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed or never connected: nothing blocks on it
        pass
