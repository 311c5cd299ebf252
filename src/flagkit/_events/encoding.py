"""Turning queued events into the JSON of a ``/batch/`` request, on the sender's side.

A read that makes a new exposure queues a :class:`PendingExposure` (a small tuple) instead
of an event: building the event dict, its timestamp text, its uuid and its JSON is left to
the sender, so the reading thread does almost nothing past de-duplication.

The sender encodes those in bulk. Without groups, two exposures of the same answer (the
same shared ``FlagResult`` with the same lookup metadata) differ only in distinct id,
timestamp and uuid, so each answer's event is encoded once into a template and each
exposure only fills those three slots in: a fraction of a ``json.dumps`` per event.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from json.encoder import encode_basestring_ascii
from typing import Any, NamedTuple

from flagkit._evaluation.result import FlagResult
from flagkit._events.flag_events import flag_called_event
from flagkit._remote.fallback import Resolved, encode_json

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # in a str, every surrogate is lone
_TEMPLATE_LIMIT = 1024  # answers whose templates are kept; dropped whole when full
# Stands for a slot while a template is encoded. A flag key or payload holding it (as
# its JSON) only costs that answer its template: a template must hold exactly 3 marks.
_MARK = "\x00flagkit-slot\x00"
_MARK_JSON = encode_basestring_ascii(_MARK)


class PendingExposure(NamedTuple):
    """A new ``$feature_flag_called`` exposure without groups, as the reading thread records
    it; :func:`encode_events` builds and encodes its event. A tuple: one is made per new
    exposure, on the read path, and it holds less memory in the queue than the JSON."""

    resolved: Resolved
    distinct_id: str
    disable_geoip: bool
    lib_version: str
    at: float  # time.time() of the read: the event's timestamp

    def event(self) -> dict[str, Any]:
        """The event as :func:`flagkit._events.flag_events.flag_called_event` builds it."""
        return flag_called_event(
            self.resolved,
            self.distinct_id,
            lib_version=self.lib_version,
            disable_geoip=self.disable_geoip,
            timestamp=datetime.fromtimestamp(self.at, tz=timezone.utc),
        )


def encode_event(event: Mapping[str, Any]) -> bytes:
    """One event as compact JSON; raises ``ValueError`` only for circular structures.

    A lone surrogate (a broken UTF-16 pair, as ``json.loads`` can produce) becomes U+FFFD:
    an escaped lone surrogate is invalid Unicode that capture servers reject, along with
    the rest of the batch.
    """
    encoded = encode_json(event)
    if b"\\ud" in encoded:  # escapes of astral characters, or of lone surrogates
        encoded = encode_json(_without_lone_surrogates(event))
    return encoded


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, Mapping):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_lone_surrogates(item) for item in value]
    return value


class _Template(NamedTuple):
    result: FlagResult  # kept alive, so that its id() keys no other answer meanwhile
    resolved: Resolved
    disable_geoip: bool
    lib_version: str
    parts: tuple[str, str, str, str] | None  # None: this answer cannot have one

    def fits(self, pending: PendingExposure) -> bool:
        # The result is the same object already: compare the rest of what the event shows.
        mine, theirs = self.resolved, pending.resolved
        return (
            mine.attribution == theirs.attribution
            and mine.has_experiment == theirs.has_experiment
            and mine.minimal_events == theirs.minimal_events
            and mine.error == theirs.error
            and mine.evaluated_at == theirs.evaluated_at
            and self.disable_geoip == pending.disable_geoip
            and self.lib_version == pending.lib_version
        )


class EventEncoder:
    """Encodes a batch of queued events; keeps the templates of recent answers. Used by one
    sender at a time (its thread or task): not thread-safe."""

    def __init__(self) -> None:
        self._templates: dict[int, _Template] = {}

    def encode(self, batch: list[Mapping[str, Any] | bytes | PendingExposure]) -> list[bytes]:
        """The events as JSON (already encoded ones pass through), as :func:`encode_event`
        gives them; one that cannot be encoded is left out (the caller counts it)."""
        ids = iter(_uuid4_texts(sum(isinstance(item, PendingExposure) for item in batch)))
        encoded: list[bytes] = []
        for item in batch:
            if isinstance(item, bytes):
                encoded.append(item)
                continue
            try:
                if isinstance(item, PendingExposure):
                    encoded.append(self._encode_pending(item, next(ids)))
                else:
                    encoded.append(encode_event(item))
            except (ValueError, TypeError, RecursionError):
                continue
        return encoded

    def _encode_pending(self, item: PendingExposure, event_id: str) -> bytes:
        parts = self._parts(item)
        if parts is None:
            event = item.event()
            event["uuid"] = event_id
            return encode_event(event)
        name = encode_basestring_ascii(item.distinct_id)
        if "\\ud" in name:  # as encode_event: a lone surrogate becomes U+FFFD
            name = encode_basestring_ascii(_LONE_SURROGATE.sub("\ufffd", item.distinct_id))
        when = datetime.fromtimestamp(item.at, tz=timezone.utc).isoformat()
        start, middle, before_uuid, end = parts
        return f'{start}{name}{middle}"{when}"{before_uuid}"{event_id}"{end}'.encode("ascii")

    def _parts(self, item: PendingExposure) -> tuple[str, str, str, str] | None:
        resolved = item.resolved
        if resolved.request_id is not None:
            return None  # a remote answer: its request id makes every template a new one
        result = resolved.result
        template = self._templates.get(id(result))
        if template is None or template.result is not result or not template.fits(item):
            if len(self._templates) >= _TEMPLATE_LIMIT:
                self._templates.clear()
            template = _Template(
                result, resolved, item.disable_geoip, item.lib_version, _template_parts(item)
            )
            self._templates[id(result)] = template
        return template.parts


def _template_parts(item: PendingExposure) -> tuple[str, str, str, str] | None:
    event = item._replace(distinct_id=_MARK).event()
    event["timestamp"] = event["uuid"] = _MARK
    parts = encode_event(event).decode("ascii").split(_MARK_JSON)
    if len(parts) != 4:
        return None
    start, middle, before_uuid, end = parts
    return start, middle, before_uuid, end


def _uuid4_texts(count: int) -> list[str]:
    """``count`` random version 4 UUIDs as text (as ``str(uuid.uuid4())``), from one read of
    ``os.urandom``."""
    digits = os.urandom(16 * count).hex()
    texts: list[str] = []
    for start in range(0, 32 * count, 32):
        h = digits[start : start + 32]
        variant = "89ab"[int(h[16], 16) & 3]  # RFC 4122 variant: 10xx
        texts.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}")
    return texts
