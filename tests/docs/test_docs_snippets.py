"""Every code block in README.md and docs/ runs, and every CLI sample shows real output.

- ``python`` blocks of one page run in order in one namespace, against a LocalServer seeded
  with examples/seed.json: the placeholder keys and hosts of the docs are swapped for the
  server's, file paths for a temporary folder. A block that defines ``test_`` functions runs
  as a pytest file of its own.
- ``bash``/``sh`` lines and ``console`` ``$`` lines that run ``flagkit`` or ``python`` run for
  real; a ``console`` command followed by output must print that output.
- A block that cannot run here (``pip install``, a reference venv, a sketch of output) is
  marked on the line before it with ``<!-- fragment: why -->``; this test checks that every
  other block runs. ``text`` blocks and plain fences are prose.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from flagkit.server import LocalServer

ROOT = Path(__file__).resolve().parent.parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SEED = ROOT / "examples" / "seed.json"
FENCE = re.compile(r"^```(\w*)\s*$")
FRAGMENT = re.compile(r"^<!-- fragment: (.+) -->$")
RUN_LANGS = {"python", "bash", "sh", "console"}
PLACEHOLDER_HOSTS = (
    "https://us.i.posthog.com",
    "https://eu.i.posthog.com",
    "https://us.posthog.com",
    "https://eu.posthog.com",
)
SHELL_TIMEOUT = 60


@attrs.frozen
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    fragment: str | None  # why it does not run, when marked

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> Iterator[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        marker = FRAGMENT.match(lines[i - 1].strip()) if i else None
        yield Block(
            page,
            i + 1,
            match.group(1),
            "\n".join(lines[i + 1 : end]) + "\n",
            marker.group(1) if marker else None,
        )
        i = end + 1


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def substitute(text: str, server: LocalServer, tmp: Path, redis_url: str = "") -> str:
    """The docs' placeholders made real: keys, hosts, file locations."""
    if redis_url:
        text = text.replace("redis://redis.internal:6379/0", redis_url)
    text = text.replace("phc_...", server.project_api_key)
    text = text.replace("phx_...", server.personal_api_key)
    text = text.replace("phs_...", server.secret_api_key)
    for host in PLACEHOLDER_HOSTS:
        text = text.replace(host, server.url)
    text = re.sub(r"http://127\.0\.0\.1:80\d\d", server.url, text)
    text = text.replace("project_id=12345", f"project_id={server.project_id}")
    text = text.replace("/var/cache/myapp/", f"{tmp}/")
    text = text.replace("/var/run/myapp/", f"{tmp}/")
    return text


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalServer]:
    with LocalServer(seed=SEED) as running:
        yield running


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_python_blocks_run(
    page: Path,
    server: LocalServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.chdir(ROOT)  # the docs speak from a checkout: examples/flags.json etc.
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem}"}
    ran = 0
    try:
        for block in blocks(page):
            if block.lang != "python" or block.fragment:
                continue
            redis_url = _redis_url(request) if "redis.internal" in block.text else ""
            source = substitute(block.text, server, tmp_path, redis_url)
            if re.search(r"^def test_", source, re.MULTILINE):
                _run_as_pytest_file(block, source, tmp_path)
                ran += 1
                continue
            try:
                exec(compile(source, block.where, "exec"), namespace)
            except Exception as exc:
                pytest.fail(f"{block.where}: {type(exc).__name__}: {exc}")
            ran += 1
    finally:
        _close_clients(namespace)
    if ran == 0:
        pytest.skip("no python blocks")


def _redis_url(request: pytest.FixtureRequest) -> str:
    """A real redis-server for the pages that show RedisStore (see tests/conftest.py)."""
    redis = request.getfixturevalue("redis_server")
    return str(redis.url)


