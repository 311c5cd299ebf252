"""One definitions request against a real LocalServer, turned into a typed outcome."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from flagkit._net.http import build_http_client
from flagkit._sources.fetch import (
    DefinitionsFetcher,
    FailureKind,
    Fetched,
    FetchFailed,
    NotModified,
    definitions_url,
)
from flagkit.server import LocalServer

# The local server's name for the definitions endpoint, in fault rules.
DEFINITIONS = "/flags/definitions"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A LocalServer with ``on-flag`` (100%) and ``off-flag`` (0%)."""
    with LocalServer() as local:
        local.create_flag("on-flag", {"groups": [{"properties": [], "rollout_percentage": 100}]})
        local.create_flag("off-flag", {"groups": [{"properties": [], "rollout_percentage": 0}]})
        yield local


@pytest.fixture
def fetcher(server: Any) -> Iterator[DefinitionsFetcher]:
    http = build_http_client(server.url, timeout=2.0)
    yield make_fetcher(server, http)
    http.close()


def make_fetcher(server: Any, http: Any, **options: Any) -> DefinitionsFetcher:
    target = definitions_url(DEFINITIONS, project_api_key=server.project_api_key, project_id=None)
    settings: dict[str, Any] = {
        "auth_key": server.personal_api_key,
        "secrets": (server.project_api_key, server.personal_api_key),
        "clock": time.time,
        **options,
    }
    return DefinitionsFetcher(http, target, **settings)


def test_200_then_304(fetcher: DefinitionsFetcher) -> None:
    first = fetcher.fetch(None)
    assert isinstance(first, Fetched)
    body = json.loads(first.body)
    assert {f["key"] for f in body["flags"]} == {"on-flag", "off-flag"}
    assert first.etag
    second = fetcher.fetch(first.etag)
    assert second == NotModified(etag=first.etag)


def test_stale_etag_gets_a_body(server: Any, fetcher: DefinitionsFetcher) -> None:
    first = fetcher.fetch(None)
    assert isinstance(first, Fetched)
    server.update_flag("off-flag", active=False)
    second = fetcher.fetch(first.etag)
    assert isinstance(second, Fetched)
    assert second.etag != first.etag


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, FailureKind.UNAUTHORIZED),
        (403, FailureKind.UNAUTHORIZED),
        (402, FailureKind.QUOTA_LIMITED),
        (429, FailureKind.RATE_LIMITED),
        (500, FailureKind.HTTP_STATUS),
        (503, FailureKind.HTTP_STATUS),
    ],
)
def test_status_kinds(
    server: Any, fetcher: DefinitionsFetcher, status: int, kind: FailureKind
) -> None:
    server.faults.fail(DEFINITIONS, status=status)
    outcome = fetcher.fetch(None)
    assert isinstance(outcome, FetchFailed)
    assert outcome.kind is kind
    assert outcome.status == status
    assert outcome.message.startswith(f"HTTP {status} from /flags/definitions")
    assert outcome.retry_after is None


def test_retry_after_and_json_detail(server: Any, fetcher: DefinitionsFetcher) -> None:
    server.faults.fail(
        DEFINITIONS,
        status=429,
        body={"type": "throttled_error", "detail": "Slow down please", "code": "throttled"},
        headers={"Retry-After": "7"},
    )
    outcome = fetcher.fetch(None)
    assert isinstance(outcome, FetchFailed)
    assert outcome.retry_after == 7.0
    assert outcome.message == "HTTP 429 from /flags/definitions: Slow down please"


def test_plain_text_and_huge_error_bodies_are_summarised(
    server: Any, fetcher: DefinitionsFetcher
) -> None:
    server.faults.fail(DEFINITIONS, status=502, body="Bad   gateway\nupstream down")
    outcome = fetcher.fetch(None)
    assert isinstance(outcome, FetchFailed)
    assert outcome.message.endswith(": Bad gateway upstream down")
    server.faults.fail(DEFINITIONS, status=500, body="x" * 1_000_000)
    outcome = fetcher.fetch(None)
    assert isinstance(outcome, FetchFailed)
    assert len(outcome.message) < 400


