"""posthog-python's feature-flag methods, with its names and signatures, on flagkit's clients.

Moving from posthog-python is then a changed import: ``get_feature_flag``,
``feature_enabled``, ``get_feature_flag_payload``, ``get_feature_flag_result``,
``get_all_flags_and_payloads`` and ``load_feature_flags`` behave as posthog-python's do
(``get_all_flags`` is flagkit's own, which already takes the same arguments), and
``evaluate_flags`` (see ``flag_evaluations``). Each is a thin mapping onto flagkit's getters;
see docs/migrating-from-posthog.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Protocol

from flagkit._client.flag_evaluations import FlagEvaluations
from flagkit._evaluation.result import FlagResult, FlagValue
from flagkit._evaluation.snapshot import Snapshot
from flagkit._remote.fallback import Resolved

Properties = Mapping[str, Any]


class Client(Protocol):
    """What the methods below use of :class:`flagkit.Client`."""

    @property
    def snapshot(self) -> Snapshot | None: ...
    def evaluate(self, *args: Any, **kwargs: Any) -> FlagResult: ...
    def evaluate_all(self, *args: Any, **kwargs: Any) -> dict[str, FlagResult]: ...
    def refresh(self, timeout: float | None = ...) -> bool: ...
    def _evaluate_all(
        self,
        distinct_id: str,
        context: Any,
        only_local: bool | None,
        keys: Sequence[str] | None = ...,
        remote_out: dict[str, Resolved] | None = ...,
    ) -> dict[str, FlagResult]: ...
    def _report(
        self, send_events: bool, resolved: Resolved, distinct_id: str, context: Any
    ) -> None: ...


class AsyncClient(Protocol):
    """What the methods below use of :class:`flagkit.AsyncClient`."""

    @property
    def snapshot(self) -> Snapshot | None: ...
    def evaluate(self, *args: Any, **kwargs: Any) -> Awaitable[FlagResult]: ...
    def evaluate_all(self, *args: Any, **kwargs: Any) -> Awaitable[dict[str, FlagResult]]: ...
    def refresh(self, timeout: float | None = ...) -> Awaitable[bool]: ...
    def _evaluate_all(
        self,
        distinct_id: str,
        context: Any,
        only_local: bool | None,
        keys: Sequence[str] | None = ...,
        remote_out: dict[str, Resolved] | None = ...,
    ) -> Awaitable[dict[str, FlagResult]]: ...
    def _report(
        self, send_events: bool, resolved: Resolved, distinct_id: str, context: Any
    ) -> None: ...


def distinct_id_text(distinct_id: Any) -> str:
    """posthog-python accepts numbers and UUIDs as distinct ids and sends their text."""
    return distinct_id if isinstance(distinct_id, str) else str(distinct_id)


def local_only(only_evaluate_locally: bool) -> bool | None:
    """posthog-python's ``False`` means "ask PostHog when needed": the client's own setting."""
    return True if only_evaluate_locally else None


def enabled_or_none(result: FlagResult) -> bool | None:
    """posthog-python's ``feature_enabled``: ``None`` when the flag could not be decided."""
    return None if result.value is None else result.enabled


def result_or_none(result: FlagResult) -> FlagResult | None:
    """posthog-python's ``get_feature_flag_result``: ``None`` when undecided."""
    return None if result.value is None else result


def payload_for(
    result: FlagResult, match_value: FlagValue | None, client: Client | AsyncClient
) -> Any:
    """The payload of ``match_value`` (posthog-python's override), else of the answer."""
    if match_value is None or match_value == result.value:
        return None if result.value is None else result.payload
    snapshot = client.snapshot
    flag = None if snapshot is None else snapshot.compiled(result.key)
    return None if flag is None else flag.book.payload_for(match_value)


def options(args: Mapping[str, Any]) -> dict[str, Any]:
    """flagkit's getter keywords from a posthog-named method's arguments (its ``locals()``,
    as the client constructors pass theirs to ``read_settings``)."""
    return {
        "person_properties": args["person_properties"],
        "groups": args["groups"],
        "group_properties": args["group_properties"],
        "device_id": args["device_id"],
        "disable_geoip": args["disable_geoip"],
        "only_evaluate_locally": local_only(args["only_evaluate_locally"]),
    }


def flags_and_payloads(results: Mapping[str, FlagResult]) -> dict[str, dict[str, Any]]:
    """posthog-python's ``{"featureFlags": ..., "featureFlagPayloads": ...}``."""
    decided = {key: r for key, r in results.items() if r.value is not None}
    return {
        "featureFlags": {key: r.value for key, r in decided.items()},
        "featureFlagPayloads": {
            key: r.payload for key, r in decided.items() if r.payload is not None
        },
    }