def _run_as_pytest_file(block: Block, source: str, tmp: Path) -> None:
    """A block that defines tests runs as a test file of its own, as a reader would use it."""
    path = tmp / f"test_docs_{block.page.stem.replace('-', '_')}_{block.line}.py"
    path.write_text(source, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(tmp)])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=SHELL_TIMEOUT,
    )
    assert done.returncode == 0, f"{block.where}: its tests failed\n{done.stdout[-3000:]}"


def _close_clients(namespace: dict[str, Any]) -> None:
    for value in namespace.values():
        close = getattr(value, "close", None)
        if type(value).__module__.startswith("flagkit") and callable(close):
            try:
                close()
            except Exception:
                pass


def shell_commands(block: Block) -> Iterator[tuple[str, list[str]]]:
    """(command, expected output lines) pairs; expected is empty for bash/sh."""
    lines = block.text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if block.lang == "console" and not line.startswith("$ "):
            i += 1
            continue
        command = line[2:] if block.lang == "console" else line
        while command.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            command = command.rstrip()[:-1] + " " + lines[i].strip()
        i += 1
        output: list[str] = []
        while block.lang == "console" and i < len(lines) and not lines[i].startswith("$ "):
            output.append(lines[i])
            i += 1
        command = command.split(" #", 1)[0].strip()
        if command:
            yield command, output


def _run_page_shell(page: Path, server: LocalServer, tmp_path: Path) -> int:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100", "TERM": "dumb"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env["POSTHOG_HOST"] = server.url
    env["POSTHOG_PERSONAL_API_KEY"] = server.personal_api_key
    env["POSTHOG_PROJECT_API_KEY"] = server.project_api_key
    env["POSTHOG_PROJECT_ID"] = str(server.project_id)
    ran = 0
    for block in blocks(page):
        if block.lang not in {"bash", "sh", "console"} or block.fragment:
            continue
        for command, expected in shell_commands(block):
            # Files a command writes go to the test's folder, never into the checkout.
            command = command.replace(" -o flags.json", f" -o {tmp_path}/flags.json")
            argv = shlex.split(substitute(command, server, tmp_path))
            if argv[0] == "flagkit":
                argv = [sys.executable, "-m", "flagkit", *argv[1:]]
            elif argv[0] in ("python", "python3"):
                argv = [sys.executable, *argv[1:]]
            else:
                pytest.fail(f"{block.where}: {command!r} is neither flagkit nor python")
            long_running = "serve" in argv[2:4] or argv[1:3] == ["-m", "flagkit.server"]
            if long_running:
                argv += ["--port", "0"] if "--port" not in argv else []
                _check_server_starts(block, argv, env, tmp_path)
            else:
                done = subprocess.run(
                    argv,
                    cwd=ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=SHELL_TIMEOUT,
                    stdin=subprocess.DEVNULL,
                )
                assert done.returncode == 0, f"{block.where}: {command}\n{done.stderr}"
                if expected and "..." not in "\n".join(expected):
                    got = [
                        line.rstrip().replace(f"{tmp_path}/", "")
                        for line in done.stdout.rstrip("\n").splitlines()
                    ]
                    want = [line.rstrip() for line in expected]
                    assert got == want, f"{block.where}: {command} printed other output"
            ran += 1
    return ran


def _check_server_starts(block: Block, argv: list[str], env: dict[str, str], tmp: Path) -> None:
    argv = [re.sub(r"^flags\.(db|sqlite3)$", str(tmp / "docs.db"), a) for a in argv]
    if "--port" in argv:
        argv[argv.index("--port") + 1] = "0"
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in first, f"{block.where}: {first!r}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_shell_blocks_run(page: Path, server: LocalServer, tmp_path: Path) -> None:
    if _run_page_shell(page, server, tmp_path) == 0:
        pytest.skip("no shell commands")


def test_fragments_say_why() -> None:
    marked = [block for page in PAGES for block in blocks(page) if block.fragment]
    assert all(len(block.fragment or "") > 8 for block in marked)
    assert all(block.lang in RUN_LANGS for block in marked), "only runnable blocks need a mark"
