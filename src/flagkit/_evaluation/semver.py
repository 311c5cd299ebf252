"""Loose semantic-version parsing and ranges for the ``semver_*`` operators.

Versions are (major, minor, patch) tuples. Pre-release and build suffixes are ignored,
missing parts count as 0, and parts beyond the third are ignored. Every failure raises
``ValueError`` (or ``TypeError``), which callers turn into an inconclusive cause.
"""

from __future__ import annotations

from typing import Any, cast

__all__ = [
    "Version",
    "caret_range",
    "parse_property_version",
    "parse_version",
    "tilde_range",
    "wildcard_range",
]

Version = tuple[int, int, int]
Range = tuple[Version, Version]


def _number(part: str) -> int:
    # str.isdigit accepts other scripts' digits; int() then accepts or rejects them.
    if not part or not part.isdigit():
        raise ValueError(f"not a version number: {part!r}")
    if len(part) > 1 and part[0] == "0":
        raise ValueError(f"version number with a leading zero: {part!r}")
    return int(part)


def parse_version(value: Any) -> Version:
    """Parse ``str(value)`` as a loose semantic version."""
    text = str(value).strip().lstrip("vV")
    core = text.split("-")[0].split("+")[0]
    parts = core.split(".")
    if not parts[0]:
        raise ValueError("empty version")
    major = _number(parts[0])
    minor = _number(parts[1]) if len(parts) > 1 and parts[1] else 0
    patch = _number(parts[2]) if len(parts) > 2 and parts[2] else 0
    return (major, minor, patch)


# App versions repeat across callers: parse each distinct string once. Bounded, and
# cleared when full, so a stream of unique strings cannot grow it without limit.
_PROPERTY_CACHE: dict[str, Version | None] = {}
_PROPERTY_CACHE_LIMIT = 4096
_MISSING = object()


def parse_property_version(value: Any) -> Version:
    """:func:`parse_version` for property values, memoised for strings."""
    if type(value) is not str:
        return parse_version(value)
    # One .get(): another thread may clear the cache between a test and a read.
    cached = _PROPERTY_CACHE.get(value, _MISSING)
    if cached is not _MISSING:
        version = cast("Version | None", cached)
    else:
        try:
            version = parse_version(value)
        except ValueError:
            version = None
        if len(_PROPERTY_CACHE) >= _PROPERTY_CACHE_LIMIT:
            _PROPERTY_CACHE.clear()
        _PROPERTY_CACHE[value] = version
    if version is None:
        raise ValueError(f"not a version: {value!r}")
    return version


def tilde_range(value: Any) -> Range:
    """``~M.m.p``: at least the version, below the next minor."""
    major, minor, patch = parse_version(str(value))
    return (major, minor, patch), (major, minor + 1, 0)


def caret_range(value: Any) -> Range:
    """``^M.m.p``: at least the version, below the next change of the leftmost non-zero part."""
    major, minor, patch = parse_version(str(value))
    if major > 0:
        upper = (major + 1, 0, 0)
    elif minor > 0:
        upper = (0, minor + 1, 0)
    else:
        upper = (0, 0, patch + 1)
    return (major, minor, patch), upper


def wildcard_range(value: Any) -> Range:
    """``M.*``, ``M.m.*`` or ``M.m.p``: the versions sharing the given leading parts."""
    cleaned = str(value).strip().lstrip("vV").replace("*", "").rstrip(".")
    parts = [part for part in cleaned.split(".") if part]
    if not parts:
        raise ValueError("empty wildcard version")
    if len(parts) == 1:
        major = _number(parts[0])
        return (major, 0, 0), (major + 1, 0, 0)
    if len(parts) == 2:
        major, minor = _number(parts[0]), _number(parts[1])
        return (major, minor, 0), (major, minor + 1, 0)
    major, minor, patch = _number(parts[0]), _number(parts[1]), _number(parts[2])
    return (major, minor, patch), (major, minor, patch + 1)
