"""The getters of both clients, written once.

Each getter only maps its arguments and says how to turn a :class:`FlagResult` (or every
flag's) into its return value; the client's shell does the read: the thread client returns
that value, the asyncio client a coroutine for it (its getters are awaited). So a getter
returns ``bool`` on :class:`flagkit.Client` and ``Awaitable[bool]`` on
:class:`flagkit.AsyncClient`: the type parameters of :class:`Getters` say which.
"""

# The shells' _one/_all return Any (a value, or a coroutine for it); each getter's declared
# type says which, through the class's type parameters.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from flagkit._evaluation.result import FlagResult, FlagValue
from flagkit._remote.fallback import Resolved

Properties = Mapping[str, Any]
# A call's context: person properties, groups, group properties, device id, the call's
# disable_geoip (None: the client's setting; resolved only when /flags is asked), and what
# rules v2 flags read: properties_complete, timezone, now.
Context = tuple[
    Properties | None,
    Mapping[str, Any] | None,
    Mapping[str, Properties] | None,
    str | None,
    bool | None,
    bool,
    str | None,
    datetime | None,
]
OneFinish = Callable[[FlagResult, Any], Any]
# Gets the read's answers: results, or values for a values-only read.
AllFinish = Callable[[dict[str, Any], Any], Any]

ResultT = TypeVar("ResultT")  # FlagResult
ValueT = TypeVar("ValueT")  # FlagValue | None
BoolT = TypeVar("BoolT")  # bool
AnyT = TypeVar("AnyT")  # Any (a payload)
ValuesT = TypeVar("ValuesT")  # dict[str, FlagValue]
ResultsT = TypeVar("ResultsT")  # dict[str, FlagResult]


def result_of(result: FlagResult, default: Any) -> FlagResult:
    """``evaluate``: the whole answer."""
    return result


def value_of(result: FlagResult, default: Any) -> Any:
    """``get_flag``: the value, ``default`` when undecided."""
    value = result.value
    return default if value is None else value


def enabled_of(result: FlagResult, default: bool) -> bool:
    """``is_enabled``: on for ``True`` and any variant, ``default`` when undecided."""
    value = result.value  # FlagResult.enabled, inline: this is every is_enabled()
    return default if value is None else value is not False


def payload_of(result: FlagResult, default: Any) -> Any:
    """``get_payload``: the payload of the caller's value, ``default`` when there is none."""
    return default if result.value is None or result.payload is None else result.payload


def values_of(values: dict[str, FlagValue | None], default: Any) -> dict[str, FlagValue]:
    """``get_all_flags`` (read with ``values_only``): every decided flag's value."""
    # Scanned in C; the undecided (rare) are dropped.
    if None in values.values():
        return {key: value for key, value in values.items() if value is not None}
    return values  # type: ignore[return-value]  # no None in it


def results_of(results: dict[str, FlagResult], default: Any) -> dict[str, FlagResult]:
    """``evaluate_all``: every flag's answer."""
    return results


# One read: key, distinct id, context, only_evaluate_locally, send_events.
Read = tuple[str, str, Context, bool | None, bool]
# Every flag: distinct id, context, only_evaluate_locally, only these keys (``None``: all),
# where to keep the /flags answers (``None``: nowhere), and optionally values only (every
# flag's value, None when undecided, in place of its result).
ReadAll = (
    tuple[str, Context, bool | None, Sequence[str] | None, dict[str, Resolved] | None]
    | tuple[str, Context, bool | None, None, None, bool]
)


class ReadShell:
    """What a client's shell provides to the getters (here and in ``posthog_names``)."""

    def _one(self, read: Read, finish: OneFinish, default: Any) -> Any:
        """Read one flag and return ``finish(result, default)`` (or a coroutine for it)."""
        raise NotImplementedError

    def _all(self, read: ReadAll, finish: AllFinish) -> Any:
        """Read every flag (or only the keys asked for) and return ``finish(results,
        None)`` (or a coroutine for it)."""
        raise NotImplementedError


