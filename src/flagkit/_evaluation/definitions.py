"""The raw flag definitions of a snapshot, by key, kept decoded or packed as compressed JSON.

A serving client needs the raw definitions rarely (``Snapshot.definition()``, ``to_dict()``,
explanations of a missing device id) once every flag is compiled, yet the decoded objects
are most of a snapshot's memory. :meth:`Definitions.compact` swaps the decoded definitions
for their canonical JSON bytes (the ones the fingerprint is computed from), compressed in
packs of consecutive flags; reading one decompresses its pack and decodes it again.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

# Flags per pack: large enough for zlib to find what neighbouring definitions repeat (a
# pack of 32 is about an eighth of its JSON), small enough that reading one definition
# decompresses little (about 20 µs).
_PACK_SIZE = 32
# Level 1: most of the gain of the higher levels at a fraction of their CPU, which every
# reload pays for the flags it changes.
_LEVEL = 1
# Canonical JSON never holds a raw newline (one inside a string is escaped): a safe joint.
_JOINT = b"\n"


class _Pack:
    """The canonical JSON bytes of consecutive definitions, compressed together."""

    __slots__ = ("_blob", "keys")

    def __init__(self, keys: tuple[str, ...], entries: list[bytes]) -> None:
        self.keys = keys
        self._blob = zlib.compress(_JOINT.join(entries), _LEVEL)

    def entries(self) -> list[bytes]:
        """Every member's bytes, in the order of :attr:`keys`."""
        return zlib.decompress(self._blob).split(_JOINT)

    def members(self) -> dict[str, bytes]:
        """Each member's key and bytes."""
        return dict(zip(self.keys, self.entries(), strict=True))

    def entry(self, key: str) -> bytes:
        return self.entries()[self.keys.index(key)]


def _decode(key: str, value: Any) -> Any:
    kind = type(value)
    if kind is _Pack:
        return json.loads(value.entry(key))
    if kind is bytes:
        return json.loads(value)
    return value


class Definitions(Mapping[str, Mapping[str, Any]]):
    """Flag key -> raw definition, in definition order. Reads are safe from any thread;
    only the snapshot's builder (one thread) writes, one entry at a time."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getitem__(self, key: str) -> Mapping[str, Any]:
        decoded: Mapping[str, Any] = _decode(key, self._values[key])
        return decoded

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self._values:
            return default
        return _decode(key, self._values[key])

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"<Definitions of {len(self._values)} flags>"

    def decoded(self) -> list[Any]:
        """Every definition, decoded, in order; each pack is decompressed once."""
        opened: dict[int, dict[str, bytes]] = {}
        out = []
        for key, value in list(self._values.items()):
            if type(value) is _Pack:
                members = opened.get(id(value))
                if members is None:
                    members = opened[id(value)] = value.members()
                value = members[key]
            out.append(json.loads(value) if type(value) is bytes else value)
        return out

    def stored(self, key: str) -> Any:
        """What is kept for ``key``: the decoded definition, its canonical bytes, or the
        pack holding them."""
        return self._values[key]

    def canonical(self, key: str) -> bytes | None:
        """The canonical bytes kept for ``key``, or None when it is kept decoded."""
        value = self._values[key]
        if type(value) is _Pack:
            return value.entry(key)
        return value if type(value) is bytes else None

    def keep(self, key: str, value: Any) -> None:
        """Store ``value`` (what :meth:`stored` returned for ``key``, here or in another
        Definitions) for ``key``."""
        self._values[key] = value

    def compact(self, canonical: Mapping[str, bytes]) -> None:
        """Pack the definitions kept decoded or as bytes, from ``canonical`` (the exact
        serialisation of each decoded value; a value missing from it stays decoded).

        Packs kept from another snapshot (a reload's reused flags) stay shared unless fewer
        than half their members are still here: those are packed again with the rest, so a
        long run of reloads never holds more than about twice the bytes it needs.
        """
        values = self._values
        items = list(values.items())
        live: dict[int, int] = {}
        for _, value in items:
            if type(value) is _Pack:
                live[id(value)] = live.get(id(value), 0) + 1
        opened: dict[int, dict[str, bytes]] = {}
        keys: list[str] = []
        entries: list[bytes] = []
        for key, value in items:
            kind = type(value)
            data: bytes | None
            if kind is _Pack:
                if live[id(value)] * 2 >= len(value.keys):
                    continue
                members = opened.get(id(value))
                if members is None:
                    members = opened[id(value)] = value.members()
                data = members[key]
            elif kind is bytes:
                data = value
            else:
                data = canonical.get(key)
                if data is None:
                    continue
            keys.append(key)
            entries.append(data)
            if len(keys) == _PACK_SIZE:
                self._pack(keys, entries)
                keys, entries = [], []
        if keys:
            self._pack(keys, entries)

    def _pack(self, keys: list[str], entries: list[bytes]) -> None:
        pack = _Pack(tuple(keys), entries)
        values = self._values
        # Only replacing existing entries: readers see the old form or the new one.
        for key in keys:
            values[key] = pack
