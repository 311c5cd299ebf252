"""decode_with_spans decodes a definitions body exactly as json.loads does, with the text
of each flag; a reload uses those texts to find unchanged flags strictly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flagkit._sources.flag_spans import decode_with_spans
from flagkit._sources.sync import compile_definitions

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
flags = st.lists(st.dictionaries(st.sampled_from(["key", "active", "filters"]), values), max_size=4)
bodies = st.fixed_dictionaries(
    {"flags": flags}, optional={"cohorts": values, "group_type_mapping": values}
)
layouts = st.sampled_from(
    [
        {},
        {"separators": (",", ":")},
        {"indent": 2},
        {"indent": "\t", "ensure_ascii": False},
        {"ensure_ascii": False, "separators": (" , ", " : ")},
    ]
)


@settings(max_examples=300, deadline=None)
@given(bodies, layouts)
def test_decodes_as_json_loads_with_each_flags_text(body: dict[str, Any], layout: Any) -> None:
    data = json.dumps(body, **layout).encode()
    walked = decode_with_spans(data)
    assert walked is not None
    decoded, texts = walked
    assert decoded == json.loads(data)
    assert list(decoded) == list(json.loads(data))  # same key order
    assert [json.loads(text) for text in texts] == decoded["flags"]


@pytest.mark.parametrize(
    "data",
    [
        b'{"flags": [{"key": "a"}], "flags": [{"key": "b"}, {"key": "c"}]}',  # last wins
        b' \n{"flags" : [ ] }\r\n',
        b'{"flags": {"not": "a list"}}',
        b'{"flags": [1, "x", null], "cohorts": {}}',
        b"{}",
        '{"flags": [{"key": "\\ud800"}], "n": "é"}'.encode(),
    ],
)
def test_unusual_bodies_decode_as_json_loads(data: bytes) -> None:
    walked = decode_with_spans(data)
    assert walked is not None
    decoded, texts = walked
    assert decoded == json.loads(data)
    flag_list = decoded.get("flags")
    if isinstance(flag_list, list):
        assert [json.loads(text) for text in texts] == flag_list
    else:
        assert texts == []


@pytest.mark.parametrize(
    "data",
    [
        b'{"flags": []} extra',
        b'[{"flags": []}]',
        b'{"flags": [1,]}',
        b'{"flags": [1 2]}',
        b'{"flags" []}',
        b"",
        '{"flags": []}'.encode("utf-16"),
        b"\xef\xbb\xbf{}",  # a UTF-8 byte order mark: json.loads says what it thinks
    ],
)
def test_anything_else_is_left_to_json_loads(data: bytes) -> None:
    assert decode_with_spans(data) is None


def _body(value: Any) -> bytes:
    flags = [
        {"key": "same", "active": True, "filters": {"groups": [{"rollout_percentage": 50}]}},
        {"key": "other", "active": True, "filters": {"groups": [{"rollout_percentage": value}]}},
    ]
    return json.dumps({"flags": flags}).encode()


def test_a_reload_reuses_flags_by_their_text_and_tells_1_from_true() -> None:
    first = compile_definitions(_body(1))
    # 1 and True are equal in Python but not in JSON: "other" changed.
    second = compile_definitions(_body(True), first)
    assert second.compiled("same") is first.compiled("same")
    assert second.compiled("other") is not first.compiled("other")
    assert second.diff(first) == frozenset({"other"})
    assert second.fingerprint != first.fingerprint
    # Back to the first body: equal to it, flag by flag.
    third = compile_definitions(_body(1), second)
    assert third.fingerprint == first.fingerprint
    assert third.compiled("same") is first.compiled("same")


def test_a_flag_written_differently_but_equal_is_still_reused() -> None:
    first = compile_definitions(_body(50))
    spaced = json.dumps(json.loads(_body(50)), indent=3).encode()
    second = compile_definitions(spaced, first)
    assert second.fingerprint == first.fingerprint
    assert second.diff(first) == frozenset()
    assert second.compiled("other") is first.compiled("other")


def test_a_key_defined_twice_is_compared_by_the_definition_that_wins() -> None:
    def body(first: int, last: int) -> bytes:
        flags = [
            {
                "key": "twice",
                "active": True,
                "filters": {"groups": [{"rollout_percentage": first}]},
            },
            {"key": "once", "active": True, "filters": {"groups": [{"rollout_percentage": 5}]}},
            {"key": "twice", "active": True, "filters": {"groups": [{"rollout_percentage": last}]}},
        ]
        return json.dumps({"flags": flags}).encode()

    first = compile_definitions(body(10, 90))
    # Only the losing definition changed: nothing that evaluates changed.
    second = compile_definitions(body(20, 90), first)
    assert second.compiled("twice") is first.compiled("twice")
    assert second.definition("twice") == first.definition("twice")
    # The winning one changed.
    third = compile_definitions(body(20, 30), second)
    assert third.compiled("twice") is not first.compiled("twice")
    assert third.definition("twice")["filters"]["groups"][0]["rollout_percentage"] == 30
    assert third.compiled("once") is first.compiled("once")
