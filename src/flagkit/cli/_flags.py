"""``flagkit flags ...``: list, get, create, update, delete and activity over the admin API."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import click
from rich.text import Text

from flagkit.api import FeatureFlag, FeatureFlagsAPI, NotFound, Variant
from flagkit.cli._config import api_options, open_api
from flagkit.cli._option_group import option_group
from flagkit.cli._output import console, emit_json, fail, show_json, table, usage_error


def resolve(api: FeatureFlagsAPI, ref: str) -> FeatureFlag:
    """A flag by numeric id, or by key (a key no flag has is a plain error, not an HTTP
    404 of the search that found nothing)."""
    if ref.isdigit():
        return api.flags.get(int(ref))
    try:
        return api.flags.get_by_key(ref)
    except NotFound:
        fail(f"no flag has the key {ref!r} in this project (`flagkit flags list` shows them)")


def parse_json_arg(value: str, option: str) -> Any:
    """JSON given inline or as ``@path``."""
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"{option}: cannot read {value[1:]}: {exc.strerror or exc}")
    try:
        return json.loads(text)
    except ValueError as exc:
        usage_error(f"{option}: not valid JSON ({exc})")


def parse_variants(items: tuple[str, ...]) -> list[Variant]:
    """``key=percentage`` items to variants."""
    variants = []
    for item in items:
        key, sep, pct = item.partition("=")
        try:
            number = float(pct)
        except ValueError:
            number = float("nan")
        if not sep or not key or number != number:
            raise click.BadParameter(f"expected KEY=PERCENT, got {item!r}", param_hint="--variant")
        variants.append(
            Variant(key=key, rollout_percentage=int(number) if number.is_integer() else number)
        )
    return variants


def parse_payloads(items: tuple[str, ...]) -> dict[str, str]:
    """``value=JSON`` items to PostHog payloads (JSON-encoded strings, keyed by value)."""
    payloads = {}
    for item in items:
        value, sep, raw = item.partition("=")
        if not sep or not value:
            raise click.BadParameter(f"expected VALUE=JSON, got {item!r}", param_hint="--payload")
        try:
            decoded = json.loads(raw)
        except ValueError:
            decoded = raw  # plain text payload
        payloads[value] = json.dumps(decoded, ensure_ascii=False)
    return payloads


def _rollout_text(flag: FeatureFlag) -> str:
    pct = flag.rollout_percentage
    if pct is not None:
        return f"{pct:g}%"
    groups = flag.groups
    return f"{len(groups)} condition{'s' if len(groups) != 1 else ''}"


def _flag_rows(flags: list[FeatureFlag]) -> list[tuple[Any, ...]]:
    return [
        (
            flag.id,
            flag.key,
            flag.name,
            "yes" if flag.active else "no",
            _rollout_text(flag),
            ", ".join(f"{v.key} {v.rollout_percentage:g}%" for v in flag.variants),
        )
        for flag in flags
    ]


def print_flag(flag: FeatureFlag) -> None:
    """A readable summary of one flag."""
    out = console()
    status = "active" if flag.active else "inactive"
    if flag.deleted:
        status += ", deleted"
    out.print(Text(f"{flag.key} (id {flag.id}, {status})", style="bold"))
    if flag.name:
        out.print(Text(f"  name: {flag.name}"))
    if flag.tags:
        out.print(Text(f"  tags: {', '.join(flag.tags)}"))
    if flag.aggregation_group_type_index is not None:
        out.print(Text(f"  aggregated by group type {flag.aggregation_group_type_index}"))
    for index, group in enumerate(flag.groups, start=1):
        props = group.get("properties") or []
        rollout = group.get("rollout_percentage")
        rollout_text = "100% (no rollout limit)" if rollout is None else f"{rollout:g}%"
        out.print(Text(f"  condition {index}: {len(props)} filter(s), rollout {rollout_text}"))
        for prop in props:
            if isinstance(prop, Mapping):
                operator = prop.get("operator") or "exact"
                out.print(
                    Text(
                        f"    {prop.get('type') or 'person'} {prop.get('key')} {operator} "
                        f"{show_json(prop.get('value'), 80)}"
                    )
                )
        if group.get("variant"):
            out.print(Text(f"    variant override: {group['variant']}"))
    for variant in flag.variants:
        out.print(Text(f"  variant {variant.key}: {variant.rollout_percentage:g}%"))
    for value, payload in flag.payloads.items():
        out.print(Text(f"  payload for {value}: {show_json(_decoded(payload), 100)}"))


def _decoded(payload: Any) -> Any:
    """PostHog stores payloads as JSON-encoded strings; show what they encode."""
    if isinstance(payload, str):
        try:
            return json.loads(payload)
        except ValueError:
            return payload
    return payload


@click.group("flags")
def flags_group() -> None:
    """Manage feature flags through PostHog's admin API (or `flagkit serve`)."""


