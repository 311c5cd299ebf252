"""Poller faults, probed over real sockets on 127.0.0.1: a body dripped a byte at a time, a
server that accepts and never answers, a poller stuck in user code, listeners that raise
SystemExit. Each test failed before its fix (see docs/operations.md, "Poller faults")."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from flagkit import State
from flagkit._client.async_client import AsyncClient
from flagkit._client.sync_client import Client
from flagkit._sources.async_fetch import AsyncDefinitionsFetcher
from flagkit._sources.fetch import DefinitionsFetcher, FailureKind, FetchFailed
from flagkit.server import LocalServer

EVERYONE = {"groups": [{"properties": [], "rollout_percentage": 100}]}


class Misbehaving:
    """A TCP server on 127.0.0.1 that answers every connection with ``mode``:
    ``drip`` sends headers, then one body byte every 0.25 s; ``silent`` never answers."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.accepted = threading.Event()
        self.closed_by_peer = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> Misbehaving:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._listener.close()

    def _serve(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        self.accepted.set()
        conn.settimeout(0.25)
        with conn:
            try:
                conn.recv(65536)  # the request
            except OSError:
                pass
            if self.mode == "drip":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n")
            while not self._stop.is_set():
                try:
                    if self.mode == "drip":
                        conn.sendall(b" ")
                        time.sleep(0.25)
                    elif conn.recv(1) == b"":
                        self.closed_by_peer.set()  # the client gave the socket up
                        return
                except TimeoutError:
                    continue
                except OSError:
                    self.closed_by_peer.set()
                    return


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as local:
        local.create_flag("everyone", EVERYONE)
        yield local


def _flagkit_threads(besides: frozenset[threading.Thread] = frozenset()) -> list[str]:
    """flagkit's threads, except those already running before the test (other tests')."""
    return [
        t.name
        for t in threading.enumerate()
        if t.name.startswith("flagkit") and t not in besides and t.is_alive()
    ]


def _wait(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# -- the timeout is a deadline for the whole request ---------------------------------------


def test_a_dripped_body_ends_at_the_deadline() -> None:
    with Misbehaving("drip") as peer, httpx.Client(base_url=peer.url, timeout=1.0) as http:
        fetcher = DefinitionsFetcher(
            http, "/flags/definitions", auth_key="k", secrets=(), clock=time.time, deadline=1.0
        )
        started = time.monotonic()
        outcome = fetcher.fetch(None)
        took = time.monotonic() - started
    assert isinstance(outcome, FetchFailed)
    assert outcome.kind is FailureKind.TIMEOUT
    assert 0.9 <= took < 2.0  # before the fix: the whole 2,000 bytes, 500 s


def test_a_dripped_body_ends_at_the_deadline_async() -> None:
    async def fetch() -> tuple[Any, float]:
        async with httpx.AsyncClient(base_url=peer.url, timeout=1.0) as http:
            fetcher = AsyncDefinitionsFetcher(
                lambda: http, "/flags/definitions", auth_key="k", secrets=(), clock=time.time,
                deadline=1.0,
            )  # fmt: skip
            started = time.monotonic()
            outcome = await fetcher.fetch(None)
            return outcome, time.monotonic() - started

    with Misbehaving("drip") as peer:
        outcome, took = asyncio.run(fetch())
    assert isinstance(outcome, FetchFailed)
    assert outcome.kind is FailureKind.TIMEOUT
    assert 0.9 <= took < 2.0


def test_a_client_on_a_dripping_host_reports_the_failure() -> None:
    with Misbehaving("drip") as peer:
        client = Client("phc_x", personal_api_key="phx_x", host=peer.url, timeout=1.0)
        try:
            assert _wait(lambda: client.status.last_error is not None, 3.0)
            assert "timed out" in (client.status.last_error or "")
        finally:
            client.close()


# -- close() during a hung request -----------------------------------------------------------


def test_close_during_a_hung_request_is_prompt_and_leaves_nothing() -> None:
    with Misbehaving("silent") as peer:
        before = frozenset(threading.enumerate())
        client = Client(
            "phc_x", personal_api_key="phx_x", host=peer.url, timeout=30.0, send_events=False
        )
        assert peer.accepted.wait(5)  # the poller is blocked in its request now
        time.sleep(0.1)
        started = time.monotonic()
        client.close()
        took = time.monotonic() - started
        assert took < 1.0  # before the fix: the 1 s join, and the thread stayed for 30 s
        assert _wait(lambda: not _flagkit_threads(before), 0.2), _flagkit_threads(before)
        assert peer.closed_by_peer.wait(0.5)  # the socket was released


def test_async_close_during_a_hung_request_is_prompt() -> None:
    async def run() -> float:
        client = AsyncClient("phc_x", personal_api_key="phx_x", host=peer.url, timeout=30.0)
        await client.start()
        assert await asyncio.to_thread(peer.accepted.wait, 5)
        started = time.monotonic()
        await client.close()
        return time.monotonic() - started

    with Misbehaving("silent") as peer:
        assert asyncio.run(run()) < 1.0
        assert peer.closed_by_peer.wait(1.0)


# -- the watchdog ------------------------------------------------------------------------------


def test_a_poller_stuck_anywhere_turns_the_status_to_an_error(server: LocalServer) -> None:
    release = threading.Event()
    client = Client(
        server.project_api_key,
        personal_api_key=server.personal_api_key,
        host=server.url,
        poll_interval=0.1,
        poll_jitter=0.0,
        timeout=0.5,
        send_events=False,
    )
    try:
        assert client.wait_until_ready(5)
        assert _wait(lambda: client.status.state is State.VALID, 2)
        client.on_change(lambda keys: release.wait(10))  # blocks the poller thread
        server.update_flag("everyone", active=False)
        # stall_after = 3 * 0.1 + 0.5 = 0.8 s without a finished poll
        assert _wait(lambda: client.status.state is State.STALE, 3.0)
        assert "stalled" in (client.status.last_error or "")
        release.set()
        assert _wait(lambda: client.status.state is State.VALID, 3.0)
    finally:
        release.set()
        client.close()


# -- listeners that raise SystemExit -----------------------------------------------------------


def test_a_listener_raising_system_exit_does_not_stop_the_poller(server: LocalServer) -> None:
    seen: list[frozenset[str]] = []

    def exits(keys: frozenset[str]) -> None:
        raise SystemExit(3)

    client = Client(
        server.project_api_key,
        personal_api_key=server.personal_api_key,
        host=server.url,
        poll_interval=0.05,
        send_events=False,
    )
    try:
        assert client.wait_until_ready(5)
        client.on_change(exits)
        client.on_change(seen.append)
        server.update_flag("everyone", active=False)
        assert _wait(lambda: len(seen) >= 1, 3.0)
        server.update_flag("everyone", active=True)
        assert _wait(lambda: len(seen) >= 2, 3.0)  # updates go on after SystemExit
        assert client.is_enabled("everyone", "u", only_evaluate_locally=True)
        assert client.status.state is State.VALID
    finally:
        client.close()


def test_async_listener_raising_system_exit_does_not_stop_the_loop(server: LocalServer) -> None:
    async def run() -> list[frozenset[str]]:
        seen: list[frozenset[str]] = []

        def exits(keys: frozenset[str]) -> None:
            raise SystemExit(3)

        async with AsyncClient(
            server.project_api_key,
            personal_api_key=server.personal_api_key,
            host=server.url,
            poll_interval=0.05,
            send_events=False,
        ) as client:
            assert await client.wait_until_ready(5)
            client.on_change(exits)
            client.on_change(seen.append)
            await asyncio.to_thread(server.update_flag, "everyone", active=False)
            for _ in range(300):
                if seen:
                    break
                await asyncio.sleep(0.01)
            await asyncio.to_thread(server.update_flag, "everyone", active=True)
            for _ in range(300):
                if len(seen) >= 2:
                    break
                await asyncio.sleep(0.01)
        return seen

    assert len(asyncio.run(run())) >= 2
