"""OAuth 2.1 against a local authorization server (the mcp SDK's auth routes over an in-memory provider).

Covers sign-in (discovery, dynamic registration, PKCE, the resource parameter), the token
file (mode 0600), refresh after a restart, a pre-registered client from the config file,
and the one-line errors: not signed in, refused, expired refresh token.
"""

from __future__ import annotations

import json
import stat
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2
import pytest
from oauth_server import InMemoryAS, oauth_mcp_server

from nexthop._config_file import load_config
from nexthop._trajectory import ToolCall
from nexthop.cli._app import main
from nexthop.clients import MCPConnection
from nexthop.clients._config import HTTPServerConfig
from nexthop.clients._oauth import SignInError, login
from nexthop.clients._oauth_store import default_token_dir, token_store

pytestmark = pytest.mark.anyio
REDIRECT = "http://127.0.0.1:33418/callback"


class Browser:
    """A person who approves at once: follows the authorization URL to its redirect, without loading it."""

    def __init__(self) -> None:
        self.location = ""

    async def open(self, url: str) -> None:
        async with httpx2.AsyncClient() as http:
            self.location = (await http.get(url, follow_redirects=False)).headers["location"]

    async def redirect(self) -> str:
        return self.location


async def sign_in(config: HTTPServerConfig) -> None:
    browser = Browser()
    store = token_store(config.name, config.url)
    await login(config, store, redirect_uri=REDIRECT, show_url=browser.open, receive_redirect=browser.redirect)


async def call_whoami(config: HTTPServerConfig) -> tuple[MCPConnection, Any]:
    conn = MCPConnection.from_config(config)
    async with anyio.create_task_group() as tg:
        await tg.start(conn.run)
        observation = None
        if conn.state == "connected":
            observation = await conn.call_tool(ToolCall(id="1", name="guarded__whoami", arguments={}))
        conn.close()
    return conn, observation