@flags_group.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--offset", type=click.IntRange(min=0), default=None)
@click.option("--all", "all_pages", is_flag=True, help="Follow pagination to the end.")
@click.option("--search", default=None, help="Only flags whose key or name contain this.")
@api_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(
    limit: int, offset: int | None, all_pages: bool, search: str | None, as_json: bool
) -> None:
    """List the project's flags."""
    filters = {"search": search} if search else {}
    with open_api() as api:
        if all_pages:
            flags = list(api.flags.iter_all(page_size=limit, **filters))
            total: int | None = len(flags)
        else:
            page = api.flags.list(limit=limit, offset=offset, **filters)
            flags, total = list(page.results), page.count
    if search:
        # Older servers ignore ?search; filter here too so the answer is the same.
        needle = search.lower()
        flags = [f for f in flags if needle in f.key.lower() or needle in f.name.lower()]
    if as_json:
        emit_json([f.to_dict() for f in flags])
        return
    shown = f"{len(flags)} of {total}" if total is not None else str(len(flags))
    console().print(
        table(
            f"Feature flags ({shown})",
            ("ID", "Key", "Name", "Active", "Rollout", "Variants"),
            _flag_rows(flags),
        )
    )


@flags_group.command("get")
@click.argument("flag")
@api_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def get_command(flag: str, as_json: bool) -> None:
    """Show one flag, by id or key."""
    with open_api() as api:
        found = resolve(api, flag)
    if as_json:
        emit_json(found.to_dict())
    else:
        print_flag(found)


@attrs.frozen
class FilterEdits:
    """What ``--rollout``, ``--variant``, ``--payload`` and ``--filters`` ask to change."""

    rollout: float | None
    variants: tuple[str, ...]
    payloads: tuple[str, ...]
    filters_json: str | None

    @property
    def given(self) -> bool:
        """True when one of the options was given."""
        options = (self.rollout is not None, self.variants, self.payloads)
        return self.filters_json is not None or any(options)

    def base(self, current: Mapping[str, Any]) -> Mapping[str, Any]:
        """The filters to start from: ``--filters`` when given, else ``current``."""
        base = parse_json_arg(self.filters_json, "--filters") if self.filters_json else current
        if not isinstance(base, Mapping):
            usage_error("--filters: expected a JSON object")
        return base

    def applied(self, base: Mapping[str, Any], rollout: float | None) -> dict[str, Any]:
        """``base`` with the rollout (``rollout``), variants and payloads applied."""
        filters: dict[str, Any] = json.loads(json.dumps(dict(base)))  # a deep copy
        if rollout is not None:
            groups = filters.get("groups") or []
            if len(groups) > 1:
                fail(
                    f"the flag has {len(groups)} condition groups; change them with --filters "
                    "instead of --rollout"
                )
            if groups:
                groups[0]["rollout_percentage"] = rollout
            else:
                groups = [{"properties": [], "rollout_percentage": rollout}]
            filters["groups"] = groups
        if self.variants:
            variants = [v.to_dict() for v in parse_variants(self.variants)]
            filters["multivariate"] = {"variants": variants}
        if self.payloads:
            payloads = parse_payloads(self.payloads)
            filters["payloads"] = {**(filters.get("payloads") or {}), **payloads}
        return filters


_FILTER_OPTIONS = [
    click.option(
        "--rollout",
        type=float,
        default=None,
        metavar="PERCENT",
        help="Roll out to this share (0-100) of users (one condition group).",
    ),
    click.option(
        "--variant",
        "variants",
        multiple=True,
        metavar="KEY=PERCENT",
        help="A variant and its share; repeat for each (shares must sum to 100).",
    ),
    click.option(
        "--payload",
        "payloads",
        multiple=True,
        metavar="VALUE=JSON",
        help='Payload for a value ("true" or a variant key), e.g. true=\'{"color": "blue"}\'.',
    ),
    click.option(
        "--filters",
        "filters_json",
        default=None,
        metavar="JSON|@FILE",
        help="The full filters object, inline or from a file.",
    ),
]
filter_options = option_group("edits", FilterEdits, _FILTER_OPTIONS)


