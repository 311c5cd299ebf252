"""Local-evaluation definitions: the body SDKs poll, and the per-server evaluation snapshot.

``definitions_body`` builds PostHog's ``{"flags", "group_type_mapping", "cohorts"}`` with its
``send_cohorts`` semantics: with it, cohorts are sent by id; without it, a flag that uses one
simple person cohort gets that cohort inlined into its conditions. Flag dependencies are sent
as PostHog's service sends them: the referenced flag's key plus a ``dependency_chain``.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Mapping
from typing import Any

import mmh3

from flagkit.server import _accounts, _people
from flagkit.server import _flags_store as store
from flagkit.server._filter_rules import CohortInfo, flag_dependency_ids, flat_properties

STATIC_COHORT_PROPERTY = "$flagkit_static_cohort_{}"
_MAX_EXPANDED_CONDITIONS = 64


def _cohort_refs(filters: Mapping[str, Any]) -> list[int]:
    refs: list[int] = []
    for group in filters.get("groups") or []:
        for prop in group.get("properties") or []:
            if prop.get("type") == "cohort":
                try:
                    ref = int(prop.get("value"))
                except (TypeError, ValueError):
                    continue
                if ref not in refs:
                    refs.append(ref)
    return refs


def _with_nested(
    conn: sqlite3.Connection, project_id: int, roots: list[int]
) -> dict[int, CohortInfo]:
    """The cohorts ``roots`` name, plus every cohort they reference, by id."""
    found: dict[int, CohortInfo] = {}
    stack = list(roots)
    while stack:
        cohort_id = stack.pop()
        if cohort_id in found:
            continue
        info = _people.cohort_info(conn, project_id, cohort_id)
        if info is None:
            continue
        found[cohort_id] = info
        for entry in flat_properties(info.group):
            if entry.get("type") == "cohort":
                try:
                    stack.append(int(entry["value"]))
                except (KeyError, TypeError, ValueError):
                    continue
    return found


def _dependency_graph(flags: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    by_id = {str(flag["id"]): flag["key"] for flag in flags}
    graph: dict[str, list[str]] = {}
    for flag in flags:
        graph[flag["key"]] = [
            by_id.get(str(ref), str(ref)) for ref in flag_dependency_ids(flag["filters"])
        ]
    return by_id, graph


def _chain(key: str, graph: Mapping[str, list[str]]) -> list[str]:
    """Evaluation order ending with ``key`` (dependencies first); ``[]`` on a cycle."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str) -> bool:
        mark = state.get(node)
        if mark == 1:
            return False
        if mark == 2:
            return True
        state[node] = 1
        for dep in graph.get(node, []):
            if not visit(dep):
                return False
        state[node] = 2
        order.append(node)
        return True

    return order if visit(key) else []


def _resolve_flag_properties(
    filters: Mapping[str, Any], by_id: Mapping[str, str], graph: Mapping[str, list[str]]
) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(filters))
    for group in out.get("groups") or []:
        for prop in group.get("properties") or []:
            if prop.get("type") == "flag" and prop.get("key") is not None:
                key = by_id.get(str(prop["key"]), str(prop["key"]))
                prop["key"] = key
                prop["dependency_chain"] = _chain(key, graph)
    return out


def _conjunctions(group: Any) -> list[list[dict[str, Any]]] | None:
    """A cohort group as OR-of-ANDs of person properties, or ``None`` when not expressible."""
    if not isinstance(group, Mapping) or group.get("type") not in ("AND", "OR"):
        return None
    values = group.get("values")
    if not isinstance(values, list) or not values:
        return None
    parts: list[list[list[dict[str, Any]]]] = []
    for entry in values:
        if not isinstance(entry, Mapping):
            return None
        if "values" in entry or entry.get("type") in ("AND", "OR"):
            nested = _conjunctions(entry)
            if nested is None:
                return None
            parts.append(nested)
        elif entry.get("type") == "person" and not entry.get("negation"):
            parts.append([[dict(entry)]])
        else:
            return None
    if group["type"] == "OR":
        return [conj for part in parts for conj in part]
    combined: list[list[dict[str, Any]]] = [[]]
    for part in parts:
        combined = [left + right for left, right in itertools.product(combined, part)]
        if len(combined) > _MAX_EXPANDED_CONDITIONS:
            return None
    return combined


