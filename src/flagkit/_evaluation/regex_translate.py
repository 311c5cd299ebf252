"""The dialect gate and the translation of ``regex`` patterns into RE2 patterns.

:func:`flagkit._evaluation.regex.compile_regex` scans a pattern with :class:`_Scan`, which
decides whether PostHog evaluates it locally (its dialect gate), records what Python would
make of it, and writes the equivalent RE2 pattern (:class:`_Re2Writer`). See the module
docstring of ``regex`` for the rules.
"""

from __future__ import annotations

import array
import functools
import re
import sys

from flagkit._evaluation.outcome import Cause

_UNSUPPORTED = Cause.UNSUPPORTED_DEFINITION
_MAX_COUNT = 0xFFFFFFFF
_RE2_MAX_REPEAT = 1000
_EXPAND_LIMIT = 2_000  # larger repeat counts make RE2 programs slow to run
_NOTHING = "[^\\x{0}-\\x{10ffff}]"
_MAX_CODE_POINT = 0x10FFFF
# Python's parser recurses per group level; PostHog's compile then fails with a recursion
# error (inconclusive) from this depth when called from a shallow stack.
_DEEPEST_GROUPS = 492
_REPETITION = re.compile(r"\{([0-9]+)(?:,([0-9]*))?\}")
_SHORTHANDS = "dDsSwW"
_CLASS_PUNCTUATION = "\\-[]^.$*+?(){}|"
_SIMPLE_ESCAPES = {"b": 0x08, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09}
_HEX = frozenset("0123456789abcdefABCDEF")


class RegexStatus:
    """What compiling a pattern produced."""

    EMPTY = "empty"  # matches everything
    INVALID = "invalid"  # Python's compiler rejects it: regex and not_regex are both False
    DEFERRED = "deferred"  # outside the shared dialect: inconclusive
    READY = "ready"  # searchable
    ENGINE_LIMIT = "engine-limit"  # valid for PostHog but too large for RE2 here


class _DeferError(Exception):
    """The pattern is outside the dialect PostHog evaluates locally."""


class _EngineLimitError(Exception):
    """The pattern cannot be expressed within RE2's limits."""


class _TooCostlyError(Exception):
    """The RE2 program is larger than flagkit searches (see _MAX_PROGRAM_SIZE)."""


# Kinds of the previous element, which decide whether a quantifier may follow.
_START, _ALT, _OPEN, _CARET, _DOLLAR, _EMPTY_GROUP, _QUANT, _CLOSE, _ATOM = range(9)
_NO_COUNTED_REPEAT_AFTER = (_START, _ALT, _OPEN, _CARET, _DOLLAR, _EMPTY_GROUP, _QUANT)
_NO_REPEAT_AFTER = (_CARET, _DOLLAR, _EMPTY_GROUP)


class _Re2Writer:
    """Builds the RE2 pattern while scanning, without recursion.

    Each piece is kept with the shortest length it matches. Only used when Python accepts
    the pattern, so structural errors (which set ``broken``) never matter; ``too_large``
    records a repeat RE2 cannot express, ``exact_up_to`` the longest subject on which the
    translation is exact (``None``: all).
    """

    def __init__(self) -> None:
        self.frames: list[list[list[tuple[str, int]]]] = [[[]]]
        self.after_repeat = False
        self.broken = False
        self.too_large = False
        self.exact_up_to: int | None = None

    def atom(self, text: str, shortest: int = 1) -> None:
        self.frames[-1][-1].append((text, shortest))
        self.after_repeat = False

    def open(self) -> None:
        self.frames.append([[]])
        self.after_repeat = False

    def close(self) -> None:
        self.broken = self.broken or len(self.frames) < 2
        if not self.broken:
            text, shortest = _join(self.frames.pop())
            self.atom("(?:" + text + ")", shortest)

    def alternate(self) -> None:
        self.frames[-1].append([])
        self.after_repeat = False

    def repeat(self, low: int, high: int, lazy_marker: bool) -> None:
        # "?" right after a quantifier only makes it lazy, which never changes whether a
        # search finds a match.
        if self.after_repeat and lazy_marker:
            self.after_repeat = False
            return
        branch = self.frames[-1][-1]
        if not branch:
            self.broken = True
            return
        atom, shortest = branch[-1]
        try:
            text, total, exact_up_to = _repeat(atom, shortest, low, high)
        except _EngineLimitError:
            self.too_large = True
            return
        branch[-1] = ("(?:" + text + ")", total)
        if exact_up_to is not None:
            previous = self.exact_up_to
            self.exact_up_to = exact_up_to if previous is None else min(previous, exact_up_to)
        self.after_repeat = True

    def text(self) -> str:
        self.broken = self.broken or len(self.frames) != 1
        return _join(self.frames[0])[0]

    def shortest(self) -> int:
        """The fewest characters any match takes (call after :meth:`text`)."""
        return _join(self.frames[0])[1]


