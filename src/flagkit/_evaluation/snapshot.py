"""Snapshot: one immutable, pre-compiled set of flag definitions."""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import mmh3

from flagkit._evaluation.compile import compile_flag
from flagkit._evaluation.definitions import Definitions
from flagkit._evaluation.filters import CohortTest, broken_cohort, compile_cohort_group
from flagkit._evaluation.inline_cohorts import InlineCohorts
from flagkit._evaluation.model import CompiledFlag
from flagkit._evaluation.specialize import SharedConditions
from flagkit.errors import DefinitionsError

_SEPARATORS = (",", ":")
# Ints longer than this many bits are written in hex: Python refuses to print ints of more
# than sys.get_int_max_str_digits() digits (at least 640, i.e. over 2100 bits).
_MAX_DECIMAL_BITS = 2000
# json.dumps(value, sort_keys=True, ...) without building an encoder per call (the same
# text; encode() keeps no state between calls).
_ENCODE = json.JSONEncoder(
    sort_keys=True, separators=_SEPARATORS, ensure_ascii=False, default=repr
).encode


def _safe_repr(value: Any) -> str:
    try:
        return f"{type(value).__qualname__}:{value!r}"
    except Exception:  # a foreign object whose repr fails still gets a stable stand-in
        return type(value).__qualname__


