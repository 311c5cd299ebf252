"""Decoding a definitions body with the exact text of each flag.

A reload compares each flag with the one served to reuse what did not change. Comparing
decoded values would need the served ones decoded (the memory compact definitions save),
and ``==`` is not strict enough for JSON (``1 == 1.0 == true``); serialising every new
flag canonically costs more than decoding the whole body. The text the server sent for
a flag is exact and free to compare: equal text, equal definition. So the body's top
level and its ``flags`` array are walked here, each value decoded by the standard
library's own scanner (``raw_decode``), and each flag's text kept.

The result is what ``json.loads`` returns for the same bytes; anything this walk does not
expect (another encoding, a syntax error, a top level that is not an object) gives
``None``, and the caller decodes with ``json.loads`` as before, errors included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

_DECODER = json.JSONDecoder()
_raw_decode = _DECODER.raw_decode
_scan_string: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
# JSON's whitespace, as the standard decoder skips it.
_SPACE = re.compile(r"[ \t\n\r]*").match


def _skip(text: str, at: int) -> int:
    """The index of the first non-whitespace character from ``at``."""
    if at < len(text) and text[at] not in " \t\n\r":
        return at  # the usual case, without the regex
    space = _SPACE(text, at)
    return at if space is None else space.end()


def decode_with_spans(body: bytes) -> tuple[dict[str, Any], list[str]] | None:
    """The decoded body and the text of each entry of its last ``flags`` array, in order
    (None: decode with ``json.loads`` instead)."""
    try:
        if json.detect_encoding(body) != "utf-8":
            return None
        # As json.loads decodes bytes (lone surrogates pass, as there).
        text = body.decode("utf-8", "surrogatepass")
        return _top_level(text)
    except (ValueError, IndexError, RecursionError):
        return None


def _top_level(text: str) -> tuple[dict[str, Any], list[str]] | None:
    at = _skip(text, 0)
    if text[at] != "{":
        return None
    at = _skip(text, at + 1)
    body: dict[str, Any] = {}
    spans: list[str] = []
    if text[at] == "}":
        return _ended(text, at + 1, body, spans)
    while True:
        if text[at] != '"':
            return None
        key, at = _scan_string(text, at + 1)
        at = _skip(text, at)
        if text[at] != ":":
            return None
        at = _skip(text, at + 1)
        if key == "flags" and text[at] == "[":
            body[key], spans, at = _array(text, at)
        else:
            body[key], at = _raw_decode(text, at)
            if key == "flags":
                spans = []  # the last "flags" wins, as in json.loads: not a list here
        at = _skip(text, at)
        if text[at] == ",":
            at = _skip(text, at + 1)
            continue
        if text[at] == "}":
            return _ended(text, at + 1, body, spans)
        return None


def _array(text: str, at: int) -> tuple[list[Any], list[str], int]:
    """The array at ``at``: its values, their texts, and the index after it."""
    values: list[Any] = []
    spans: list[str] = []
    at = _skip(text, at + 1)
    if text[at] == "]":
        return values, spans, at + 1
    while True:
        value, end = _raw_decode(text, at)
        values.append(value)
        spans.append(text[at:end])
        at = _skip(text, end)
        if text[at] == ",":
            at = _skip(text, at + 1)
            continue
        if text[at] == "]":
            return values, spans, at + 1
        raise ValueError("malformed array")


def _ended(
    text: str, at: int, body: dict[str, Any], spans: list[str]
) -> tuple[dict[str, Any], list[str]] | None:
    # Only whitespace may follow, as json.loads requires.
    if _skip(text, at) != len(text):
        return None
    return body, spans