class PosthogNames:
    """posthog-python's flag methods for :class:`flagkit.Client`."""

    def get_feature_flag(
        self: Client,
        key: str,
        distinct_id: Any,
        *,
        groups: Mapping[str, Any] | None = None,
        person_properties: Properties | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        only_evaluate_locally: bool = False,
        send_feature_flag_events: bool = True,
        disable_geoip: bool | None = None,
        device_id: str | None = None,
    ) -> FlagValue | None:
        """The flag's value (``True``/``False`` or a variant), ``None`` when undecided."""
        return self.evaluate(
            key,
            distinct_id_text(distinct_id),
            **options(locals()),
            send_events=send_feature_flag_events,
        ).value

    def get_feature_flag_result(
        self: Client,
        key: str,
        distinct_id: Any,
        *,
        groups: Mapping[str, Any] | None = None,
        person_properties: Properties | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        only_evaluate_locally: bool = False,
        send_feature_flag_events: bool = True,
        disable_geoip: bool | None = None,
        device_id: str | None = None,
    ) -> FlagResult | None:
        """The whole answer (``key``, ``enabled``, ``variant``, ``payload``, ``reason``,
        ``get_value()``), or ``None`` when the flag could not be decided."""
        return result_or_none(
            self.evaluate(
                key,
                distinct_id_text(distinct_id),
                **options(locals()),
                send_events=send_feature_flag_events,
            )
        )

    def feature_enabled(
        self: Client,
        key: str,
        distinct_id: Any,
        *,
        groups: Mapping[str, Any] | None = None,
        person_properties: Properties | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        only_evaluate_locally: bool = False,
        send_feature_flag_events: bool = True,
        disable_geoip: bool | None = None,
        device_id: str | None = None,
    ) -> bool | None:
        """True when the flag is on (any variant counts), ``None`` when undecided."""
        return enabled_or_none(
            self.evaluate(
                key,
                distinct_id_text(distinct_id),
                **options(locals()),
                send_events=send_feature_flag_events,
            )
        )

    def get_feature_flag_payload(
        self: Client,
        key: str,
        distinct_id: Any,
        *,
        match_value: FlagValue | None = None,
        groups: Mapping[str, Any] | None = None,
        person_properties: Properties | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        only_evaluate_locally: bool = False,
        send_feature_flag_events: bool = False,
        disable_geoip: bool | None = None,
        device_id: str | None = None,
    ) -> Any:
        """The decoded payload of the caller's value (or of ``match_value``), or ``None``."""
        result = self.evaluate(
            key,
            distinct_id_text(distinct_id),
            **options(locals()),
            send_events=send_feature_flag_events,
        )
        return payload_for(result, match_value, self)

    def get_all_flags_and_payloads(
        self: Client,
        distinct_id: Any,
        *,
        groups: Mapping[str, Any] | None = None,
        person_properties: Properties | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        only_evaluate_locally: bool = False,
        disable_geoip: bool | None = None,
        device_id: str | None = None,
    ) -> dict[str, dict[str, Any]]:
        """``{"featureFlags": {key: value}, "featureFlagPayloads": {key: payload}}`` of
        every flag that could be decided (one ``/flags`` request for the rest)."""
        return flags_and_payloads(
            self.evaluate_all(
                distinct_id_text(distinct_id),
                **options(locals()),
            )
        )

    def evaluate_flags(
        self: Client,
        distinct_id: Any,
        *,
        groups: Mapping[str, Any] | None = None,
        person_properties: Properties | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        only_evaluate_locally: bool = False,
        disable_geoip: bool | None = None,
        flag_keys: Sequence[str] | None = None,
        device_id: str | None = None,
    ) -> FlagEvaluations:
        """Every flag for one caller, evaluated once (at most one ``/flags`` request for what
        local evaluation cannot decide), as an immutable :class:`flagkit.FlagEvaluations`
        whose reads send each flag's exposure event the first time (posthog-python's
        ``evaluate_flags``). ``flag_keys`` keeps only those flags."""
        distinct = distinct_id_text(distinct_id)
        context = (
            person_properties,
            groups,
            group_properties,
            device_id,
            disable_geoip,
        )
        remote: dict[str, Resolved] = {}
        keys = None if flag_keys is None else list(dict.fromkeys(flag_keys))
        results = self._evaluate_all(
            distinct, context, local_only(only_evaluate_locally), keys, remote
        )

        def report(result: FlagResult) -> None:
            # A remote answer keeps what /flags said about it (request id, rule, gate).
            resolved = remote.get(result.key)
            if resolved is None or resolved.result is not result:
                resolved = Resolved(result)
            self._report(True, resolved, distinct, context)

        return FlagEvaluations(results, report)

    def load_feature_flags(self: Client, timeout: float | None = 10.0) -> bool:
        """posthog-python's name for :meth:`flagkit.Client.refresh`."""
        return self.refresh(timeout)


