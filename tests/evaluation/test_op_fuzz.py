"""Property-based robustness: compiling and testing filters never raises."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flagkit._evaluation.operators import SUPPORTED_OPERATORS, compile_property_filter
from flagkit._evaluation.outcome import Cause, CompiledProperty

OUTCOMES = (True, False, Cause.MISSING_CONTEXT, Cause.UNSUPPORTED_DEFINITION)


class Hostile:
    """Raises from every conversion PostHog might attempt."""

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __repr__(self) -> str:
        raise RuntimeError("repr")

    def __float__(self) -> float:
        raise RuntimeError("float")


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["1.2.3", "v2", "2024-01-01", "2024-01-01T00:00:00Z", "7d", "-3m", "2y",
                     "^a+$", "[", r"\d+", "(a+)+", "true", "FALSE", "null", "10", " 5", "1e3",
                     "١٢", "2024", "", "\ud800", "a\n"]),
    st.datetimes(timezones=st.one_of(st.none(), st.just(timezone.utc))),
    st.dates(),
    st.decimals(allow_nan=True),
    st.builds(Hostile),
    st.builds(lambda: 10**5000),  # too long for str(); built lazily so repr() works
    st.binary(max_size=5),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), inner, max_size=3),
    ),
    max_leaves=8,
)
operators = st.one_of(
    st.sampled_from(sorted(SUPPORTED_OPERATORS)),
    st.sampled_from(["in", "not_in", "is_date_exact", "", None, 0]),
    values,
)
filters = st.one_of(
    st.fixed_dictionaries(
        {"key": st.one_of(st.just("k"), values), "operator": operators, "value": values},
        optional={"type": st.sampled_from(["person", "group", "cohort", "x"])},
    ),
    values,
)
clocks = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.datetimes(timezones=st.just(timezone(timedelta(hours=-11)))),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=filters, version=st.sampled_from([1, 2]), prop=values, clock=clocks)
def test_compile_and_test_never_raise(raw: Any, version: int, prop: Any, clock: Any) -> None:
    now = None if clock is None else (lambda: clock)
    compiled = compile_property_filter(raw, version, now=now)
    assert isinstance(compiled, CompiledProperty)
    assert isinstance(compiled.text, str)
    for props in ({}, {"k": prop}, {"k": None}, {prop: prop} if _hashable(prop) else {}):
        assert compiled.test(props) in OUTCOMES


@settings(max_examples=300, deadline=None)
@given(operator=st.sampled_from(sorted(SUPPORTED_OPERATORS)), value=values, prop=values)
def test_outcome_is_stable(operator: str, value: Any, prop: Any) -> None:
    """The same filter and properties always give the same answer (no hidden state)."""
    clock = datetime(2024, 3, 31, tzinfo=timezone.utc)
    compiled = compile_property_filter(
        {"key": "k", "operator": operator, "value": value}, 1, now=lambda: clock
    )
    first = compiled.test({"k": prop})
    assert compiled.test({"k": prop}) is first


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except Exception:
        return False
    return not (isinstance(value, float) and math.isnan(value))


def test_strategies_cover_special_types() -> None:
    # Guard against the strategies silently losing the awkward types they exist for.
    assert isinstance(date.today(), date)
    assert Decimal("NaN").is_nan()
