"""posthog-python's feature-flag methods, with its names and signatures, on flagkit's clients.

Moving from posthog-python is then a changed import: ``get_feature_flag``,
``feature_enabled``, ``get_feature_flag_payload``, ``get_feature_flag_result``,
``get_all_flags_and_payloads`` and ``load_feature_flags`` behave as posthog-python's do
(``get_all_flags`` is flagkit's own, which already takes the same arguments), and
``evaluate_flags`` (see ``flag_evaluations``). Each is a thin mapping onto the shell's read
(see ``getters``), written once for both clients; see docs/migrating-from-posthog.md.
"""

# The shells' _one/_all return Any (a value, or a coroutine for it); each method's declared
# type says which, through the class's type parameters.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from flagkit._client.flag_evaluations import FlagEvaluations
from flagkit._client.getters import Context, ReadShell, value_of
from flagkit._evaluation.result import FlagResult, FlagValue
from flagkit._evaluation.snapshot import Snapshot
from flagkit._remote.fallback import Resolved

Properties = Mapping[str, Any]

ValueT = TypeVar("ValueT")  # FlagValue | None
ResultT = TypeVar("ResultT")  # FlagResult | None
EnabledT = TypeVar("EnabledT")  # bool | None
AnyT = TypeVar("AnyT")  # Any (a payload)
FlagsT = TypeVar("FlagsT")  # dict[str, dict[str, Any]]
EvaluationsT = TypeVar("EvaluationsT")  # FlagEvaluations
BoolT = TypeVar("BoolT")  # bool


def distinct_id_text(distinct_id: Any) -> str:
    """posthog-python accepts numbers and UUIDs as distinct ids and sends their text."""
    return distinct_id if isinstance(distinct_id, str) else str(distinct_id)


def local_only(only_evaluate_locally: bool) -> bool | None:
    """posthog-python's ``False`` means "ask PostHog when needed": the client's own setting."""
    return True if only_evaluate_locally else None


def enabled_or_none(result: FlagResult, default: Any = None) -> bool | None:
    """posthog-python's ``feature_enabled``: ``None`` when the flag could not be decided."""
    return None if result.value is None else result.enabled


def result_or_none(result: FlagResult, default: Any = None) -> FlagResult | None:
    """posthog-python's ``get_feature_flag_result``: ``None`` when undecided."""
    return None if result.value is None else result


def payload_for(result: FlagResult, match: tuple[FlagValue | None, Snapshot | None]) -> Any:
    """The payload of ``match_value`` (posthog-python's override), else of the answer;
    ``match`` is (match_value, the snapshot the client serves)."""
    match_value, snapshot = match
    if match_value is None or match_value == result.value:
        return None if result.value is None else result.payload
    flag = None if snapshot is None else snapshot.compiled(result.key)
    return None if flag is None else flag.book.payload_for(match_value)


def posthog_context(args: Mapping[str, Any]) -> Context:
    """A posthog-named method's context, from its ``locals()`` (posthog-python has no
    rules v2 arguments: their defaults)."""
    return (
        args["person_properties"],
        args["groups"],
        args["group_properties"],
        args["device_id"],
        args["disable_geoip"],
        False,
        None,
        None,
    )


def flags_and_payloads(
    results: Mapping[str, FlagResult], default: Any = None
) -> dict[str, dict[str, Any]]:
    """posthog-python's ``{"featureFlags": ..., "featureFlagPayloads": ...}``."""
    decided = {key: r for key, r in results.items() if r.value is not None}
    return {
        "featureFlags": {key: r.value for key, r in decided.items()},
        "featureFlagPayloads": {
            key: r.payload for key, r in decided.items() if r.payload is not None
        },
    }


