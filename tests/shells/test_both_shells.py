"""One behaviour suite, run against both shells: the thread client (``flagkit.Client``) and
the asyncio client (``flagkit.AsyncClient``, driven on its own event loop). The polling,
remote fallback and event delivery state machines are shared; these tests pin that both
shells carry them out the same way. Real HTTP to a LocalServer throughout."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

import flagkit
from flagkit import Reason, State
from flagkit.server import LocalServer

EVERYONE = {"groups": [{"properties": [], "rollout_percentage": 100}]}
NOBODY = {"groups": [{"properties": [], "rollout_percentage": 0}]}


class Shell:
    """A client of either kind behind one synchronous face."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        if kind == "asyncio":
            self._loop = asyncio.new_event_loop()
            threading.Thread(target=self._loop.run_forever, daemon=True).start()

    def _await(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    def start(self, **options: Any) -> Shell:
        if self.kind == "thread":
            self.client = flagkit.Client(**options)
        else:

            async def build() -> Any:
                client = flagkit.AsyncClient(**options)
                await client.start()
                return client

            self.client = self._await(build())
        return self

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        outcome = getattr(self.client, name)(*args, **kwargs)
        if self.kind == "asyncio":

            async def settle() -> Any:
                return await outcome

            return self._await(settle())
        return outcome

    def on_change(self, callback: Callable[[frozenset[str]], None], **kwargs: Any) -> Any:
        return self.client.on_change(callback, **kwargs)

    @property
    def status(self) -> Any:
        return self.client.status

    def stop(self) -> None:
        if self.client is not None:
            self.call("close")
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)


@pytest.fixture(params=["thread", "asyncio"])
def shell(request: pytest.FixtureRequest) -> Iterator[Shell]:
    one = Shell(request.param)
    yield one
    one.stop()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as local:
        local.create_flag("on", EVERYONE)
        local.create_flag("off", NOBODY)
        yield local


def keys(server: LocalServer, **options: Any) -> dict[str, Any]:
    return {
        "project_api_key": server.project_api_key,
        "personal_api_key": server.personal_api_key,
        "host": server.url,
        "event_flush_interval": 0.05,
        **options,
    }


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_polling_loads_refreshes_and_reports_changes(shell: Shell, server: LocalServer) -> None:
    shell.start(**keys(server, poll_interval=60))
    changes: list[frozenset[str]] = []
    first: list[frozenset[str]] = []
    shell.on_change(changes.append)
    shell.on_change(first.append, include_first_load=True)
    assert shell.call("wait_until_ready", 10)
    assert shell.status.state is State.VALID
    assert shell.call("is_enabled", "on", "u")
    assert eventually(lambda: first == [frozenset({"on", "off"})])
    assert changes == []  # the first load is no change
    server.update_flag("off", filters=EVERYONE)
    assert shell.call("refresh", 10)  # fetched now, not in 60 s
    assert shell.call("is_enabled", "off", "u")
    assert eventually(lambda: changes == [frozenset({"off"})])


def test_a_failing_poll_keeps_the_last_good_definitions(shell: Shell, server: LocalServer) -> None:
    shell.start(**keys(server, poll_interval=60, backoff_base=0.2, backoff_max=0.5))
    assert shell.call("wait_until_ready", 10)
    server.faults.fail("/api/feature_flag/local_evaluation", 500, times=100_000)
    server.faults.fail("/flags/definitions", 500, times=100_000)
    assert not shell.call("refresh", 10)
    assert eventually(lambda: shell.status.state is State.STALE)
    assert shell.call("is_enabled", "on", "u")  # still served


def test_undecidable_flags_are_asked_once_with_one_retry(shell: Shell, server: LocalServer) -> None:
    cohort = server.add_cohort("beta", static_members=["alice"])
    server.create_flag(
        "beta",
        {
            "groups": [
                {
                    "properties": [{"key": "id", "type": "cohort", "value": cohort["id"]}],
                    "rollout_percentage": 100,
                }
            ]
        },
    )
    shell.start(**keys(server, send_events=False))
    assert shell.call("wait_until_ready", 10)
    server.faults.clear()
    server.faults.fail("/flags", 502)  # retried once, 300 ms later
    result = shell.call("evaluate", "beta", "alice")
    assert (result.value, result.reason) == (True, Reason.REMOTE)
    assert server.faults.count("/flags") == 2
    server.faults.fail("/flags", 503)  # never retried
    failed = shell.call("evaluate", "beta", "bob")
    assert failed.reason is Reason.REMOTE_ERROR
    assert failed.description.startswith("api_error_503")
    assert server.faults.count("/flags") == 3
    # After a failure, lookups pause: the next undecidable read answers at once.
    held = shell.call("evaluate", "beta", "carol")
    assert held.reason is Reason.REMOTE_ERROR
    assert server.faults.count("/flags") == 3


def test_exposures_are_delivered_once_through_an_outage(shell: Shell, server: LocalServer) -> None:
    shell.start(**keys(server, backoff_base=0.05, backoff_max=0.1))
    assert shell.call("wait_until_ready", 10)
    server.faults.fail("/batch", 503, times=3)
    for _ in range(5):
        assert shell.call("is_enabled", "on", "alice")
    assert not shell.call("is_enabled", "off", "alice")
    assert shell.call("flush", 10)
    events = server.events("$feature_flag_called")
    seen = sorted((e["properties"]["$feature_flag"], e["distinct_id"]) for e in events)
    assert seen == [("off", "alice"), ("on", "alice")]
    assert shell.status.events_sent == 2
    assert shell.status.events_dropped == 0


def test_close_is_idempotent_and_reads_stay_local(shell: Shell, server: LocalServer) -> None:
    shell.start(**keys(server))
    assert shell.call("wait_until_ready", 10)
    shell.call("close")
    shell.call("close")
    assert shell.status.state is State.CLOSED
    server.faults.clear()
    assert shell.call("is_enabled", "on", "u")
    assert shell.call("get_flag", "missing", "u", default="d") == "d"
    assert server.faults.count("/flags") == 0


def test_posthog_named_methods_behave_alike(shell: Shell, server: LocalServer) -> None:
    shell.start(**keys(server, send_events=False))
    assert shell.call("wait_until_ready", 10)
    assert shell.call("feature_enabled", "on", "u") is True
    assert shell.call("get_feature_flag", "off", "u") is False
    assert shell.call("get_all_flags_and_payloads", "u")["featureFlags"] == {
        "on": True,
        "off": False,
    }
    evaluations = shell.call("evaluate_flags", "u", flag_keys=["on"])
    assert evaluations.keys == ("on",)
    assert shell.call("load_feature_flags", 10)
