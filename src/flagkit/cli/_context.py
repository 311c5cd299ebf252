"""The evaluation context options shared by ``eval`` and ``explain``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import attrs
import click

from flagkit.cli._option_group import option_group

F = TypeVar("F", bound=Callable[..., Any])


def parse_value(text: str) -> Any:
    """A property value: JSON when it parses (``30``, ``true``, ``"01234"``, ``[1,2]``),
    otherwise the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _split(item: str, option: str, what: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name.strip():
        raise click.BadParameter(f"expected {what}, got {item!r}", param_hint=option)
    return name.strip(), value


def parse_props(items: Iterable[str]) -> dict[str, Any]:
    """``k=v`` items to a property dict (values parsed by :func:`parse_value`)."""
    props: dict[str, Any] = {}
    for item in items:
        name, value = _split(item, "--prop", "KEY=VALUE")
        props[name] = parse_value(value)
    return props


def parse_groups(items: Iterable[str]) -> dict[str, str]:
    """``type=key`` items to the ``groups`` mapping."""
    groups: dict[str, str] = {}
    for item in items:
        name, value = _split(item, "--group", "TYPE=KEY")
        groups[name] = value
    return groups


def parse_group_props(items: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``type.k=v`` items to the ``group_properties`` mapping."""
    result: dict[str, dict[str, Any]] = {}
    for item in items:
        name, value = _split(item, "--group-prop", "TYPE.KEY=VALUE")
        group_type, dot, prop = name.partition(".")
        if not dot or not group_type or not prop:
            raise click.BadParameter(
                f"expected TYPE.KEY=VALUE, got {item!r}", param_hint="--group-prop"
            )
        result.setdefault(group_type, {})[prop] = parse_value(value)
    return result


@attrs.frozen
class EvalContext:
    """Who a flag is evaluated for."""

    distinct_id: str
    person_properties: dict[str, Any] = attrs.field(factory=dict)
    groups: dict[str, str] = attrs.field(factory=dict)
    group_properties: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    device_id: str | None = None

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Evaluator.evaluate``."""
        return {
            "person_properties": self.person_properties,
            "groups": self.groups,
            "group_properties": self.group_properties,
            "device_id": self.device_id,
        }


def build_context(
    distinct_id: str,
    props: Iterable[str],
    groups: Iterable[str],
    group_props: Iterable[str],
    device_id: str | None,
) -> EvalContext:
    """The :class:`EvalContext` from the raw option values."""
    return EvalContext(
        distinct_id=distinct_id,
        person_properties=parse_props(props),
        groups=parse_groups(groups),
        group_properties=parse_group_props(group_props),
        device_id=device_id,
    )


_CONTEXT_OPTIONS = [
    click.option("--distinct-id", required=True, help="Whom to evaluate the flags for."),
    click.option(
        "--prop",
        "props",
        multiple=True,
        metavar="KEY=VALUE",
        help="A person property (repeatable). VALUE is JSON when it parses: 30, true, '\"01234\"'.",
    ),
    click.option(
        "--group",
        "groups",
        multiple=True,
        metavar="TYPE=KEY",
        help="A group the user belongs to, e.g. company=acme (repeatable).",
    ),
    click.option(
        "--group-prop",
        "group_props",
        multiple=True,
        metavar="TYPE.KEY=VALUE",
        help="A group property, e.g. company.plan=pro (repeatable).",
    ),
    click.option("--device-id", default=None, help="Device id (device-bucketed flags)."),
]
# --distinct-id, --prop, --group, --group-prop and --device-id, handed to the command as
# one ``context: EvalContext`` argument.
context_options = option_group("context", build_context, _CONTEXT_OPTIONS)


__all__ = [
    "EvalContext",
    "build_context",
    "context_options",
    "parse_group_props",
    "parse_groups",
    "parse_props",
    "parse_value",
]
