"""Hostile inputs must never break the host (issue #10).

* Keys: ``flagkit.api`` used on its own (no ``Client``) keeps the personal and project keys
  out of every log record (httpx/httpcore at DEBUG), repr and exception, sync and async,
  against a real LocalServer, including one that echoes the key back.
* Bootstrap: any JSON-like body (mixed key types, NaN, huge ints, lone surrogates) gives a
  fingerprint; ``Client(bootstrap=...)`` raises nothing or ``DefinitionsError``.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flagkit
from flagkit import Client
from flagkit._evaluation.snapshot import Snapshot
from flagkit._net.async_http import build_async_http_client
from flagkit.api import ApiConnectionError, ApiError, AsyncFeatureFlagsAPI, FeatureFlagsAPI
from flagkit.errors import DefinitionsError
from flagkit.server import LocalServer

# Fresh per run: a key registered by some other test's Client cannot hide a leak here.
PERSONAL_KEY = f"phx_hostilePERSONAL{uuid.uuid4().hex}"
PROJECT_KEY = f"phc_hostilePROJECT{uuid.uuid4().hex}"
KEYS = (PERSONAL_KEY, PROJECT_KEY)


# -- keys in logs, reprs and exceptions -----------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(personal_api_key=PERSONAL_KEY, project_api_key=PROJECT_KEY) as srv:
        yield srv


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def assert_no_key(*texts: object) -> None:
    for text in texts:
        for key in KEYS:
            assert key not in str(text), f"a key leaked into {str(text)[:200]!r}"


def assert_clean_logs(caplog: pytest.LogCaptureFixture) -> None:
    records = caplog.records
    assert any(r.name == "httpx" for r in records), "httpx logged nothing: test is blind"
    assert any(r.name.startswith("httpcore") for r in records), "httpcore logged nothing"
    for record in records:
        assert_no_key(record.getMessage(), record.msg, repr(record.args))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def legacy_path(path: str) -> str:
    return f"/api/feature_flag/{path}"


def test_sync_api_alone_never_logs_or_shows_keys(
    server: LocalServer, logs: pytest.LogCaptureFixture
) -> None:
    server.faults.clear()
    # Legacy routes: the project is chosen by ?token=<project key>, so it is in every URL.
    with FeatureFlagsAPI(
        server.url, PERSONAL_KEY, project_api_key=PROJECT_KEY, max_retries=1, backoff=0.01
    ) as api:
        shown: list[object] = [repr(api), repr(api.settings)]
        for n in range(3):
            shown.append(repr(api.flags.create(f"hostile-sync-{n}", rollout_percentage=n)))
        page = api.flags.list(limit=1)
        assert page.next is not None
        shown += [repr(page), page.next, repr(page.to_dict())]
        keys = [flag.key for flag in api.flags.iter_all(page_size=1)]  # follows next links
        assert {"hostile-sync-0", "hostile-sync-2"} <= set(keys)
        shown.append(repr(api.flags.local_evaluation()))
        shown.append(repr(api.flags.local_evaluation_body()))
        # A server that echoes the key: in an error body, a non-JSON body, a redirect.
        server.faults.fail(legacy_path(""), 400, body={"detail": f"bad token {PROJECT_KEY}"})
        server.faults.fail(legacy_path("1/"), 200, body=f"<html>{PERSONAL_KEY}</html>")
        server.faults.fail(
            legacy_path("2/"), 302, body="", headers={"Location": f"/x/?token={PROJECT_KEY}"}
        )
        for call in (
            lambda: api.flags.list(),
            lambda: api.flags.get(1),
            lambda: api.flags.get(2),
        ):
            with pytest.raises(ApiError) as caught:
                call()
            shown += [str(caught.value), repr(caught.value), caught.value.detail]
    assert_no_key(*shown)
    assert_clean_logs(logs)


def test_sync_api_connection_error_hides_keys(logs: pytest.LogCaptureFixture) -> None:
    with (
        FeatureFlagsAPI(
            f"http://127.0.0.1:{free_port()}",
            PERSONAL_KEY,
            project_api_key=PROJECT_KEY,
            max_retries=0,
            timeout=5.0,
        ) as api,
        pytest.raises(ApiConnectionError) as caught,
    ):
        api.flags.list()
    assert_no_key(str(caught.value), repr(caught.value), repr(caught.value.__cause__))
    for record in logs.records:
        assert_no_key(record.getMessage(), repr(record.args))


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_any_built_client_hides_unregistered_credential_params(
    logs: pytest.LogCaptureFixture, anyio_backend: str
) -> None:
    # No keys registered: the query value is still hidden once flagkit built a client.
    await build_async_http_client("http://127.0.0.1:9").aclose()
    unknown = f"phc_unregistered{uuid.uuid4().hex}"
    logging.getLogger("httpx").info("HTTP Request: GET %s", f"http://h/x?token={unknown}&a=1")
    logging.getLogger("httpcore.http11").debug("x %r", (b"Location", f"/?api_key={unknown}"))
    messages = [r.getMessage() for r in logs.records]
    assert any("token=[REDACTED]&a=1" in m for m in messages)
    assert not [m for m in messages if unknown in m]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_async_api_alone_never_logs_or_shows_keys(
    server: LocalServer, logs: pytest.LogCaptureFixture, anyio_backend: str
) -> None:
    server.faults.clear()
    async with AsyncFeatureFlagsAPI(
        server.url, PERSONAL_KEY, project_api_key=PROJECT_KEY, max_retries=1, backoff=0.01
    ) as api:
        shown: list[object] = [repr(api), repr(api.settings)]
        for n in range(3):
            shown.append(repr(await api.flags.create(f"hostile-async-{n}")))
        page = await api.flags.list(limit=1)
        shown += [repr(page), page.next]
        keys = [flag.key async for flag in api.flags.iter_all(page_size=1)]
        assert "hostile-async-1" in keys
        shown.append(repr(await api.flags.local_evaluation_body()))
        server.faults.fail(legacy_path(""), 401, body={"detail": f"who is {PERSONAL_KEY}?"})
        with pytest.raises(ApiError) as caught:
            await api.flags.list()
        shown += [str(caught.value), repr(caught.value)]
    assert_no_key(*shown)
    assert_clean_logs(logs)


# -- bootstrap and fingerprints ---------------------------------------------------------------

_keys = st.one_of(
    st.text(max_size=6),
    st.integers(-5, 5),
    st.sampled_from(["flags", "cohorts", "key", "filters", "groups", "properties", 1, "1"]),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True),
    st.tuples(st.integers(0, 3)),
)


def _huge_int(sign: int) -> int:
    # Built lazily: hypothesis reprs its strategies, and such an int has no repr.
    return sign * 10**5000


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([1, -1]).map(_huge_int),
    st.sampled_from([2**64, float("nan"), float("inf")]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
_json_ish = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(_keys, inner, max_size=4),
    ),
    max_leaves=20,
)
# Flag keys are not huge ints: Snapshot's load problems quote a non-str key with repr(),
# which such an int refuses (a known gap outside the fingerprint; see the report).
_flag = st.fixed_dictionaries(
    {"key": st.one_of(st.text(max_size=4), st.integers(-5, 5), st.none(), st.booleans())},
    optional={
        "active": _json_ish,
        "filters": _json_ish,
        "deleted": _json_ish,
        "id": _json_ish,
        "variants": _json_ish,
    },
)
_bodies = st.fixed_dictionaries(
    {},
    optional={
        "flags": st.one_of(
            st.lists(_flag, max_size=3), st.dictionaries(_keys, _json_ish, max_size=3), _scalars
        ),
        "cohorts": st.one_of(st.dictionaries(_keys, _json_ish, max_size=3), _json_ish),
        "group_type_mapping": st.one_of(st.dictionaries(_keys, _json_ish, max_size=3), _json_ish),
        "property_matching_version": _json_ish,
    },
)


def test_mixed_cohort_key_types_load() -> None:
    body = {"flags": [], "cohorts": {1: {}, "2": {}}}
    with Client(bootstrap=body) as client:
        assert client.status.ready
        assert client.status.fingerprint == Snapshot.from_dict(body).fingerprint


def test_fingerprint_is_stable_for_awkward_bodies() -> None:
    def body() -> dict[Any, Any]:
        return {
            "flags": [{"key": "a", "filters": {1: "x", "1": "y", (2,): math.nan, None: 10**5000}}],
            "cohorts": {3: {}, "3": {"type": "AND"}},
        }

    first, second = Snapshot.from_dict(body()), Snapshot.from_dict(body())
    assert first.fingerprint == second.fingerprint
    assert first.diff(second) == frozenset()
    changed = body()
    changed["flags"][0]["filters"][1] = "z"
    assert Snapshot.from_dict(changed).diff(first) == {"a"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_bodies)
def test_fingerprint_never_raises(body: dict[Any, Any]) -> None:
    snapshot = Snapshot.from_dict(body)
    fingerprint = snapshot.fingerprint
    assert isinstance(fingerprint, str)
    assert len(fingerprint) == 32
    assert isinstance(snapshot.diff(Snapshot.empty()), frozenset)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_bodies, _json_ish))
def test_client_bootstrap_raises_only_definitions_error(body: Any) -> None:
    if not isinstance(body, (Mapping, str, bytes)):
        body = {"flags": body}
    if isinstance(body, str):
        body = body.encode("utf-8")  # a str is a path; JSON text goes in as bytes
    try:
        client = Client(bootstrap=body)
    except DefinitionsError as error:
        assert_no_key(str(error))
    else:
        client.close()


class _HostileMapping(Mapping[str, Any]):
    """A body whose iteration fails with a key in the message."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError(f"boom {PROJECT_KEY}")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError(f"boom {PROJECT_KEY}")

    def __len__(self) -> int:
        return 1


