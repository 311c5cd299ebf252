"""An OpenFeature provider backed by :class:`flagkit.Client`.

Install with ``pip install 'flagkit[openfeature]'``, then::

    from openfeature import api
    from flagkit.openfeature import FlagkitProvider

    api.set_provider(FlagkitProvider(project_api_key=..., personal_api_key=..., host=...))
    client = api.get_client()
    client.get_boolean_value("new-checkout", False, EvaluationContext("user-42", {"plan": "pro"}))

See docs/openfeature.md for how results, contexts and events are mapped.
"""

from __future__ import annotations

import enum
import logging
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

import attrs

try:
    from openfeature.event import ProviderEventDetails
    from openfeature.exception import (
        ErrorCode,
        GeneralError,
        ProviderFatalError,
        ProviderNotReadyError,
    )
    from openfeature.flag_evaluation import FlagResolutionDetails
    from openfeature.flag_evaluation import Reason as OFReason
    from openfeature.provider import AbstractProvider
    from openfeature.provider.metadata import Metadata
except ImportError as exc:  # pragma: no cover - exercised in a test that hides the package
    raise ImportError(
        "flagkit.openfeature needs the OpenFeature SDK (the openfeature-sdk package): "
        "pip install 'flagkit[openfeature]'"
    ) from exc

from flagkit._client.sync_client import Client
from flagkit._evaluation.result import FlagResult, Reason
from flagkit._status import ClientStatus, State

if TYPE_CHECKING:  # names used only in annotations (not all exist in older SDKs)
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.flag_evaluation import FlagMetadata, FlagValueType

    ObjectValue = Sequence[FlagValueType] | Mapping[str, FlagValueType]

__all__ = ["RESERVED_ATTRIBUTES", "FlagkitProvider"]

logger = logging.getLogger("flagkit.openfeature")

#: Evaluation-context attributes that are not person properties.
RESERVED_ATTRIBUTES = frozenset({"groups", "group_properties", "device_id"})

PROVIDER_NAME = "flagkit"

T = TypeVar("T")

# flagkit reasons for a decided value, as OpenFeature reasons. A matched condition (also a
# holdout or an early-access enrollment) is targeting; "off for this caller" is the flag's
# default; REMOTE answers come from PostHog's servers without a why.
_DECIDED_REASONS: Mapping[Reason, str] = {
    Reason.CONDITION_MATCH: OFReason.TARGETING_MATCH,
    Reason.HOLDOUT: OFReason.TARGETING_MATCH,
    Reason.FEATURE_ENROLLMENT: OFReason.TARGETING_MATCH,
    Reason.NO_CONDITION_MATCH: OFReason.DEFAULT,
    Reason.OUT_OF_ROLLOUT: OFReason.DEFAULT,
    Reason.GROUP_NOT_PROVIDED: OFReason.DEFAULT,
    Reason.DISABLED: OFReason.DISABLED,
    Reason.REMOTE: OFReason.UNKNOWN,
}

# flagkit reasons for an undecided value (value None), as OpenFeature error codes.
_ERROR_CODES: Mapping[Reason, ErrorCode] = {
    Reason.FLAG_NOT_FOUND: ErrorCode.FLAG_NOT_FOUND,
    Reason.NOT_READY: ErrorCode.PROVIDER_NOT_READY,
    Reason.MISSING_CONTEXT: ErrorCode.INVALID_CONTEXT,
    Reason.INVALID_INPUT: ErrorCode.INVALID_CONTEXT,
    Reason.INVALID_DEFINITION: ErrorCode.PARSE_ERROR,
    Reason.UNSUPPORTED_DEFINITION: ErrorCode.GENERAL,
    Reason.REQUIRES_SERVER: ErrorCode.GENERAL,
    Reason.UNRESOLVED_DEPENDENCY: ErrorCode.GENERAL,
    Reason.REMOTE_ERROR: ErrorCode.GENERAL,
}


class _Health(enum.Enum):
    """What the provider last told OpenFeature about itself."""

    NOT_READY = "not ready"
    READY = "ready"
    STALE = "stale"
    ERROR = "error"
    FATAL = "fatal"


def _health(status: ClientStatus, *, loaded: bool = False) -> _Health:
    """The provider health a client status means (``loaded``: definitions were just published)."""
    state = status.state
    if state in (State.UNAUTHORIZED, State.QUOTA_LIMITED):
        return _Health.ERROR
    if not (status.ready or loaded):
        # A closed client that never loaded anything will never answer.
        return _Health.FATAL if state is State.CLOSED else _Health.NOT_READY
    if state in (State.STALE, State.CLOSED):
        return _Health.STALE  # still answering, but no longer kept fresh
    return _Health.READY


@attrs.frozen(slots=True)
class _Failure:
    code: ErrorCode
    message: str
    metadata: FlagMetadata = attrs.field(factory=dict)


