"""CLI commands that work from a definitions file: eval, explain, rollout, and error output."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from flagkit._evaluation.evaluator import Evaluator
from flagkit._evaluation.snapshot import Snapshot
from flagkit.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "flags.json"
NO_ENV = {
    "POSTHOG_HOST": None,
    "POSTHOG_PERSONAL_API_KEY": None,
    "POSTHOG_PROJECT_ID": None,
    "POSTHOG_PROJECT_API_KEY": None,
}


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=NO_ENV)


def one_error_line(result: Result) -> str:
    """The run failed with a single 'Error:' line and no traceback."""
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error:")
    assert "Traceback" not in result.output
    return lines[0]


def test_eval_one_flag_as_json() -> None:
    result = run(
        "eval", "new-checkout", "--distinct-id", "alice", "--prop", "plan=pro",
        "--definitions", str(EXAMPLES), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert row["key"] == "new-checkout"
    assert row["value"] is True
    assert row["reason"] == "condition_match"
    assert row["condition_index"] == 0
    assert row["payload"] == {"banner": "Try the new checkout"}


def test_eval_all_as_a_table_with_groups() -> None:
    result = run(
        "eval", "--all", "--distinct-id", "alice", "--prop", "plan=free", "--prop", "country=US",
        "--group", "company=acme", "--group-prop", "company.employees=120",
        "--definitions", str(EXAMPLES),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    snapshot = Snapshot.from_file(EXAMPLES)
    for key in snapshot.flag_keys:
        assert key in result.output
    assert "condition_match" in result.output
    assert "disabled" in result.output  # maintenance-banner
    as_json = run(
        "eval", "--all", "--distinct-id", "alice", "--group", "company=acme",
        "--group-prop", "company.employees=120", "--definitions", str(EXAMPLES), "--json",
    )  # fmt: skip
    values = {row["key"]: row["value"] for row in json.loads(as_json.output)}
    assert values["team-analytics"] is True
    assert values["maintenance-banner"] is False


def test_eval_prop_values_are_json_when_they_parse() -> None:
    result = run(
        "eval", "team-analytics", "--distinct-id", "x", "--group", "company=small",
        "--group-prop", "company.employees=\"120\"", "--definitions", str(EXAMPLES), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["reason"] in ("condition_match", "out_of_rollout")


@pytest.mark.parametrize(
    "args",
    [
        ["eval", "--distinct-id", "a"],
        ["eval", "new-checkout", "--all", "--distinct-id", "a"],
        ["eval", "--bogus-option"],
        ["eval", "new-checkout"],
        ["explain", "--distinct-id", "a"],
        ["flags", "create"],
        ["flags", "list", "--limit", "0"],
        ["serve", "--port", "abc"],
    ],
)
def test_wrong_usage_exits_2(args: list[str]) -> None:
    # docs/cli.md: user mistakes exit 1, wrong usage 2 (our own checks as click's).
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Error:" in result.output
    assert "Traceback" not in result.output


def test_eval_all_on_no_flags_says_so(tmp_path: Any) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text('{"flags": []}')
    result = run("eval", "--all", "--distinct-id", "a", "--definitions", str(empty))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "No flags: the definitions hold none."
    as_json = run("eval", "--all", "--distinct-id", "a", "--definitions", str(empty), "--json")
    assert json.loads(as_json.output) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "nope", "--distinct-id", "a"], "no flag with key 'nope'"),
        (["explain", "nope", "--distinct-id", "a"], "no flag with key 'nope'"),
        (["rollout", "nope", "--persons", str(EXAMPLES)], "no flag with key 'nope'"),
    ],
)
def test_user_mistakes_print_one_line(args: list[str], message: str) -> None:
    line = one_error_line(run(*args, "--definitions", str(EXAMPLES)))
    assert message in line


def test_missing_definitions_source_says_what_to_do() -> None:
    result = run("eval", "x", "--distinct-id", "a")
    assert result.exit_code == 2  # wrong usage: neither source given
    [line] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert "--definitions FILE" in line
    assert "--host" in line


def test_definitions_that_are_not_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    line = one_error_line(run("eval", "x", "--distinct-id", "a", "--definitions", str(bad)))
    assert "not valid JSON" in line


def test_malformed_prop_is_a_usage_error() -> None:
    result = run("eval", "new-checkout", "--distinct-id", "a", "--prop", "plan", "--definitions",
                 str(EXAMPLES))  # fmt: skip
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.output
    assert "Traceback" not in result.output


def test_explain_shows_conditions_filters_and_buckets() -> None:
    result = run(
        "explain", "new-checkout", "--distinct-id", "bob", "--prop", "plan=free",
        "--definitions", str(EXAMPLES),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Condition 1" in out
    assert "Condition 2" in out
    assert "no match" in out
    assert '(value: "free")' in out
    assert "rollout 20%: bucket" in out
    data = json.loads(
        run(
            "explain", "new-checkout", "--distinct-id", "bob", "--prop", "plan=free",
            "--definitions", str(EXAMPLES), "--json",
        ).output
    )  # fmt: skip
    result_value = data["result"]["value"]
    second = data["conditions"][1]
    assert second["rollout_percentage"] == 20
    assert 0 <= second["bucket"] <= 1
    # The bucket against the rollout explains the value.
    assert result_value is (second["bucket"] <= 0.2)


def test_explain_multivariate_shows_the_variant_table() -> None:
    result = run(
        "explain", "pricing-page", "--distinct-id", "u_42", "--prop", "country=US",
        "--definitions", str(EXAMPLES), "--json",
    )  # fmt: skip
    data = json.loads(result.output)
    bucket = data["variant_bucket"]
    chosen = [v["key"] for v in data["variants"] if v["low"] <= bucket < v["high"]]
    assert chosen == [data["result"]["value"]]
    text = run(
        "explain", "pricing-page", "--distinct-id", "u_42", "--prop", "country=US",
        "--definitions", str(EXAMPLES),
    ).output  # fmt: skip
    assert "Variant bucket" in text
    assert f"{chosen[0]}: [" in text


def test_rollout_counts_values_over_persons(tmp_path: Path) -> None:
    rng = random.Random(7)
    persons = []
    for n in range(300):
        props = {"plan": rng.choice(["free", "pro", "enterprise"])}
        persons.append({"distinct_id": f"user-{n}", "properties": props})
    path = tmp_path / "persons.jsonl"
    lines = [json.dumps(p) for p in persons]
    lines.insert(10, "not json")
    lines.insert(20, json.dumps({"no": "id"}))
    lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")

    result = run("rollout", "new-checkout", "--persons", str(path), "--definitions",
                 str(EXAMPLES), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    evaluator = Evaluator(Snapshot.from_file(EXAMPLES))
    expected_true = sum(
        1
        for p in persons
        if evaluator.evaluate(
            "new-checkout", p["distinct_id"], person_properties=p["properties"]
        ).value
    )
    paid = sum(1 for p in persons if p["properties"]["plan"] != "free")
    assert data["total"] == 300
    assert data["skipped_lines"] == 2
    assert data["values"]["true"] == expected_true
    assert paid <= expected_true < 300
    assert sum(data["values"].values()) == 300

    table = run("rollout", "new-checkout", "--persons", str(path), "--definitions", str(EXAMPLES))
    assert table.exit_code == 0
    assert "over 300 persons" in table.stdout
    assert "skipped 2 line(s)" in table.stderr


def test_rollout_with_no_usable_persons_fails(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("[]\n", encoding="utf-8")
    line = one_error_line(
        run("rollout", "new-checkout", "--persons", str(path), "--definitions", str(EXAMPLES))
    )
    assert "no persons read" in line


def test_python_dash_m_flagkit_is_the_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "flagkit", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    for command in ("eval", "explain", "flags", "pull", "rollout", "serve"):
        assert command in proc.stdout
