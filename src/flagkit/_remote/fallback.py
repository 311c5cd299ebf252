"""Remote evaluation through PostHog's ``POST /flags?v=2``, for flags local evaluation cannot
decide: the pure part. No I/O, no threads, no clocks.

:func:`build_flags_request` makes the JSON body, :func:`parse_flags_response` turns a
status and body into a :class:`RemoteAnswer` or a :class:`RemoteFailure`, and
:func:`resolve_results` turns that into one :class:`Resolved` per flag. The retry policy is
data too (:func:`should_retry`, :func:`retry_delay`). ``flagkit._remote.core`` drives a
lookup with them; its thread and asyncio drivers do the I/O.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Final

import attrs

from flagkit._evaluation.payloads import decode_payload
from flagkit._evaluation.result import FlagResult, Reason
from flagkit._net.http import error_detail
from flagkit._remote.records import RemoteFlag, RuleAttribution, read_record
from flagkit._remote.request import build_flags_request as build_flags_request
from flagkit._remote.request import encode_json as encode_json
from flagkit._remote.request import rebuild_group_properties as rebuild_group_properties

logger = logging.getLogger("flagkit.client")

FLAGS_PATH = "/flags/?v=2"
DEFAULT_REMOTE_TIMEOUT = 3.0
MAX_RETRIES = 1  # one extra attempt, as PostHog's SDK
RETRY_STATUSES = frozenset({502, 504})
RETRY_BASE_DELAY = 0.3  # seconds before retry n (0-based) is 0.3 * 2**n
MAX_RESPONSE_BYTES = 16 * 1024 * 1024

# Error names, as PostHog's SDK reports them in ``$feature_flag_error``.
QUOTA_LIMITED: Final = "quota_limited"
TIMEOUT: Final = "timeout"
CONNECTION_ERROR: Final = "connection_error"
UNKNOWN_ERROR: Final = "unknown_error"
INVALID_RESPONSE: Final = "invalid_response"
FLAG_MISSING: Final = "flag_missing"
EVALUATION_FAILED: Final = "evaluation_failed"
ERRORS_WHILE_COMPUTING: Final = "errors_while_computing_flags"


# -- pure part: response -----------------------------------------------------------------


@attrs.frozen(slots=True)
class RemoteAnswer:
    """A usable ``/flags`` response."""

    flags: Mapping[str, RemoteFlag]
    request_id: str | None = None
    evaluated_at: int | None = None
    errors_while_computing: bool = False
    # ``minimalFlagCalledEvents``: the server's gate for trimmed exposure events.
    minimal_events: bool = False


@attrs.frozen(slots=True)
class RemoteFailure:
    """No usable answer. ``error`` is PostHog's name for it (``timeout``,
    ``api_error_500``, ...); ``message`` is safe to log; ``retryable`` marks failures that
    one more attempt may fix."""

    error: str
    message: str
    status: int | None = None
    retryable: bool = False


RemoteReply = RemoteAnswer | RemoteFailure


def parse_flags_response(status: int, body: bytes) -> RemoteReply:
    """Interpret one ``/flags`` response (v2 ``flags`` records or the legacy
    ``featureFlags``/``featureFlagPayloads`` maps)."""
    if status != 200:
        detail = error_detail(body)
        message = f"HTTP {status} from /flags" + (f": {detail}" if detail else "")
        return RemoteFailure(
            f"api_error_{status}", message, status=status, retryable=status in RETRY_STATUSES
        )
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return RemoteFailure(INVALID_RESPONSE, "/flags answered 200 with a body that is not JSON")
    if not isinstance(data, dict):
        return RemoteFailure(INVALID_RESPONSE, "/flags answered 200 with a non-object body")
    limited = data.get("quotaLimited")
    if isinstance(limited, list) and "feature_flags" in limited:
        return RemoteFailure(QUOTA_LIMITED, "the feature flag quota is exceeded", status=200)
    if isinstance(data.get("flags"), dict):
        flags = _v2_flags(data["flags"])
    elif isinstance(data.get("featureFlags"), dict):
        flags = _legacy_flags(data["featureFlags"], data.get("featureFlagPayloads"))
    else:
        return RemoteFailure(INVALID_RESPONSE, "/flags answered 200 without a flags object")
    request_id = data.get("requestId")
    evaluated_at = data.get("evaluatedAt")
    return RemoteAnswer(
        flags=flags,
        request_id=request_id if isinstance(request_id, str) else None,
        evaluated_at=evaluated_at if _is_int(evaluated_at) else None,
        errors_while_computing=data.get("errorsWhileComputingFlags") is True,
        minimal_events=data.get("minimalFlagCalledEvents") is True,
    )


def _v2_flags(records: Mapping[str, Any]) -> dict[str, RemoteFlag]:
    return {str(key): read_record(str(key), record) for key, record in records.items()}


def _legacy_flags(values: Mapping[str, Any], payloads: Any) -> dict[str, RemoteFlag]:
    payloads = payloads if isinstance(payloads, Mapping) else {}
    flags: dict[str, RemoteFlag] = {}
    for key, value in values.items():
        if isinstance(value, bool) or (isinstance(value, str) and value):
            flags[key] = RemoteFlag(key=key, value=value, payload=decode_payload(payloads.get(key)))
    return flags


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def should_retry(reply: RemoteReply, failed_attempts: int) -> bool:
    """True when ``reply`` is worth one more attempt after ``failed_attempts`` failures."""
    return isinstance(reply, RemoteFailure) and reply.retryable and failed_attempts <= MAX_RETRIES


def retry_delay(failed_attempts: int) -> float:
    """Seconds to wait before the next attempt (``failed_attempts`` >= 1)."""
    return RETRY_BASE_DELAY * float(2 ** max(failed_attempts - 1, 0))


# -- pure part: results ------------------------------------------------------------------


@attrs.frozen(slots=True)
class Resolved:
    """A flag's final result plus what a ``$feature_flag_called`` event reports about the
    remote lookup behind it (all ``None`` for a local answer)."""

    result: FlagResult
    error: str | None = None
    request_id: str | None = None
    evaluated_at: int | None = None
    # From a /flags record: the rule behind the answer (config version 2), the server's
    # experiment signal, and its minimal-events gate. Local reads look these up when the
    # event is built (see ExposureReporter.local_meta).
    attribution: RuleAttribution | None = None
    has_experiment: bool | None = None
    minimal_events: bool = False

    @property
    def remote(self) -> bool:
        """True when the value came from ``/flags``."""
        return self.result.reason is Reason.REMOTE


def resolve_results(
    local: Mapping[str, FlagResult] | None, reply: RemoteReply
) -> dict[str, Resolved]:
    """Merge a ``/flags`` reply into the undecided local results.

    ``local`` maps each key that was asked about to its local (undecided) result; ``None``
    means every flag was asked for (no definitions yet), and then the answer's flags are
    returned (nothing on failure). A flag the answer lacks is ``FLAG_NOT_FOUND`` when it was
    unknown locally too, else ``REMOTE_ERROR``; so is a record the server marked failed.
    """
    if local is None:
        if isinstance(reply, RemoteFailure):
            return {}
        return {
            key: _remote_result(flag, reply) for key, flag in reply.flags.items() if not flag.failed
        }
    if isinstance(reply, RemoteFailure):
        text = f"{reply.error}: {reply.message}"
        return {key: Resolved(error_result(key, text), reply.error) for key in local}
    resolved: dict[str, Resolved] = {}
    for key, before in local.items():
        flag = reply.flags.get(key)
        if flag is None:
            resolved[key] = _missing(key, before, reply)
        elif flag.malformed is not None:
            # Like a failed request: an unknown error, and no request details.
            text = f"{UNKNOWN_ERROR}: the /flags record has a malformed {flag.malformed!r}"
            resolved[key] = Resolved(error_result(key, text), UNKNOWN_ERROR)
        elif flag.failed:
            detail = flag.description or "no reason given"
            text = f"{EVALUATION_FAILED}: PostHog could not evaluate this flag ({detail})"
            resolved[key] = Resolved(
                error_result(key, text, flag),
                _join(EVALUATION_FAILED, reply),
                reply.request_id,
                attribution=flag.attribution,
                has_experiment=flag.has_experiment,
                minimal_events=reply.minimal_events,
            )
        else:
            resolved[key] = _remote_result(flag, reply)
    return resolved


def _remote_result(flag: RemoteFlag, reply: RemoteAnswer) -> Resolved:
    result = FlagResult(
        key=flag.key,
        value=flag.value,
        reason=Reason.REMOTE,
        payload=flag.payload,
        condition_index=flag.condition_index,
        description=flag.description or "evaluated by PostHog's /flags",
        flag_id=flag.flag_id,
        flag_version=flag.version,
    )
    error = ERRORS_WHILE_COMPUTING if reply.errors_while_computing else None
    return Resolved(
        result,
        error,
        reply.request_id,
        reply.evaluated_at,
        attribution=flag.attribution,
        has_experiment=flag.has_experiment,
        minimal_events=reply.minimal_events,
    )


def _missing(key: str, before: FlagResult, reply: RemoteAnswer) -> Resolved:
    if before.reason in (Reason.FLAG_NOT_FOUND, Reason.NOT_READY):
        result = FlagResult(
            key, None, Reason.FLAG_NOT_FOUND, description="no flag with this key, here or on /flags"
        )
    else:
        result = error_result(
            key, f"{FLAG_MISSING}: /flags did not return this flag (inactive or deleted there?)"
        )
    return Resolved(result, _join(FLAG_MISSING, reply), reply.request_id, reply.evaluated_at)


def _join(error: str, reply: RemoteAnswer) -> str:
    return f"{ERRORS_WHILE_COMPUTING},{error}" if reply.errors_while_computing else error


def error_result(key: str, description: str, flag: RemoteFlag | None = None) -> FlagResult:
    return FlagResult(
        key,
        None,
        Reason.REMOTE_ERROR,
        description=description,
        flag_id=None if flag is None else flag.flag_id,
        flag_version=None if flag is None else flag.version,
    )


# No value, but nothing to ask: a caller mistake, or a rules v2 flag whose default is null
# (decided: the caller's default applies).
_ANSWERED_WITHOUT_VALUE = frozenset(
    {
        Reason.INVALID_INPUT,
        Reason.TARGETING_MATCH,
        Reason.ROLLOUT_MISS,
        Reason.NO_RULE_MATCH,
        Reason.EXPERIMENT_SPLIT,
    }
)


def needs_remote(result: FlagResult) -> bool:
    """True for results a remote lookup may decide: no value, and not a caller mistake or
    a decided null."""
    return result.value is None and result.reason not in _ANSWERED_WITHOUT_VALUE