def _normalized(value: Any) -> Any:
    """``value`` rebuilt from plain JSON types with str keys, sorted: any key types mix."""
    if isinstance(value, Mapping):
        pairs = [
            (key if isinstance(key, str) else "\x00" + _safe_repr(key), _normalized(item))
            for key, item in value.items()
        ]
        pairs.sort(key=lambda pair: pair[0])
        return {"\x00map": [list(pair) for pair in pairs]}
    if isinstance(value, (list, tuple)):
        return [_normalized(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return int(value) if value.bit_length() <= _MAX_DECIMAL_BITS else {"\x00int": hex(value)}
    return _safe_repr(value)


def _exact_json(value: Any) -> bytes | None:
    """The canonical bytes of a JSON-like value (None when it cannot be written so). For
    decoded JSON (what ``json.loads`` returns) they decode back to an equal value."""
    try:
        return _ENCODE(value).encode("utf-8", "surrogatepass")
    except Exception:
        return None


def _canonical(value: Any) -> bytes:
    """Deterministic bytes for a JSON-like value. Never raises."""
    exact = _exact_json(value)
    if exact is not None:
        return exact
    # Keys of mixed or non-JSON types (sort_keys cannot order them), an int too long to
    # print, or a repr() that fails: only a body built in Python holds one.
    try:
        text = json.dumps(_normalized(value), separators=_SEPARATORS, ensure_ascii=False)
    except Exception:
        # Nested past the recursion limit, or a cycle. Unique bytes: it differs from
        # everything, so a change is never missed.
        return b"\x00unrepresentable" + os.urandom(16)
    # Lone surrogates cannot be UTF-8 encoded strictly; mmh3 must only ever see bytes (it
    # crashes the interpreter on such a str).
    return text.encode("utf-8", "surrogatepass")


def _fingerprint(value: Any) -> str:
    return mmh3.hash_bytes(_canonical(value)).hex()


def _matching_version(value: Any) -> int:
    # PostHog compares with ``!= 2``: 2 and 2.0 select explicit matching, anything else
    # (missing, 1, "2", 3) the legacy rules.
    try:
        return 2 if value == 2 else 1
    except Exception:
        return 1


# How evaluate_all runs a flag (Snapshot._plan_entry).
RUN_GENERIC = 0  # the short paths of evaluate(), then the general one
RUN_UNROLLED = 1  # CompiledFlag.run_code
RUN_SHARED = 2  # CompiledFlag.shared_code, with the call's memo of filter-list outcomes
RUN_GROUP = 3  # CompiledFlag.group_code, on the flag's group (when passed)
RUN_DISABLED = 4  # an inactive flag: its fixed answer

Runner = Callable[..., Any]
# (key, flag, run mode, the function for that mode, the flag's constants for it)
PlanEntry = tuple[str, CompiledFlag, int, Runner, tuple[Any, ...]]


def no_runner(*args: Any) -> None:
    """The runner of RUN_GENERIC entries (not called: those take the generic path)."""


@attrs.frozen(slots=True, repr=False, eq=False)
class Snapshot:
    """An immutable set of flag definitions, compiled for evaluation.

    Build one with :meth:`from_dict`, :meth:`from_json` or :meth:`from_file` from a
    PostHog local-evaluation body (``{"flags": [...], "group_type_mapping": {...},
    "cohorts": {...}, "property_matching_version": 1}``). A malformed flag never fails the
    load: it is listed in :attr:`problems` and evaluates with reason ``INVALID_DEFINITION``
    (or the undecidable outcome PostHog's SDK reaches for it), while every other flag works.

    Loading parses the body and indexes it; each flag is compiled once, on first use or
    by :meth:`compile_all` (the :class:`~flagkit.Client` serves its first load at once and
    compiles it in its background thread right after; later loads are compiled there
    before they are published, so steady-state requests never pay for it).
    """

    definitions: Mapping[str, Mapping[str, Any]]
    cohorts: Mapping[str, CohortTest]
    group_type_mapping: Mapping[str, Any]
    property_matching_version: int
    body: Mapping[str, Any]
    load_problems: tuple[str, ...]
    _compiled: dict[str, CompiledFlag] = attrs.field(factory=dict)
    # The problems of each compiled flag that has some.
    _flag_problems: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    _memo: dict[str, Any] = attrs.field(factory=dict)
    _shared: SharedConditions = attrs.field(factory=SharedConditions)

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def empty(cls) -> Snapshot:
        """A snapshot with no flags."""
        return cls.from_dict({})

    @classmethod
    def from_dict(cls, body: Mapping[str, Any], *, compile_all: bool = False) -> Snapshot:
        """Index a decoded local-evaluation body. Missing keys are allowed.

        With ``compile_all=True`` every flag is compiled now instead of on first use.
        """
        return cls._index(body, compile_all, decoded_json=False)

    @classmethod
    def _index(
        cls,
        body: Mapping[str, Any],
        compile_all: bool,
        decoded_json: bool,
        previous: Snapshot | None = None,
        owned: bool = False,
        texts: list[str] | None = None,
    ) -> Snapshot:
        """Index ``body``. With ``previous``, flags whose definition and shared inputs are
        unchanged keep their compiled form from it (see :meth:`_adopt`); ``owned`` says the
        body is this snapshot's own (freshly decoded), so reused definitions may replace
        their decoded copies in it. ``texts``: the JSON text of each entry of the body's
        flag list, as the server sent it (see flagkit._sources.flag_spans), which lets
        the next reload find unchanged flags without serialising them."""
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
        definitions: dict[str, Mapping[str, Any]] = {}
        positions: dict[str, int] = {}
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
            if key in definitions:
                problems.append(f"flag {key!r} is defined twice; the last definition wins")
            definitions[key] = raw
            positions[key] = position

        cohorts: dict[str, CohortTest] = {}
        for cohort_id, group in raw_cohorts.items():
            try:
                cohorts[str(cohort_id)] = compile_cohort_group(group, version)
            except RecursionError:  # only a dict built in Python can nest this deep
                problems.append(f"cohort {cohort_id!r} is nested too deeply to evaluate")
                cohorts[str(cohort_id)] = broken_cohort
        snapshot = cls(
            definitions=Definitions(definitions),
            cohorts=cohorts,
            group_type_mapping=dict(mapping),
            property_matching_version=version,
            body=body,
            load_problems=tuple(problems),
            shared=SharedConditions(decoded_json),
        )
        if texts is not None and len(texts) == len(raw_flags):
            # A 16-byte digest of each flag's exact text, in definition order, in one
            # bytes object (no object per flag): equal text, equal definition.
            snapshot._memo["texts"] = b"".join(
                mmh3.hash_bytes(texts[at].encode("utf-8", "surrogatepass"))
                for at in positions.values()
            )
        if previous is not None:
            snapshot._adopt(previous, raw_flags if owned else None, positions)
        if compile_all:
            snapshot.compile_all()
        return snapshot

    def _adopt(
        self, previous: Snapshot, raw_flags: list[Any] | None, positions: Mapping[str, int]
    ) -> None:
        """Take over ``previous``'s compiled flags whose definition is unchanged.

        A compiled flag reads nothing but its definition, the group types and the matching
        version, the cohorts compiled into it (``cohort_ids``: other cohorts and the flags
        it depends on are looked up when it runs), and the numbers of its filter lists in
        the snapshot's SharedConditions: so reuse needs those inputs unchanged and this
        snapshot's numbering seeded from ``previous``'s.
        """
        try:
            if (
                previous.property_matching_version != self.property_matching_version
                or previous.group_type_mapping != self.group_type_mapping
                or previous._shared.decoded_json != self._shared.decoded_json
            ):
                return
        except Exception:  # values whose comparison fails: compile afresh
            return
        theirs: dict[str, bytes] | None = previous._memo.get("flags")
        if theirs is None:
            return  # never fingerprinted: nothing cheap to compare against
        changed = self._inline_cohorts().changed_since(previous._inline_cohorts())
        mine = self._flag_fingerprint_memo(self._same_texts(previous, theirs))
        compiled = previous._compiled
        reused = {
            key: flag
            for key, fingerprint in mine.items()
            if theirs.get(key) == fingerprint
            and (flag := compiled.get(key)) is not None
            and (
                not flag.cohort_ids or (changed is not None and changed.isdisjoint(flag.cohort_ids))
            )
        }
        if not reused or not self._shared.seed(
            previous._shared, [flag.shared_numbers for flag in reused.values()]
        ):
            return
        self._compiled.update(reused)
        problems = previous._flag_problems
        definitions = self.definitions
        kept = previous.definitions
        assert isinstance(definitions, Definitions)
        assert isinstance(kept, Definitions)
        for key in reused:
            found = problems.get(key)
            if found:
                self._flag_problems[key] = found
            # One copy of the definition: the one the previous snapshot keeps (decoded, or
            # packed, which the body must not hold).
            value = kept.stored(key)
            definitions.keep(key, value)
            if raw_flags is not None and type(value) is dict:
                raw_flags[positions[key]] = value

    @classmethod
    def from_json(cls, text: str | bytes | bytearray, *, compile_all: bool = False) -> Snapshot:
        """Parse a JSON local-evaluation body (see :meth:`from_dict`)."""
        try:
            body = json.loads(text)
        except (ValueError, TypeError, RecursionError) as error:
            raise DefinitionsError(f"definitions are not valid JSON: {error}") from None
        return cls._index(body, compile_all, decoded_json=True)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, compile_all: bool = False) -> Snapshot:
        """Read and parse a JSON local-evaluation body from a file (see :meth:`from_dict`)."""
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as error:
            raise DefinitionsError(f"cannot read definitions file: {error}") from None
        return cls.from_json(data, compile_all=compile_all)

    # -- compilation ----------------------------------------------------------------------

    def compiled(self, key: str) -> CompiledFlag | None:
        """The compiled flag for ``key`` (compiling it now if needed), or None."""
        flag = self._compiled.get(key)
        if flag is None:
            raw = self.definitions.get(key)
            if raw is None:
                return None
            problems: list[str] = []
            flag = compile_flag(
                raw,
                self.group_type_mapping,
                self.property_matching_version,
                problems,
                self._shared,
                self._inline_cohorts(),
            )
            # Two threads may race here; both results are equivalent and either may stay.
            if problems:  # most flags have none: no entry for them
                self._flag_problems[key] = tuple(problems)
            self._compiled[key] = flag
        return flag

    def _inline_cohorts(self) -> InlineCohorts:
        """The cohorts, as compiling cohort filters into flags needs them."""
        inline: InlineCohorts | None = self._memo.get("inline_cohorts")
        if inline is None:
            raw = self.body.get("cohorts")
            inline = InlineCohorts(raw if isinstance(raw, Mapping) else {}, self.cohorts)
            self._memo["inline_cohorts"] = inline
        return inline

    def compile_all(self) -> Snapshot:
        """Compile every flag now (idempotent); returns the snapshot itself."""
        # Compiling allocates many small objects next to a large parsed body, which makes
        # the cyclic GC rescan that body again and again (about half the time on big
        # bodies). Nothing here creates cycles, so pause it for the duration.
        paused = gc.isenabled() and len(self.definitions) > 100
        if paused:
            gc.disable()
        try:
            for key in self.definitions:
                if key not in self._compiled:
                    self.compiled(key)
            self._shared.release()
        finally:
            if paused:
                gc.enable()
        return self

    def _evaluation_plan(self) -> list[PlanEntry]:
        """Every flag, compiled, in definition order, with how evaluate_all runs it (not
        kept: evaluate_all keeps its batch, see flagkit._evaluation.batch)."""
        self.compile_all()
        compiled = self._compiled
        # Built after every flag is compiled, so the repeat counts are final.
        return [self._plan_entry(key, compiled[key]) for key in self.definitions]

    def _positions(self) -> dict[str, int]:
        """Each flag key's position in definition order."""
        positions: dict[str, int] | None = self._memo.get("positions")
        if positions is None:
            positions = {key: index for index, key in enumerate(self.definitions)}
            self._memo["positions"] = positions
        return positions

    def _plan_entry(self, key: str, flag: CompiledFlag) -> PlanEntry:
        """(key, flag, run mode, the function for that mode, its constants)."""
        if flag.shared_code is not None and self._shared.repeated(flag.shared_numbers):
            # Some filter list repeats: worth keeping its outcome for the call.
            return key, flag, RUN_SHARED, flag.shared_code, flag.consts
        if flag.run_code is not None:
            return key, flag, RUN_UNROLLED, flag.run_code, flag.consts
        if flag.group_code is not None:
            return key, flag, RUN_GROUP, flag.group_code, flag.consts
        if not flag.active:
            return key, flag, RUN_DISABLED, no_runner, ()
        return key, flag, RUN_GENERIC, no_runner, ()

    @property
    def problems(self) -> tuple[str, ...]:
        """Everything malformed in the body: skipped entries and flags that won't evaluate."""
        self.compile_all()
        flag_problems = [p for key in self.definitions for p in self._flag_problems.get(key, ())]
        return self.load_problems + tuple(flag_problems)

    # -- inspection -----------------------------------------------------------------------

    @property
    def flag_keys(self) -> tuple[str, ...]:
        """The keys of all loaded flags, in definition order."""
        return tuple(self.definitions)

    def __contains__(self, key: object) -> bool:
        return key in self.definitions

    def __len__(self) -> int:
        return len(self.definitions)

    def __repr__(self) -> str:
        return f"<Snapshot flags={len(self.definitions)} cohorts={len(self.cohorts)}>"

    def definition(self, key: str) -> Mapping[str, Any] | None:
        """The raw definition of one flag, or None."""
        return self.definitions.get(key)

    def to_dict(self) -> dict[str, Any]:
        """The body this snapshot was built from (usable as a bootstrap file).

        A client's snapshots keep their definitions compact once compiled: their body is
        rebuilt from the loaded flags (in definition order, object keys sorted; entries
        that were skipped as malformed, and the earlier of two flags with one key, are
        not in it).
        """
        body = dict(self.body)
        if self._memo.get("compact"):
            definitions = self.definitions
            assert isinstance(definitions, Definitions)
            body["flags"] = definitions.decoded()
        return body

    def _compact(self) -> None:
        """Keep each definition as its canonical JSON bytes instead of decoded objects, and
        drop the body's decoded flag list (see :meth:`to_dict`). For the client's own
        snapshots only: their body is decoded JSON that nothing else holds. Call once every
        flag is compiled and the fingerprints are computed."""
        # Marked first: a fingerprint computed meanwhile in another thread (a status read
        # right after a first load) then keeps no canonical bytes of its own.
        self._memo["compacting"] = True
        canonical: dict[str, bytes] | None = self._memo.pop("canonical", None)
        definitions = self.definitions
        body = self.body
        if not isinstance(definitions, Definitions) or self._memo.get("compact"):
            return
        if canonical is None:
            if "flags" not in self._memo or not self._shared.decoded_json:
                return  # not fingerprinted from decoded JSON: nothing to compact from
            # Fingerprinted by a thread that came after this one started: serialise again.
            canonical = {}
            for key in definitions:
                if definitions.canonical(key) is None:
                    data = _exact_json(definitions.stored(key))
                    if data is not None:
                        canonical[key] = data
        definitions.compact(canonical)
        # Marked before the list goes, so a concurrent to_dict() rebuilds it either way.
        self._memo["compact"] = True
        if isinstance(body, dict):
            body.pop("flags", None)

    @property
    def fingerprint(self) -> str:
        """A 128-bit mmh3 fingerprint (hex) of the definitions that affect evaluation."""
        cached = self._memo.get("fingerprint")
        if cached is None:
            # From the per-flag fingerprints (in definition order), which diff() and
            # reload reuse need anyway: each definition is serialised once.
            flags = self._flag_fingerprint_memo()
            joined = b"".join(flags.values()) + b"|" + self._shared_fingerprint().encode()
            cached = mmh3.hash_bytes(joined).hex()
            self._memo["fingerprint"] = cached
        return str(cached)

    def _shared_fingerprint(self) -> str:
        cached = self._memo.get("shared")
        if cached is None:
            cached = self._memo["shared"] = _fingerprint(self._shared_parts())
        return str(cached)

    def _shared_parts(self) -> dict[str, Any]:
        return {
            "group_type_mapping": self.group_type_mapping,
            "cohorts": self.body.get("cohorts") or {},
            "property_matching_version": self.property_matching_version,
        }

    def _same_texts(self, previous: Snapshot, theirs: dict[str, bytes]) -> dict[str, bytes]:
        """The fingerprints of the flags whose text is the same as in ``previous`` (taken
        from ``theirs``), each sharing what ``previous`` stores for it."""
        mine: bytes | None = self._memo.get("texts")
        their: bytes | None = previous._memo.get("texts")
        definitions, kept = self.definitions, previous.definitions
        if not mine or not their or not isinstance(definitions, Definitions):
            return {}
        assert isinstance(kept, Definitions)
        their_at = {key: 16 * at for at, key in enumerate(kept)}
        same: dict[str, bytes] = {}
        for at, key in enumerate(definitions):
            fingerprint = theirs.get(key)
            start = their_at.get(key)
            if fingerprint is None or start is None:
                continue
            if their[start : start + 16] == mine[16 * at : 16 * at + 16]:
                same[key] = fingerprint
                definitions.keep(key, kept.stored(key))
        return same

    def _flag_fingerprint_memo(self, known: dict[str, bytes] | None = None) -> dict[str, bytes]:
        """Each flag's fingerprint (16 bytes: kept for every flag), in definition order
        (shared: not to be modified). ``known``: fingerprints already known for some flags
        (the first call only)."""
        cached: dict[str, bytes] | None = self._memo.get("flags")
        if cached is None:
            definitions = self.definitions
            known = known or {}
            if not (self._shared.decoded_json and isinstance(definitions, Definitions)):
                cached = {key: mmh3.hash_bytes(_canonical(raw)) for key, raw in definitions.items()}
            else:
                # Decoded JSON serialises exactly: keep the bytes for _compact(). A value
                # kept compact already is its own canonical form.
                canonical: dict[str, bytes] = {}
                cached = {}
                for key in definitions:
                    already = known.get(key)
                    if already is not None:
                        cached[key] = already
                        continue
                    data = definitions.canonical(key)
                    if data is None:
                        value = definitions.stored(key)
                        data = _exact_json(value)
                        if data is None:
                            data = _canonical(value)
                        else:
                            canonical[key] = data
                    cached[key] = mmh3.hash_bytes(data)
                self._memo["canonical"] = canonical
                if self._memo.get("compacting"):
                    # _compact() ran meanwhile (in another thread): keep no second copy.
                    self._memo.pop("canonical", None)
            self._memo["flags"] = cached
        return cached

    def diff(self, other: Snapshot) -> frozenset[str]:
        """Keys of flags added, removed or changed between ``other`` and this snapshot.

        A change to cohorts, group types or the matching version counts as a change to
        every flag, since any of them may read it.
        """
        if self._shared_fingerprint() != other._shared_fingerprint():
            return frozenset(self.definitions) | frozenset(other.definitions)
        mine = self._flag_fingerprint_memo()
        theirs = other._flag_fingerprint_memo()
        return frozenset(
            key for key in mine.keys() | theirs.keys() if mine.get(key) != theirs.get(key)
        )