def _join(branches: list[list[tuple[str, int]]]) -> tuple[str, int]:
    text = "|".join("".join(piece for piece, _ in branch) for branch in branches)
    return text, min(sum(length for _, length in branch) for branch in branches)


_DASH = -1  # an unescaped "-" inside a class: a literal or the range operator
_ClassAtom = int | str  # a code point, _DASH, or a shorthand letter


class _Scan:
    """One pass over the pattern: the gate's verdict, Python's text and the RE2 text."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.python: list[str] = []
        self.re2 = _Re2Writer()
        self.uses_word = False
        self.uses_space = False
        self.uses_end = False
        self.uses_repeat_or_alt = False
        self.previous = _START
        self.group_repeats: list[bool] = []
        self.closed_group_repeats = False
        self.deepest = 0
        self.class_start = -1
        self.class_negated = False
        self.class_atoms: list[_ClassAtom] = []

    def run(self) -> None:
        """Scan the whole pattern; raises ``_DeferError`` when PostHog would defer it."""
        pattern = self.pattern
        index = 0
        size = len(pattern)
        while index < size:
            char = pattern[index]
            if "\ud800" <= char <= "\udfff":
                raise _DeferError
            if self.class_start < 0:
                self._track_groups(char)
            if char == "\\":
                index = self._escape(index + 1)
            elif char == "[":
                if self.class_start >= 0:
                    raise _DeferError  # nested class
                self.class_start = index
                self.class_atoms = []
                self.class_negated = pattern[index + 1 : index + 2] == "^"
                self.python.append("[^" if self.class_negated else "[")
                if self.class_negated:
                    index += 1
            elif char == "]" and self.class_start >= 0:
                self._close_class(index)
            elif self.class_start >= 0:
                self._class_char(index, char)
            else:
                index = self._outside(index, char)
            index += 1

    def _track_groups(self, char: str) -> None:
        # Rust's engine budget rejects nested repetition, so a quantified group must not
        # itself contain a quantifier at any depth.
        if char == "$":
            self.uses_end = True
        if char in "*+?{|":
            self.uses_repeat_or_alt = True
        if char == "(":
            self.group_repeats.append(False)
            self.deepest = max(self.deepest, len(self.group_repeats))
        elif char == ")":
            inner = self.group_repeats.pop() if self.group_repeats else False
            self.closed_group_repeats = inner
            if self.group_repeats and inner:
                self.group_repeats[-1] = True
        elif char in "*+?{":
            if self.previous == _CLOSE and self.closed_group_repeats:
                raise _DeferError
            if self.group_repeats:
                self.group_repeats[-1] = True

    def _escape(self, index: int) -> int:
        """Handle the escape whose letter is at ``index``; return the last index used."""
        pattern = self.pattern
        in_class = self.class_start >= 0
        self.previous = _ATOM
        if index == len(pattern):
            self.python.append("\\")  # dangling backslash: Python rejects it
            return index
        letter = pattern[index]
        if letter == "x":
            digits = pattern[index + 1 : index + 3]
            if len(digits) != 2 or not all(c in _HEX for c in digits):
                raise _DeferError
            self.python.append("\\x" + digits)
            self._code(int(digits, 16))
            return index + 2
        if letter in "bB<>" and not in_class:
            raise _DeferError  # word boundaries differ between the engines
        if letter not in "dDsSwWbfnrt":
            if not (" " <= letter <= "~" and not letter.isalnum()):
                raise _DeferError
            if in_class and letter not in _CLASS_PUNCTUATION:
                raise _DeferError
        self.python.append("\\" + letter)
        if letter in _SHORTHANDS:
            self.uses_word = self.uses_word or letter in "wW"
            self.uses_space = self.uses_space or letter in "sS"
            if in_class:
                self.class_atoms.append(letter)
            else:
                self.re2.atom(_class_text(False, list(_shorthand_ranges(letter))))
        else:
            self._code(_SIMPLE_ESCAPES.get(letter, ord(letter)))
        return index

    def _code(self, code: int) -> None:
        if self.class_start >= 0:
            self.class_atoms.append(code)
        else:
            self.re2.atom(_literal(code))

    def _close_class(self, index: int) -> None:
        first = self.class_start + (2 if self.class_negated else 1)
        if index == first:
            raise _DeferError  # "[]" and "[^]" mean different things to the engines
        self.class_start = -1
        self.previous = _ATOM
        self.python.append("]")
        self.re2.atom(_set_text(self.class_negated, _class_items(self.class_atoms)))

    def _class_char(self, index: int, char: str) -> None:
        pattern = self.pattern
        if pattern[index : index + 2] in ("&&", "--", "~~"):
            raise _DeferError  # set operations in Rust
        if char == "-" and index + 1 < len(pattern) and pattern[index + 1] != "]":
            after = pattern[index + 1 : index + 3]
            if (len(after) == 2 and after[0] == "\\" and after[1] in _SHORTHANDS) or (
                index >= 2 and pattern[index - 2] == "\\" and pattern[index - 1] in _SHORTHANDS
            ):
                raise _DeferError  # shorthand as a range end
        # "||" in a class makes Python warn; escaping it keeps the same meaning.
        self.python.append("\\|" if char == "|" else char)
        self.class_atoms.append(_DASH if char == "-" else ord(char))

    def _outside(self, index: int, char: str) -> int:
        """Handle ``char`` outside a class; return the last index used."""
        pattern = self.pattern
        previous = self.previous
        if char == "(":
            self.previous = _OPEN
            self.re2.open()
            if pattern[index + 1 : index + 2] == "?":
                if pattern[index + 2 : index + 3] != ":":
                    raise _DeferError  # inline flags, lookaround, named groups
                self.python.append("(?:")
                return index + 2
            self.python.append("(")
            return index
        if char == "{":
            return self._counted_repeat(index, previous)
        if char in "*+?":
            if previous in _NO_REPEAT_AFTER or pattern[index + 1 : index + 2] in ("+", "{"):
                raise _DeferError  # possessive, stacked, or repeating an anchor
            low, high = _SIMPLE_REPEATS[char]
            self.python.append(char)
            self.re2.repeat(low, high, lazy_marker=char == "?")
            self.previous = _QUANT
            return index
        if char == ")":
            self.previous = _EMPTY_GROUP if previous in (_OPEN, _EMPTY_GROUP) else _CLOSE
            self.re2.close()
        elif char == "^":
            self.previous = _CARET
            self.re2.atom("\\A", 0)
        elif char == "$":
            self.previous = _DOLLAR
            self.re2.atom("\\z", 0)
            self.python.append("\\Z")  # strict end, as in Rust
            return index
        elif char == "|":
            self.previous = _ALT
            self.re2.alternate()
        else:
            self.previous = _ATOM
            self.re2.atom("[^\\n]" if char == "." else _literal(ord(char)))
        self.python.append(char)
        return index

    def _counted_repeat(self, index: int, previous: int) -> int:
        pattern = self.pattern
        found = _REPETITION.match(pattern, index)
        if found is None or previous in _NO_COUNTED_REPEAT_AFTER:
            raise _DeferError
        low_text, high_text = found.group(1), found.group(2)
        for number in (low_text, high_text):
            if number and (len(number) > 10 or int(number) > _MAX_COUNT):
                raise _DeferError
        end = found.end()
        if pattern[end : end + 1] in ("+", "{"):
            raise _DeferError  # possessive or stacked
        low = int(low_text)
        high = low if high_text is None else (int(high_text) if high_text else -1)
        self.python.append(found.group())
        self.re2.repeat(low, high, lazy_marker=False)
        self.previous = _QUANT
        return end - 1


_SIMPLE_REPEATS = {"*": (0, -1), "+": (1, -1), "?": (0, 1)}


def _class_items(atoms: list[_ClassAtom]) -> list[tuple[int, int] | str]:
    """Python's reading of a class body: ``a-z`` is a range, a final ``-`` is literal."""
    items: list[tuple[int, int] | str] = []
    index = 0
    count = len(atoms)
    while index < count:
        first = atoms[index]
        low = ord("-") if first == _DASH else first
        if index + 1 < count and atoms[index + 1] == _DASH:
            if index + 2 == count:  # "x-]"
                items.append((low, low) if isinstance(low, int) else low)
                items.append((ord("-"), ord("-")))
                break
            last = atoms[index + 2]
            high = ord("-") if last == _DASH else last
            # A shorthand as a range end is a Python error, so never reaches the engine.
            if isinstance(low, int) and isinstance(high, int):
                items.append((low, high))
            index += 3
            continue
        items.append((low, low) if isinstance(low, int) else low)
        index += 1
    return items


