"""``nexthop serve --http``: Host and Origin checks, bearer tokens, and a whole run over HTTP.

Each server is a real ``nexthop serve`` process on loopback with a scripted model. The
status codes are the MCP SDK's (`mcp.server.transport_security`): a foreign Host
header gets **421** Misdirected Request, a foreign Origin **403**; nexthop's own
`BearerAuth` answers **401** before either check runs.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import mcp
import pytest
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from serve_http import INITIALIZE, MCP_HEADERS, NEXTHOP, clean_env, free_port, serve_subprocess

from nexthop.servers._serve import parse_host, parse_origin
from nexthop.servers._server import RunTaskOutput

pytestmark = pytest.mark.integration
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("http") / "script.json"
    path.write_text(json.dumps([{"tool": "finish", "arguments": {"result": "over http"}}]))
    return path


@pytest.fixture(scope="module")
def open_port(script: Path) -> Iterator[int]:
    """A server on loopback without a token."""
    yield from serve_subprocess(script)


@pytest.fixture(scope="module")
def token_port(script: Path) -> Iterator[int]:
    """A server on loopback that requires ``Bearer TOKEN``."""
    yield from serve_subprocess(script, "--token", TOKEN)


@pytest.fixture(scope="module")
def wildcard_port(script: Path) -> Iterator[int]:
    """A server on every interface (0.0.0.0), which requires ``Bearer TOKEN``."""
    yield from serve_subprocess(script, "--token", TOKEN, bind="0.0.0.0")


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


@pytest.fixture(scope="module")
def allowing_port(script: Path) -> Iterator[int]:
    """A server on loopback that also accepts Host ``mcp.example.com`` and Origin ``https://app.example.com``."""
    yield from serve_subprocess(script, "--allow-host", "mcp.example.com", "--allow-origin", "https://app.example.com")


def test_host_must_be_a_served_name_with_the_served_port_exactly(open_port: int) -> None:
    p = open_port
    for good in (f"127.0.0.1:{p}", f"localhost:{p}", f"[::1]:{p}", f"LocalHost:{p}"):
        assert post(p, host=good).status_code == 200, good
    # The first three passed the SDK's prefix match ("localhost:*"), as did any other local port.
    for bad in (
        f"localhost:{p}.evil.com",
        f"127.0.0.1:{p}@evil.com",
        "127.0.0.1:evil",
        f"localhost:{p + 1}",
        "localhost",
        f"localhost:{p}/x",
        f"localhost.:{p}",
        f"127.0.0.1:0{p}",
    ):
        response = post(p, host=bad)
        assert (response.status_code, response.text) == (421, "Invalid Host header"), bad


def test_origin_must_be_the_served_origin_exactly(open_port: int) -> None:
    p = open_port
    for good in (f"http://localhost:{p}", f"http://127.0.0.1:{p}", f"http://[::1]:{p}"):
        assert post(p, origin=good).status_code == 200, good
    for bad in (
        f"http://localhost:{p}.evil.com",
        f"http://localhost:{p + 1}",  # another local port: another local web app
        "http://localhost",
        f"https://localhost:{p}",
        f"http://user@localhost:{p}",
        f"http://localhost:{p}/",
        "null",
    ):
        response = post(p, origin=bad)
        assert (response.status_code, response.text) == (403, "Invalid Origin header"), bad


def test_allow_origin_and_allow_host_add_exactly_what_they_name(allowing_port: int) -> None:
    p = allowing_port
    for origin in ("https://app.example.com", "https://app.example.com:443", "https://APP.example.com"):
        assert post(p, origin=origin).status_code == 200, origin
    for origin in ("https://app.example.com:8443", "http://app.example.com", "https://app.example.com.evil.com"):
        assert post(p, origin=origin).status_code == 403, origin
    for host in ("mcp.example.com", f"mcp.example.com:{p}"):  # as a proxy forwards it, or direct
        assert post(p, host=host).status_code == 200, host
    assert post(p, host="mcp.example.com:1").status_code == 421


def test_two_authorization_headers_are_refused_whatever_they_hold(token_port: int) -> None:
    right = f"Bearer {TOKEN}"
    for pair in ((right, right), ("Bearer wrong", right), (right, "Bearer wrong")):
        headers = [*MCP_HEADERS.items(), *(("authorization", value) for value in pair)]
        response = httpx2.post(f"http://127.0.0.1:{token_port}/mcp", json=INITIALIZE, headers=headers, timeout=10)
        assert response.status_code == 401, pair  # the last one used to win
        assert response.text == "more than one Authorization header\n"


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("localhost:8765", ("localhost", 8765)),
        ("[::1]:8765", ("::1", 8765)),
        ("Example.COM", ("example.com", None)),
        ("localhost:8765.evil.com", None),
        ("127.0.0.1:8765@evil.com", None),
        ("127.0.0.1:evil", None),
        ("localhost:+8765", None),
        ("", None),
    ],
)
def test_parse_host(value: str, key: tuple[str, int | None] | None) -> None:
    assert parse_host(value) == key


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("http://localhost:8765", ("http", "localhost", 8765)),
        ("https://app.example.com", ("https", "app.example.com", 443)),
        ("http://localhost:8765.evil.com", None),
        ("http://localhost:8765@evil.com", None),
        ("file://", None),
        ("null", None),
        ("localhost:8765", None),
    ],
)
def test_parse_origin(value: str, key: tuple[str, str, int] | None) -> None:
    assert parse_origin(value) == key


def test_bad_session_limits_and_origins_are_usage_errors(script: Path) -> None:
    def serve(*flags: str) -> subprocess.CompletedProcess[str]:
        argv = [str(NEXTHOP), "serve", "--http", str(free_port()), "--model", f"scripted:{script}", *flags]
        return subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, env=clean_env()
        )

    for flags, message in (
        (("--max-sessions", "0"), "error: --max-sessions/--session-idle-timeout: the session cap must be positive"),
        (("--allow-origin", "localhost:3000"), "error: --allow-origin 'localhost:3000': expected SCHEME://NAME[:PORT]"),
    ):
        done = serve(*flags)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines()[-1].startswith(message), done.stderr


def test_serving_on_every_interface_with_a_token_accepts_clients(wildcard_port: int) -> None:
    response = post(wildcard_port, authorization=f"Bearer {TOKEN}")  # Host: 127.0.0.1:<port>
    assert response.status_code == 200, response.text


def test_serving_off_loopback_without_a_token_is_refused(script: Path) -> None:
    done = subprocess.run(
        [str(NEXTHOP), "serve", "--http", f"0.0.0.0:{free_port()}", "--model", f"scripted:{script}"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(),
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
