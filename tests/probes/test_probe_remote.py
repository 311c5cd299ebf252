"""Probes of the remote /flags fallback against misbehaving peers (real sockets on 127.0.0.1).

* A /flags that accepts and never answers must not make every undecidable read wait the whole
  remote timeout: after a failure lookups pause, and a flag whose lookup failed is not asked
  again until a poll succeeds or a lookup does.
* The retry rule is PostHog's: transport errors and 502/504 are retried once after 300 ms;
  429, 503 and every other status never.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from flagkit import FlagResult, Reason
from flagkit._client.async_client import AsyncClient
from flagkit._client.sync_client import Client
from flagkit._remote.guard import RemoteGuard
from flagkit._remote.sync_fallback import RemoteFallback
from flagkit.server import LocalServer

TOKEN = "phc_probe_token"
PLAN_PRO = {
    "groups": [
        {
            "properties": [{"key": "plan", "type": "person", "value": "pro", "operator": "exact"}],
            "rollout_percentage": 100,
        }
    ]
}
STATIC_COHORT = {
    "groups": [
        {"properties": [{"key": "id", "type": "cohort", "value": 99}], "rollout_percentage": 100}
    ]
}
# Served from bootstrap: no personal key, so no polling. Every key below is undecidable
# locally: a missing property, a cohort only PostHog's servers know, a typo.
BODY = {
    "flags": [
        {"id": 1, "key": "pro-only", "active": True, "filters": PLAN_PRO},
        {"id": 2, "key": "beta", "active": True, "filters": STATIC_COHORT},
    ],
    "cohorts": {},
    "group_type_mapping": {},
}
UNDECIDABLE = ["pro-only", "beta", "pro-ony"]
OPTIONS: dict[str, Any] = {"send_events": False, "remote_timeout": 0.5}


# -- peers ---------------------------------------------------------------------------------


class Silent:
    """Accepts TCP connections and never reads or answers."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # so that close() need not wait for a connection
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        for conn in self.accepted:
            conn.close()


