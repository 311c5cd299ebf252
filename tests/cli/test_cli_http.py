"""CLI commands that talk to the admin API, against a real LocalServer."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from flagkit.cli import main
from flagkit.server import LocalServer

_keys = itertools.count(1)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv


@pytest.fixture
def env(server: LocalServer) -> dict[str, str | None]:
    server.faults.clear()
    return {
        "POSTHOG_HOST": server.url,
        "POSTHOG_PERSONAL_API_KEY": server.personal_api_key,
        "POSTHOG_PROJECT_ID": str(server.project_id),
        "POSTHOG_PROJECT_API_KEY": None,
    }


@pytest.fixture
def key() -> str:
    return f"cli-flag-{next(_keys)}"


def run(env: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def ok_json(env: dict[str, str | None], *args: str) -> object:
    result = run(env, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error:")
    return lines[0]


def test_flags_create_get_list_update_activity_delete(env: dict[str, str | None], key: str) -> None:
    created = ok_json(
        env, "flags", "create", key, "--name", "From the CLI", "--rollout", "25",
        "--payload", 'true={"a": 1}', "--tag", "cli",
    )  # fmt: skip
    assert isinstance(created, dict)
    assert created["key"] == key
    assert created["filters"]["groups"][0]["rollout_percentage"] == 25
    assert json.loads(created["filters"]["payloads"]["true"]) == {"a": 1}

    shown = run(env, "flags", "get", key)
    assert shown.exit_code == 0, shown.output
    assert key in shown.output
    assert "rollout 25%" in shown.output

    listed = ok_json(env, "flags", "list", "--all")
    assert isinstance(listed, list)
    assert key in {f["key"] for f in listed}
    table = run(env, "flags", "list", "--search", key)
    assert key in table.output

    updated = ok_json(env, "flags", "update", key, "--inactive", "--rollout", "60")
    assert isinstance(updated, dict)
    assert updated["active"] is False
    assert updated["filters"]["groups"][0]["rollout_percentage"] == 60

    activity = run(env, "flags", "activity", key)
    assert activity.exit_code == 0, activity.output
    assert "created" in activity.output
    assert "updated" in activity.output

    deleted = run(env, "flags", "delete", str(created["id"]), "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert "Deleted flag" in deleted.output
    again = ok_json(env, "flags", "get", str(created["id"]))
    assert isinstance(again, dict)
    assert again["deleted"] is True


def test_flags_create_multivariate(env: dict[str, str | None], key: str) -> None:
    created = ok_json(
        env, "flags", "create", key, "--rollout", "100", "--variant", "control=50",
        "--variant", "test=50",
    )  # fmt: skip
    assert isinstance(created, dict)
    variants = created["filters"]["multivariate"]["variants"]
    assert [(v["key"], v["rollout_percentage"]) for v in variants] == [
        ("control", 50),
        ("test", 50),
    ]


def test_client_side_check_fails_with_one_line(env: dict[str, str | None], key: str) -> None:
    result = run(
        env, "flags", "create", key, "--variant", "a=60", "--variant", "b=30", "--rollout", "100"
    )
    line = error_line(result)
    assert "Variant rollout percentages must sum to 100" in line


def test_delete_asks_for_confirmation(env: dict[str, str | None], key: str) -> None:
    ok_json(env, "flags", "create", key)
    result = CliRunner().invoke(main, ["flags", "delete", key], env=env, input="n\n")
    # Declining is an answer, not a failure: no click "Aborted!", status 0.
    assert result.exit_code == 0, result.output
    assert "Aborted" not in result.output
    assert f"Not deleted: flag {key} is unchanged." in result.output
    still = ok_json(env, "flags", "get", key)
    assert isinstance(still, dict)
    assert still["deleted"] is False


def test_update_without_changes_is_a_usage_error(env: dict[str, str | None], key: str) -> None:
    ok_json(env, "flags", "create", key)
    result = run(env, "flags", "update", key)
    assert result.exit_code == 2, result.output
    assert "Error: nothing to update" in result.output
    assert "Traceback" not in result.output


def test_wrong_key_error_never_shows_the_key(env: dict[str, str | None]) -> None:
    secret = "phx_wrong_but_secret_0123456789"
    result = run({**env, "POSTHOG_PERSONAL_API_KEY": secret}, "flags", "list")
    line = error_line(result)
    assert "Authentication failed" in line
    assert secret not in result.output
    flagged = run(env, "flags", "list", "--personal-api-key", secret)
    assert secret not in flagged.output
    assert flagged.exit_code == 1


def test_missing_flag_is_not_found(env: dict[str, str | None]) -> None:
    # A key no flag has is said plainly (it used to be an HTTP 404 of the key search).
    line = error_line(run(env, "flags", "get", "does-not-exist"))
    assert line == (
        "Error: no flag has the key 'does-not-exist' in this project "
        "(`flagkit flags list` shows them)"
    )
    assert "404" not in line
    assert "Not found" in error_line(run(env, "flags", "get", "987654"))


def test_missing_key_says_which_variable(env: dict[str, str | None]) -> None:
    line = error_line(run({**env, "POSTHOG_PERSONAL_API_KEY": None}, "flags", "list"))
    assert "POSTHOG_PERSONAL_API_KEY" in line


def test_pull_then_eval_offline_and_eval_from_host(
    env: dict[str, str | None], key: str, tmp_path: Path
) -> None:
    ok_json(env, "flags", "create", key, "--rollout", "100", "--payload", "true=42")
    out = tmp_path / "flags.json"
    pulled = ok_json(env, "pull", "-o", str(out))
    assert isinstance(pulled, dict)
    assert pulled["flags"] >= 1
    body = json.loads(out.read_text(encoding="utf-8"))
    assert key in {f["key"] for f in body["flags"]}

    offline = ok_json(
        dict.fromkeys(env), "eval", key, "--distinct-id", "u1", "--definitions", str(out)
    )
    online = ok_json(env, "eval", key, "--distinct-id", "u1")
    assert offline == online
    assert isinstance(online, list)
    assert (online[0]["value"], online[0]["payload"]) == (True, 42)

    to_stdout = run(env, "pull", "-o", "-")
    assert json.loads(to_stdout.stdout)["flags"]


def test_subprocess_errors_have_no_traceback(server: LocalServer) -> None:
    child_env = {
        **os.environ,
        "POSTHOG_HOST": server.url,
        "POSTHOG_PROJECT_ID": str(server.project_id),
        "POSTHOG_PERSONAL_API_KEY": "phx_subprocess_secret_value",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "flagkit", "flags", "list"],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("Error: Authentication failed")
    assert "phx_subprocess_secret_value" not in proc.stderr + proc.stdout


def test_serve_prints_its_keys_and_stops_on_sigterm(tmp_path: Path) -> None:
    seed = Path(__file__).resolve().parents[2] / "examples" / "seed.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "flagkit", "serve", "--port", "0", "--seed", str(seed),
         "--db", str(tmp_path / "flags.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(7)]
        url = lines[0].split()[-1]
        assert url.startswith("http://127.0.0.1:")
        personal = next(line for line in lines if "personal API key" in line).split()[3]
        project = next(line for line in lines if "project id" in line).split()[-1]
        env = {
            "POSTHOG_HOST": url,
            "POSTHOG_PERSONAL_API_KEY": personal,
            "POSTHOG_PROJECT_ID": project,
        }
        listed = ok_json(env, "flags", "list")
        assert isinstance(listed, list)
        assert "checkout-experiment" in {f["key"] for f in listed}
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert "Traceback" not in err


def test_serve_with_a_broken_seed_fails_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "seed.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--seed", str(bad)])
    assert "must hold a JSON object" in error_line(result)


def test_serve_json_announces_connection_details() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "flagkit", "serve", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        while not lines or lines[-1].rstrip() != "}":
            lines.append(proc.stdout.readline())
        info = json.loads("".join(lines))
        env = {
            "POSTHOG_HOST": info["url"],
            "POSTHOG_PERSONAL_API_KEY": info["personal_api_key"],
            "POSTHOG_PROJECT_ID": str(info["project_id"]),
        }
        assert ok_json(env, "flags", "list") == []
        assert info["project_api_key"].startswith("phc_")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
