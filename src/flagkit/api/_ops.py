"""Every endpoint as a pure :class:`Call`: the request to send plus the parser of its answer.

The sync and async APIs are thin drivers over these, so both share one implementation of
paths, bodies, validation and response parsing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

from flagkit.api import _models as models
from flagkit.api._errors import ApiError, InvalidResponseError, NotFound
from flagkit.api._models import encode
from flagkit.api._paths import Paths
from flagkit.api._transport import RequestPlan
from flagkit.api._validation import check_flag_body

T = TypeVar("T")
JSON = dict[str, Any]
Params = tuple[tuple[str, str], ...]

DEFAULT_PAGE_SIZE = 100


@attrs.frozen
class Call(Generic[T]):
    """A request plan and the function turning its decoded JSON answer into ``T``."""

    plan: RequestPlan
    parse: Callable[[Any], T]


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(encode(value), separators=(",", ":"))
    return str(value)


def _params(**values: Any) -> Params:
    return tuple((k, _param(v)) for k, v in values.items() if v is not None)


def _bad(plan: RequestPlan, what: str) -> InvalidResponseError:
    return InvalidResponseError(what, status=200, method=plan.method.upper(), path=plan.path)


def _object(plan: RequestPlan, data: Any) -> JSON:
    if not isinstance(data, dict):
        raise _bad(plan, f"expected a JSON object, got {type(data).__name__}")
    return data


def _page_parser(
    plan: RequestPlan, item: Callable[[Mapping[str, Any]], T], *, count_key: str = "count"
) -> Callable[[Any], models.Page[T]]:
    def parse(data: Any) -> models.Page[T]:
        if isinstance(data, list):  # an unpaginated list
            items = tuple(item(x) for x in data if isinstance(x, Mapping))
            return models.Page(results=items, count=len(items))
        body = _object(plan, data)
        results = body.get("results")
        if not isinstance(results, list):
            raise _bad(plan, "expected a page with a 'results' list")
        count = body.get(count_key, body.get("count"))
        nxt, prev = body.get("next"), body.get("previous")
        return models.Page(
            results=tuple(item(x) for x in results if isinstance(x, Mapping)),
            count=count if isinstance(count, int) and not isinstance(count, bool) else None,
            next=_link(nxt),
            previous=_link(prev),
        )

    return parse


# Query parameters that carry a key; a page link must not keep them (they would show in the
# Page's repr). next_page_plan puts our own ?token= back when following a link.
_CREDENTIAL_PARAMS = frozenset(
    {"token", "api_key", "personal_api_key", "secret_api_key", "project_secret_api_key"}
)


def _link(value: Any) -> str | None:
    """A page link as given, minus credential query parameters; ``None`` if absent."""
    if not isinstance(value, str) or not value:
        return None
    parts = urlsplit(value)
    params = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in params if k.lower() not in _CREDENTIAL_PARAMS]
    if len(kept) == len(params):
        return value
    return urlunsplit(parts._replace(query=urlencode(kept)))


def next_page_plan(plan: RequestPlan, next_url: str) -> RequestPlan:
    """The plan fetching ``next_url`` (an absolute or relative link from a page).

    Only its path and query are used: the request goes to the configured host, so a server
    behind a proxy that reports another scheme or host still works.
    """
    parts = urlsplit(next_url)
    params = tuple(parse_qsl(parts.query, keep_blank_values=True))
    # Keep parameters of ours the link dropped (e.g. the legacy ?token=).
    present = {k for k, _ in params}
    kept = tuple((k, v) for k, v in plan.params if k not in present and k == "token")
    return RequestPlan("GET", parts.path or plan.path, params + kept)


def follow(call: Call[models.Page[T]], url: str) -> Call[models.Page[T]]:
    """The call for the page a ``next`` link of ``call``'s answer points to."""
    return Call(next_page_plan(call.plan, url), call.parse)


def flag_body(
    base: str | models.FeatureFlag | Mapping[str, Any] | None,
    *,
    name: str | None = None,
    filters: Mapping[str, Any] | None = None,
    active: bool | None = None,
    rollout_percentage: float | None = None,
    variants: Any = None,
    fields: Mapping[str, Any] | None = None,
) -> JSON:
    """A create/update body from a key, a :class:`FeatureFlag` or a dict, plus overrides.

    ``rollout_percentage`` (one condition group for everyone) and ``variants`` (a list of
    :class:`Variant` or dicts) are shortcuts that fill ``filters``.
    """
    if isinstance(base, models.FeatureFlag):
        body: JSON = base.to_request()
    elif isinstance(base, Mapping):
        body = encode(dict(base))
    elif base is None:
        body = {}
    else:
        body = {"key": base}
    body.update({k: encode(v) for k, v in (fields or {}).items()})
    if name is not None:
        body["name"] = name
    if active is not None:
        body["active"] = active
    if filters is not None:
        body["filters"] = encode(filters)
    if rollout_percentage is not None or variants is not None:
        merged = dict(body.get("filters") or {})
        if rollout_percentage is not None:
            if merged.get("groups"):
                raise ValueError("pass rollout_percentage or filters with groups, not both")
            merged["groups"] = [{"properties": [], "rollout_percentage": rollout_percentage}]
        if variants is not None:
            merged["multivariate"] = {"variants": encode(list(variants))} if variants else None
        body["filters"] = merged
    return body


