"""Request body parsing: DRF's strict rules for ``/api/`` and the lenient ones of capture/flags."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import parse_qs

from flagkit.server._errors import LocalServerError, parse_error, validation_error
from flagkit.server._http import MAX_BODY_BYTES, Request
from flagkit.server._inflate import CorruptError, TooLargeError, inflate


def _reject_constant(name: str) -> Any:
    raise ValueError("Out of range float values are not JSON compliant")


def api_body(request: Request) -> dict[str, Any]:
    """The body of an ``/api/`` write as DRF parses it (JSON or form data) -> a dict.

    Malformed JSON is a 400 ``parse_error``; other media types a 415; a body that is
    valid JSON but not an object a 400 ``invalid_input``.
    """
    raw = request.body
    content_type = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
    if not raw.strip():
        return {}
    if content_type in ("", "application/json") or content_type.endswith("+json"):
        try:
            data = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as error:
            raise parse_error(f"JSON parse error - {error}") from None
    elif content_type == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise parse_error("Form data is not valid UTF-8.") from None
        data = {key: _form_value(values[-1]) for key, values in pairs.items()}
    else:
        raise LocalServerError(
            415,
            "invalid_request",
            "unsupported_media_type",
            f'Unsupported media type "{content_type}" in request.',
        )
    if not isinstance(data, dict):
        raise validation_error(
            f"Invalid data. Expected a dictionary, but got {type(data).__name__}.",
            None,
        )
    reject_lone_surrogates(data)
    return data


def _form_value(text: str) -> Any:
    # DRF's JSON fields accept JSON text from forms; plain strings stay strings.
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text


def _lenient_json(text: bytes) -> Any:
    # PostHog's ingestion accepts NaN/Infinity and reads them as null.
    data = json.loads(text, parse_constant=lambda _name: None)
    reject_lone_surrogates(data)
    return data


def ingestion_body(request: Request) -> Any:
    """Decode a ``/flags``, ``/decide`` or capture body: JSON, gzip, base64 or form ``data=``.

    Raises ``ValueError`` when nothing decodes.
    """
    raw = request.body
    compression = (request.arg("compression") or "").lower()
    if compression in ("gzip", "gzip-js") and raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw)
    content_type = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded" or raw.startswith(b"data="):
        pairs = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        raw = (pairs.get("data") or [""])[-1].encode("utf-8")
    stripped = raw.strip()
    if not stripped:
        raise ValueError("empty body")
    if stripped[:1] in (b"{", b"["):
        return _lenient_json(stripped)
    try:
        decoded = base64.b64decode(stripped, validate=False)
    except (binascii.Error, ValueError) as error:
        raise ValueError("body is neither JSON nor base64") from error
    if decoded[:2] == b"\x1f\x8b":
        decoded = _gunzip(decoded)
    return _lenient_json(decoded)


def _gunzip(data: bytes) -> bytes:
    try:
        return inflate(data, MAX_BODY_BYTES)
    except TooLargeError:
        raise LocalServerError(
            413, "invalid_request", "parse_error", "Request body is too large."
        ) from None
    except CorruptError as error:
        raise ValueError("invalid gzip body") from error


def reject_lone_surrogates(data: Any) -> None:
    """A 400 for JSON holding a lone surrogate (``"\\ud83d"``): no text column can store
    it, and PostHog's database refuses it too."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                raise parse_error("JSON parse error - lone surrogate in a string")
        elif isinstance(item, dict):
            for key, value in item.items():
                stack.append(key)
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