# A caller: the targeting key and the evaluate() keywords of its context.
_Inputs = tuple[str, dict[str, Any]]


class FlagkitProvider(AbstractProvider):
    """OpenFeature provider that evaluates PostHog flags locally through a flagkit Client.

    Either wrap an existing client (``FlagkitProvider(client)``; :meth:`shutdown` leaves it
    open) or pass :class:`flagkit.Client` keyword arguments to have the provider create one
    (``FlagkitProvider(project_api_key=..., personal_api_key=...)``; :meth:`shutdown` closes
    it).

    ``init_timeout`` is how long :meth:`initialize` waits for the first definitions before
    reporting ``PROVIDER_NOT_READY`` (the provider still turns ready, with a
    ``PROVIDER_READY`` event, when they arrive). ``status_interval`` is how often, in
    seconds, the client's sync state is checked to emit ``PROVIDER_STALE``,
    ``PROVIDER_ERROR`` and recovery ``PROVIDER_READY`` events.
    """

    def __init__(
        self,
        client: Client | None = None,
        *,
        init_timeout: float = 10.0,
        status_interval: float = 1.0,
        **client_options: Any,
    ) -> None:
        super().__init__()
        if client is not None and client_options:
            raise ValueError("pass either an existing client or Client options, not both")
        if not init_timeout >= 0:
            raise ValueError("init_timeout must not be negative")
        if not status_interval > 0:
            raise ValueError("status_interval must be positive")
        self._owns_client = client is None
        self._client = client if client is not None else Client(**client_options)
        self._init_timeout = float(init_timeout)
        self._status_interval = float(status_interval)
        self._lock = threading.Lock()
        self._active = False  # events flow only between initialize() and shutdown()
        self._reported = _Health.NOT_READY
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def client(self) -> Client:
        """The flagkit client answering the evaluations."""
        return self._client

    def get_metadata(self) -> Metadata:
        """Provider metadata: the name ``"flagkit"``."""
        return Metadata(name=PROVIDER_NAME)

    def __repr__(self) -> str:
        return f"<FlagkitProvider client={self._client!r}>"

    # -- lifecycle --------------------------------------------------------------------------

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        """Wait up to ``init_timeout`` for definitions; raise if they are not there.

        Raising makes OpenFeature emit ``PROVIDER_ERROR`` (``PROVIDER_FATAL`` for a client
        that is closed or was given neither keys nor bootstrap).
        """
        self._stop_events()  # in case of a second initialize() without shutdown()
        # Subscribe first so no change after the wait is missed; changes during the wait
        # are covered by the READY event OpenFeature emits when this returns.
        unsubscribe = self._client.on_change(self._on_change, include_first_load=True)
        with self._lock:
            self._unsubscribe = unsubscribe
        self._client.wait_until_ready(self._init_timeout)
        status = self._client.status
        health = _health(status)
        # A client that is ready but already failing still starts READY (OpenFeature emits it
        # when initialize returns); the watcher reports STALE/ERROR at its first look.
        with self._lock:
            self._reported = _Health.READY if status.ready else health
            self._active = True
            self._stop = threading.Event()
        self._start_watcher()
        if status.ready:
            return
        detail = f" (last error: {status.last_error})" if status.last_error else ""
        if health is _Health.FATAL:
            raise ProviderFatalError(f"the flagkit client is {status.state}{detail}")
        if health is _Health.ERROR:
            raise GeneralError(f"the flagkit client is {status.state}{detail}")
        raise ProviderNotReadyError(
            f"no flag definitions after {self._init_timeout:g}s "
            f"(client state {status.state}){detail}"
        )

    def shutdown(self) -> None:
        """Stop emitting events; close the client if this provider created it."""
        self._stop_events()
        if self._owns_client:
            self._client.close()

    def _stop_events(self) -> None:
        with self._lock:
            self._active = False
            self._stop.set()
            watcher, self._watcher = self._watcher, None
            unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout=2.0)

    def _start_watcher(self) -> None:
        thread = threading.Thread(
            target=_watch,
            args=(weakref.ref(self), self._stop, self._status_interval),
            name="flagkit-openfeature-status",
            daemon=True,
        )
        with self._lock:
            self._watcher = thread
        thread.start()

    def _on_change(self, changed_keys: frozenset[str]) -> None:
        with self._lock:
            if not self._active:
                return
            was_serving = self._reported in (_Health.READY, _Health.STALE)
            # Listeners run before the client marks itself ready: say READY now rather
            # than at the watcher's next look.
            self._sync_locked(loaded=True)
            if was_serving:
                # The first load after a failed initialize is announced by READY alone.
                self.emit_provider_configuration_changed(
                    ProviderEventDetails(flags_changed=sorted(changed_keys))
                )

    def _sync_status(self) -> None:
        with self._lock:
            if self._active:
                self._sync_locked()

    def _sync_locked(self, *, loaded: bool = False) -> None:
        status = self._client.status
        health = _health(status, loaded=loaded)
        if health is self._reported:
            return
        self._reported = health
        message = status.last_error or f"flagkit client state: {status.state}"
        if health is _Health.READY:
            self.emit_provider_ready(ProviderEventDetails(message=message))
        elif health is _Health.STALE:
            self.emit_provider_stale(ProviderEventDetails(message=message))
        else:
            code = {
                _Health.FATAL: ErrorCode.PROVIDER_FATAL,
                _Health.NOT_READY: ErrorCode.PROVIDER_NOT_READY,
            }.get(health, ErrorCode.GENERAL)
            self.emit_provider_error(ProviderEventDetails(message=message, error_code=code))

    # -- resolution -------------------------------------------------------------------------

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        """``True`` when the flag is on for this context (any variant counts)."""
        outcome = self._evaluate(flag_key, evaluation_context)
        if isinstance(outcome, _Failure):
            return _failed(default_value, outcome)
        return FlagResolutionDetails(
            value=outcome.enabled,
            reason=_DECIDED_REASONS.get(outcome.reason, OFReason.UNKNOWN),
            variant=_variant(outcome),
            flag_metadata=_metadata(outcome),
        )

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        """The variant key of a multivariate flag; ``default_value`` when it is off."""
        outcome = self._evaluate(flag_key, evaluation_context)
        if isinstance(outcome, _Failure):
            return _failed(default_value, outcome)
        variant = outcome.variant
        if variant is not None:
            return _resolved(variant, outcome)
        if outcome.value is True or not self._is_multivariate(flag_key):
            # Boolean flags have no string value; judged by definition, not by this
            # caller's value, so every caller gets the same error.
            return _failed(
                default_value,
                _Failure(
                    ErrorCode.TYPE_MISMATCH,
                    f"flag {flag_key!r} is a boolean flag; it has no string variant",
                    _metadata(outcome),
                ),
            )
        return _fallback(default_value, outcome)

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        """The flag's payload for this context, when it is a whole number."""
        return self._resolve_payload(flag_key, default_value, evaluation_context, _as_int)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        """The flag's payload for this context, when it is a number."""
        return self._resolve_payload(flag_key, default_value, evaluation_context, _as_float)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: ObjectValue,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[ObjectValue]:
        """The flag's payload for this context, when it is a JSON object or array."""
        return self._resolve_payload(flag_key, default_value, evaluation_context, _as_object)

    def _resolve_payload(
        self,
        flag_key: str,
        default_value: T,
        evaluation_context: EvaluationContext | None,
        convert: Callable[[object], tuple[T | None, str]],
    ) -> FlagResolutionDetails[T]:
        outcome = self._evaluate(flag_key, evaluation_context)
        if isinstance(outcome, _Failure):
            return _failed(default_value, outcome)
        if outcome.payload is None:
            return _fallback(default_value, outcome)
        converted, expected = convert(outcome.payload)
        if converted is None:
            kind = type(outcome.payload).__name__
            return _failed(
                default_value,
                _Failure(
                    ErrorCode.TYPE_MISMATCH,
                    f"the payload of flag {flag_key!r} is a {kind}, not {expected}",
                    _metadata(outcome),
                ),
            )
        return _resolved(converted, outcome)

    def _evaluate(self, flag_key: str, context: EvaluationContext | None) -> FlagResult | _Failure:
        inputs = _inputs(context)
        if isinstance(inputs, _Failure):
            return inputs
        distinct_id, keywords = inputs
        result = self._client.evaluate(
            flag_key,
            distinct_id,
            **keywords,
            # The provider's promise (docs/openfeature.md): an evaluation never waits on the
            # network and sends no exposure events, whatever the Client's own defaults.
            only_evaluate_locally=True,
            send_events=False,
        )
        if result.value is None:
            code = _ERROR_CODES.get(result.reason, ErrorCode.GENERAL)
            message = result.description or f"flag {flag_key!r}: {result.reason}"
            return _Failure(code, message, _metadata(result))
        return result

    def _is_multivariate(self, flag_key: str) -> bool:
        snapshot = self._client.snapshot
        flag = snapshot.compiled(flag_key) if snapshot is not None else None
        if flag is not None and flag.rules_v2 is None:
            # From the compiled flag: a client keeps its definitions compact, and decoding
            # one per call would cost more than the evaluation.
            return flag.has_variants or flag.variant_keys_broken
        definition = snapshot.definition(flag_key) if snapshot is not None else None
        if definition is None:
            return True  # unknown here: give the benefit of the doubt (no error)
        filters = definition.get("filters")
        multivariate = filters.get("multivariate") if isinstance(filters, Mapping) else None
        return isinstance(multivariate, Mapping) and bool(multivariate.get("variants"))