# --- Python's character classes, derived from this interpreter's ``re`` -------------------


@functools.cache
def _python_set(letter: str) -> tuple[tuple[int, int], ...]:
    """Code point ranges that Python's ``\\d`` or ``\\s`` matches, read from ``re`` itself."""
    code = "I" if array.array("I").itemsize == 4 else "L"
    every = array.array(code, range(_MAX_CODE_POINT + 1)).tobytes()
    text = every.decode("utf-32-le" if sys.byteorder == "little" else "utf-32-be", "surrogatepass")
    return tuple((run.start(), run.end() - 1) for run in re.finditer("\\" + letter + "+", text))


# With PostHog's subject check, every non-ASCII character reaching the engine is a word one.
_WORD = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A), (0x80, _MAX_CODE_POINT))


def _complement(ranges: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    result = []
    start = 0
    for low, high in sorted(ranges):
        if low > start:
            result.append((start, low - 1))
        start = max(start, high + 1)
    if start <= _MAX_CODE_POINT:
        result.append((start, _MAX_CODE_POINT))
    return tuple(result)


def _shorthand_ranges(letter: str) -> tuple[tuple[int, int], ...]:
    base = _WORD if letter in "wW" else _python_set(letter.lower())
    return base if letter.islower() else _complement(base)


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        # Subjects never hold surrogates (PostHog defers them), and RE2 cannot name them.
        pieces = [(low, high)]
        if low <= 0xDFFF and high >= 0xD800:
            pieces = [(low, 0xD7FF), (0xE000, high)]
        for piece_low, piece_high in pieces:
            if piece_low > piece_high:
                continue
            if merged and piece_low <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], piece_high))
            else:
                merged.append((piece_low, piece_high))
    return merged


