"""The local server under 1,000 malformed requests (seeded, so every run sends the same):
huge and odd numbers, lone surrogates, wrong types, truncated JSON, bad and bomb gzip,
wrong media types, across the flag API, persons, capture, /flags and /decide. None may get
a 5xx, and the server must still answer normally afterwards. Real HTTP on 127.0.0.1."""

from __future__ import annotations

import collections
import gzip
import json
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from flagkit.server import LocalServer

SEED = 20261203
REQUESTS = 1_000
HUGE = [2**63, 2**64 + 1, -(2**63) - 1, 10**30, 10**400]
ODD = ["\ud83d", "user-\udc00", "", " ", "x" * 5_000, None, True, 1.5, [], {}, -1, 0]


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as local:
        local.create_flag("known", {"groups": [{"properties": [], "rollout_percentage": 50}]})
        yield local


def _raw_json(value: Any) -> bytes:
    # json.dumps writes lone surrogates as \ud83d escapes, as a hostile client would.
    return json.dumps(value).encode("ascii")


def _cases(rng: random.Random, server: LocalServer) -> Iterator[tuple[str, str, dict[str, Any]]]:
    project = server.project_id
    api = f"/api/projects/{project}/feature_flags"
    weird = HUGE + ODD
    while True:
        pick = rng.choice
        kind = rng.randrange(12)
        value = pick(weird)
        if kind == 0:
            yield "GET", f"{api}/{pick(HUGE)}/", {}
        elif kind == 1:
            yield "GET", f"{api}/?limit={pick(HUGE)}&offset={pick(HUGE)}", {}
        elif kind == 2:
            body = {"key": pick(["k", value]), "name": value, "filters": {"groups": [value]}}
            yield "POST", f"{api}/", {"content": _raw_json(body)}
        elif kind == 3:
            rollout = {"properties": [], "rollout_percentage": value}
            body = {"key": f"f{rng.randrange(10**6)}", "filters": {"groups": [rollout]}}
            yield "POST", f"{api}/", {"content": _raw_json(body)}
        elif kind == 4:
            yield "PATCH", f"{api}/{pick(HUGE)}/", {"content": _raw_json({"name": value})}
        elif kind == 5:
            event = {"event": value, "distinct_id": value, "properties": {"$x": value}}
            body = {"api_key": server.project_api_key, "batch": [event]}
            yield "POST", "/batch/", {"content": _raw_json(body)}
        elif kind == 6:
            body = {"token": server.project_api_key, "distinct_id": value, "groups": value}
            yield "POST", pick(["/flags/?v=2", "/decide/?v=3"]), {"content": _raw_json(body)}
        elif kind == 7:
            text = _raw_json({"token": server.project_api_key, "distinct_id": "u"})
            yield "POST", "/flags/?v=2", {"content": text[: rng.randrange(len(text))]}
        elif kind == 8:
            bomb = gzip.compress(b"[" + b" " * rng.choice([10**5, 21 * 2**20]) + b"]")
            headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
            yield "POST", pick(["/batch/", "/flags/?v=2", f"{api}/"]), {
                "content": bomb, "headers": headers,
            }  # fmt: skip
        elif kind == 9:
            headers = {"Content-Encoding": "gzip"}
            yield "POST", "/batch/", {"content": b"\x1f\x8bnot gzip", "headers": headers}
        elif kind == 10:
            headers = {"Content-Type": pick(["text/xml", "application/x-www-form-urlencoded"])}
            yield "POST", f"{api}/", {"content": b"key=%ED%A0%80&name=x", "headers": headers}
        else:
            body = {"distinct_id": value, "properties": {"plan": value}}
            yield "POST", f"/api/projects/{project}/persons/", {"content": _raw_json(body)}


def test_a_thousand_malformed_requests_get_no_server_error(server: LocalServer) -> None:
    rng = random.Random(SEED)
    statuses: collections.Counter[int] = collections.Counter()
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {server.personal_api_key}"}
    started = time.monotonic()
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        cases = _cases(rng, server)
        for _ in range(REQUESTS):
            method, path, options = next(cases)
            extra = {**headers, "Content-Type": "application/json", **options.pop("headers", {})}
            response = http.request(method, path, headers=extra, **options)
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                errors.append(f"{method} {path[:80]} -> {response.status_code}")
        took = time.monotonic() - started
        # Still healthy: a normal read works.
        flags = http.get(f"/api/projects/{server.project_id}/feature_flags/")
        assert flags.status_code == 200
    assert errors == [], errors[:10]
    assert sum(statuses.values()) == REQUESTS
    print(f"\n{REQUESTS} malformed requests in {took:.1f} s: {dict(sorted(statuses.items()))}")


def test_a_gzip_bomb_is_refused_while_inflating(server: LocalServer) -> None:
    bomb = gzip.compress(b" " * (200 * 2**20))  # 200 MB of spaces in about 200 KB
    assert len(bomb) < 300_000
    with httpx.Client(base_url=server.url, timeout=30) as http:
        response = http.post("/batch/", content=bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