class PosthogNames(
    ReadShell, Generic[ValueT, ResultT, EnabledT, AnyT, FlagsT, EvaluationsT, BoolT]
):
    """posthog-python's flag methods, on either client (see ``getters`` for the shells)."""

    @property
    def snapshot(self) -> Snapshot | None:
        raise NotImplementedError

    def refresh(self, timeout: float | None = 10.0) -> Any:
        raise NotImplementedError

    def _report(
        self, send_events: bool, resolved: Resolved, distinct_id: str, context: Context
    ) -> None:
        raise NotImplementedError

    def get_feature_flag(
        self,
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
    ) -> ValueT:
        """The flag's value (``True``/``False`` or a variant), ``None`` when undecided."""
        return self._posthog_one(locals(), value_of, None)

    def get_feature_flag_result(
        self,
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
    ) -> ResultT:
        """The whole answer (``key``, ``enabled``, ``variant``, ``payload``, ``reason``,
        ``get_value()``), or ``None`` when the flag could not be decided."""
        return self._posthog_one(locals(), result_or_none, None)

    def feature_enabled(
        self,
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
    ) -> EnabledT:
        """True when the flag is on (any variant counts), ``None`` when undecided."""
        return self._posthog_one(locals(), enabled_or_none, None)

    def get_feature_flag_payload(
        self,
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
    ) -> AnyT:
        """The decoded payload of the caller's value (or of ``match_value``), or ``None``."""
        return self._posthog_one(locals(), payload_for, (match_value, self.snapshot))

    def get_all_flags_and_payloads(
        self,
        distinct_id: Any,
        *,
        groups: Mapping[str, Any] | None = None,
        person_properties: Properties | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        only_evaluate_locally: bool = False,
        disable_geoip: bool | None = None,
        device_id: str | None = None,
    ) -> FlagsT:
        """``{"featureFlags": {key: value}, "featureFlagPayloads": {key: payload}}`` of
        every flag that could be decided (one ``/flags`` request for the rest)."""
        context = posthog_context(locals())
        only_local = local_only(only_evaluate_locally)
        read = (distinct_id_text(distinct_id), context, only_local, None, None)
        return self._all(read, flags_and_payloads)

    def evaluate_flags(
        self,
        distinct_id: Any,
        *,
        groups: Mapping[str, Any] | None = None,
        person_properties: Properties | None = None,
        group_properties: Mapping[str, Properties] | None = None,
        only_evaluate_locally: bool = False,
        disable_geoip: bool | None = None,
        flag_keys: Sequence[str] | None = None,
        device_id: str | None = None,
    ) -> EvaluationsT:
        """Every flag for one caller, evaluated once (at most one ``/flags`` request for what
        local evaluation cannot decide), as an immutable :class:`flagkit.FlagEvaluations`
        whose reads send each flag's exposure event the first time (posthog-python's
        ``evaluate_flags``). ``flag_keys``: evaluate (and ask about) only those flags."""
        distinct = distinct_id_text(distinct_id)
        context = posthog_context(locals())
        remote: dict[str, Resolved] = {}

        def report(result: FlagResult) -> None:
            # A remote answer keeps what /flags said about it (request id, rule, gate).
            resolved = remote.get(result.key)
            if resolved is None or resolved.result is not result:
                resolved = Resolved(result)
            self._report(True, resolved, distinct, context)

        def finish(results: dict[str, FlagResult], _: Any) -> FlagEvaluations:
            return FlagEvaluations(results, report)

        keys = None if flag_keys is None else list(dict.fromkeys(flag_keys))
        only_local = local_only(only_evaluate_locally)
        return self._all((distinct, context, only_local, keys, remote), finish)

    def load_feature_flags(self, timeout: float | None = 10.0) -> BoolT:
        """posthog-python's name for :meth:`refresh`."""
        return self.refresh(timeout)

    def _posthog_one(self, args: Mapping[str, Any], finish: Any, default: Any) -> Any:
        """One flag for a posthog-named method, from its ``locals()``."""
        context = posthog_context(args)
        read = (
            args["key"],
            distinct_id_text(args["distinct_id"]),
            context,
            local_only(args["only_evaluate_locally"]),
            args["send_feature_flag_events"],
        )
        return self._one(read, finish, default)