def _inline_single_cohort(filters: dict[str, Any], cohort: CohortInfo) -> dict[str, Any]:
    """Replace the one cohort filter by equivalent person conditions, when possible."""
    if cohort.is_static:
        return filters
    conjunctions = _conjunctions(cohort.group)
    if not conjunctions:
        return filters
    groups = filters.get("groups") or []
    if any(group.get("variant") for group in groups):
        return filters  # like PostHog: variant overrides are not expanded
    expanded: list[dict[str, Any]] = []
    for group in groups:
        props = group.get("properties") or []
        cohort_props = [p for p in props if p.get("type") == "cohort"]
        if not cohort_props:
            expanded.append(group)
            continue
        if any(p.get("operator") not in (None, "", "exact", "in") for p in cohort_props):
            return filters
        others = [p for p in props if p.get("type") != "cohort"]
        for conj in conjunctions:
            expanded.append({**group, "properties": others + conj})
    if len(expanded) > _MAX_EXPANDED_CONDITIONS:
        return filters
    return {**filters, "groups": expanded}


def definitions_body(
    conn: sqlite3.Connection,
    project_id: int,
    *,
    send_cohorts: bool,
    include_inactive: bool = True,
) -> dict[str, Any]:
    """PostHog's local-evaluation body for a project."""
    all_flags = store.live_flags(conn, project_id)
    by_id, graph = _dependency_graph(all_flags)
    flags = sorted(
        (
            flag
            for flag in all_flags
            if not flag["is_remote_configuration"] and (include_inactive or flag["active"])
        ),
        key=lambda flag: str(flag["key"]),
    )
    cohorts: dict[str, Any] = {}
    out_flags = []
    for flag in flags:
        filters = _resolve_flag_properties(flag["filters"], by_id, graph)
        refs = _cohort_refs(filters)
        if send_cohorts:
            for cohort_id, info in _with_nested(conn, project_id, refs).items():
                if not info.is_static:
                    cohorts[str(cohort_id)] = info.group
        elif len(refs) == 1:
            single = _people.cohort_info(conn, project_id, refs[0])
            if single is not None:
                filters = _inline_single_cohort(filters, single)
        out_flags.append(store.minimal_flag_json(flag, filters))
    return {
        "flags": out_flags,
        "group_type_mapping": _accounts.group_type_mapping(conn, project_id),
        "cohorts": cohorts,
    }


def encode_body(body: Mapping[str, Any]) -> tuple[bytes, str]:
    """The JSON bytes of a definitions body and its weak ETag (a hash of those bytes)."""
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return data, f'W/"{mmh3.hash_bytes(data).hex()}"'


def etag_matches(header: str | None, etag: str) -> bool:
    """``If-None-Match`` handling: ``"abc"``, ``abc``, ``W/"abc"``, lists and ``*``."""
    if not header or not header.strip():
        return False
    wanted = etag[2:].strip('"')
    for candidate in header.split(","):
        value = candidate.strip()
        if value == "*":
            return True
        if value.startswith('W/"'):
            value = value[2:]
        value = value.strip('"')
        if value and value == wanted:
            return True
    return False


def evaluation_body(
    conn: sqlite3.Connection, project_id: int
) -> tuple[dict[str, Any], frozenset[int]]:
    """Definitions for server-side evaluation, and the static cohort ids they use.

    Static cohorts cannot be expressed as properties, so each becomes a cohort matching a
    synthetic person property that the caller sets per request from stored memberships.
    Experience continuity is a client-side concern, so it is switched off here.
    """
    body = definitions_body(conn, project_id, send_cohorts=True)
    refs: list[int] = []
    for flag in body["flags"]:
        flag["ensure_experience_continuity"] = False
        refs.extend(_cohort_refs(flag["filters"]))
    static: set[int] = set()
    for cohort_id, info in _with_nested(conn, project_id, refs).items():
        if info.is_static:
            static.add(cohort_id)
            body["cohorts"][str(cohort_id)] = {
                "type": "AND",
                "values": [
                    {
                        "key": STATIC_COHORT_PROPERTY.format(cohort_id),
                        "type": "person",
                        "operator": "exact",
                        "value": ["member"],
                    }
                ],
            }
    return body, frozenset(static)