def _flag(data: Mapping[str, Any]) -> models.FeatureFlag:
    return models.FeatureFlag.from_dict(data)


class Operations:
    """Builds the :class:`Call` of every endpoint for one project and API era."""

    def __init__(self, paths: Paths, *, token: str | None = None, validate: bool = True) -> None:
        self.paths = paths
        self.validate = validate
        # The legacy routes pick the project from ?token=<project API key>.
        self._token: Params = (("token", token),) if paths.legacy and token else ()

    def _plan(
        self, method: str, path: str, params: Params = (), body: Any = None, *, send: bool = False
    ) -> RequestPlan:
        return RequestPlan(method, path, params + self._token, body, send)

    def _one_flag(self, plan: RequestPlan) -> Call[models.FeatureFlag]:
        return Call(plan, lambda data: _flag(_object(plan, data)))

    # -- flags ---------------------------------------------------------------------------

    def list_flags(
        self, limit: int | None, offset: int | None, filters: Mapping[str, Any]
    ) -> Call[models.Page[models.FeatureFlag]]:
        """``GET flags/`` with ``limit``/``offset`` and any list filters."""
        plan = self._plan("GET", self.paths.flags(), _params(limit=limit, offset=offset, **filters))
        return Call(plan, _page_parser(plan, _flag))

    def get_flag(self, flag_id: int | str) -> Call[models.FeatureFlag]:
        """``GET flags/<id>/``."""
        return self._one_flag(self._plan("GET", self.paths.flag(flag_id)))

    def flag_not_found(self, key: str) -> NotFound:
        """The error for a key no flag has."""
        return NotFound(
            f"no feature flag has the key {key!r}",
            status=404,
            method="GET",
            path=self.paths.flags(),
        )

    def create_flag(self, body: JSON) -> Call[models.FeatureFlag]:
        """``POST flags/`` (checked first unless validation is off)."""
        if self.validate:
            check_flag_body(body, creating=True)
        return self._one_flag(self._plan("POST", self.paths.flags(), body=body, send=True))

    def update_flag(self, flag_id: int | str, body: JSON) -> Call[models.FeatureFlag]:
        """``PATCH flags/<id>/`` with only the given fields."""
        if self.validate:
            check_flag_body(body, creating=False)
        path = self.paths.flag(flag_id)
        return self._one_flag(self._plan("PATCH", path, body=body, send=True))

    def soft_delete_flag(self, flag_id: int | str) -> Call[models.FeatureFlag | ApiError]:
        """``PATCH flags/<id>/ {"deleted": true}``. On the legacy routes a 405 is answered
        (as its :class:`ApiError`): 2020-era servers have no soft delete but accept DELETE."""
        path = self.paths.flag(flag_id)
        plan = self._plan("PATCH", path, body={"deleted": True}, send=True)
        if self.paths.legacy:
            plan = attrs.evolve(plan, answer_statuses=frozenset({405}))

        def parse(data: Any) -> models.FeatureFlag | ApiError:
            return data if isinstance(data, ApiError) else _flag(_object(plan, data))

        return Call(plan, parse)

    def hard_delete_flag(self, flag_id: int | str) -> Call[None]:
        """``DELETE flags/<id>/``: only 2020-era servers accept it (newer answer 405)."""
        return Call(self._plan("DELETE", self.paths.flag(flag_id)), lambda _data: None)

    def activity(
        self, flag_id: int | str | None, limit: int | None, page: int | None
    ) -> Call[models.Page[models.ActivityEntry]]:
        """``GET flags/<id>/activity/`` or the project-wide ``GET flags/activity/``."""
        path = (
            self.paths.flags_action("activity")
            if flag_id is None
            else self.paths.flag_action(flag_id, "activity")
        )
        plan = self._plan("GET", path, _params(limit=limit, page=page))
        return Call(
            plan, _page_parser(plan, models.ActivityEntry.from_dict, count_key="total_count")
        )

    def create_dashboard(self, flag_id: int | str) -> Call[bool]:
        """``POST flags/<id>/dashboard/``: (re)create the flag's usage dashboard."""
        plan = self._plan("POST", self.paths.flag_action(flag_id, "dashboard"), body={}, send=True)

        def parse(data: Any) -> bool:
            return bool(data.get("success", True)) if isinstance(data, dict) else True

        return Call(plan, parse)

    def evaluation_reasons(
        self, distinct_id: str, groups: Mapping[str, Any] | None
    ) -> Call[dict[str, models.EvaluationReason]]:
        """``GET flags/evaluation_reasons/?distinct_id=&groups=``."""
        params = _params(distinct_id=distinct_id, groups=dict(groups) if groups else None)
        plan = self._plan("GET", self.paths.flags_action("evaluation_reasons"), params)

        def parse(data: Any) -> dict[str, models.EvaluationReason]:
            body = _object(plan, data)
            return {
                str(k): models.EvaluationReason.from_item(str(k), v)
                for k, v in body.items()
                if isinstance(v, Mapping)
            }

        return Call(plan, parse)

    def my_flags(self, groups: Mapping[str, Any] | None = None) -> Call[list[models.MyFlag]]:
        """``GET flags/my_flags/``: every flag's value for the calling user."""
        params = _params(groups=dict(groups) if groups else None)
        plan = self._plan("GET", self.paths.flags_action("my_flags"), params)

        def parse(data: Any) -> list[models.MyFlag]:
            if not isinstance(data, list):
                raise _bad(plan, "expected a JSON list")
            return [models.MyFlag.from_dict(x) for x in data if isinstance(x, Mapping)]

        return Call(plan, parse)

    def user_blast_radius(
        self, condition: Mapping[str, Any], group_type_index: int | None
    ) -> Call[models.BlastRadius]:
        """``POST flags/user_blast_radius/``: users a condition would reach."""
        body = {"condition": encode(dict(condition)), "group_type_index": group_type_index}
        path = self.paths.flags_action("user_blast_radius")
        plan = self._plan("POST", path, body=body, send=True)
        return Call(plan, lambda data: models.BlastRadius.from_dict(_object(plan, data)))

    def local_evaluation(self, send_cohorts: bool = True) -> Call[JSON]:
        """``GET flags/local_evaluation/``: the definitions body SDKs evaluate locally."""
        params: Params = (("send_cohorts", ""),) if send_cohorts else ()
        plan = self._plan("GET", self.paths.flags_action("local_evaluation"), params)

        def parse(data: Any) -> JSON:
            body = _object(plan, data)
            if not isinstance(body.get("flags"), list):
                raise _bad(plan, "expected a definitions body with a 'flags' list")
            return body

        return Call(plan, parse)

    # -- role access ---------------------------------------------------------------------

    def list_role_access(
        self, flag_id: int | str, limit: int | None, offset: int | None
    ) -> Call[models.Page[models.RoleAccess]]:
        """``GET flags/<id>/role_access/``."""
        plan = self._plan(
            "GET", self.paths.role_access(flag_id), _params(limit=limit, offset=offset)
        )
        return Call(plan, _page_parser(plan, models.RoleAccess.from_dict))

    def create_role_access(self, flag_id: int | str, role_id: str) -> Call[models.RoleAccess]:
        """``POST flags/<id>/role_access/`` with ``{"role_id": ...}``."""
        plan = self._plan(
            "POST", self.paths.role_access(flag_id), body={"role_id": role_id}, send=True
        )
        return Call(plan, lambda data: models.RoleAccess.from_dict(_object(plan, data)))

    def get_role_access(self, flag_id: int | str, access_id: int | str) -> Call[models.RoleAccess]:
        """``GET flags/<id>/role_access/<access_id>/``."""
        plan = self._plan("GET", self.paths.role_access(flag_id, access_id))
        return Call(plan, lambda data: models.RoleAccess.from_dict(_object(plan, data)))

    def delete_role_access(self, flag_id: int | str, access_id: int | str) -> Call[None]:
        """``DELETE flags/<id>/role_access/<access_id>/`` (204)."""
        plan = self._plan("DELETE", self.paths.role_access(flag_id, access_id))
        return Call(plan, lambda _data: None)

    # -- persons -------------------------------------------------------------------------

    def list_persons(
        self, limit: int | None, offset: int | None, filters: Mapping[str, Any]
    ) -> Call[models.Page[models.Person]]:
        """``GET persons/`` (``person/`` on the legacy routes)."""
        plan = self._plan(
            "GET", self.paths.persons(), _params(limit=limit, offset=offset, **filters)
        )
        return Call(plan, _page_parser(plan, models.Person.from_dict))

    def get_person(self, person_id: int | str) -> Call[models.Person]:
        """``GET persons/<id>/``."""
        plan = self._plan("GET", self.paths.person(person_id))
        return Call(plan, lambda data: models.Person.from_dict(_object(plan, data)))


class Pager(Generic[T]):
    """Follows ``next`` links from a first page call, stopping on an empty or repeated page.

    Drivers loop ``while pager.call: page = send(pager.call); ...; pager.advance(page)``.
    """

    def __init__(self, first: Call[models.Page[T]]) -> None:
        self.call: Call[models.Page[T]] | None = first
        self._seen = {self._marker(first.plan)}

    @staticmethod
    def _marker(plan: RequestPlan) -> tuple[str, tuple[tuple[str, str], ...]]:
        return plan.path, tuple(sorted(plan.params))

    def advance(self, page: models.Page[T]) -> None:
        """Move to the page after ``page`` (the answer to the current call), if any."""
        if self.call is None or not page.results or not page.next:
            self.call = None
            return
        nxt = follow(self.call, page.next)
        marker = self._marker(nxt.plan)
        if marker in self._seen:
            self.call = None
            return
        self._seen.add(marker)
        self.call = nxt


__all__ = [
    "DEFAULT_PAGE_SIZE",
    "Call",
    "Operations",
    "Pager",
    "flag_body",
    "follow",
    "next_page_plan",
]