class Getters(ReadShell, Generic[ResultT, ValueT, BoolT, AnyT, ValuesT, ResultsT]):
    """flagkit's getters, on either client."""

    def evaluate(
        self,
        key: str,
        distinct_id: str,
        *,
        person_properties: Properties | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        device_id: str | None = None,
        disable_geoip: bool | None = None,
        properties_complete: bool = False,
        timezone: str | None = None,
        now: datetime | None = None,
        only_evaluate_locally: bool | None = None,
        send_events: bool = True,
    ) -> ResultT:
        """The full answer for one flag: value, reason, payload. Never raises.

        A flag that cannot be decided locally is asked from PostHog's ``/flags`` unless
        ``only_evaluate_locally`` (``None``: the client's setting). ``send_events=False``
        skips the ``$feature_flag_called`` event. ``properties_complete``, ``timezone``
        and ``now`` are read by rules v2 flags only (see docs/evaluation.md). The same
        holds for the getters below.
        """
        context = (
            person_properties,
            groups,
            group_properties,
            device_id,
            disable_geoip,
            properties_complete,
            timezone,
            now,
        )
        read = (key, distinct_id, context, only_evaluate_locally, send_events)
        return self._one(read, result_of, None)

    def get_flag(
        self,
        key: str,
        distinct_id: str,
        *,
        person_properties: Properties | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        device_id: str | None = None,
        disable_geoip: bool | None = None,
        properties_complete: bool = False,
        timezone: str | None = None,
        now: datetime | None = None,
        default: FlagValue | None = None,
        only_evaluate_locally: bool | None = None,
        send_events: bool = True,
    ) -> ValueT:
        """``True``/``False`` or the variant key; ``default`` when it cannot be decided."""
        context = (
            person_properties,
            groups,
            group_properties,
            device_id,
            disable_geoip,
            properties_complete,
            timezone,
            now,
        )
        read = (key, distinct_id, context, only_evaluate_locally, send_events)
        return self._one(read, value_of, default)

    def is_enabled(
        self,
        key: str,
        distinct_id: str,
        *,
        person_properties: Properties | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        device_id: str | None = None,
        disable_geoip: bool | None = None,
        properties_complete: bool = False,
        timezone: str | None = None,
        now: datetime | None = None,
        default: bool = False,
        only_evaluate_locally: bool | None = None,
        send_events: bool = True,
    ) -> BoolT:
        """True when the flag is on (any variant counts); ``default`` when undecidable."""
        context = (
            person_properties,
            groups,
            group_properties,
            device_id,
            disable_geoip,
            properties_complete,
            timezone,
            now,
        )
        read = (key, distinct_id, context, only_evaluate_locally, send_events)
        return self._one(read, enabled_of, default)

    def get_payload(
        self,
        key: str,
        distinct_id: str,
        *,
        person_properties: Properties | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        device_id: str | None = None,
        disable_geoip: bool | None = None,
        properties_complete: bool = False,
        timezone: str | None = None,
        now: datetime | None = None,
        default: Any = None,
        only_evaluate_locally: bool | None = None,
        send_events: bool = False,
    ) -> AnyT:
        """The decoded payload of the value this caller gets; ``default`` when there is none.

        Sends no event unless ``send_events=True`` (as PostHog's SDK)."""
        context = (
            person_properties,
            groups,
            group_properties,
            device_id,
            disable_geoip,
            properties_complete,
            timezone,
            now,
        )
        read = (key, distinct_id, context, only_evaluate_locally, send_events)
        return self._one(read, payload_of, default)

    def get_all_flags(
        self,
        distinct_id: str,
        *,
        person_properties: Properties | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        device_id: str | None = None,
        disable_geoip: bool | None = None,
        properties_complete: bool = False,
        timezone: str | None = None,
        now: datetime | None = None,
        only_evaluate_locally: bool | None = None,
    ) -> ValuesT:
        """Every flag that could be decided, as ``{key: value}`` (undecided skipped).

        Flags undecidable locally are asked from ``/flags`` in one request. No events."""
        context = (
            person_properties,
            groups,
            group_properties,
            device_id,
            disable_geoip,
            properties_complete,
            timezone,
            now,
        )
        read = (distinct_id, context, only_evaluate_locally, None, None, True)
        return self._all(read, values_of)

    def evaluate_all(
        self,
        distinct_id: str,
        *,
        person_properties: Properties | None = None,
        groups: Mapping[str, Any] | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        device_id: str | None = None,
        disable_geoip: bool | None = None,
        properties_complete: bool = False,
        timezone: str | None = None,
        now: datetime | None = None,
        only_evaluate_locally: bool | None = None,
    ) -> ResultsT:
        """Every flag's :class:`FlagResult`, including undecided ones. Never raises."""
        context = (
            person_properties,
            groups,
            group_properties,
            device_id,
            disable_geoip,
            properties_complete,
            timezone,
            now,
        )
        return self._all((distinct_id, context, only_evaluate_locally, None, None), results_of)
