"""``regex`` / ``not_regex`` patterns: PostHog's dialect gate, run on RE2.

PostHog evaluates a pattern locally only when it stays inside the syntax that Python's
``re`` and the flags service's Rust engine read the same way; anything else is
inconclusive (``Cause.UNSUPPORTED_DEFINITION``). Patterns that pass the gate are checked
with Python's own compiler (``re.compile`` only; nothing is ever matched with ``re``), so
"invalid pattern" means exactly what it means to PostHog. The search itself runs on RE2,
in linear time, after translating the pattern to an equivalent RE2 pattern:

* ``$`` is a strict end of text;
* ``\\d`` and ``\\s`` are the exact sets Python's ``re`` uses on this interpreter;
* ``\\w``: PostHog defers subjects with non-ASCII characters that are neither letters nor
  decimal digits, so on every subject that reaches the engine Python's ``\\w`` is "ASCII
  word character or any non-ASCII character";
* only the boolean result of a search is needed, so laziness is dropped and counted
  repeats above RE2's limit of 1000 are split into consecutive pieces.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable

import re2

from flagkit._evaluation.outcome import Cause
from flagkit._evaluation.regex_translate import (
    _DEEPEST_GROUPS,
    _UNSUPPORTED,
    RegexStatus,
    _DeferError,
    _EngineLimitError,
    _Scan,
    _TooCostlyError,
)

__all__ = ["RegexProgram", "RegexStatus", "compile_regex"]

# Cost bounds, so that no pattern and subject can hold a request (docs/evaluation.md,
# "Limits"). Building RE2's DFA grows about with the square of the program size (a 2,000
# instruction program took 24 ms on its first search), and a search that falls back to
# RE2's NFA costs about program size x subject bytes (12 ns per unit at worst, measured).
_MAX_PROGRAM_SIZE = 1_000
_SEARCH_BUDGET = 800_000


# --- RE2 ------------------------------------------------------------------------------------


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = 64 << 20
    options.never_capture = True
    return options


_OPTIONS = _re2_options()


def _build_searcher(text: str) -> tuple[Callable[[bytes], bool], int]:
    """A function telling whether the RE2 pattern ``text`` occurs in UTF-8 ``data``, and
    the size of its RE2 program. Raises :class:`_EngineLimitError` past the size bound."""
    low_level = getattr(re2, "_re2", None)
    anchors = getattr(re2, "_Anchor", None)
    if low_level is None or anchors is None:  # pragma: no cover - other google-re2 layouts
        try:
            compiled = re2.compile(text, _OPTIONS)
        except re2.error:
            raise _EngineLimitError from None
        size = compiled.programsize
        if size > _MAX_PROGRAM_SIZE:
            raise _TooCostlyError
        return (lambda data: compiled.search(data) is not None), size
    # The raw binding skips the wrapper's span bookkeeping: about 5x faster per search.
    program = low_level.RE2(text.encode("utf-8"), _OPTIONS)
    if not program.ok():
        raise _EngineLimitError
    size = program.ProgramSize()
    if size > _MAX_PROGRAM_SIZE:
        raise _TooCostlyError
    match, unanchored, no_match = program.Match, anchors.UNANCHORED, (-1, -1)
    return (lambda data: bool(match(unanchored, data, 0, len(data))[0] != no_match)), size


# --- public ---------------------------------------------------------------------------------


def _constant(result: bool | Cause) -> Callable[[str], bool | Cause]:
    return lambda subject: result


_never, _always, _no_match = _constant(_UNSUPPORTED), _constant(True), _constant(False)


def _shorter_than(shortest: int) -> Callable[[str], bool | Cause]:
    """No match for subjects shorter than ``shortest`` characters; the rest to the server."""
    return lambda subject: False if len(subject) < shortest else _UNSUPPORTED


class RegexProgram:
    """A compiled ``regex`` filter value. ``search(subject)`` never raises."""

    __slots__ = ("pattern", "search", "status")

    def __init__(self, pattern: str, status: str, search: Callable[[str], bool | Cause]) -> None:
        self.pattern = pattern
        self.status = status
        self.search = search


def _ready(
    scan: _Scan, found: Callable[[bytes], bool], program_size: int
) -> Callable[[str], bool | Cause]:
    final_newline = scan.uses_end and scan.uses_repeat_or_alt
    word = scan.uses_word
    space = scan.uses_space
    longest = scan.re2.exact_up_to
    # The longest subject (in bytes) searched here; longer ones are left to the server.
    most_bytes = max(_SEARCH_BUDGET // max(program_size, 1), 1)

    def search(subject: str) -> bool | Cause:
        # Subjects on which Python and Rust would disagree are left to the server.
        if final_newline and subject.endswith("\n"):
            return _UNSUPPORTED
        if longest is not None and len(subject) > longest:
            return _UNSUPPORTED  # beyond what the RE2 translation of a huge repeat covers
        if space and any(control in subject for control in "\x1c\x1d\x1e\x1f"):
            return _UNSUPPORTED
        if len(subject) > most_bytes:
            return _UNSUPPORTED  # too costly to search here (see _SEARCH_BUDGET)
        if subject.isascii():
            return found(subject.encode("ascii"))
        try:
            data = subject.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates
            return _UNSUPPORTED
        if len(data) > most_bytes:
            return _UNSUPPORTED
        if word and any(
            char > "\x7f" and not (char.isalpha() or char.isdecimal()) for char in subject
        ):
            return _UNSUPPORTED
        return found(data)

    return search


def _python_verdict(text: str) -> str | None:
    """Python's opinion of the translated pattern: INVALID, DEFERRED, or ``None`` (fine)."""
    outcome: list[str | None] = []

    def judge() -> None:
        try:
            re.compile(text)
            outcome.append(None)
        except re.error:
            outcome.append(RegexStatus.INVALID)
        except RecursionError:
            outcome.append("recursion")
        except Exception:  # repeat counts too large for Python's engine
            outcome.append(RegexStatus.DEFERRED)

    judge()
    if outcome[-1] == "recursion":
        # Python's parser recurses per group; judge again from a fresh, shallow stack so
        # the answer does not depend on how deep the caller happens to be.
        worker = threading.Thread(target=judge, name="flagkit-regex-check")
        worker.start()
        worker.join()
        if outcome[-1] == "recursion":
            return RegexStatus.DEFERRED
    return outcome[-1]


