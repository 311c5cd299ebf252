"""What the local server prints: one log line, never a traceback, when a client drops its
connection; a busy port named, with the option to change it."""

from __future__ import annotations

import logging
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flagkit.server import LocalServer

ROOT = Path(__file__).resolve().parent.parent.parent


def _drop_mid_request(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"POST /batch/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
    # Close with a reset (SO_LINGER 0) while the server still reads the body.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_a_dropped_connection_logs_one_line_and_no_traceback(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="flagkit.server"), LocalServer() as server:
        for _ in range(3):
            _drop_mid_request(server.url)
        deadline = time.monotonic() + 5
        while len(caplog.records) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    out, err = capfd.readouterr()
    assert "Traceback" not in err + out
    dropped = [r for r in caplog.records if "dropped its connection" in r.getMessage()]
    assert len(dropped) == 3
    assert all(r.exc_info is None for r in dropped)


def test_a_busy_port_is_named_with_the_option_to_change_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        done = subprocess.run(
            [sys.executable, "-m", "flagkit", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    assert done.returncode != 0
    assert f"port {port}" in done.stderr
    assert "--port" in done.stderr
    assert "Traceback" not in done.stderr
