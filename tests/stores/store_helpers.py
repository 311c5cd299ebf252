"""Helpers for the shared-store tests: constants, deadlines, and client worker processes."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flagkit._sources.disk_cache import source_id
from flagkit._sources.fetch import DEFINITIONS_PATH, definitions_url

DEFINITIONS = "/flags/definitions"
POLL = 0.2

ROLLOUT_ALL = {"groups": [{"properties": [], "rollout_percentage": 100}]}
ROLLOUT_NONE = {"groups": [{"properties": [], "rollout_percentage": 0}]}

_WORKER = Path(__file__).with_name("store_worker.py")


def client_options(server: Any, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for a fast-polling Client of ``server`` (no events, local only)."""
    options: dict[str, Any] = {
        "project_api_key": server.project_api_key,
        "personal_api_key": server.personal_api_key,
        "host": server.url,
        "poll_interval": POLL,
        "poll_jitter": 0.0,
        "backoff_base": 0.05,
        "backoff_max": 0.2,
        "timeout": 5.0,
        "send_events": False,
        "only_evaluate_locally": True,
    }
    options.update(overrides)
    return options


def scope_for(server: Any) -> str:
    """The store scope a Client of ``server`` uses (host, endpoint, project key, hashed)."""
    key = server.project_api_key
    target = definitions_url(DEFINITIONS_PATH, project_api_key=key, project_id=None)
    return source_id(server.url.rstrip("/"), target, key)


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until it is truthy or ``timeout`` passes; its last truthiness."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return bool(predicate())
        time.sleep(0.01)


def exit_code(pid: int, timeout: float = 15.0) -> int | None:
    """Wait for a forked child; its exit code, or None (after killing it) if it hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


class Worker:
    """A separate Python process running one Client (see store_worker.py).

    ``status()`` asks it for its role, state and the value of ``flag``; ``kill()`` sends
    SIGKILL, so it dies holding whatever lock or lease it had.
    """

    def __init__(self, config: dict[str, Any], log_path: Path) -> None:
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()/kill()
        self.process = subprocess.Popen(
            [sys.executable, str(_WORKER), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        self._buffer = b""
        hello = self._read_line(30.0)
        assert hello.get("started") == self.process.pid, hello

    @property
    def pid(self) -> int:
        return self.process.pid

    def status(self, timeout: float = 10.0) -> dict[str, Any]:
        """The worker's client status: role, state, ready, source, value of ``flag``."""
        return self._request("status", timeout)

    def stop(self) -> None:
        """Close the client cleanly and wait for the process to exit."""
        if self.process.poll() is None:
            try:
                self._request("quit", 10.0)
            except (OSError, AssertionError, TimeoutError):
                self.process.kill()
            self.process.wait(10)
        self._log.close()

    def kill(self) -> None:
        """SIGKILL: no cleanup, no release of leadership."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self._log.close()

    def _request(self, command: str, timeout: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        self.process.stdin.flush()
        return self._read_line(timeout)

    def _read_line(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"worker {self.process.pid} did not answer")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"worker {self.process.pid} exited")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        return answer


def start_workers(
    count: int, server: Any, store: dict[str, Any], log_dir: Path, *, name: str = "worker"
) -> list[Worker]:
    """Start ``count`` worker processes sharing ``store`` (``{"kind": "file", ...}``)."""
    config = {"client": client_options(server), "store": store}
    return [Worker(config, log_dir / f"{name}{i}.log") for i in range(count)]


class RedisServer:
    """A ``redis-server`` subprocess on 127.0.0.1 that can be stopped and restarted."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = workdir / "redis.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server (same port every time) and wait until it answers PING."""
        command = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
        ]  # fmt: skip
        with open(self._log, "ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if self._ping():
                return
            time.sleep(0.02)
        output = self._log.read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}:\n{output}")

    def stop(self) -> None:
        """Kill the server (its data is gone: nothing is persisted)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def flushall(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            assert sock.recv(16).startswith(b"+OK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