def _watch(ref: weakref.ref[FlagkitProvider], stop: threading.Event, interval: float) -> None:
    # Holds the provider weakly so a provider dropped without shutdown() lets this end.
    while not stop.wait(interval):
        provider = ref()
        if provider is None:
            return
        try:
            provider._sync_status()
        except Exception:  # a failing event dispatch must not end the watcher
            logger.debug("flagkit: error while reporting provider status", exc_info=True)
        del provider


def _inputs(context: EvaluationContext | None) -> _Inputs | _Failure:
    """Split an evaluation context into the Client's arguments."""
    if context is None or not context.targeting_key:
        return _Failure(
            ErrorCode.TARGETING_KEY_MISSING,
            "the evaluation context has no targeting_key (the PostHog distinct_id)",
        )
    key: object = context.targeting_key  # typed str, but callers can pass anything
    if not isinstance(key, str):
        return _Failure(ErrorCode.INVALID_CONTEXT, "targeting_key must be a string")
    attributes = context.attributes or {}
    person = {k: v for k, v in attributes.items() if k not in RESERVED_ATTRIBUTES}
    groups = attributes.get("groups")
    if groups is not None and not _is_str_mapping(groups):
        return _Failure(
            ErrorCode.INVALID_CONTEXT,
            'the "groups" attribute must map group type names to group keys',
        )
    group_properties = attributes.get("group_properties")
    if group_properties is not None and not _is_properties_by_group(group_properties):
        return _Failure(
            ErrorCode.INVALID_CONTEXT,
            'the "group_properties" attribute must map group type names to property maps',
        )
    device_id = attributes.get("device_id")
    if device_id is not None and not isinstance(device_id, str):
        return _Failure(ErrorCode.INVALID_CONTEXT, 'the "device_id" attribute must be a string')
    keywords: dict[str, Any] = {
        "person_properties": person,
        "groups": groups,
        "group_properties": group_properties,
        "device_id": device_id,
    }
    return key, keywords


