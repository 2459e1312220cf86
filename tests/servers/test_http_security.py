"""``nexthop serve --http``: Host and Origin checks, bearer tokens, and a whole run over HTTP.

Each server is a real ``nexthop serve`` process on loopback with a scripted model. The
status codes are the MCP SDK's (`mcp.server.transport_security`): a foreign Host
header gets **421** Misdirected Request, a foreign Origin **403**; nexthop's own
`BearerAuth` answers **401** before either check runs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import mcp
import pytest
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from nexthop.servers._server import RunTaskOutput

pytestmark = pytest.mark.integration
NEXTHOP = Path(sys.executable).parent / "nexthop"
TOKEN = "s3cret-token"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}
MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("NEXTHOP_TOKEN", "NEXTHOP_CONFIG", "NEXTHOP_MODEL")}


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("http") / "script.json"
    path.write_text(json.dumps([{"tool": "finish", "arguments": {"result": "over http"}}]))
    return path


def _serve(script: Path, *extra: str, bind: str = "127.0.0.1") -> Iterator[int]:
    port = _free_port()
    log = script.parent / f"serve-{port}.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [str(NEXTHOP), "serve", "--http", f"{bind}:{port}", "--model", f"scripted:{script}", *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=_env(),
        )
    try:
        deadline = time.monotonic() + 30  # the interpreter and uvicorn come up in a few seconds
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"nexthop serve exited with {proc.returncode}: {log.read_text()[-500:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"nexthop serve did not listen on {port}: {log.read_text()[-500:]}")
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def open_port(script: Path) -> Iterator[int]:
    """A server on loopback without a token."""
    yield from _serve(script)


@pytest.fixture(scope="module")
def token_port(script: Path) -> Iterator[int]:
    """A server on loopback that requires ``Bearer TOKEN``."""
    yield from _serve(script, "--token", TOKEN)


@pytest.fixture(scope="module")
def wildcard_port(script: Path) -> Iterator[int]:
    """A server on every interface (0.0.0.0), which requires ``Bearer TOKEN``."""
    yield from _serve(script, "--token", TOKEN, bind="0.0.0.0")


def post(port: int, **headers: str) -> httpx2.Response:
    return httpx2.post(f"http://127.0.0.1:{port}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **headers}, timeout=10)


def test_a_local_request_reaches_mcp(open_port: int) -> None:
    response = post(open_port)
    assert response.status_code == 200, response.text
    assert '"serverInfo"' in response.text and '"nexthop"' in response.text


def test_a_foreign_host_header_is_refused_with_421(open_port: int) -> None:
    response = post(open_port, host=f"evil.example:{open_port}")
    assert response.status_code == 421
    assert "Invalid Host header" in response.text
    assert post(open_port, host=f"localhost:{open_port}").status_code == 200


def test_a_foreign_origin_is_refused_with_403(open_port: int) -> None:
    response = post(open_port, origin="http://evil.example")
    assert response.status_code == 403
    assert "Invalid Origin header" in response.text
    assert post(open_port, origin=f"http://localhost:{open_port}").status_code == 200


def test_a_missing_or_wrong_token_is_refused_with_401(token_port: int) -> None:
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
        response = post(token_port, **headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
    # The token is checked first, so a rebinding page learns nothing without it.
    assert post(token_port, host=f"evil.example:{token_port}").status_code == 401


def test_the_right_token_reaches_mcp_and_the_host_checks_still_apply(token_port: int) -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}
    assert post(token_port, **auth).status_code == 200
    assert post(token_port, **auth, host=f"evil.example:{token_port}").status_code == 421
    assert post(token_port, **auth, origin="http://evil.example").status_code == 403


def test_serving_on_every_interface_with_a_token_accepts_clients(wildcard_port: int) -> None:
    response = post(wildcard_port, authorization=f"Bearer {TOKEN}")  # Host: 127.0.0.1:<port>
    assert response.status_code == 200, response.text


def test_serving_off_loopback_without_a_token_is_refused(script: Path) -> None:
    done = subprocess.run(
        [str(NEXTHOP), "serve", "--http", f"0.0.0.0:{_free_port()}", "--model", f"scripted:{script}"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        env=_env(),
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: serving on 0.0.0.0 (not loopback) needs a bearer token")
    assert "--token" in lines[0]


@pytest.mark.anyio
@pytest.mark.parametrize(("mode", "version"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
async def test_run_task_end_to_end_over_http_with_a_token(token_port: int, mode: str, version: str) -> None:
    url = f"http://127.0.0.1:{token_port}/mcp"
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
    async with http, mcp.Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        assert client.protocol_version == version
        result = await client.call_tool("run_task", {"task": "say it over http"})
        uri = RunTaskOutput.model_validate(result.structured_content).run_uri
        record: Any = json.loads((await client.read_resource(uri)).contents[0].text)  # type: ignore[union-attr]
    assert not result.is_error
    output = RunTaskOutput.model_validate(result.structured_content)
    assert (output.status, output.result, output.steps) == ("completed", "over http", 1)
    assert (record["task"], record["state"]) == ("say it over http", "finished")