async def test_login_stores_tokens_0600_and_a_run_uses_them_without_a_browser() -> None:
    provider = InMemoryAS()
    async with oauth_mcp_server(provider) as url:
        config = HTTPServerConfig(name="guarded", url=url)
        await sign_in(config)
        conn, observation = await call_whoami(config)
    assert conn.error is None and observation is not None
    assert "hello, signed-in client" in str(observation.content)
    files = list(default_token_dir().glob("guarded-*.json"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(files[0].parent.stat().st_mode) == 0o700
    record = json.loads(files[0].read_text())
    assert record["issuer"] == url.removesuffix("/mcp")  # stored per issuer
    assert provider.grants == ["authorization_code"]
    assert provider.resources == [url]  # RFC 8707 resource parameter
    assert len(provider.clients) == 1  # registered dynamically, once


async def test_a_server_demanding_oauth_without_a_sign_in_fails_with_the_login_command() -> None:
    async with oauth_mcp_server(InMemoryAS()) as url:
        conn, _ = await call_whoami(HTTPServerConfig(name="guarded", url=url))
    assert conn.state == "failed"
    assert conn.error is not None and "not signed in" in conn.error
    assert "nexthop auth login guarded" in conn.error
    assert "\n" not in conn.error


async def test_a_refused_login_says_so() -> None:
    async with oauth_mcp_server(InMemoryAS(refuse=True)) as url:
        with pytest.raises(SignInError, match=r"refused the sign-in \(access_denied: the user said no\)"):
            await sign_in(HTTPServerConfig(name="guarded", url=url))
    assert not await token_store("guarded", url).get_tokens()


async def _expire_access_token(provider: InMemoryAS, config: HTTPServerConfig) -> None:
    """Time passes: the access token expires, at the server and in the stored record."""
    for token in provider.access.values():
        token.expires_at = int(time.time()) - 10
    store = token_store(config.name, config.url)
    record = await store.load()
    record.current.expires_at = time.time() - 10
    await store._save(record)  # pyright: ignore[reportPrivateUsage]


async def test_an_expired_access_token_is_refreshed_after_a_restart() -> None:
    provider = InMemoryAS()
    async with oauth_mcp_server(provider) as url:
        config = HTTPServerConfig(name="guarded", url=url)
        await sign_in(config)
        old = await token_store(config.name, url).get_tokens()
        await _expire_access_token(provider, config)
        conn, observation = await call_whoami(config)  # a new process: a new provider, tokens from disk
    assert conn.error is None and observation is not None and not observation.is_error
    assert provider.grants == ["authorization_code", "refresh_token"]
    new = await token_store(config.name, url).get_tokens()
    assert old is not None and new is not None and new.access_token != old.access_token


async def test_an_expired_refresh_token_asks_for_a_new_login() -> None:
    provider = InMemoryAS()
    async with oauth_mcp_server(provider) as url:
        config = HTTPServerConfig(name="guarded", url=url)
        await sign_in(config)
        await _expire_access_token(provider, config)
        provider.refresh.clear()  # the authorization server forgot it
        conn, _ = await call_whoami(config)
    assert conn.state == "failed" and conn.error is not None
    assert "sign-in has expired and could not be refreshed; run: nexthop auth login guarded" in conn.error


async def test_a_pre_registered_client_from_the_config_file_skips_registration(tmp_path: Path) -> None:
    provider = InMemoryAS()
    async with oauth_mcp_server(provider) as url:
        from mcp.shared.auth import OAuthClientInformationFull
        from pydantic import AnyUrl

        provider.clients["pre-1"] = OAuthClientInformationFull(
            client_id="pre-1",
            client_secret="s3cret",
            redirect_uris=[AnyUrl(REDIRECT)],
            token_endpoint_auth_method="client_secret_basic",
        )
        file = tmp_path / "servers.json"
        oauth = {"clientId": "pre-1", "clientSecret": "${SECRET}", "callbackPort": 33418}
        file.write_text(json.dumps({"servers": {"guarded": {"url": url, "oauth": oauth}}}))
        (config,) = load_config(file, env={"SECRET": "s3cret"}).servers
        assert isinstance(config, HTTPServerConfig) and config.oauth.client_secret == "s3cret"
        await sign_in(config)
        _, observation = await call_whoami(config)
    assert observation is not None and not observation.is_error
    assert list(provider.clients) == ["pre-1"]  # nothing registered dynamically
    assert provider.grants == ["authorization_code"]


async def test_cli_login_status_logout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """``nexthop auth login`` takes the code on the loopback listener the browser is sent back to."""
    import webbrowser

    pages: list[httpx2.Response] = []

    def browser(url: str) -> bool:  # returns at once, like a browser; follows the 302 to the loopback listener
        threading.Thread(target=lambda: pages.append(httpx2.get(url, follow_redirects=True))).start()
        return True

    monkeypatch.setattr(webbrowser, "open", browser)
    monkeypatch.setattr(webbrowser, "get", lambda *a: object())
    async with oauth_mcp_server(InMemoryAS()) as url:
        file = tmp_path / "servers.json"
        file.write_text(json.dumps({"servers": {"guarded": {"url": url}, "local": {"command": "true"}}}))
        args = ["auth", "login", "guarded", "--config", str(file)]
        assert await anyio.to_thread.run_sync(main, args) == 0
        assert "signed in to guarded" in capfd.readouterr().err
        assert pages[0].status_code == 200 and "sign-in finished" in pages[0].text
        assert await anyio.to_thread.run_sync(main, ["auth", "status", "--config", str(file)]) == 0
        err = capfd.readouterr().err
        issuer = url.removesuffix("/mcp")
        assert f"guarded: signed in with {issuer} as client" in err and "a refresh token" in err
        assert "expires in 60 min" in err
        assert await anyio.to_thread.run_sync(main, ["auth", "logout", "guarded", "--config", str(file)]) == 0
        assert "signed out of guarded" in capfd.readouterr().err
        assert await anyio.to_thread.run_sync(main, ["auth", "status", "guarded", "--config", str(file)]) == 0
        assert "guarded: not signed in (run: nexthop auth login guarded)" in capfd.readouterr().err
        assert await anyio.to_thread.run_sync(main, ["auth", "login", "local", "--config", str(file)]) == 2
        assert "not an HTTP server" in capfd.readouterr().err


async def test_a_served_nexthop_never_passes_its_callers_token_upstream(tmp_path: Path) -> None:
    """Spec security best practices, token passthrough: the caller's token is for nexthop alone."""
    import mcp
    from mcp.client.streamable_http import streamable_http_client
    from mcp.server import MCPServer
    from mcp.shared._httpx_utils import create_mcp_http_client
    from oauth_server import serve_app
    from serve_http import free_port, serve_subprocess

    seen: list[str] = []
    upstream = MCPServer("up")

    @upstream.tool()
    def echo(text: str) -> str:
        """Echoes the text."""
        return text

    inner = upstream.streamable_http_app()

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(dict(scope["headers"]).get(b"authorization", b"").decode())
        await inner(scope, receive, send)

    port = free_port()
    config = tmp_path / "servers.json"
    config.write_text(json.dumps({"servers": {"up": {"url": f"http://127.0.0.1:{port}/mcp"}}}))
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            [{"tool": "up__echo", "arguments": {"text": "hi"}}, {"tool": "finish", "arguments": {"result": "ok"}}]
        )
    )
    async with serve_app(recording, port):
        served = serve_subprocess(script, "--config", str(config), "--token", "caller-secret")
        nexthop_port = await anyio.to_thread.run_sync(next, served)
        try:
            http = create_mcp_http_client(headers={"Authorization": "Bearer caller-secret"})
            target = streamable_http_client(f"http://127.0.0.1:{nexthop_port}/mcp", http_client=http)
            async with mcp.Client(target) as client:
                result = await client.call_tool("run_task", {"task": "echo hi upstream"})
        finally:
            await anyio.to_thread.run_sync(next, served, None)
    assert not result.is_error, result
    assert seen, "the run never reached the upstream server"
    assert not any("caller-secret" in value for value in seen), seen