class AsyncPosthogNames:
    """posthog-python's flag methods for :class:`flagkit.AsyncClient` (awaited)."""

    async def get_feature_flag(
        self: AsyncClient,
        key: str,
        distinct_id: Any,
        *,
        groups: Mapping[str, Any] | None = None,
        person_properties: Properties | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        only_evaluate_locally: bool = False,
        send_feature_flag_events: bool = True,
        disable_geoip: bool | None = None,
        device_id: str | None = None,
    ) -> FlagValue | None:
        """The flag's value (``True``/``False`` or a variant), ``None`` when undecided."""
        result = await self.evaluate(
            key,
            distinct_id_text(distinct_id),
            **options(locals()),
            send_events=send_feature_flag_events,
        )
        return result.value

    async def get_feature_flag_result(
        self: AsyncClient,
        key: str,
        distinct_id: Any,
        *,
        groups: Mapping[str, Any] | None = None,
        person_properties: Properties | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        only_evaluate_locally: bool = False,
        send_feature_flag_events: bool = True,
        disable_geoip: bool | None = None,
        device_id: str | None = None,
    ) -> FlagResult | None:
        """The whole answer, or ``None`` when the flag could not be decided."""
        result = await self.evaluate(
            key,
            distinct_id_text(distinct_id),
            **options(locals()),
            send_events=send_feature_flag_events,
        )
        return result_or_none(result)

    async def feature_enabled(
        self: AsyncClient,
        key: str,
        distinct_id: Any,
        *,
        groups: Mapping[str, Any] | None = None,
        person_properties: Properties | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        only_evaluate_locally: bool = False,
        send_feature_flag_events: bool = True,
        disable_geoip: bool | None = None,
        device_id: str | None = None,
    ) -> bool | None:
        """True when the flag is on (any variant counts), ``None`` when undecided."""
        result = await self.evaluate(
            key,
            distinct_id_text(distinct_id),
            **options(locals()),
            send_events=send_feature_flag_events,
        )
        return enabled_or_none(result)

    async def get_feature_flag_payload(
        self: AsyncClient,
        key: str,
        distinct_id: Any,
        *,
        match_value: FlagValue | None = None,
        groups: Mapping[str, Any] | None = None,
        person_properties: Properties | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        only_evaluate_locally: bool = False,
        send_feature_flag_events: bool = False,
        disable_geoip: bool | None = None,
        device_id: str | None = None,
    ) -> Any:
        """The decoded payload of the caller's value (or of ``match_value``), or ``None``."""
        result = await self.evaluate(
            key,
            distinct_id_text(distinct_id),
            **options(locals()),
            send_events=send_feature_flag_events,
        )
        return payload_for(result, match_value, self)

    async def get_all_flags_and_payloads(
        self: AsyncClient,
        distinct_id: Any,
        *,
        groups: Mapping[str, Any] | None = None,
        person_properties: Properties | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        only_evaluate_locally: bool = False,
        disable_geoip: bool | None = None,
        device_id: str | None = None,
    ) -> dict[str, dict[str, Any]]:
        """``{"featureFlags": ..., "featureFlagPayloads": ...}`` of every decided flag."""
        results = await self.evaluate_all(
            distinct_id_text(distinct_id),
            **options(locals()),
        )
        return flags_and_payloads(results)

    async def evaluate_flags(
        self: AsyncClient,
        distinct_id: Any,
        *,
        groups: Mapping[str, Any] | None = None,
        person_properties: Properties | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        only_evaluate_locally: bool = False,
        disable_geoip: bool | None = None,
        flag_keys: Sequence[str] | None = None,
        device_id: str | None = None,
    ) -> FlagEvaluations:
        """Every flag for one caller, evaluated once (at most one ``/flags`` request for what
        local evaluation cannot decide), as an immutable :class:`flagkit.FlagEvaluations`
        whose reads send each flag's exposure event the first time (posthog-python's
        ``evaluate_flags``). ``flag_keys`` keeps only those flags."""
        distinct = distinct_id_text(distinct_id)
        context = (
            person_properties,
            groups,
            group_properties,
            device_id,
            disable_geoip,
        )
        remote: dict[str, Resolved] = {}
        keys = None if flag_keys is None else list(dict.fromkeys(flag_keys))
        results = await self._evaluate_all(
            distinct, context, local_only(only_evaluate_locally), keys, remote
        )

        def report(result: FlagResult) -> None:
            # A remote answer keeps what /flags said about it (request id, rule, gate).
            resolved = remote.get(result.key)
            if resolved is None or resolved.result is not result:
                resolved = Resolved(result)
            self._report(True, resolved, distinct, context)

        return FlagEvaluations(results, report)

    async def load_feature_flags(self: AsyncClient, timeout: float | None = 10.0) -> bool:
        """posthog-python's name for :meth:`flagkit.AsyncClient.refresh`."""
        return await self.refresh(timeout)
