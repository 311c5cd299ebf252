"""Backoff, jitter, Retry-After parsing and the shared HTTP helpers."""

from __future__ import annotations

import email.utils
import logging
import random
import time

import httpx
import pytest

import flagkit
from flagkit._net.backoff import full_jitter, jittered, parse_retry_after
from flagkit._net.http import build_http_client, build_timeout, redact, user_agent
from flagkit._sources.poller import Poller


def test_full_jitter_stays_under_the_growing_ceiling() -> None:
    rng = random.Random(7)
    for failures, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 30.0), (500, 30.0)]:
        draws = [full_jitter(failures, base=1.0, cap=30.0, rng=rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in draws)
        # Full jitter spreads over the whole range, not just near the ceiling.
        assert min(draws) < ceiling * 0.2
        assert max(draws) > ceiling * 0.8


def test_jittered_spreads_around_the_interval() -> None:
    rng = random.Random(1)
    draws = [jittered(10.0, 0.1, rng) for _ in range(500)]
    assert all(9.0 <= d <= 11.0 for d in draws)
    assert len({round(d, 3) for d in draws}) > 100
    assert jittered(10.0, 0.0, rng) == 10.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("", None),
        ("soon", None),
        (None, None),
    ],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=1_000_000.0) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 42, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(42.0)
    past = email.utils.formatdate(now - 42, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


def test_redact_hides_every_secret_longest_first() -> None:
    text = "token=phc_abc key=phx_abcdef other=phx_abc"
    out = redact(text, ["phx_abc", "phx_abcdef", None, ""])
    assert "phx_abc" not in out
    assert out == "token=phc_abc key=[REDACTED] other=[REDACTED]"


def test_http_client_defaults() -> None:
    client = build_http_client("https://example.test/", timeout=2.5, headers={"X-A": "1"})
    try:
        assert str(client.base_url) == "https://example.test"
        assert client.headers["User-Agent"] == f"flagkit/{flagkit.__version__}"
        assert client.headers["X-A"] == "1"
        assert client.timeout == httpx.Timeout(2.5)
    finally:
        client.close()
    assert user_agent().startswith("flagkit/")
    with pytest.raises(ValueError, match="positive"):
        build_timeout(0)


def test_poller_survives_a_raising_step_and_stops_promptly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[float] = []

    def step() -> float:
        calls.append(time.monotonic())
        if len(calls) == 2:
            raise RuntimeError("step bug")
        return 0.01

    poller = Poller(step, fallback_delay=0.01)
    with caplog.at_level(logging.ERROR, logger="flagkit.client"):
        poller.start()
        deadline = time.monotonic() + 10
        while len(calls) < 5 and time.monotonic() < deadline:
            time.sleep(0.005)
    assert len(calls) >= 5
    assert "step bug" in caplog.text
    assert poller.stop(timeout=1.0)
    assert poller.stopping


def test_poller_stop_interrupts_a_long_wait_and_wake_runs_a_step() -> None:
    calls: list[int] = []
    poller = Poller(lambda: calls.append(1) or 3600.0, fallback_delay=1.0)
    poller.start()
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        time.sleep(0.005)
    poller.wake()
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(calls) == 2
    started = time.monotonic()
    assert poller.stop(timeout=5.0)
    assert time.monotonic() - started < 1.0
    assert Poller(lambda: 1.0, fallback_delay=1.0).stop()  # never started: nothing to wait for
