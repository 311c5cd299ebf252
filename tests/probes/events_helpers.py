"""Helpers for the exposure-event probes: a child-process runner and a capture endpoint
that accepts connections and never answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

SRC = str(Path(__file__).resolve().parents[2] / "src")
BATCH = "/batch"
ROLLOUT_ALL = {"groups": [{"properties": [], "rollout_percentage": 100}]}


def run_child(script: str, *, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh interpreter with this checkout's ``src`` first on the path
    (a segfault there shows up as a negative return code, not a dead test run)."""
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONFAULTHANDLER": "1"}
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until it is truthy or ``timeout`` passes; its last truthiness."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return bool(predicate())
        time.sleep(0.005)
    return True


class SilentServer:
    """Accepts TCP connections, reads what is sent, never answers. Knows which connections
    the peer has closed (so a test can see a socket released)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self.accepted = 0
        self.closed_by_peer = 0
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._conns.append(conn)
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                pass
        except OSError:
            return
        with self._lock:
            self.closed_by_peer += 1

    def close(self) -> None:
        """Stop listening and drop every connection."""
        self._listener.close()
        with self._lock:
            for conn in self._conns:
                conn.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
