"""Concurrency (no lost update), persistence across restarts, crash safety, and `serve`."""

from __future__ import annotations

import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_helpers import HTTP, ROLLOUT_ALL, TLS_CONTEXT

from flagkit.server import LocalServer

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.json"


def test_concurrent_updates_lose_nothing(local_server: LocalServer, flags_path: str) -> None:
    flag = local_server.create_flag("hot")
    headers = {"Authorization": f"Bearer {local_server.personal_api_key}"}
    writers, per_writer = 8, 15
    failures: list[int] = []
    reads: list[int] = []

    def write(worker: int) -> None:
        with httpx.Client(
            verify=TLS_CONTEXT, base_url=local_server.url, headers=headers, timeout=10
        ) as client:
            for n in range(per_writer):
                response = client.patch(
                    f"{flags_path}{flag['id']}/", json={"name": f"w{worker}-{n}"}
                )
                if response.status_code != 200:
                    failures.append(response.status_code)

    def read() -> None:
        url = f"/flags/definitions?token={local_server.project_api_key}"
        auth = {"Authorization": f"Bearer {local_server.secret_api_key}"}
        with httpx.Client(
            verify=TLS_CONTEXT, base_url=local_server.url, headers=auth, timeout=10
        ) as client:
            for _ in range(20):
                reads.append(client.get(url).status_code)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    threads += [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert set(reads) == {200}
    final = local_server.get_flag(flag["id"])
    assert final is not None
    assert final["version"] == 1 + writers * per_writer
    activity = HTTP.get(
        f"{local_server.url}{flags_path}{flag['id']}/activity/",
        params={"limit": 1000},
        headers=headers,
    ).json()
    assert activity["total_count"] == 1 + writers * per_writer


def test_concurrent_creates_of_one_key_make_one_flag(
    local_server: LocalServer, flags_path: str
) -> None:
    headers = {"Authorization": f"Bearer {local_server.personal_api_key}"}
    statuses: list[int] = []

    def create() -> None:
        response = HTTP.post(
            f"{local_server.url}{flags_path}", json={"key": "race"}, headers=headers
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=create) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [400] * 9
    assert [flag["key"] for flag in local_server.flags()] == ["race"]


def test_everything_persists_across_restart(tmp_path: Path) -> None:
    db = tmp_path / "local.sqlite3"
    with LocalServer(db) as first:
        keys = (first.personal_api_key, first.project_api_key, first.secret_api_key)
        flag = first.create_flag("kept", ROLLOUT_ALL)
        first.update_flag("kept", name="renamed")
        first.add_person("alice", {"plan": "pro"})
        first.add_cohort("static", static_members=["alice"])
        HTTP.post(
            f"{first.url}/batch/",
            json={"api_key": first.project_api_key, "batch": [{"event": "e", "distinct_id": "a"}]},
        )
    with LocalServer(db) as second:
        assert (second.personal_api_key, second.project_api_key, second.secret_api_key) == keys
        kept = second.get_flag("kept")
        assert kept is not None
        assert (kept["id"], kept["name"], kept["version"]) == (flag["id"], "renamed", 2)
        response = HTTP.get(
            f"{second.url}/api/projects/{second.project_id}/persons/",
            headers={"Authorization": f"Bearer {keys[0]}"},
        )
        assert response.json()["results"][0]["properties"] == {"plan": "pro"}
        assert [e["event"] for e in second.events()] == ["e"]


def test_seed_is_applied_once(tmp_path: Path) -> None:
    db = tmp_path / "seeded.sqlite3"
    for _ in range(2):
        with LocalServer(db, seed=SEED) as server:
            keys = sorted(flag["key"] for flag in server.flags())
    assert keys == [
        "checkout-experiment",
        "company-billing-v2",
        "early-access-ai",
        "legacy-export",
        "modern-app-banner",
        "new-dashboard",
        "priority-support",
    ]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM cohorts").fetchone()[0] == 2
        assert conn.execute("SELECT COUNT(*) FROM persons").fetchone()[0] == 5


def _start(args: list[str]) -> tuple[subprocess.Popen[str], str, list[str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "flagkit.server", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    match = re.search(r"listening on (http://\S+)", "".join(lines))
    assert match, "".join(lines) + (process.stderr.read() if process.stderr else "")
    return process, match.group(1), lines


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, str, Path]]:
    db = tmp_path / "served.sqlite3"
    process, url, lines = _start(["--db", str(db), "--seed", str(SEED)])
    text = "".join(lines)
    key = re.search(r"personal API key:\s+(phx_\w+)", text)
    assert key
    yield process, url, key.group(1), db
    if process.poll() is None:
        process.kill()
        process.wait()


def test_serve_prints_keys_and_stops_on_ctrl_c(
    served: tuple[subprocess.Popen[str], str, str, Path],
) -> None:
    process, url, key, _ = served
    response = HTTP.get(
        f"{url}/api/projects/@current/feature_flags/", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.json()["count"] == 7
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "stopped" in out


def test_sigterm_stops_cleanly(served: tuple[subprocess.Popen[str], str, str, Path]) -> None:
    process, *_ = served
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=10)
    assert process.returncode == 0


def test_kill_mid_write_leaves_no_half_written_flag(
    served: tuple[subprocess.Popen[str], str, str, Path],
) -> None:
    process, url, key, db = served
    headers = {"Authorization": f"Bearer {key}"}
    flags = HTTP.get(f"{url}/api/projects/@current/feature_flags/", headers=headers).json()
    target = flags["results"][0]["id"]
    stop = threading.Event()

    def hammer(worker: int) -> None:
        with httpx.Client(verify=TLS_CONTEXT, base_url=url, headers=headers, timeout=5) as client:
            n = 0
            while not stop.is_set():
                try:
                    client.patch(
                        f"/api/projects/@current/feature_flags/{target}/",
                        json={"name": f"{worker}-{n}", "tags": [f"t{n}"]},
                    )
                except httpx.HTTPError:
                    return
                n += 1

    threads = [threading.Thread(target=hammer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.4)
    process.kill()  # SIGKILL: no chance to clean up
    process.wait()
    stop.set()
    for thread in threads:
        thread.join()
    with LocalServer(db) as reopened:
        assert reopened._storage.integrity_ok()
        flag = reopened.get_flag(target)
        assert flag is not None
        response = HTTP.get(
            f"{reopened.url}/api/projects/@current/feature_flags/{target}/activity/",
            params={"limit": 100000},
            headers={"Authorization": f"Bearer {reopened.personal_api_key}"},
        )
        updates = [e for e in response.json()["results"] if e["activity"] == "updated"]
        # each committed update bumped the version and logged exactly one entry, atomically
        assert flag["version"] == 1 + len(updates)
        assert len(updates) > 0
        name, tag = flag["name"], flag["tags"]
        assert tag == [f"t{name.split('-')[1]}"]  # name and tags come from the same write


def test_serve_in_process_prints_and_stops_on_sigterm() -> None:
    from flagkit.server import serve

    out = io.StringIO()
    answers: list[int] = []

    def drive() -> None:
        deadline = time.monotonic() + 10
        while "Press Ctrl-C" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        url = re.search(r"listening on (http://\S+)", out.getvalue())
        token = re.search(r"project API key:\s+(phc_\w+)", out.getvalue())
        if url and token:
            answers.append(
                HTTP.post(
                    f"{url.group(1)}/flags/?v=2",
                    json={"api_key": token.group(1), "distinct_id": "d"},
                ).status_code
            )
        os.kill(os.getpid(), signal.SIGTERM)

    driver = threading.Thread(target=drive)
    driver.start()
    serve(None, 0, str(SEED), out=out)
    driver.join()
    assert answers == [200]
    text = out.getvalue()
    assert "in memory" in text
    assert "secret API key:    phs_" in text
    assert text.rstrip().endswith("flagkit local server stopped.")


def test_module_entry_point_reports_a_bad_database_path(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flagkit.server",
            "--port",
            "0",
            "--db",
            str(tmp_path / "no" / "x.db"),
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 1
    assert "cannot start the server" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "seed",
    [
        [],
        {"flags": [{"name": "no key"}]},
        {"groups": [{"key": "acme"}]},
        {"persons": "alice"},
    ],
)
def test_bad_seeds_are_refused_clearly(seed: object) -> None:
    with pytest.raises(ValueError, match="seed"):
        LocalServer(seed=seed).start()  # type: ignore[arg-type]