@pytest.mark.parametrize("bootstrap", [_HostileMapping(), 12345, [{"flags": []}]])
def test_unexpected_bootstrap_failures_become_definitions_errors(bootstrap: Any) -> None:
    with pytest.raises(DefinitionsError) as caught:
        Client(bootstrap=bootstrap)
    assert_no_key(str(caught.value), repr(caught.value))
    assert "bootstrap" in str(caught.value)


_SURROGATE_CHILD = """
import sys
from flagkit import Client
from flagkit._evaluation.snapshot import Snapshot

lone = ["\\ud800", "a\\udfffb", "\\udc80" * 3]
for text in lone:
    bodies = [
        {"flags": [{"key": text, "filters": {}}]},
        {"flags": [{"key": "k", "filters": {"groups": [{"properties": [{"key": text}]}]}}]},
        {"flags": [], "cohorts": {text: {"type": "AND", "values": [text]}, 1: {}}},
        {"flags": [], "group_type_mapping": {"0": text}, text: {text: [text, 1, None]}},
    ]
    for body in bodies:
        snapshot = Snapshot.from_dict(body)
        assert len(snapshot.fingerprint) == 32
        snapshot.diff(Snapshot.empty())
        with Client(bootstrap=body) as client:
            assert client.status.fingerprint == snapshot.fingerprint
print("ok")
"""


def test_lone_surrogates_do_not_crash_the_interpreter(tmp_path: Path) -> None:
    # mmh3 segfaults when handed a str with lone surrogates: a failure would kill the
    # test runner, so the check runs in a child process.
    script = tmp_path / "surrogates.py"
    script.write_text(textwrap.dedent(_SURROGATE_CHILD), encoding="utf-8")
    # The child imports the same flagkit as this process, installed or not.
    source_root = str(Path(flagkit.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source_root, *sys.path])}
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.strip() == "ok"