def _literal(code: int) -> str:
    char = chr(code)
    return char if char.isascii() and char.isalnum() else f"\\x{{{code:x}}}"


def _class_text(negated: bool, ranges: list[tuple[int, int]]) -> str:
    body = "".join(
        f"\\x{{{low:x}}}" if low == high else f"\\x{{{low:x}}}-\\x{{{high:x}}}"
        for low, high in _merge(ranges)
    )
    return ("[^" if negated else "[") + body + "]"


def _set_text(negated: bool, items: list[tuple[int, int] | str]) -> str:
    ranges: list[tuple[int, int]] = []
    for item in items:
        if isinstance(item, str):
            ranges.extend(_shorthand_ranges(item))
        else:
            ranges.append(item)
    return _class_text(negated, ranges)


def _repeat(atom: str, shortest: int, low: int, high: int) -> tuple[str, int, int | None]:
    """``atom`` repeated low..high times (high -1: unbounded) within RE2's limits.

    Returns the RE2 text, the shortest length it matches, and the longest subject on which
    the text is exact (``None``: every subject).
    """
    if high == -1 and low <= _RE2_MAX_REPEAT:
        suffix = "*" if low == 0 else "+" if low == 1 else f"{{{low},}}"
        return atom + suffix, shortest * low, None
    if 0 <= high <= _RE2_MAX_REPEAT:
        if (low, high) == (0, 1):
            return atom + "?", 0, None
        return atom + (f"{{{low}}}" if low == high else f"{{{low},{high}}}"), shortest * low, None
    if low > _EXPAND_LIMIT:
        if shortest == 0:
            raise _EngineLimitError
        # It needs at least low * shortest characters, so on shorter subjects it never matches.
        return _NOTHING, shortest * low, shortest * low - 1
    exact_up_to = None
    if high > _EXPAND_LIMIT:
        # x{n,m} is x{n} then x{0,m-n}; on a subject of at most m-n characters the second
        # part needs at most m-n non-empty rounds, so it is x*.
        exact_up_to = high - low
        high = -1
    # Counts above RE2's limit of 1000 split into consecutive pieces (same language).
    pieces: list[str] = []
    remaining = low
    while remaining > 0:
        step = min(remaining, _RE2_MAX_REPEAT)
        pieces.append(f"{atom}{{{step}}}")
        remaining -= step
    if high == -1:
        pieces.append(atom + "*")
    else:
        optional = high - low
        while optional > 0:
            step = min(optional, _RE2_MAX_REPEAT)
            pieces.append(f"{atom}{{0,{step}}}")
            optional -= step
    return "(?:" + "".join(pieces) + ")", shortest * low, exact_up_to
