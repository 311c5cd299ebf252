"""The regex dialect gate and its RE2 translation.

Outcomes follow posthog-python 7.91.1. Besides fixed tables, a seeded differential test
checks that, for every gate-accepted pattern and every subject the gate does not defer,
the RE2 search agrees with Python's ``re`` on the pattern PostHog would compile.
"""

from __future__ import annotations

import random
import re
import time

import pytest

from flagkit._evaluation.outcome import Cause
from flagkit._evaluation.regex import RegexStatus, _Scan, compile_regex

UNSUPPORTED = Cause.UNSUPPORTED_DEFINITION


def outcome(pattern: str, subject: str) -> object:
    program = compile_regex(pattern)
    if program.status == RegexStatus.INVALID:
        return "invalid"
    found = program.search(subject)
    return "defer" if found is UNSUPPORTED else found


# Constructs outside the Python/Rust shared dialect: always inconclusive.
DEFERRED_PATTERNS = [
    r"^\p{L}+$",
    r"\P{L}",
    r"(?<=a)b",
    r"a(?=b)",
    r"(?!x)",
    r"(a)\1",
    r"(?i)abc",
    r"(?m)^a",
    r"(?P<n>a)",
    r"\Aa",
    r"a\Z",
    r"a\z",
    r"[a&&b]",
    r"[a-z--b]",
    r"[a~~b]",
    r"[[:alpha:]]",
    r"[a[b]]",
    "[]",
    "[^]",
    r"\141",
    r"\0",
    r"\q",
    r"\x{41}",
    r"\x4",
    r"\xg1",
    r"\u0041",
    "a++",
    "a*+",
    "a?+",
    "a{2}+",
    "a{,2}",
    "a*{2}",
    "a{2}{3}",
    "{foo}",
    "a{",
    "a{1,2",
    r"[\s-9]",
    r"[a-\d]",
    r"[\w-a]",
    "^?a",
    "$?",
    "^{2}",
    "$*",
    "{2}",
    "a|{2}",
    "({2})",
    "(?:{2})",
    "(?:)*",
    "()+",
    "(())?",
    "(?:){2}",
    "a{0,4294967296}",
    "a{4294967296}",
    "a{00000000001}",
    r"\bbot",
    r"\Bx",
    r"\<a",
    r"a\>",
    r"[\@]",
    r"[\B]",
    r"[\a]",
    r"[\Z]",
    "(a+)+",
    "(a*)*",
    "((a+))+",
    "((a+)b)+",
    "((a+)*b)+",
    "(a+)+?",
    "(a{1,2}){2}",
    "(a?b)*",
    "(a+|b)+",
    "(?:ab*)+",
    "\ud800",
    "a\udfff",
    "[\ud800]",
    "é\\é",
]


@pytest.mark.parametrize("pattern", DEFERRED_PATTERNS)
def test_deferred_patterns(pattern: str) -> None:
    assert compile_regex(pattern).status == RegexStatus.DEFERRED
    for subject in ("", "a", "abc", "é"):
        assert outcome(pattern, subject) == "defer"