def _is_str_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(value, Mapping) and all(isinstance(k, str) for k in value)


def _is_properties_by_group(value: object) -> TypeGuard[Mapping[str, Mapping[str, Any]]]:
    return _is_str_mapping(value) and all(_is_str_mapping(v) for v in value.values())


def _variant(result: FlagResult) -> str:
    variant = result.variant
    if variant is not None:
        return variant
    return "true" if result.enabled else "false"


def _metadata(result: FlagResult) -> FlagMetadata:
    metadata: dict[str, bool | int | float | str] = {"reason": result.reason.value}
    if result.description:
        metadata["description"] = result.description
    if result.condition_index is not None:
        metadata["condition_index"] = result.condition_index
    if result.flag_id is not None:
        metadata["flag_id"] = result.flag_id
    if result.flag_version is not None:
        metadata["flag_version"] = result.flag_version
    return metadata


def _resolved(value: T, result: FlagResult) -> FlagResolutionDetails[T]:
    return FlagResolutionDetails(
        value=value,
        reason=_DECIDED_REASONS.get(result.reason, OFReason.UNKNOWN),
        variant=_variant(result),
        flag_metadata=_metadata(result),
    )


def _fallback(default_value: T, result: FlagResult) -> FlagResolutionDetails[T]:
    """The caller's default for a decided flag that has no value of the requested type."""
    reason = OFReason.DISABLED if result.reason is Reason.DISABLED else OFReason.DEFAULT
    return FlagResolutionDetails(
        value=default_value,
        reason=reason,
        variant=_variant(result),
        flag_metadata=_metadata(result),
    )


def _failed(default_value: T, failure: _Failure) -> FlagResolutionDetails[T]:
    return FlagResolutionDetails(
        value=default_value,
        reason=OFReason.ERROR,
        error_code=failure.code,
        error_message=failure.message,
        flag_metadata=failure.metadata,
    )


def _as_int(payload: object) -> tuple[int | None, str]:
    if isinstance(payload, int) and not isinstance(payload, bool):
        return payload, "an integer"
    if isinstance(payload, float) and payload.is_integer():
        return int(payload), "an integer"
    return None, "an integer"


def _as_float(payload: object) -> tuple[float | None, str]:
    if isinstance(payload, (int, float)) and not isinstance(payload, bool):
        try:
            return float(payload), "a number"
        except OverflowError:  # an integer too large for a float
            return None, "a number in float range"
    return None, "a number"


def _as_object(payload: object) -> tuple[ObjectValue | None, str]:
    if isinstance(payload, (dict, list)):
        return payload, "a JSON object or array"
    return None, "a JSON object or array"
