"""Checks of a client constructor's options, before anything is built.

Each failure names the option and what it must be: ``TypeError`` for a value of the wrong
type (``poll_interval="5"``), ``ValueError`` for one out of range or empty. A key's value
is never quoted, only its name.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Mapping
from typing import Any

KEY_OPTIONS = ("project_api_key", "personal_api_key", "secret_api_key")

# Options that must be a positive number of seconds (or a positive size).
_POSITIVE_SECONDS = (
    "poll_interval",
    "timeout",
    "backoff_base",
    "backoff_max",
    "unauthorized_retry_interval",
    "remote_timeout",
    "event_flush_interval",
)
_POSITIVE_COUNTS = ("max_body_bytes", "event_queue_size", "event_batch_size", "dedupe_capacity")
_FLAGS = ("only_evaluate_locally", "send_events", "disable_geoip")


def check_options(args: Mapping[str, Any]) -> None:
    """Raise ``TypeError``/``ValueError`` naming the first invalid option in ``args`` (a
    constructor's ``locals()``); options a client does not take are skipped."""
    for name in KEY_OPTIONS:
        _check_key(name, args.get(name))
    host = args["host"]
    _expect(isinstance(host, str), "host", "a string")
    if not host.strip().startswith(("http://", "https://")):
        raise ValueError("host must start with http:// or https://")
    for name in _POSITIVE_SECONDS:
        _check_positive(name, args[name], _is_number)
    for name in _POSITIVE_COUNTS:
        _check_positive(name, args[name], _is_int)
    jitter = args["poll_jitter"]
    _expect(_is_number(jitter), "poll_jitter", "a number")
    if not 0 <= jitter <= 1:
        raise ValueError("poll_jitter must be between 0 and 1")
    if args["backoff_max"] < args["backoff_base"]:
        raise ValueError("backoff_max must be at least backoff_base")
    for name in _FLAGS:
        _expect(isinstance(args[name], bool), name, "True or False")
    if args["on_quota_limited"] not in ("clear", "keep"):
        raise ValueError('on_quota_limited must be "clear" or "keep"')
    path = args["definitions_path"]
    _expect(isinstance(path, str), "definitions_path", "a string")
    if not path.startswith("/"):
        raise ValueError('definitions_path must start with "/"')
    project_id = args["project_id"]
    _expect(
        project_id is None or (_is_int(project_id) or isinstance(project_id, str)),
        "project_id",
        "an int, a string or None",
    )
    for name in ("cache_path", "shared_cache_dir"):
        value = args.get(name)
        _expect(value is None or isinstance(value, (str, os.PathLike)), name, "a path or None")
    if args.get("shared_cache_dir") is not None and args.get("store") is not None:
        raise ValueError("pass shared_cache_dir= or store=, not both")
    clock: Callable[[], float] | None = args["clock"]
    _expect(clock is None or callable(clock), "clock", "a callable or None")
    _expect(
        args["random"] is None or isinstance(args["random"], random.Random),
        "random",
        "a random.Random or None",
    )
    sink = args.get("events_sink")
    _expect(
        sink is None or callable(getattr(sink, "capture", None)),
        "events_sink",
        "a posthog-python client (an object with capture()) or None",
    )


def _check_key(name: str, key: Any) -> None:
    if key is None:
        return
    _expect(isinstance(key, str), name, "a string or None")
    if not key.strip():
        # Usually an unset environment variable: a silently disabled client would hide it.
        raise ValueError(f"{name} is empty; pass None (or leave it out) for no key")


def _check_positive(name: str, value: Any, kind: Callable[[Any], bool]) -> None:
    _expect(kind(value), name, "an int" if kind is _is_int else "a number")
    if not value > 0 or (isinstance(value, float) and math.isinf(value)):
        raise ValueError(f"{name} must be positive and finite")


def _is_number(value: Any) -> bool:
    # bool is an int subclass, but True seconds is a mistake, not a setting.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _expect(ok: bool, name: str, what: str) -> None:
    if not ok:
        raise TypeError(f"{name} must be {what}")
