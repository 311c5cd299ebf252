"""The HTTP layer: a stdlib ThreadingHTTPServer, a small router, request/response values.

Why stdlib: the server must run wherever flagkit runs, with no web framework dependency. The
handler reads the whole body (Content-Length or chunked, gzip accepted), applies injected
faults, calls the routed handler and turns every exception into a JSON answer: a
``LocalServerError`` becomes its PostHog body, anything else a logged 500.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

import attrs

from flagkit.server._errors import LocalServerError, method_not_allowed, not_found, server_error
from flagkit.server._faults import Fault, Faults
from flagkit.server._inflate import DEFLATE, GZIP, CorruptError, TooLargeError, inflate

logger = logging.getLogger("flagkit.server")

MAX_BODY_BYTES = 20 * 1024 * 1024
_CHUNK = 64 * 1024


@attrs.frozen(slots=True)
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    base_url: str
    params: Mapping[str, str] = attrs.field(factory=dict)

    def arg(self, name: str) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else None

    def has_arg(self, name: str) -> bool:
        """True when the query string names the parameter, even without a value."""
        return name in self.query

    def header(self, name: str) -> str | None:
        """A request header (case-insensitive)."""
        return self.headers.get(name.lower())

    @property
    def url(self) -> str:
        """The absolute URL of this path, without query string."""
        return self.base_url + self.path

    def url_with(self, **changes: Any) -> str:
        """This request's URL with some query parameters replaced (``None`` removes one)."""
        query = {key: values[-1] for key, values in self.query.items()}
        for key, value in changes.items():
            if value is None:
                query.pop(key, None)
            else:
                query[key] = str(value)
        return self.url + ("?" + urlencode(query) if query else "")


@attrs.frozen(slots=True)
class Response:
    """An HTTP answer."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON answer."""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(status, body, "application/json", tuple((headers or {}).items()))


def error_response(error: LocalServerError) -> Response:
    """The answer for a ``LocalServerError``."""
    if error.raw_body is not None:
        return Response(
            error.status,
            error.raw_body,
            "application/json" if error.raw_body else None,
            tuple(error.headers.items()),
        )
    return json_response(error.body(), error.status, error.headers)


Handler = Callable[[Request], Response]


