"""Snapshot: one immutable, pre-compiled set of flag definitions."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import attrs
import mmh3

from flagkit._compile import compile_flag
from flagkit._filters import CohortTest, compile_cohort_group
from flagkit._model import CompiledFlag
from flagkit.errors import DefinitionsError


def _canonical(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr
    ).encode("utf-8", "surrogatepass")


def _fingerprint(value: Any) -> str:
    return mmh3.hash_bytes(_canonical(value)).hex()


def _matching_version(value: Any) -> int:
    # Only the integer 2 selects explicit matching; anything else is the legacy rules.
    return 2 if type(value) is int and value == 2 else 1


@attrs.frozen(slots=True, repr=False, eq=False)
class Snapshot:
    """An immutable, compiled set of flag definitions.

    Build one with :meth:`from_dict`, :meth:`from_json` or :meth:`from_file` from a
    PostHog local-evaluation body (``{"flags": [...], "group_type_mapping": {...},
    "cohorts": {...}, "property_matching_version": 1}``). A malformed flag never fails the
    load: it is listed in :attr:`problems` and evaluates with reason ``INVALID_DEFINITION``
    (or the undecidable outcome PostHog's SDK reaches for it), while every other flag works.
    """

    flags: Mapping[str, CompiledFlag]
    cohorts: Mapping[str, CohortTest]
    group_type_mapping: Mapping[str, Any]
    property_matching_version: int
    problems: tuple[str, ...]
    body: Mapping[str, Any]
    _memo: dict[str, Any] = attrs.field(factory=dict)

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def empty(cls) -> Snapshot:
        """A snapshot with no flags."""
        return cls.from_dict({})

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Snapshot:
        """Compile a decoded local-evaluation body. Missing keys are allowed."""
        if not isinstance(body, Mapping):
            raise DefinitionsError(f"definitions must be a JSON object, not {type(body).__name__}")
        problems: list[str] = []
        mapping = body.get("group_type_mapping") or {}
        if not isinstance(mapping, Mapping):
            problems.append("'group_type_mapping' is not an object; ignored")
            mapping = {}
        raw_cohorts = body.get("cohorts") or {}
        if not isinstance(raw_cohorts, Mapping):
            problems.append("'cohorts' is not an object; ignored")
            raw_cohorts = {}
        version = _matching_version(body.get("property_matching_version", 1))

        raw_flags = body.get("flags") or []
        if not isinstance(raw_flags, list):
            problems.append("'flags' is not a list; no flags loaded")
            raw_flags = []
        flags: dict[str, CompiledFlag] = {}
        for position, raw in enumerate(raw_flags):
            if not isinstance(raw, Mapping):
                problems.append(f"flags[{position}] is not an object; skipped")
                continue
            key = raw.get("key")
            if key is None:
                problems.append(f"flags[{position}] has no 'key'; skipped")
                continue
            if not isinstance(key, str):
                problems.append(f"flags[{position}] has a non-string key {key!r}; skipped")
                continue
            if key in flags:
                problems.append(f"flag {key!r} is defined twice; the last definition wins")
            flags[key] = compile_flag(raw, mapping, version, problems)

        cohorts = {
            str(cohort_id): compile_cohort_group(group, version)
            for cohort_id, group in raw_cohorts.items()
        }
        return cls(
            flags=flags,
            cohorts=cohorts,
            group_type_mapping=dict(mapping),
            property_matching_version=version,
            problems=tuple(problems),
            body=body,
        )

    @classmethod
    def from_json(cls, text: str | bytes | bytearray) -> Snapshot:
        """Parse and compile a JSON local-evaluation body."""
        try:
            body = json.loads(text)
        except (ValueError, TypeError, RecursionError) as error:
            raise DefinitionsError(f"definitions are not valid JSON: {error}") from None
        return cls.from_dict(body)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Snapshot:
        """Read, parse and compile a JSON local-evaluation body from a file."""
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as error:
            raise DefinitionsError(f"cannot read definitions file: {error}") from None
        return cls.from_json(data)

    # -- inspection -----------------------------------------------------------------------

    @property
    def flag_keys(self) -> tuple[str, ...]:
        """The keys of all loaded flags, in definition order."""
        return tuple(self.flags)

    def __contains__(self, key: object) -> bool:
        return key in self.flags

    def __len__(self) -> int:
        return len(self.flags)

    def __repr__(self) -> str:
        return (
            f"<Snapshot flags={len(self.flags)} cohorts={len(self.cohorts)} "
            f"problems={len(self.problems)}>"
        )

    def definition(self, key: str) -> Mapping[str, Any] | None:
        """The raw definition of one flag, or None."""
        flag = self.flags.get(key)
        return flag.raw if flag is not None else None

    def to_dict(self) -> dict[str, Any]:
        """The body this snapshot was built from (usable as a bootstrap file)."""
        return dict(self.body)

    @property
    def fingerprint(self) -> str:
        """A 128-bit mmh3 fingerprint (hex) of the definitions that affect evaluation."""
        cached = self._memo.get("fingerprint")
        if cached is None:
            cached = _fingerprint(
                {
                    "flags": [flag.raw for flag in self.flags.values()],
                    "shared": self._shared_parts(),
                }
            )
            self._memo["fingerprint"] = cached
        return str(cached)

    def _shared_parts(self) -> dict[str, Any]:
        return {
            "group_type_mapping": self.group_type_mapping,
            "cohorts": self.body.get("cohorts") or {},
            "property_matching_version": self.property_matching_version,
        }

    def _flag_fingerprints(self) -> dict[str, str]:
        cached = self._memo.get("flags")
        if cached is None:
            cached = {key: _fingerprint(flag.raw) for key, flag in self.flags.items()}
            self._memo["flags"] = cached
        return dict(cached)

    def diff(self, other: Snapshot) -> frozenset[str]:
        """Keys of flags added, removed or changed between ``other`` and this snapshot.

        A change to cohorts, group types or the matching version counts as a change to
        every flag, since any of them may read it.
        """
        if _fingerprint(self._shared_parts()) != _fingerprint(other._shared_parts()):
            return frozenset(self.flags) | frozenset(other.flags)
        mine = self._flag_fingerprints()
        theirs = other._flag_fingerprints()
        return frozenset(
            key for key in mine.keys() | theirs.keys() if mine.get(key) != theirs.get(key)
        )
