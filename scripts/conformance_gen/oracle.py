"""posthog 7.91.1 as an oracle: one flag's local result, plus the reason it decided so.

Dev-only. Runs under /tmp/refvenv (which has posthog installed); never imported by flagkit or
its tests. Importing this module cuts posthog off from the network: every request function
and socket connect raises, so an accidental remote fallback fails loudly instead of calling
PostHog.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import socket
import threading
import types
import warnings
from collections.abc import Iterator
from typing import Any

import posthog.client as ph_client
import posthog.feature_flags as ph_ff
import posthog.request as ph_request
import requests
from posthog.client import Client
from posthog.feature_flags import ConditionMatch, InconclusiveMatchError, RequiresServerEvaluation
from posthog.types import UnresolvedFlagReason

OMIT = "<omit>"  # reason placeholder: the case is ambiguous, the runner checks value+payload only


class NetworkAttemptedError(RuntimeError):
    """Raised when posthog tries to reach the network; the generator must never do that."""


def _no_network(*_args: Any, **_kwargs: Any) -> Any:
    raise NetworkAttemptedError("posthog attempted a network call during local evaluation")


def _cut_network() -> None:
    for module in (ph_request, ph_client):
        for name in ("flags", "get", "post", "batch_post", "remote_config"):
            if hasattr(module, name):
                setattr(module, name, _no_network)
    requests.Session.request = _no_network  # type: ignore[method-assign]
    socket.socket.connect = _no_network  # type: ignore[method-assign]
    socket.create_connection = _no_network


_cut_network()
logging.getLogger("posthog").setLevel(logging.CRITICAL + 1)
logging.getLogger("posthog").propagate = False
warnings.filterwarnings("ignore", category=DeprecationWarning)

# ---------------------------------------------------------------------------------------
# Recording what posthog decided, per condition group, for the reason labels.

_rec = threading.local()
_orig_match_flag_condition = ph_ff._match_flag_condition
_orig_get_holdout_variant = ph_ff._get_holdout_variant


def _recording_match_flag_condition(flag: Any, *args: Any, **kwargs: Any) -> Any:
    log = getattr(_rec, "log", None)
    try:
        result = _orig_match_flag_condition(flag, *args, **kwargs)
    except RequiresServerEvaluation:
        if log is not None:
            log.append((id(flag), "rs"))
        raise
    except InconclusiveMatchError:
        if log is not None:
            log.append((id(flag), "inc"))
        raise
    if log is not None:
        log.append((id(flag), result[0]))
    return result


def _recording_get_holdout_variant(flag: Any, bucketing_value: Any) -> Any:
    result = _orig_get_holdout_variant(flag, bucketing_value)
    log = getattr(_rec, "log", None)
    if log is not None and result is not None:
        log.append((id(flag), "holdout"))
    return result


_orig_match_condition_filter = ph_ff._match_condition_filter


def _recording_match_condition_filter(*args: Any, **kwargs: Any) -> Any:
    try:
        return _orig_match_condition_filter(*args, **kwargs)
    except RequiresServerEvaluation:
        log = getattr(_rec, "log", None)
        if log is not None:
            log.append((0, "rs-raised"))
        raise


ph_ff._match_flag_condition = _recording_match_flag_condition
ph_ff._match_condition_filter = _recording_match_condition_filter
ph_ff._get_holdout_variant = _recording_get_holdout_variant

# ---------------------------------------------------------------------------------------
# Frozen clock for relative dates: posthog reads datetime.datetime.now() in feature_flags.

_real_datetime_module = ph_ff.datetime


def _frozen_datetime_module(now: _dt.datetime) -> types.SimpleNamespace:
    class _Frozen(_dt.datetime):
        @classmethod
        def now(cls, tz: _dt.tzinfo | None = None) -> _Frozen:  # type: ignore[override]
            base = now.astimezone(tz) if tz is not None else now.replace(tzinfo=None)
            return cls.fromisoformat(base.isoformat())

    return types.SimpleNamespace(
        datetime=_Frozen, date=_dt.date, timedelta=_dt.timedelta, timezone=_dt.timezone
    )


@contextlib.contextmanager
def frozen_clock(now: _dt.datetime | None) -> Iterator[None]:
    """Make posthog's feature_flags module see ``now`` (UTC-aware) as the current time."""
    if now is None:
        yield
        return
    ph_ff.datetime = _frozen_datetime_module(now)  # type: ignore[assignment]
    try:
        yield
    finally:
        ph_ff.datetime = _real_datetime_module


# ---------------------------------------------------------------------------------------


class Outcome:
    """One reference answer: value, decoded payload, and our Reason string (or OMIT)."""

    __slots__ = ("error", "payload", "reason", "value")

    def __init__(self, value: Any, payload: Any, reason: str, error: str | None = None) -> None:
        self.value = value
        self.payload = payload
        self.reason = reason
        self.error = error

    def __repr__(self) -> str:
        return f"Outcome(value={self.value!r}, payload={self.payload!r}, reason={self.reason})"


