"""New exposures are queued as small records and encoded by the sender through per-answer
templates: the JSON must be what encoding the built event gives, whatever the answer."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from flagkit._evaluation.result import FlagResult, Reason
from flagkit._events.encoding import EventEncoder, PendingExposure, encode_event
from flagkit._events.exposures import DeliveryQueue, Wait
from flagkit._events.flag_events import local_attribution
from flagkit._remote.fallback import Resolved
from flagkit._remote.records import RuleAttribution
from flagkit._status import Counters

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
AT = 1_796_300_000.123456


def _result(key: str = "on", value: Any = True, **fields: Any) -> FlagResult:
    fields.setdefault("reason", Reason.CONDITION_MATCH)
    return FlagResult(key=key, value=value, **fields)


def _pending(resolved: Resolved, distinct_id: str = "u", **fields: Any) -> PendingExposure:
    values: dict[str, Any] = {"disable_geoip": True, "lib_version": "9.9", "at": AT} | fields
    return PendingExposure(resolved, distinct_id, **values)


def _expected(item: PendingExposure) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(encode_event(item.event()))
    return decoded


def _check(encoder: EventEncoder, items: list[PendingExposure]) -> list[dict[str, Any]]:
    encoded = encoder.encode(list(items))
    assert len(encoded) == len(items)
    decoded = [json.loads(data) for data in encoded]
    for item, event in zip(items, decoded, strict=True):
        assert UUID4.match(event.pop("uuid"))
        expected = _expected(item)
        expected.pop("uuid")
        assert event == expected
    return decoded


RESULTS = [
    pytest.param(_result(), id="boolean"),
    pytest.param(_result(value="test-a", payload={"color": "blue"}), id="variant-payload"),
    pytest.param(_result(value=None, reason=Reason.FLAG_NOT_FOUND), id="missing"),
    pytest.param(_result(flag_id=7, flag_version=3), id="id-and-version"),
    pytest.param(_result(key="k\ud83d", value="v\u00e9\U0001f600"), id="surrogate-key"),
    pytest.param(_result(key='"\\u0000flagkit-slot\\u0000"'), id="key-looks-like-a-slot"),
    pytest.param(_result(key="\x00flagkit-slot\x00"), id="key-is-the-slot-mark"),
]


@pytest.mark.parametrize("result", RESULTS)
def test_templates_give_the_events_encoding_gives(result: FlagResult) -> None:
    encoder = EventEncoder()
    resolved = Resolved(result, attribution=local_attribution(result))
    ids = ["plain", "caf\u00e9", "lone-\udc00", "astral-\U0001f600", 'quote"back\\slash', ""]
    items = [_pending(resolved, name) for name in ids]
    _check(encoder, items)
    _check(encoder, items)  # again, from the kept templates


def test_what_differs_between_reads_of_one_answer_gets_its_own_template() -> None:
    result = _result(flag_id=1)
    encoder = EventEncoder()
    items = [
        _pending(Resolved(result), "a"),
        _pending(Resolved(result, has_experiment=False, minimal_events=True), "b"),
        _pending(Resolved(result, has_experiment=True, minimal_events=True), "c"),
        _pending(Resolved(result), "d", disable_geoip=False),
        _pending(Resolved(result), "e", lib_version="1.0"),
        _pending(Resolved(result, attribution=RuleAttribution("targeting_match", "r1", "x")), "f"),
        _pending(Resolved(result, error="timeout"), "g"),
        _pending(Resolved(result), "h", at=AT + 1),
    ]
    decoded = _check(encoder, items)
    assert "$feature/on" in decoded[0]["properties"]
    assert "$feature/on" not in decoded[1]["properties"]  # minimal: trimmed
    assert "$feature/on" in decoded[2]["properties"]  # an experiment keeps the full event
    assert decoded[3]["properties"]["$geoip_disable"] is False
    assert decoded[4]["properties"]["$lib_version"] == "1.0"
    assert decoded[6]["properties"]["$feature_flag_error"] == "timeout"
    assert decoded[7]["timestamp"] != decoded[0]["timestamp"]


def test_a_remote_answer_and_plain_events_in_one_batch() -> None:
    remote = Resolved(
        FlagResult(key="on", value=True, reason=Reason.REMOTE), request_id="req-1", evaluated_at=5
    )
    encoder = EventEncoder()
    event = {"event": "$feature_flag_called", "distinct_id": "x", "properties": {}}
    batch: list[Any] = [b'{"already":1}', _pending(remote), event, _pending(Resolved(_result()))]
    encoded = encoder.encode(batch)
    assert encoded[0] == b'{"already":1}'
    assert json.loads(encoded[1])["properties"]["$feature_flag_request_id"] == "req-1"
    assert json.loads(encoded[2]) == event
    assert json.loads(encoded[3])["distinct_id"] == "u"


def test_an_event_that_cannot_be_encoded_is_left_out_and_counted() -> None:
    circular: dict[str, Any] = {"event": "e", "distinct_id": "u"}
    circular["properties"] = circular
    queue = DeliveryQueue(Counters())
    encoded = queue.encode([circular, _pending(Resolved(_result()))])
    assert len(encoded) == 1
    assert queue.counters.snapshot()["events_dropped"] == 1


def test_event_ids_are_random_version_4_uuids() -> None:
    encoder = EventEncoder()
    items = [_pending(Resolved(_result()), f"u{n}") for n in range(3000)]
    ids = [json.loads(data)["uuid"] for data in encoder.encode(list(items))]
    assert all(UUID4.match(event_id) for event_id in ids)
    assert len(set(ids)) == 3000


def test_the_timestamp_is_the_reads_time() -> None:
    now = time.time()
    event = json.loads(EventEncoder().encode([_pending(Resolved(_result()), at=now)])[0])
    expected = _pending(Resolved(_result()), at=now).event()["timestamp"]
    assert event["timestamp"] == expected
    assert event["timestamp"].endswith("+00:00")


# -- the sender's next step and the crowded queue ----------------------------------------------


def test_next_step_waits_takes_and_ends() -> None:
    now = [0.0]
    queue = DeliveryQueue(
        Counters(), queue_size=10, batch_size=4, flush_interval=1.0, monotonic=lambda: now[0]
    )
    assert queue.next_step(stopped=False) == Wait(None)  # nothing queued: until woken
    queue.add(b"1")
    assert queue.next_step(stopped=False) == Wait(1.0)  # a partial batch waits its interval
    now[0] = 0.25
    assert queue.next_step(stopped=False) == Wait(0.75)
    assert queue.next_step(stopped=True) is None
    for data in (b"2", b"3", b"4"):
        queue.add(data)
    assert queue.next_step(stopped=False) == [b"1", b"2", b"3", b"4"]  # a full batch: now
    queue.settle()
    queue.begin_close(1.0)
    assert queue.next_step(stopped=False) is None  # closing with nothing left


def test_the_queue_is_crowded_past_half() -> None:
    queue = DeliveryQueue(Counters(), queue_size=10, batch_size=100)
    for n in range(5):
        queue.add(b"x")
        assert not queue.crowded(), n
    queue.add(b"x")
    assert queue.crowded()