def test_wrong_key_is_unauthorized_and_redacted(server: Any) -> None:
    http = build_http_client(server.url, timeout=2.0)
    try:
        wrong = "phx_not_a_real_key_0000000000"
        fetcher = make_fetcher(
            server, http, auth_key=wrong, secrets=(server.project_api_key, wrong)
        )
        outcome = fetcher.fetch(None)
    finally:
        http.close()
    assert isinstance(outcome, FetchFailed)
    assert outcome.kind is FailureKind.UNAUTHORIZED
    assert outcome.status == 401
    assert wrong not in repr(outcome)


def test_error_text_containing_a_key_is_redacted(server: Any, fetcher: DefinitionsFetcher) -> None:
    server.faults.fail(DEFINITIONS, status=500, body=f"bad token {server.project_api_key}")
    outcome = fetcher.fetch(None)
    assert isinstance(outcome, FetchFailed)
    assert server.project_api_key not in outcome.message
    assert "[REDACTED]" in outcome.message


def test_transport_failures(server: Any) -> None:
    http = build_http_client(server.url, timeout=0.2)
    try:
        fetcher = make_fetcher(server, http)
        server.faults.delay(DEFINITIONS, 0.6)
        timed_out = fetcher.fetch(None)
        server.faults.drop(DEFINITIONS)
        dropped = fetcher.fetch(None)
        server.faults.truncate(DEFINITIONS)
        truncated = fetcher.fetch(None)
    finally:
        http.close()
    assert isinstance(timed_out, FetchFailed)
    assert timed_out.kind is FailureKind.TIMEOUT
    assert isinstance(dropped, FetchFailed)
    assert dropped.kind is FailureKind.CONNECTION
    assert isinstance(truncated, FetchFailed)
    assert truncated.kind is FailureKind.CONNECTION


def test_connection_refused(server: Any) -> None:
    url = server.url
    keys = (server.project_api_key, server.personal_api_key)
    server.stop()
    http = build_http_client(url, timeout=1.0)
    try:
        target = definitions_url(DEFINITIONS, project_api_key=keys[0], project_id=None)
        fetcher = DefinitionsFetcher(http, target, auth_key=keys[1], secrets=keys, clock=time.time)
        outcome = fetcher.fetch(None)
    finally:
        http.close()
    assert isinstance(outcome, FetchFailed)
    assert outcome.kind is FailureKind.CONNECTION
    assert outcome.status is None


def test_size_limit_by_header_and_by_stream(server: Any) -> None:
    http = build_http_client(server.url, timeout=5.0)
    try:
        small = make_fetcher(server, http, max_body_bytes=1000)
        server.faults.huge_body(DEFINITIONS, 50_000)
        refused = small.fetch(None)
        normal = small.fetch(None)  # the normal body is small enough
        aborting = make_fetcher(server, http, should_abort=lambda: True)
        server.faults.huge_body(DEFINITIONS, 2_000_000)
        aborted = aborting.fetch(None)
    finally:
        http.close()
    assert isinstance(refused, FetchFailed)
    assert refused.kind is FailureKind.TOO_LARGE
    assert "max_body_bytes=1000" in refused.message
    assert isinstance(normal, Fetched)
    assert isinstance(aborted, FetchFailed)
    assert aborted.kind is FailureKind.ABORTED


def test_definitions_url() -> None:
    assert (
        definitions_url("/flags/definitions", project_api_key="phc_a b", project_id=None)
        == "/flags/definitions?token=phc_a%20b&send_cohorts"
    )
    assert (
        definitions_url(
            "/api/projects/{project_id}/feature_flags/local_evaluation/",
            project_api_key="phc_x",
            project_id="12",
        )
        == "/api/projects/12/feature_flags/local_evaluation/?send_cohorts"
    )
    with pytest.raises(ValueError, match="project_id"):
        definitions_url("/api/projects/{project_id}/x/", project_api_key="k", project_id=None)
    with pytest.raises(ValueError, match="project_api_key"):
        definitions_url("/flags/definitions", project_api_key=None, project_id=None)