class Router:
    """Regex routes with an optional trailing slash; each route maps methods to handlers."""

    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = []

    def add(self, pattern: str, **handlers: Handler) -> None:
        """Register ``handlers`` (keyword = HTTP method) for a path regex."""
        compiled = re.compile("^" + pattern.rstrip("/") + "/?$")
        self._routes.append((compiled, {m.upper(): h for m, h in handlers.items()}))

    def dispatch(self, request: Request) -> Response:
        """Route a request; unknown paths get 404 and unknown methods 405."""
        for pattern, handlers in self._routes:
            match = pattern.match(request.path)
            if match is None:
                continue
            routed = attrs.evolve(request, params=match.groupdict())
            handler = handlers.get(request.method)
            if handler is None and request.method == "HEAD" and "GET" in handlers:
                answer = handlers["GET"](routed)
                return attrs.evolve(answer, body=b"")
            if handler is None:
                allowed = ", ".join(sorted(handlers))
                error = method_not_allowed(request.method)
                error.headers["Allow"] = allowed
                raise error
            return handler(routed)
        raise not_found()


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        router: Router,
        faults: Faults,
    ) -> None:
        self.router = router
        self.faults = faults
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.stopping = False
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line, never a traceback on stderr: a client dropping its connection
        mid-request is routine for a test server."""
        error = sys.exc_info()[1]
        peer = client_address[0] if isinstance(client_address, tuple) else client_address
        if isinstance(error, (ConnectionError, TimeoutError)):
            logger.info("flagkit local server: %s dropped its connection (%s)", peer, error)
        else:
            logger.warning(
                "flagkit local server: connection from %s failed: %s: %s",
                peer,
                type(error).__name__,
                error,
            )

    def close_connections(self) -> None:
        """Shut down open keep-alive connections so their threads end."""
        with self.connections_lock:
            sockets = list(self.connections)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _BadRequestError(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "flagkit-local-posthog"
    sys_version = ""
    timeout = 60  # idle keep-alive connections end after a minute
    # Headers and body go out in separate writes; without TCP_NODELAY each answer on a
    # keep-alive connection waits ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        # The request line may carry keys in the query string; never log it.
        return

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise _BadRequestError("bad chunk size") from None
                if size == 0:
                    while self.rfile.readline(1024).strip():
                        pass
                    break
                total += size
                if total > MAX_BODY_BYTES:
                    raise _BadRequestError("too large")
                parts.append(self.rfile.read(size))
                self.rfile.readline(8)
            data = b"".join(parts)
        else:
            length_text = self.headers.get("Content-Length") or "0"
            try:
                length = int(length_text)
            except ValueError:
                raise _BadRequestError("bad length") from None
            if length < 0 or length > MAX_BODY_BYTES:
                raise _BadRequestError("too large")
            data = self.rfile.read(length) if length else b""
        encoding = (self.headers.get("Content-Encoding") or "").lower().strip()
        if encoding in ("gzip", "x-gzip", "deflate"):
            # The limit applies to the inflated size too, checked while inflating.
            wbits = DEFLATE if encoding == "deflate" else GZIP
            try:
                data = inflate(data, MAX_BODY_BYTES, wbits)
            except TooLargeError:
                raise _BadRequestError("too large") from None
            except CorruptError:
                raise _BadRequestError(f"bad {encoding}") from None
        return data

    def _handle(self) -> None:
        raw_path, _, query_text = self.path.partition("?")
        if raw_path.startswith(("http://", "https://")):
            raw_path = "/" + raw_path.split("/", 3)[-1] if raw_path.count("/") >= 3 else "/"
        path = unquote(raw_path) or "/"
        try:
            body = self._read_body()
        except _BadRequestError as problem:
            self.close_connection = True
            status = 413 if str(problem) == "too large" else 400
            detail = "Request body is too large." if status == 413 else "Malformed request body."
            error = LocalServerError(status, "invalid_request", "parse_error", detail)
            self._send(error_response(error))
            return
        fault = self.server.faults.take(path)
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "fail":
            self._send(_failure(fault))
            return
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        request = Request(
            method=self.command.upper(),
            path=path,
            query=parse_qs(query_text, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            base_url=f"http://{host}",
        )
        response = self._respond(request)
        if fault is not None and fault.kind == "invalid_json":
            response = Response(
                200, b"<html><body>502 Bad Gateway</body></html>{", "application/json"
            )
        elif fault is not None and fault.kind == "huge_body":
            self._send_huge(fault.size)
            return
        self._send(response, truncate=fault is not None and fault.kind == "truncate")

    # Every method goes through the router, which answers 405 for what a route lacks
    # (http.server looks the handlers up by these names).
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle  # noqa: N815

    def _respond(self, request: Request) -> Response:
        try:
            return self.server.router.dispatch(request)
        except LocalServerError as error:
            return error_response(error)
        except OverflowError:
            # An integer past SQLite's 64 bits (an id, offset or value): PostHog's database
            # refuses it too, so the client gets a 400, not a handler error.
            return error_response(
                LocalServerError(
                    400, "validation_error", "invalid_input", "A number is out of range.", None
                )
            )
        except UnicodeEncodeError:
            return error_response(
                LocalServerError(
                    400, "validation_error", "invalid_input", "Text holds a lone surrogate.", None
                )
            )
        except Exception:
            if self.server.stopping:
                # The database is closing under a late request (e.g. one held by a delay
                # fault); that is shutdown, not a handler bug.
                self.close_connection = True
                return error_response(
                    LocalServerError(503, "server_error", "unavailable", "Server is stopping.")
                )
            logger.exception(
                "flagkit local server: handler error on %s %s", request.method, request.path
            )
            return error_response(server_error())

    def _send(self, response: Response, *, truncate: bool = False) -> None:
        try:
            self.send_response(response.status)
            if response.content_type and (response.body or response.status not in (204, 304)):
                self.send_header("Content-Type", response.content_type)
            for name, value in response.headers:
                self.send_header(name, value)
            if response.status not in (204, 304) or response.body:
                self.send_header("Content-Length", str(len(response.body)))
            if truncate:
                self.close_connection = True
            if self.close_connection:
                # Say so: a client would otherwise send its next request on this socket.
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and response.body:
                self.wfile.write(
                    response.body[: len(response.body) // 2] if truncate else response.body
                )
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send_huge(self, size: int) -> None:
        prefix, suffix = b'{"padding":"', b'"}'
        filler = max(0, size - len(prefix) - len(suffix))
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(prefix) + filler + len(suffix)))
            self.end_headers()
            self.wfile.write(prefix)
            block = b"x" * _CHUNK
            remaining = filler
            while remaining > 0:
                piece = block[: min(_CHUNK, remaining)]
                self.wfile.write(piece)
                remaining -= len(piece)
            self.wfile.write(suffix)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _failure(fault: Fault) -> Response:
    headers = tuple(fault.headers.items())
    body = fault.body
    if body is None:
        code = {401: "authentication_error", 403: "authentication_error", 429: "throttled_error"}
        error_type = code.get(
            fault.status, "server_error" if fault.status >= 500 else "invalid_request"
        )
        body = {
            "type": error_type,
            "code": "injected_fault",
            "detail": "Injected fault.",
            "attr": None,
        }
    if isinstance(body, bytes):
        return Response(fault.status, body, "application/json", headers)
    if isinstance(body, str):
        return Response(fault.status, body.encode("utf-8"), "text/plain; charset=utf-8", headers)
    data = json.dumps(body).encode("utf-8")
    return Response(fault.status, data, "application/json", headers)


class HttpServer:
    """Owns the listening socket and the serving thread."""

    def __init__(self, host: str, port: int, router: Router, faults: Faults) -> None:
        self._server = _HttpServer((host, port), router, faults)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # A short poll keeps stop() fast (tests start and stop many servers).
            kwargs={"poll_interval": 0.02},
            name="flagkit-local-server",
            daemon=True,
        )
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` is called from another thread."""
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop accepting, close keep-alive connections and release the port."""
        self._server.stopping = True
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
