"""Regenerate tests/conformance/*.json from the case designs, using posthog 7.91.1 as oracle.

Run with the reference venv (posthog is never a flagkit dependency):

    /tmp/refvenv/bin/python scripts/gen_conformance.py            # write the files
    /tmp/refvenv/bin/python scripts/gen_conformance.py --check    # fail if they are stale

Every expected value and payload comes from posthog's own local evaluation
(``get_feature_flag_result(..., only_evaluate_locally=True)``); no network call is possible
(see conformance_gen/oracle.py). Each case is evaluated under several frozen clocks and must
give the same answer under all of them, so relative-date cases stay valid for years. The
"reason" is flagkit's Reason value, labelled from what posthog decided (which condition
matched or missed, which exception it raised); ambiguous cases carry no reason.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import posthog
from conformance_gen import topics_core, topics_graph, topics_operators, topics_rules
from conformance_gen.build import ABSENT, Case, Topic, cond, flag, variants
from conformance_gen.oracle import OMIT, Reference

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "tests" / "conformance"
REFERENCE = "posthog==7.91.1"
UTC = dt.timezone.utc
CLOCKS: list[dt.datetime | None] = [
    None,  # the real clock
    dt.datetime(2026, 11, 21, 12, 0, tzinfo=UTC),
    dt.datetime(2031, 2, 28, 23, 59, 59, tzinfo=UTC),
    dt.datetime(2036, 2, 29, 0, 30, tzinfo=UTC),  # leap day: year-only dates use month/day
    dt.datetime(2045, 12, 31, 23, 0, tzinfo=UTC),
]


class DesignError(AssertionError):
    """A case design does not do what it says (or depends on the clock)."""


def _case_json(case: Case, outcome: Any, reason: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": case.name, "flag": case.flag, "distinct_id": case.distinct_id}
    for field in ("person_properties", "groups", "group_properties", "device_id"):
        value = getattr(case, field)
        if value is not ABSENT:
            out[field] = value
    expected: dict[str, Any] = {"value": outcome.value, "payload": outcome.payload}
    if reason is not OMIT:
        expected["reason"] = reason
    out["expected"] = expected
    return out


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def run_topic(topic: Topic) -> dict[str, Any]:
    """Evaluate every case of a topic with posthog and build the conformance document."""
    body = topic.body()
    ref = Reference(json.loads(json.dumps(body)))
    seen: set[str] = set()
    cases = []
    for case in topic.cases:
        if case.name in seen:
            raise DesignError(f"{topic.name}: duplicate case name {case.name!r}")
        seen.add(case.name)
        kwargs = {
            field: (None if getattr(case, field) is ABSENT else getattr(case, field))
            for field in ("person_properties", "groups", "group_properties", "device_id")
        }
        outcomes = [ref.evaluate(case.flag, case.distinct_id, now=now, **kwargs) for now in CLOCKS]
        first = outcomes[0]
        for other in outcomes[1:]:
            if not (
                _same(other.value, first.value)
                and other.payload == first.payload
                and other.reason == first.reason
            ):
                raise DesignError(f"{topic.name}: {case.name!r} depends on the clock")
        if case.want is not ABSENT and not _same(first.value, case.want):
            raise DesignError(
                f"{topic.name}: {case.name!r} wants {case.want!r}, posthog says {first!r}"
                f" ({first.error})"
            )
        reason = first.reason
        if case.want_reason is not ABSENT:
            if case.want_reason is not OMIT and reason not in (OMIT, case.want_reason):
                raise DesignError(
                    f"{topic.name}: {case.name!r} wants reason {case.want_reason}, derived {reason}"
                )
            reason = case.want_reason
        cases.append(_case_json(case, first, reason))
    return {
        "description": topic.description,
        "reference": REFERENCE,
        "definitions": body,
        "cases": cases,
    }


def _consistency_lists() -> dict[str, list[Any]]:
    """The two 1,000-entry ``results`` lists from posthog's TestConsistency (via ast)."""
    path = Path(posthog.__file__).parent / "test" / "test_feature_flags.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, list[Any]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "TestConsistency":
            for fn in node.body:
                if not isinstance(fn, ast.FunctionDef):
                    continue
                if fn.name not in (
                    "test_simple_flag_consistency",
                    "test_multivariate_flag_consistency",
                ):
                    continue
                for stmt in ast.walk(fn):
                    if (
                        isinstance(stmt, ast.Assign)
                        and isinstance(stmt.targets[0], ast.Name)
                        and stmt.targets[0].id == "results"
                    ):
                        found[fn.name] = ast.literal_eval(stmt.value)
    if len(found) != 2 or any(len(v) != 1000 for v in found.values()):
        raise DesignError("could not extract the TestConsistency result lists")
    return found