@pytest.mark.parametrize(
    "pattern",
    [
        "[",
        "(",
        ")",
        "*",
        "?*",
        "+a",
        "a**",
        "a?*",
        "a{2}*",
        "a{3,2}",
        "[z-a]",
        "(a|b$",
        "*foo$",
        "a\\",
        "|*",
        "(*)",
    ],
)
def test_invalid_patterns_are_invalid_for_any_subject(pattern: str) -> None:
    assert compile_regex(pattern).status == RegexStatus.INVALID
    for subject in ("value", "é", "\r", "foo\n", "\ud800"):
        assert outcome(pattern, subject) == "invalid"


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("pro", "a pro plan", True),
        ("^pro$", "a pro plan", False),
        ("^pro$", "PRO", False),
        (r"^\d+$", "123", True),
        (r"^\d+$", "١٢٣", True),  # Unicode decimal digits
        (r"^\d+$", "²", False),  # not a decimal digit
        (r"^\D+$", "é", True),
        (r"^\w+$", "abc_123", True),
        (r"^\w+$", "é١", True),
        (r"^\W+$", "é١", False),
        (r"^\W+$", "!?", True),
        (r"^\s$", "\u2003", True),
        (r"^\s$", "\x85", True),
        (r"^\s$", "\ufeff", False),
        ("^.$", "😀", True),
        ("^.$", "\n", False),
        ("^.$", "\r", True),
        (r"^[\w.+-]+@example\.com$", "a.b+tag@example.com", True),
        (r"^(?:ab|cd){2,3}$", "abcdab", True),
        (r"^(?:ab|cd){2,3}$", "abcdabcd", False),
        (r"^\\p\{L\}$", r"\p{L}", True),
        (r"^\x41+$", "AA", True),
        (r"[\b]", "\b", True),
        (r"^a\-b\_c\ d$", "a-b_c d", True),
        (r"^\${2}$", "$$", True),
        (r"^[\^$?]+$", "$?^", True),
        (r"^[a-]+$", "a-a", True),
        (r"^[a-c-e]+$", "-e", True),  # a range, then a literal dash
        (r"^[a||b]+$", "|", True),
        (r"^[é-ü]$", "ö", True),
        (r"^[^a]$", "\n", True),
        ("", "", True),
        ("", "\u0301", True),
        ("^$", "", True),
        ("^foo$", "foo\n", False),  # $ is a strict end
        ("foo$", "foo\r\n", False),
        (r"^a+\$", "aa$\n", True),
        (r"^a+", "aa\n", True),
        ("^(?:a|aa)+$", "aa", True),
        ("a*?b", "aab", True),  # laziness does not change whether a search matches
        ("a{2}?b", "aab", True),
        ("(a$)*x", "x", True),
        ("x|", "", True),
        ("(|a)b", "b", True),
    ],
)
def test_local_patterns(pattern: str, subject: str, expected: bool) -> None:
    assert outcome(pattern, subject) is expected


@pytest.mark.parametrize(
    ("pattern", "subject"),
    [
        (r"^\w+$", "a\u0301"),  # a combining mark: Rust's \w differs
        (r"^\W+$", "²"),
        (r"[\w]", "x½"),
        (r"^\s$", "\x1c"),
        (r"^\S$", "\x1f"),
        (r"[^\s]", "a\x1d"),
        ("^.$", "\ud800"),
        ("^a.$", "a\ud800"),
        ("^a+$", "aa\n"),  # $ with a quantifier and a final newline
        ("^(?:foo|bar)$", "foo\n"),
        ("foo|bar$", "foo\n"),
        ("^a{2}$", "aa\n"),
    ],
)
def test_subject_checks_defer(pattern: str, subject: str) -> None:
    assert compile_regex(pattern).status == RegexStatus.READY
    assert outcome(pattern, subject) == "defer"


def test_same_pattern_different_subjects() -> None:
    assert [outcome(r"^\w+$", s) for s in ("abc", "a\u0301", "!", "é١")] == [
        True,
        "defer",
        False,
        True,
    ]
    assert [outcome("^a$", s) for s in ("a", "a\n")] == [True, False]  # no quantifier