class Reference:
    """A network-less posthog 7.91.1 client loaded with one local-evaluation body."""

    def __init__(self, body: dict[str, Any]) -> None:
        client = Client(
            "phc_test",
            personal_api_key="phx_test",
            send=False,
            enable_local_evaluation=False,
            enable_exception_autocapture=False,
        )
        data = {
            "flags": body.get("flags") or [],
            "group_type_mapping": body.get("group_type_mapping") or {},
            "cohorts": body.get("cohorts") or {},
        }
        if "property_matching_version" in body:
            data["property_matching_version"] = body["property_matching_version"]
        client._update_flag_state(data)
        for name in ("posthog", "posthog.feature_flags", "posthog.client"):
            logging.getLogger(name).disabled = True
        self.client = client
        self._last: tuple[str, BaseException | None] = ("none", None)
        original = client._compute_flag_locally

        def recording_compute(*args: Any, **kwargs: Any) -> Any:
            try:
                value = original(*args, **kwargs)
            except BaseException as exc:
                self._last = ("error", exc)
                raise
            self._last = ("value", None)
            return value

        client._compute_flag_locally = recording_compute  # type: ignore[method-assign]

    def evaluate(
        self,
        key: str,
        distinct_id: Any,
        *,
        person_properties: dict[str, Any] | None = None,
        groups: dict[str, Any] | None = None,
        group_properties: dict[str, dict[str, Any]] | None = None,
        device_id: str | None = None,
        now: _dt.datetime | None = None,
    ) -> Outcome:
        """posthog's local value and payload for one flag, and the reason we label it with."""
        self._last = ("none", None)
        _rec.log = []
        try:
            with frozen_clock(now):
                result = self.client.get_feature_flag_result(
                    key,
                    distinct_id,
                    person_properties=dict(person_properties or {}),
                    groups=dict(groups or {}),
                    group_properties={k: dict(v) for k, v in (group_properties or {}).items()},
                    only_evaluate_locally=True,
                    send_feature_flag_events=False,
                    device_id=device_id,
                )
            log = _rec.log
        finally:
            _rec.log = None
        value = None if result is None else result.get_value()
        payload = None if result is None else result.payload
        reason, error = self._reason(key, value, groups or {}, log)
        return Outcome(value, payload, reason, error)

    def _reason(
        self, key: str, value: Any, groups: dict[str, Any], log: list[tuple[int, Any]]
    ) -> tuple[str, str | None]:
        flag = self.client.feature_flags_by_key.get(key)
        if not flag:
            return "flag_not_found", None
        kind, exc = self._last
        if value is None:
            if kind != "error" or exc is None:
                return OMIT, "no local value without an exception"
            if isinstance(exc, RequiresServerEvaluation):
                text = str(exc)
                if "not found in local cohorts" in text and "flag dependency" not in text:
                    return "requires_server", None
                # A malformed cohort group, or a dependency that needs the server: posthog
                # sends the flag to the server, but which of our reasons fits is debatable.
                return OMIT, f"requires server: {exc}"
            if any(entry == "rs-raised" for _, entry in log):
                # Inconclusive overall, but a filter on the way needed the server.
                return OMIT, "inconclusive after a requires-server filter"
            if isinstance(exc, InconclusiveMatchError):
                if exc.reason == UnresolvedFlagReason.EXPERIENCE_CONTINUITY:
                    return "requires_server", None
                return str(exc.reason.value), None
            # A bug-class error inside posthog (KeyError, TypeError, RecursionError...).
            return OMIT, f"generic error {type(exc).__name__}"
        if not flag.get("active"):
            return "disabled", None
        filters = flag.get("filters") or {}
        index = filters.get("aggregation_group_type_index")
        if index is not None:
            name = (self.client.group_type_mapping or {}).get(str(index))
            if name and name not in groups:
                return "group_not_provided", None
        if filters.get("feature_enrollment") is True:
            return "feature_enrollment", None
        mine = [entry for flag_id, entry in log if flag_id == id(flag)]
        if "holdout" in mine:
            return "holdout", None
        if value is not False:
            return "condition_match", None
        conditions = [e for e in mine if isinstance(e, ConditionMatch)]
        if not conditions or ConditionMatch.OUT_OF_ROLLOUT_BOUND not in conditions:
            return "no_condition_match", None
        if conditions[-1] == ConditionMatch.OUT_OF_ROLLOUT_BOUND:
            return "out_of_rollout", None
        # A rollout miss followed by a plain non-match: which one "decided" is a matter of
        # definition, so the case only checks value and payload.
        return OMIT, "rollout miss then non-match"