class Scripted:
    """A /flags peer that answers request n with ``script[n]`` (then ``then``): an HTTP status,
    ``"drop"`` (close without answering), ``"hang"`` (no answer until closed) or ``"ok"``
    (every asked flag on). Records when each request arrived."""

    def __init__(self, *script: int | str, then: int | str = "ok") -> None:
        self.script = list(script)
        self.then = then
        self.arrivals: list[float] = []
        self.released = threading.Event()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                peer.arrivals.append(time.monotonic())
                action = peer.script.pop(0) if peer.script else peer.then
                if action == "hang":
                    peer.released.wait(10)
                    self.close_connection = True
                elif action == "drop":
                    self.close_connection = True  # no status line: the client sees EOF
                elif action == "ok":
                    keys = body.get("flag_keys_to_evaluate") or []
                    flags = {key: {"key": key, "enabled": True, "variant": None} for key in keys}
                    self._send(200, {"flags": flags})
                else:
                    self._send(int(action), {"detail": "injected"})

            def _send(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        serve = self._server.serve_forever
        self._thread = threading.Thread(target=serve, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def count(self) -> int:
        return len(self.arrivals)

    def close(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def silent() -> Iterator[Silent]:
    peer = Silent()
    yield peer
    peer.close()


def _scripted(*script: int | str, then: int | str = "ok") -> Scripted:
    return Scripted(*script, then=then)


def _client(url: str, **options: Any) -> Client:
    return Client(TOKEN, host=url, bootstrap=BODY, **{**OPTIONS, **options})


def _async_client(url: str, **options: Any) -> AsyncClient:
    return AsyncClient(TOKEN, host=url, bootstrap=BODY, **{**OPTIONS, **options})


# -- item 1: a /flags that never answers ---------------------------------------------------


def test_ten_reads_against_a_silent_host_take_one_timeout_sync(silent: Silent) -> None:
    with _client(silent.url) as client:
        started = time.monotonic()
        results = [client.evaluate(UNDECIDABLE[n % 3], f"user-{n}") for n in range(10)]
        elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"ten reads took {elapsed:.2f} s"  # before: ten timeouts, ~5 s
    assert all((r.value, r.reason) == (None, Reason.REMOTE_ERROR) for r in results)
    assert results[0].description.startswith("timeout: no answer within 0.5 s")
    assert all(r.description.startswith("timeout: /flags not asked") for r in results[1:])
    assert len(silent.accepted) == 1


@pytest.mark.asyncio
async def test_ten_reads_against_a_silent_host_take_one_timeout_async(silent: Silent) -> None:
    async with _async_client(silent.url) as client:
        started = time.monotonic()
        results = [await client.evaluate(UNDECIDABLE[n % 3], f"user-{n}") for n in range(10)]
        elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"ten reads took {elapsed:.2f} s"
    assert all((r.value, r.reason) == (None, Reason.REMOTE_ERROR) for r in results)
    assert all(r.description.startswith("timeout: /flags not asked") for r in results[1:])
    assert len(silent.accepted) == 1


def test_get_all_flags_in_the_pause_answers_locally_at_once(silent: Silent) -> None:
    with _client(silent.url) as client:
        client.evaluate("beta", "u")  # the one timeout
        started = time.monotonic()
        flags = client.evaluate_all("u")
        assert time.monotonic() - started < 0.3
    assert {key: r.reason for key, r in flags.items()} == {
        "pro-only": Reason.REMOTE_ERROR,
        "beta": Reason.REMOTE_ERROR,
    }
    assert len(silent.accepted) == 1


def test_after_the_pause_a_failed_flag_waits_for_a_poll_and_others_test_the_host() -> None:
    peer = _scripted("hang", "hang")
    try:
        with _client(peer.url) as client:
            assert client.evaluate("beta", "u").description.startswith("timeout")
            time.sleep(1.1)  # the first pause is at most 1 s
            # No poll (bootstrap only) and no success since: "beta" is still held.
            held = client.evaluate("beta", "u")
            assert held.description.startswith("timeout: /flags not asked; its lookup")
            assert peer.count == 1
            # Another flag tests the host: it still hangs.
            assert client.evaluate("pro-only", "u").description.startswith("timeout: no answer")
            assert peer.count == 2
            time.sleep(2.1)  # the second pause is at most 2 s; the host answers now
            assert client.evaluate("pro-ony", "u").reason is Reason.REMOTE
            # A success forgets the failures: "beta" is asked again.
            assert client.evaluate("beta", "u").reason is Reason.REMOTE
            assert peer.count == 4
    finally:
        peer.close()


def test_a_successful_poll_lets_a_failed_flag_be_asked_again() -> None:
    with LocalServer() as server:
        server.add_person("alice", {})
        cohort = server.add_cohort("beta", static_members=["alice"])
        filters = {
            "groups": [
                {
                    "properties": [{"key": "id", "type": "cohort", "value": cohort["id"]}],
                    "rollout_percentage": 100,
                }
            ]
        }
        server.create_flag("static-cohort", filters)
        client = Client(
            server.project_api_key,
            personal_api_key=server.personal_api_key,
            host=server.url,
            poll_interval=0.05,
            poll_jitter=0.0,
            **OPTIONS,
        )
        with client:
            assert client.wait_until_ready(timeout=10)
            server.faults.delay("/flags", 2.0, times=1)
            failed = client.evaluate("static-cohort", "alice")
            assert failed.description.startswith("timeout: no answer")
            polled = client.status.last_success
            time.sleep(1.1)  # past the first pause; polls go on meanwhile
            assert client.status.last_success != polled
            again = client.evaluate("static-cohort", "alice")
            assert (again.value, again.reason) == (True, Reason.REMOTE)


@pytest.mark.asyncio
async def test_a_cancelled_probe_frees_the_way_for_the_next_read(silent: Silent) -> None:
    async with _async_client(silent.url, remote_timeout=5.0) as client:
        guard: RemoteGuard = client._remote.guard  # type: ignore[union-attr]
        ticket = guard.admit(None, None).ticket
        assert ticket is not None
        guard.record(ticket, [], "timeout")  # as if a lookup had failed
        await asyncio.sleep(1.1)  # past the first pause
        probe = asyncio.ensure_future(client.evaluate("beta", "u"))
        await asyncio.sleep(0.2)
        held = await client.evaluate("pro-only", "u")
        assert "another lookup is testing" in held.description
        probe.cancel()
        await asyncio.gather(probe, return_exceptions=True)
        nxt = asyncio.ensure_future(client.evaluate("pro-only", "u"))
        for _ in range(100):  # up to 5 s: a loaded machine may be slow to connect
            if len(silent.accepted) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(silent.accepted) == 2  # the slot was given back: a second probe went out
        nxt.cancel()
        await asyncio.gather(nxt, return_exceptions=True)


def test_pauses_double_with_jitter_and_reset_on_success() -> None:
    now = [0.0]
    guard = RemoteGuard(rng=random.Random(7), monotonic=lambda: now[0])
    served = (object(), None)
    pauses = []
    for _ in range(9):
        ticket = guard.admit(["a"], served).ticket
        assert ticket is not None
        guard.record(ticket, [], "timeout")
        start = now[0]
        while (probe := guard.admit(["a"], served).ticket) is None:
            now[0] += 0.01
        guard.release(probe)
        pauses.append(now[0] - start)
    for n, pause in enumerate(pauses):
        step = min(60.0, 2.0**n)
        assert step / 2 - 0.02 <= pause <= step + 0.02, (n, pause)
    ticket = guard.admit(["a"], served).ticket
    assert ticket is not None
    guard.record(ticket, ["a"], None)
    assert guard.failures == 0
    assert guard.admit(["a"], served).ticket is not None


def test_concurrent_failures_escalate_once_and_memory_is_bounded() -> None:
    now = [0.0]
    guard = RemoteGuard(limit=3, rng=random.Random(1), monotonic=lambda: now[0])
    served = (object(), 1.0)
    tickets = [guard.admit([f"k{n}"], served).ticket for n in range(5)]
    for n, ticket in enumerate(tickets):
        assert ticket is not None
        guard.record(ticket, [f"k{n}"], "timeout")
    assert guard.failures == 1  # five lookups in flight together are one failure
    now[0] += 2.0
    admission = guard.admit(["k0", "k1", "k2", "k3", "k4"], served)
    assert set(admission.held) == {"k2", "k3", "k4"}  # the oldest went first
    assert admission.ticket is not None
    guard.release(admission.ticket)
    assert guard.admit(["k4"], (served[0], 2.0)).held == {}  # a poll succeeded: forgotten


# -- item 2: the retry rule ------------------------------------------------------------------

RETRY_CASES = [(502, 2), (504, 2), ("drop", 2), (503, 1), (429, 1), (500, 1)]


def _check_spacing(peer: Scripted, expected: int) -> None:
    assert peer.count == expected
    if expected == 2:
        gap = peer.arrivals[1] - peer.arrivals[0]
        assert 0.25 <= gap <= 1.5, gap


@pytest.mark.parametrize(("first", "expected"), RETRY_CASES)
def test_retry_rule_sync(first: int | str, expected: int) -> None:
    peer = _scripted(first, first)
    try:
        with _client(peer.url, remote_timeout=3.0) as client:
            result = client.evaluate("beta", "u")
        assert result.reason is Reason.REMOTE_ERROR
        _check_spacing(peer, expected)
    finally:
        peer.close()


@pytest.mark.asyncio
@pytest.mark.parametrize(("first", "expected"), RETRY_CASES)
async def test_retry_rule_async(first: int | str, expected: int) -> None:
    peer = _scripted(first, first)
    try:
        async with _async_client(peer.url, remote_timeout=3.0) as client:
            result = await client.evaluate("beta", "u")
        assert result.reason is Reason.REMOTE_ERROR
        _check_spacing(peer, expected)
    finally:
        peer.close()


def test_a_retried_502_can_succeed() -> None:
    peer = _scripted(502)
    try:
        with _client(peer.url, remote_timeout=3.0) as client:
            assert client.evaluate("beta", "u").reason is Reason.REMOTE
        _check_spacing(peer, 2)
    finally:
        peer.close()


class _Counting(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[float] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts.append(time.monotonic())
        return super().handle_request(request)


def test_a_refused_connection_is_retried_once() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed on exit: nothing listens there any more
    transport = _Counting()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", transport=transport) as http:
        fallback = RemoteFallback(lambda: http, TOKEN, timeout=3.0)
        undecided = {"f": FlagResult("f", None, Reason.MISSING_CONTEXT)}
        answers = fallback.resolve(undecided, "u")
    assert answers["f"].error == "connection_error"
    assert len(transport.attempts) == 2
    assert 0.25 <= transport.attempts[1] - transport.attempts[0] <= 1.5