def test_deep_nesting_defers_like_pythons_recursion_limit() -> None:
    assert compile_regex("(" * 491 + "a" + ")" * 491).search("a") is True
    assert compile_regex("(" * 492 + "a" + ")" * 492).status == RegexStatus.DEFERRED


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        # RE2 programs over 1,000 instructions are too costly to search (docs/evaluation.md,
        # "Limits"): only subjects shorter than any match are decided; the rest defer.
        ("a{1001}", "a" * 1001, "defer"),
        ("a{1001}", "a" * 1000, False),
        ("^(?:ab){999,1001}$", "ab" * 998, False),
        ("^(?:ab){999,1001}$", "ab" * 1001, "defer"),
        ("xa{0,1500}y", "x" + "a" * 1500 + "y", "defer"),
        ("a{1500,}", "a" * 1499, False),
        ("a{1500,}", "a" * 1500, "defer"),
        # Beyond what is written out: exact below the repeat count, deferred above it.
        ("a{4294967294}|b", "b", True),
        ("a{4294967294}|b", "aaa", False),
        ("xa{0,4294967294}y", "x" + "a" * 5000 + "y", True),
        ("a{50000}", "a" * 49999, False),
        ("a{50000}", "a" * 50000, "defer"),
    ],
)
def test_large_repeat_counts(pattern: str, subject: str, expected: object) -> None:
    assert outcome(pattern, subject) == expected


def test_searches_are_linear_time() -> None:
    # Exponential for a backtracking engine; RE2 answers at once.
    start = time.perf_counter()
    assert outcome("^(a|aa)*c$", "a" * 5000) is False
    assert outcome("(x|xx)*y", "x" * 100_000) is False
    assert time.perf_counter() - start < 2.0


# --- differential check against Python's re ---------------------------------------------------

ATOMS = [
    "a", "b", "A", "1", "é", "😀", " ", ".", r"\d", r"\D", r"\s", r"\S", r"\w", r"\W", r"\.",
    r"\-", r"\x41", r"\n", r"\t", r"\$", r"\|", r"\_", "[abc]", "[^a]", "[a-c]", r"[\d]",
    r"[^\s]", r"[\w.-]", "[a-]", "[-a]", r"[\]]", r"[\b]", "[|]", r"[\x41-\x5a]", "[z-a]",
    "[é-ü]", r"[\W]", r"[^\W]", r"[\S\d]", "[$^.]", "(", ")", "(?:", "|", "^", "$", "*", "+",
    "?", "{2}", "{1,3}", "{0,}", "{2,1}", "*?", "??", "{2}?", "\\", "}", "]", "\n",
]  # fmt: skip
SUBJECT_PARTS = [
    *"abcA1 \n\r\t.-_$|é١²\u0301\u2003\x1c\ufeff😀\\[]()\x08{}",
    "aa", "ab", "abc", "a\n",
]  # fmt: skip


def test_differential_against_python_re() -> None:
    rng = random.Random(91)
    compared = 0
    for _ in range(6000):
        pattern = "".join(rng.choice(ATOMS) for _ in range(rng.randint(1, 8)))
        program = compile_regex(pattern)
        scan = _Scan(pattern)
        try:
            scan.run()
        except Exception:
            assert program.status == RegexStatus.DEFERRED
            continue
        python_text = "".join(scan.python)
        try:
            compiled = re.compile(python_text)
        except re.error:
            assert program.status == RegexStatus.INVALID, pattern
            continue
        assert program.status == RegexStatus.READY, pattern
        for _ in range(5):
            subject = "".join(rng.choice(SUBJECT_PARTS) for _ in range(rng.randint(0, 8)))
            found = program.search(subject)
            if found is UNSUPPORTED:
                continue
            compared += 1
            assert found is (compiled.search(subject) is not None), (pattern, subject)
    assert compared > 5000


def test_python_classes_match_re_on_every_code_point() -> None:
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    for shorthand in (r"\d", r"\s"):
        expected = "".join(re.findall(shorthand, every)).translate(
            {0x1C: 0x20, 0x1D: 0x20, 0x1E: 0x20, 0x1F: 0x20}
        )
        # In pieces: longer subjects exceed the search budget and defer ("Limits").
        program = compile_regex(f"^{shorthand}+$")
        assert all(program.search(piece) is True for piece in _pieces(expected))
        others = re.sub(shorthand, "", every)
        # \S / \D match everything else (no newline at the end: "$" would defer).
        program = compile_regex(f"^{shorthand.upper()}+$")
        assert all(program.search(piece) is True for piece in _pieces(others.replace("\n", "")))


def _pieces(text: str, size: int = 100) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]
