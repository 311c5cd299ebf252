"""Lone surrogates in what callers pass must never crash the process (mmh3 segfaults on
such a ``str``) nor lose the exposure event. Each probe runs in a child process, so a
crash fails the test instead of killing the run."""

from __future__ import annotations

import json
import textwrap

import pytest
from events_helpers import run_child

# The child: a LocalServer, a client with events on, every getter with a lone surrogate in
# each input. It prints one JSON line: the calls made, the client's counters, the events
# the server received.
CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from flagkit import AsyncClient, Client
    from flagkit.server import LocalServer

    BAD = json.loads('"user-\\\\ud83d"')
    ROLLOUT = {"groups": [{"properties": [], "rollout_percentage": 100}]}
    BY_EMAIL = {"groups": [{"properties": [
        {"key": "email", "value": "x", "operator": "icontains", "type": "person"},
        {"key": "email", "value": "^user", "operator": "regex", "type": "person"},
    ], "rollout_percentage": 100}]}
    GETTERS = ["is_enabled", "get_flag", "get_payload", "evaluate", "get_all_flags",
               "evaluate_all"]
    WHERE = ["distinct_id", "group_key", "flag_key", "property_value"]

    def calls():
        for getter in GETTERS:
            for where in WHERE:
                name = f"{getter}/{where}"
                distinct_id = BAD + name if where == "distinct_id" else name
                kwargs = {
                    "groups": {"company": BAD if where == "group_key" else "acme"},
                    "person_properties": {
                        "email": BAD if where == "property_value" else "user@x"
                    },
                }
                key = BAD if where == "flag_key" else "by-email"
                if getter == "get_payload":
                    kwargs["send_events"] = True
                if getter in ("get_all_flags", "evaluate_all"):
                    yield name, getter, (distinct_id,), kwargs
                else:
                    yield name, getter, (key, distinct_id), kwargs

    def report(done, client, server):
        status = client.status
        events = server.events("$feature_flag_called")
        print(json.dumps({
            "done": done,
            "sent": status.events_sent,
            "dropped": status.events_dropped,
            "ids": sorted(e["distinct_id"] for e in events),
        }))

    def options(server):
        return dict(project_api_key=server.project_api_key,
                    personal_api_key=server.personal_api_key, host=server.url,
                    send_events=True, only_evaluate_locally=True,
                    event_flush_interval=60.0)

    def run_sync(server):
        client = Client(**options(server))
        assert client.wait_until_ready(timeout=20)
        done = []
        for name, getter, args, kwargs in calls():
            getattr(client, getter)(*args, **kwargs)
            done.append(name)
        assert client.flush(timeout=20)
        report(done, client, server)
        client.close()

    async def run_async(server):
        client = AsyncClient(**options(server))
        assert await client.wait_until_ready(timeout=20)
        done = []
        for name, getter, args, kwargs in calls():
            await getattr(client, getter)(*args, **kwargs)
            done.append(name)
        assert await client.flush(timeout=20)
        report(done, client, server)
        await client.close()

    with LocalServer() as server:
        server.create_flag("on", ROLLOUT)
        server.create_flag("by-email", BY_EMAIL)
        if sys.argv[1] == "sync":
            run_sync(server)
        else:
            asyncio.run(run_async(server))
    """
)


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_lone_surrogates_neither_crash_nor_lose_events(flavour: str) -> None:
    done = run_child(CHILD.replace("sys.argv[1]", repr(flavour)))
    assert done.returncode == 0, (done.returncode, done.stderr[-3000:])
    [line] = done.stdout.splitlines()
    outcome = json.loads(line)
    assert len(outcome["done"]) == 24  # six getters, four inputs each
    # Single-flag getters report one exposure per call; get_all_flags / evaluate_all
    # report none. A lone surrogate arrives as U+FFFD: capture servers reject the escape.
    expected = sorted(
        ("user-\ufffd" + name if name.endswith("/distinct_id") else name)
        for name in outcome["done"]
        if not name.startswith(("get_all_flags", "evaluate_all"))
    )
    assert outcome["ids"] == expected
    assert (outcome["sent"], outcome["dropped"]) == (16, 0)
