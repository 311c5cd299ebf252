"""The ``/flags`` lookup as a state machine, driven by hand: no sockets, no sleeping. Both
drivers (thread and asyncio) only carry out these commands."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flagkit import FlagResult, Reason
from flagkit._remote.core import Post, RemoteCore, Sleep
from flagkit._remote.fallback import RemoteAnswer, RemoteFailure

UNDECIDED = {"f": FlagResult("f", None, Reason.MISSING_CONTEXT)}
ANSWER = json.dumps({"flags": {"f": {"enabled": True, "variant": None}}}).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def core(clock: Clock, timeout: float = 3.0) -> RemoteCore:
    return RemoteCore(lambda: None, "phc_token", timeout=timeout, monotonic=clock)


def test_a_502_is_retried_once_after_300_ms_then_answered() -> None:
    clock = Clock()
    steps = core(clock).lookup(UNDECIDED, "u", person_properties={"plan": "pro"})
    post = next(steps)
    assert isinstance(post, Post)
    assert json.loads(post.data)["flag_keys_to_evaluate"] == ["f"]
    assert (post.remaining, post.deadline) == (3.0, 103.0)
    sleep = steps.send(RemoteFailure("api_error_502", "HTTP 502", status=502, retryable=True))
    assert sleep == Sleep(0.3)
    clock.now += 0.3
    again = steps.send(None)
    assert isinstance(again, Post)
    assert again.remaining == pytest.approx(2.7)
    with pytest.raises(StopIteration) as done:
        steps.send(core(clock).response_reply(200, ANSWER))
    answers: dict[str, Any] = done.value.value
    assert (answers["f"].result.value, answers["f"].result.reason) == (True, Reason.REMOTE)


@pytest.mark.parametrize("status", [429, 503, 500, 400])
def test_other_statuses_are_never_retried(status: int) -> None:
    steps = core(Clock()).lookup(UNDECIDED, "u")
    next(steps)
    with pytest.raises(StopIteration) as done:
        steps.send(RemoteFailure(f"api_error_{status}", "no", status=status))
    assert done.value.value["f"].error == f"api_error_{status}"


def test_no_retry_when_the_deadline_leaves_no_time() -> None:
    clock = Clock()
    steps = core(clock, timeout=1.0).lookup(UNDECIDED, "u")
    next(steps)
    clock.now += 0.8  # 0.3 s more would pass the deadline
    with pytest.raises(StopIteration) as done:
        steps.send(RemoteFailure("connection_error", "refused", retryable=True))
    assert done.value.value["f"].error == "connection_error"


def test_a_closed_client_and_an_unencodable_request_still_answer() -> None:
    steps = core(Clock()).lookup(UNDECIDED, "u")
    next(steps)
    with pytest.raises(StopIteration) as done:
        steps.send(None)  # the driver found the client closed
    assert "closed" in done.value.value["f"].result.description
    circular: dict[str, Any] = {}
    circular["self"] = circular
    bad = core(Clock()).lookup(UNDECIDED, "u", person_properties=circular)
    with pytest.raises(StopIteration) as unsent:
        next(bad)  # nothing to send: answered at once
    assert unsent.value.value["f"].error == "unknown_error"


def test_closing_a_lookup_midway_frees_the_guard_for_the_next_read() -> None:
    clock = Clock()
    remote = core(clock)
    first = remote.lookup(UNDECIDED, "u")
    assert isinstance(next(first), Post)
    first.close()  # a cancelled read
    second = remote.lookup(UNDECIDED, "u")
    assert isinstance(next(second), Post)  # not held back behind the abandoned probe
    with pytest.raises(StopIteration) as done:
        second.send(RemoteAnswer(flags={}))
    assert done.value.value["f"].result.reason is Reason.REMOTE_ERROR  # flag_missing
