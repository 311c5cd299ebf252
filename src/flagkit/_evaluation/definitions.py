"""The raw flag definitions of a snapshot, by key, kept decoded or as compact JSON bytes.

A serving client needs the raw definitions rarely (``Snapshot.definition()``, ``to_dict()``,
explanations of a missing device id) once every flag is compiled, yet the decoded objects
are most of a snapshot's memory. :meth:`Definitions.compact` swaps each decoded definition
for its canonical JSON bytes (the ones the fingerprint is computed from); reading one
decodes it again. Values of other types than ``bytes`` are returned as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any


class Definitions(Mapping[str, Mapping[str, Any]]):
    """Flag key -> raw definition, in definition order. Reads are safe from any thread;
    only the snapshot's builder (one thread) writes."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getitem__(self, key: str) -> Mapping[str, Any]:
        value = self._values[key]
        if type(value) is bytes:
            decoded: Mapping[str, Any] = json.loads(value)
            return decoded
        return value  # type: ignore[no-any-return]

    def get(self, key: str, default: Any = None) -> Any:
        value = self._values.get(key, default)
        if type(value) is bytes:
            return json.loads(value)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"<Definitions of {len(self._values)} flags>"

    def stored(self, key: str) -> Any:
        """What is kept for ``key``: the decoded definition or its canonical bytes."""
        return self._values[key]

    def keep(self, key: str, value: Any) -> None:
        """Store ``value`` (a decoded definition or canonical bytes) for ``key``."""
        self._values[key] = value

    def compact(self, canonical: Mapping[str, bytes]) -> None:
        """Replace each decoded definition with its canonical JSON bytes from ``canonical``
        (which must be exactly what the decoded value serialises to)."""
        values = self._values
        for key, data in canonical.items():
            # Only replacing existing entries: the mapping's size never changes.
            if key in values and type(values[key]) is not bytes:
                values[key] = data