def consistency_topics() -> list[tuple[Topic, list[Any]]]:
    lists = _consistency_lists()
    simple = flag("simple-flag", [cond([], 45)])
    simple.update({"id": 1, "name": "Beta Feature"})
    multi = flag(
        "multivariate-flag",
        [cond([], 55)],
        multivariate=variants(
            ("first-variant", 50),
            ("second-variant", 20),
            ("third-variant", 20),
            ("fourth-variant", 5),
            ("fifth-variant", 5),
        ),
    )
    multi.update({"id": 1, "name": "Beta Feature"})
    out = []
    for name, fl, results in (
        ("consistency_simple", simple, lists["test_simple_flag_consistency"]),
        ("consistency_multivariate", multi, lists["test_multivariate_flag_consistency"]),
    ):
        expected = [r if r else False for r in results]
        cases = [
            Case(f"distinct_id_{i}", fl["key"], f"distinct_id_{i}", want=want)
            for i, want in enumerate(expected)
        ]
        desc = (
            f"posthog-python TestConsistency vectors ({fl['key']}): 1,000 ids, expected values "
            "extracted from posthog/test/test_feature_flags.py (falsy expected = False)."
        )
        out.append((Topic(name, desc, [fl], cases), expected))
    return out


def build_all() -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    topics = [
        *topics_core.all_topics(),
        *topics_operators.all_topics(),
        *topics_graph.all_topics(),
        *topics_rules.all_topics(),
    ]
    for topic in topics:
        if topic.name in docs:
            raise DesignError(f"duplicate topic {topic.name}")
        docs[topic.name] = run_topic(topic)
    for topic, _expected in consistency_topics():
        docs[topic.name] = run_topic(topic)  # `want` asserts posthog agrees with the lists
    return docs


def _enc(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _dump(doc: dict[str, Any]) -> str:
    """One flag / cohort / case per line: small files with readable diffs."""
    body = doc["definitions"]
    defs = ['  "flags": [\n' + ",\n".join(f"   {_enc(f)}" for f in body["flags"]) + "\n  ]"]
    defs.append(f'  "group_type_mapping": {_enc(body["group_type_mapping"])}')
    cohorts = ",\n".join(f"   {_enc(k)}: {_enc(v)}" for k, v in body["cohorts"].items())
    defs.append('  "cohorts": {' + (f"\n{cohorts}\n  " if cohorts else "") + "}")
    if "property_matching_version" in body:
        defs.append(f'  "property_matching_version": {_enc(body["property_matching_version"])}')
    cases = ",\n".join(f"  {_enc(case)}" for case in doc["cases"])
    text = (
        "{\n"
        f' "description": {_enc(doc["description"])},\n'
        f' "reference": {_enc(doc["reference"])},\n'
        ' "definitions": {\n' + ",\n".join(defs) + "\n },\n"
        ' "cases": [\n' + cases + "\n ]\n}\n"
    )
    if json.loads(text) != json.loads(json.dumps(doc)):
        raise DesignError("JSON writer lost information")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify instead of writing")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    docs = build_all()
    stale = []
    total = labelled = 0
    for name, doc in sorted(docs.items()):
        text = _dump(doc)
        path = args.out / f"{name}.json"
        n = len(doc["cases"])
        r = sum("reason" in c["expected"] for c in doc["cases"])
        total += n
        labelled += r
        print(f"{name:32s} {n:5d} cases  {r:5d} with reason")
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    print(
        f"{'total':32s} {total:5d} cases  {labelled:5d} with reason "
        f"({100.0 * labelled / max(total, 1):.1f}%)"
    )
    if stale:
        print("stale:", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