@functools.lru_cache(maxsize=512)
def compile_regex(pattern: str) -> RegexProgram:
    """Compile a ``regex`` filter pattern (the filter value's ``str()``). Never raises."""
    if pattern == "":
        return RegexProgram(pattern, RegexStatus.EMPTY, _always)
    scan = _Scan(pattern)
    try:
        scan.run()
    except _DeferError:
        return RegexProgram(pattern, RegexStatus.DEFERRED, _never)
    if scan.deepest >= _DEEPEST_GROUPS:
        return RegexProgram(pattern, RegexStatus.DEFERRED, _never)
    verdict = _python_verdict("".join(scan.python))
    if verdict is not None:
        return RegexProgram(
            pattern, verdict, _no_match if verdict == RegexStatus.INVALID else _never
        )
    text = scan.re2.text()
    if scan.re2.broken or scan.re2.too_large:
        return RegexProgram(pattern, RegexStatus.ENGINE_LIMIT, _never)
    try:
        searcher, program_size = _build_searcher(text)
    except _EngineLimitError:
        return RegexProgram(pattern, RegexStatus.ENGINE_LIMIT, _never)
    except _TooCostlyError:
        # Too costly to search, but a subject shorter than any match still cannot match.
        return RegexProgram(pattern, RegexStatus.ENGINE_LIMIT, _shorter_than(scan.re2.shortest()))
    return RegexProgram(pattern, RegexStatus.READY, _ready(scan, searcher, program_size))
