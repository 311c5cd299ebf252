"""A mock PostHog for the contract suites: records every request, answers from a script.

It runs in-process on 127.0.0.1 (a real HTTP server, so flagkit's real transport is what is
tested). ``/flags`` answers the scripted responses in order, then an empty answer; the
definitions paths serve the configured local-evaluation body; the capture paths store events.
"""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs

DEFINITIONS_PATHS = ("/flags/definitions", "/api/feature_flag/local_evaluation")
CAPTURE_PATHS = ("/batch", "/capture", "/e", "/i/v0/e", "/track")


@attrs.frozen
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or None


@attrs.frozen
class Scripted:
    status: int
    body: str


class MockPostHog:
    """Start with ``with MockPostHog() as mock:``; ``mock.url`` is its base URL."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.events: list[dict[str, Any]] = []
        self.definitions: dict[str, Any] | None = None
        self._responses: list[Scripted] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> MockPostHog:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, responses: list[dict[str, Any]]) -> None:
        with self._lock:
            self._responses.extend(
                Scripted(int(r.get("status_code", 200)), str(r.get("body", "{}")))
                for r in responses
            )

    def flags_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.rstrip("/") == "/flags"]

    def _next_flags_answer(self) -> Scripted:
        with self._lock:
            if self._responses:
                return self._responses.pop(0)
        return Scripted(200, '{"flags": {}, "errorsWhileComputingFlags": false}')

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the suite asserts on recordings, not on logs

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                record = Recorded(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with mock._lock:
                    mock.requests.append(record)
                path = parts.path.rstrip("/")
                if path == "/flags":
                    answer = mock._next_flags_answer()
                    self._send(answer.status, answer.body.encode())
                elif path in DEFINITIONS_PATHS:
                    if mock.definitions is None:
                        self._send(401, b'{"type": "authentication_error"}')
                    else:
                        self._send(200, json.dumps(mock.definitions).encode())
                elif path in CAPTURE_PATHS:
                    batch = body.get("batch", [body]) if isinstance(body, dict) else body or []
                    with mock._lock:
                        mock.events.extend(e for e in batch if isinstance(e, dict))
                    self._send(200, b'{"status": 1}')
                else:
                    self._send(404, b'{"detail": "not found"}')

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler
