"""``nexthop serve`` driven by a client we did not write: the MCP Inspector CLI (npm), over stdio and HTTP.

The in-memory tests (test_server.py) use our own SDK on both ends; these prove a third-party
client can list ``run_task``, call it and read the run back. The model is scripted (no network,
no weights) and the demo MCP server sits behind the host, so the run is deterministic:
``demo__echo`` then ``finish`` with "said hi".

Needs ``npx`` (Node.js); the first run downloads the Inspector (a few seconds).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"
SUPPORT = Path(__file__).parents[1] / "support"
ACTIONS = SUPPORT / "conformance_fixture" / "actions.json"  # demo__echo "hi", then finish "said hi"
NEXTHOP = Path(sys.executable).with_name("nexthop")
CALL_TIMEOUT_S = 120  # the first npx call may download the Inspector
RUN_URI_PREFIX = "nexthop://runs/"

Inspector = Callable[..., Any]


@pytest.fixture(scope="module")
def npx() -> str:
    if os.environ.get("NEXTHOP_SKIP_INTEGRATION") == "1":
        pytest.skip("NEXTHOP_SKIP_INTEGRATION=1 is set: Inspector tests skipped on request")
    path = shutil.which("npx")
    if path is None:
        pytest.fail(
            "npx not found on PATH: these tests run the MCP Inspector CLI with "
            f"'npx -y {INSPECTOR}'. Install Node.js (which provides npx), "
            "or set NEXTHOP_SKIP_INTEGRATION=1 to skip them.",
            pytrace=False,
        )
    assert NEXTHOP.exists(), f"{NEXTHOP} not found: install nexthop into this venv (make install)"
    return path


@pytest.fixture
def nexthop_env(tmp_path: Path) -> dict[str, str]:
    """nexthop's config by environment: the Inspector CLI has --config/--server flags of its own."""
    config = tmp_path / "servers.json"
    demo = {"command": sys.executable, "args": [str(SUPPORT / "demo_server.py")]}
    config.write_text(json.dumps({"mcpServers": {"demo": demo}}))
    return {"NEXTHOP_CONFIG": str(config), "NEXTHOP_MODEL": f"scripted:{ACTIONS}"}


@pytest.fixture
def stdio(nexthop_env: dict[str, str]) -> list[str]:
    """The Inspector arguments that start ``nexthop serve`` over stdio.

    The env goes in by ``-e`` too: the Inspector (like the MCP SDKs' stdio clients) hands a
    server only a few safe variables of its own environment.
    """
    env = [arg for key, value in nexthop_env.items() for arg in ("-e", f"{key}={value}")]
    return [*env, str(NEXTHOP), "serve"]


@pytest.fixture
def inspector(npx: str, nexthop_env: dict[str, str]) -> Iterator[Inspector]:
    """Run ``npx <Inspector> --cli ...``; return its JSON output, or fail showing what it printed.

    Each call runs in its own session, killed whole afterwards, so a stuck Inspector or a
    server it spawned cannot outlive the test.
    """
    groups: list[int] = []

    def run(*args: str, expect_ok: bool = True) -> Any:
        cmd = [npx, "-y", INSPECTOR, "--cli", *args]
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, **nexthop_env},
        )
        groups.append(proc.pid)
        try:
            out, err = proc.communicate(timeout=CALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            out, err = proc.communicate()
            pytest.fail(f"Inspector timed out after {CALL_TIMEOUT_S} s: {cmd}\nstdout:\n{out}\nstderr:\n{err}")
        if not expect_ok:
            return proc.returncode, out + err
        assert proc.returncode == 0, f"Inspector exited {proc.returncode}: {cmd}\nstdout:\n{out}\nstderr:\n{err}"
        try:
            return json.loads(out)
        except json.JSONDecodeError:
            pytest.fail(f"Inspector printed no JSON: {cmd}\nstdout:\n{out}\nstderr:\n{err}")

    yield run
    for pgid in groups:
        _kill_group(pgid)


@pytest.fixture
def http_url(npx: str, nexthop_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """``nexthop serve --http 127.0.0.1:<free port>`` as a subprocess; its /mcp URL once it listens."""
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [str(NEXTHOP), "serve", "--http", f"127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **nexthop_env},
        )
    try:
        deadline = time.monotonic() + 60
        while not _listening(port):
            if proc.poll() is not None:
                pytest.fail(f"nexthop serve exited {proc.returncode} before listening:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"nexthop serve did not listen on port {port} within 60 s:\n{log.read_text()}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Ctrl-C: nexthop closes its MCP servers on the way out
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        _kill_group(proc.pid)  # whatever is left: the server itself, or the demo server under it
        proc.wait(timeout=10)


def test_stdio_lists_run_task(inspector: Inspector, stdio: list[str]) -> None:
    listed = inspector(*stdio, "--method", "tools/list")
    _assert_run_task_listed(listed)


def test_stdio_calls_run_task(inspector: Inspector, stdio: list[str]) -> None:
    result = inspector(*stdio, "--method", "tools/call", "--tool-name", "run_task", "--tool-arg", "task=say hi")
    _assert_completed(result)


def test_stdio_lists_the_run_template(inspector: Inspector, stdio: list[str]) -> None:
    # Each Inspector call is a fresh stdio server, so a run cannot be read back here; HTTP does that.
    listed = inspector(*stdio, "--method", "resources/templates/list")
    templates = [t["uriTemplate"] for t in listed["resourceTemplates"]]
    assert f"{RUN_URI_PREFIX}{{run_id}}" in templates, listed


def test_http_lists_run_task(inspector: Inspector, http_url: str) -> None:
    listed = inspector(http_url, "--transport", "http", "--method", "tools/list")
    _assert_run_task_listed(listed)


def test_http_calls_run_task_and_reads_the_run(inspector: Inspector, http_url: str) -> None:
    result = inspector(
        http_url,
        "--transport",
        "http",
        "--method",
        "tools/call",
        "--tool-name",
        "run_task",
        "--tool-arg",
        "task=say hi",
    )
    run_uri = _assert_completed(result)

    # A second Inspector process (a new session) reads the run the first one started.
    read = inspector(http_url, "--transport", "http", "--method", "resources/read", "--uri", run_uri)
    (content,) = read["contents"]
    assert content["uri"] == run_uri
    assert content["mimeType"] == "application/json"
    record = json.loads(content["text"])
    assert record["state"] == "finished", record
    assert record["task"] == "say hi"
    assert record["result"]["status"] == "completed"
    calls = [c["name"] for step in record["trajectory"]["steps"] for c in step["tool_calls"]]
    assert calls == ["demo__echo", "finish"], calls


def test_http_unknown_run_says_so(inspector: Inspector, http_url: str) -> None:
    code, output = inspector(
        http_url, "--transport", "http", "--method", "resources/read", "--uri", f"{RUN_URI_PREFIX}nope", expect_ok=False
    )
    assert code != 0, output
    assert "no run 'nope' on this host" in output, output  # nexthop's own message, not a generic one


def _assert_run_task_listed(listed: dict[str, Any]) -> None:
    tools = {t["name"]: t for t in listed["tools"]}
    assert list(tools) == ["run_task"], listed
    schema = tools["run_task"]["inputSchema"]
    assert schema["required"] == ["task"], schema
    assert {"task", "context", "memory", "max_steps"} <= set(schema["properties"]), schema
    assert "outputSchema" in tools["run_task"], tools["run_task"]


def _assert_completed(result: dict[str, Any]) -> str:
    """The run_task result is a completed scripted run; returns its run URI."""
    assert result.get("isError") is False, result
    out = result.get("structuredContent")
    assert out is not None, f"no structuredContent in {result}"
    assert out["status"] == "completed", out
    # The scripted answer, so the Inspector really handed our env (NEXTHOP_MODEL) to the server.
    assert out["result"] == "said hi", out
    assert out["steps"] == 2, out
    run_uri = out["run_uri"]
    assert run_uri.startswith(RUN_URI_PREFIX), out
    links = [c for c in result["content"] if c["type"] == "resource_link"]
    assert [link["uri"] for link in links] == [run_uri], result["content"]
    return run_uri


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
