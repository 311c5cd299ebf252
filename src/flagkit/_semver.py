"""Loose semantic-version parsing and ranges for the ``semver_*`` operators.

Versions are (major, minor, patch) tuples. Pre-release and build suffixes are ignored,
missing parts count as 0, and parts beyond the third are ignored. Every failure raises
``ValueError`` (or ``TypeError``), which callers turn into an inconclusive cause.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Version",
    "caret_range",
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
