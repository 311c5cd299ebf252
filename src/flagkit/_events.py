"""``$feature_flag_called`` exposure events: building them and remembering which were sent.

Pure: no threads, no I/O. A sync or async client combines :func:`exposure_fingerprint`,
:class:`FingerprintSet` and :func:`flag_called_event` and hands the event to its own sender.

De-duplication follows PostHog's SDK: one event per distinct id, flag key, value and group
context (the sorted ``(group type, group key)`` pairs). Instead of keeping those tuples, each
is reduced to a 64-bit MurmurHash3 fingerprint kept in a fixed-size table of 8-byte slots,
so memory is bounded and known in advance: ``capacity * 8`` bytes (8 MiB by default, for
about a million distinct exposures). A full table forgets its oldest entries first; a
forgotten exposure is simply reported again.
"""

from __future__ import annotations

import uuid as _uuid
from array import array
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import mmh3

from flagkit._remote import encode_json
from flagkit._result import FlagResult, FlagValue, Reason

EVENT_NAME = "$feature_flag_called"
LIB_NAME = "flagkit"
DEFAULT_DEDUPE_CAPACITY = 1 << 20  # slots; 8 bytes each
_BUCKET = 8  # slots per bucket: 64 bytes, one cache line
_SEP = "\x1f"  # a character that does not occur in ordinary keys and ids


def exposure_fingerprint(
    distinct_id: Any, key: str, value: FlagValue | None, groups: Mapping[str, Any] | None
) -> int:
    """The 64-bit identity of one exposure: (distinct id, flag, value, sorted groups).

    Never 0 (0 marks an empty slot in :class:`FingerprintSet`).
    """
    if value is None:
        shown = "n"
    elif isinstance(value, bool):
        shown = "b1" if value else "b0"  # True and the variant "True" differ
    else:
        shown = "s" + value
    parts = [str(distinct_id), key, shown]
    if groups:
        parts.extend(
            f"{name}={group}" for name, group in sorted((str(n), str(g)) for n, g in groups.items())
        )
    fingerprint: int = mmh3.hash64(_SEP.join(parts), signed=False)[0]
    return fingerprint or 1


class FingerprintSet:
    """A bounded set of 64-bit fingerprints in ``capacity * 8`` bytes, allocated on first use.

    The table is split into buckets of 8 slots; a fingerprint lives in the bucket its value
    selects, and a full bucket drops its oldest entry. Not thread-safe: callers that share
    one across threads hold a lock around :meth:`add`.
    """

    def __init__(self, capacity: int = DEFAULT_DEDUPE_CAPACITY) -> None:
        if capacity < _BUCKET:
            raise ValueError(f"dedupe capacity must be at least {_BUCKET}")
        self._buckets = capacity // _BUCKET
        self._slots: array[int] | None = None

    @property
    def capacity(self) -> int:
        """How many fingerprints fit."""
        return self._buckets * _BUCKET

    @property
    def memory_bytes(self) -> int:
        """Bytes the table takes once allocated."""
        return self.capacity * 8

    def add(self, fingerprint: int) -> bool:
        """Remember ``fingerprint``; True if it was new, False if already present."""
        slots = self._slots
        if slots is None:
            slots = self._slots = array("Q", bytes(self.memory_bytes))
        start = (fingerprint % self._buckets) * _BUCKET
        end = start + _BUCKET
        if fingerprint in slots[start:end]:
            return False
        # Newest first: shift the bucket by one and drop its last (oldest) slot.
        slots[start + 1 : end] = slots[start : end - 1]
        slots[start] = fingerprint
        return True

    def __contains__(self, fingerprint: object) -> bool:
        slots = self._slots
        if slots is None or not isinstance(fingerprint, int):
            return False
        start = (fingerprint % self._buckets) * _BUCKET
        return fingerprint in slots[start : start + _BUCKET]

    def clear(self) -> None:
        """Forget everything (and release the table)."""
        self._slots = None


def flag_called_event(
    result: FlagResult,
    distinct_id: Any,
    *,
    groups: Mapping[str, Any] | None = None,
    lib_version: str,
    error: str | None = None,
    request_id: str | None = None,
    evaluated_at: int | None = None,
    timestamp: datetime | None = None,
    event_uuid: str | None = None,
) -> dict[str, Any]:
    """A ``$feature_flag_called`` event for ``result``, shaped like PostHog's SDK's.

    ``locally_evaluated`` is true when the value was decided from the definitions. Flag id
    and version come from the definition or the ``/flags`` metadata; the reason text is
    only sent for remote answers (PostHog's SDK sends none for local ones).
    """
    value = result.value
    key = result.key
    properties: dict[str, Any] = {
        "$feature_flag": key,
        "$feature_flag_response": value,
        "locally_evaluated": value is not None
        and result.reason.decided
        and result.reason is not Reason.REMOTE,
        f"$feature/{key}": value,
    }
    if result.payload is not None:
        properties["$feature_flag_payload"] = result.payload
    if request_id:
        properties["$feature_flag_request_id"] = request_id
    if evaluated_at:
        properties["$feature_flag_evaluated_at"] = evaluated_at
    if result.reason is Reason.REMOTE and result.description:
        properties["$feature_flag_reason"] = result.description
    if result.flag_version:
        properties["$feature_flag_version"] = result.flag_version
    if result.flag_id:
        properties["$feature_flag_id"] = result.flag_id
    if error:
        properties["$feature_flag_error"] = error
    if groups:
        properties["$groups"] = dict(groups)
    properties["$lib"] = LIB_NAME
    properties["$lib_version"] = lib_version
    properties["$geoip_disable"] = True
    when = timestamp or datetime.now(tz=timezone.utc)
    return {
        "event": EVENT_NAME,
        "distinct_id": str(distinct_id),
        "properties": properties,
        "timestamp": when.isoformat(),
        "uuid": event_uuid or str(_uuid.uuid4()),
    }


def reportable(result: FlagResult, distinct_id: Any) -> bool:
    """False for calls that cannot make a valid event (no usable distinct id or key)."""
    if result.reason is Reason.INVALID_INPUT:
        return False
    if distinct_id is None or isinstance(distinct_id, (bool, dict, list)):
        return False
    return str(distinct_id) != "" and isinstance(result.key, str) and result.key != ""


def encode_event(event: Mapping[str, Any]) -> bytes:
    """One event as compact JSON; raises ``ValueError`` only for circular structures."""
    return encode_json(event)


def batch_body(token: str, encoded_events: list[bytes], sent_at: datetime) -> bytes:
    """The ``/batch/`` request body around already-encoded events:
    ``{"api_key", "batch", "historical_migration": false, "sent_at"}``."""
    head = b'{"api_key":' + encode_json(token) + b',"batch":['
    tail = b'],"historical_migration":false,"sent_at":' + encode_json(sent_at.isoformat()) + b"}"
    return head + b",".join(encoded_events) + tail