@flags_group.command("create")
@click.argument("key")
@click.option("--name", default=None, help="Description of the flag.")
@filter_options
@click.option("--inactive", is_flag=True, help="Create it switched off.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@api_options
@click.option("--json", "as_json", is_flag=True, help="Print the created flag as JSON.")
def create_command(
    key: str,
    name: str | None,
    edits: FilterEdits,
    inactive: bool,
    tags: tuple[str, ...],
    as_json: bool,
) -> None:
    """Create flag KEY. Without --rollout or --filters it starts at 0% (nobody), so
    nothing changes until you roll it out."""
    base = edits.base({})
    rollout = edits.rollout
    if rollout is None and not base.get("groups"):
        rollout = 0.0 if not edits.filters_json else None
    filters = edits.applied(base, rollout)
    fields: dict[str, Any] = {"tags": list(tags)} if tags else {}
    with open_api() as api:
        flag = api.flags.create(
            key, name=name or "", filters=filters, active=not inactive, **fields
        )
    if as_json:
        emit_json(flag.to_dict())
    else:
        console().print(Text(f"Created flag {flag.key} (id {flag.id})."))
        print_flag(flag)


@flags_group.command("update")
@click.argument("flag")
@click.option("--name", default=None, help="New description.")
@click.option("--active/--inactive", "active", default=None, help="Switch the flag on or off.")
@filter_options
@api_options
@click.option("--json", "as_json", is_flag=True, help="Print the updated flag as JSON.")
def update_command(
    flag: str,
    name: str | None,
    active: bool | None,
    edits: FilterEdits,
    as_json: bool,
) -> None:
    """Change a flag (by id or key); only the given fields change."""
    fields: dict[str, Any] = {}
    if name is not None:
        fields["name"] = name
    if active is not None:
        fields["active"] = active
    with open_api() as api:
        current = resolve(api, flag)
        if edits.given:
            fields["filters"] = edits.applied(edits.base(current.filters), edits.rollout)
        if not fields:
            usage_error(
                "nothing to update: pass --name, --active/--inactive, --rollout, --variant, "
                "--payload or --filters"
            )
        if current.id is None:
            fail(f"the server returned flag {current.key!r} without an id")
        updated = api.flags.update(current.id, **fields)
    if as_json:
        emit_json(updated.to_dict())
    else:
        console().print(Text(f"Updated flag {updated.key} (id {updated.id})."))
        print_flag(updated)


@flags_group.command("delete")
@click.argument("flag")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@api_options
@click.option("--json", "as_json", is_flag=True, help="Print the deleted flag as JSON.")
def delete_command(flag: str, yes: bool, as_json: bool) -> None:
    """Delete a flag (by id or key). PostHog keeps it as soft-deleted."""
    with open_api() as api:
        current = resolve(api, flag)
        if not yes and not click.confirm(f"Delete flag {current.key} (id {current.id})?"):
            console().print(Text(f"Not deleted: flag {current.key} is unchanged."))
            return
        deleted = api.flags.delete(current)
    if as_json:
        emit_json(deleted.to_dict())
    else:
        console().print(Text(f"Deleted flag {current.key} (id {current.id})."))


def _changes(detail: Mapping[str, Any]) -> str:
    changes = detail.get("changes")
    if not isinstance(changes, list):
        return ""
    parts = []
    for change in changes:
        if isinstance(change, Mapping):
            field = change.get("field") or change.get("type") or "?"
            before = show_json(change.get("before"), 30)
            after = show_json(change.get("after"), 30)
            parts.append(f"{field}: {before} -> {after}")
    return "; ".join(parts)


@flags_group.command("activity")
@click.argument("flag", required=False)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@api_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def activity_command(flag: str | None, limit: int, as_json: bool) -> None:
    """Show the activity log of one flag (by id or key), or of all flags."""
    with open_api() as api:
        flag_id = resolve(api, flag).id if flag is not None else None
        page = api.flags.activity(flag_id, limit=limit)
    if as_json:
        emit_json(page.to_dict())
        return
    rows = [
        (
            entry.created_at or "",
            entry.activity,
            entry.detail.get("name") or entry.item_id or "",
            (entry.user or {}).get("email") or (entry.user or {}).get("first_name") or "",
            _changes(entry.detail),
        )
        for entry in page.results
    ]
    console().print(table("Activity", ("When", "Activity", "Flag", "By", "Changes"), rows))


__all__ = ["flags_group", "parse_payloads", "parse_variants", "print_flag", "resolve"]
