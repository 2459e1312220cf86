"""OAuth 2.1 for remote MCP servers, on the SDK's `OAuthClientProvider`.

The SDK does the protocol: protected-resource and authorization-server discovery with
the issuer checks, PKCE S256, the ``resource`` parameter (RFC 8707), a client ID
metadata document where the server supports one, else dynamic registration, scope
step-up on 403 ``insufficient_scope`` (SEP-2350), refresh, and re-registration when
the issuer changes (SEP-2352). This module wires it to nexthop: the config's ``oauth``
key (pre-registered ``clientId``/``clientSecret``, ``client_credentials``), a token
store per server and issuer (`_oauth_store`), who is asked to sign in, and one-line
errors. ``nexthop run`` never opens a browser: a server demanding a sign-in fails with
`SignInError` naming ``nexthop auth login <server>``, which does the interactive part
(`login`, with `LoopbackRedirect` or a pasted redirect URL).
"""

from __future__ import annotations

import http.server
import logging
import threading
import warnings
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

import anyio
import anyio.to_thread
import httpx2
import mcp
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl

from nexthop._exceptions import ServerConnectionError
from nexthop._sanitize import one_line
from nexthop.clients._calls import describe
from nexthop.clients._config import HTTPServerConfig
from nexthop.clients._oauth_store import TokenStore, token_store

__all__ = [
    "LoopbackRedirect",
    "SignInError",
    "default_auth",
    "login",
    "oauth_provider",
    "parse_redirect",
]

RedirectHandler = Callable[[str], Awaitable[None]]
CallbackHandler = Callable[[], Awaitable[AuthorizationCodeResult]]
CLIENT_NAME = "nexthop"


class SignInError(ServerConnectionError):
    """A server demands OAuth and nexthop holds no usable sign-in, or the sign-in was refused."""


class _QuietSignIn(logging.Filter):
    # The SDK logs every failed flow with a traceback at ERROR; ours already says what to do.
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], SignInError))


logging.getLogger("mcp.client.auth.oauth2").addFilter(_QuietSignIn())


class _ExpiryAware:
    """Sets the loaded token's expiry, which the SDK's ``_initialize`` leaves unset.

    Without it a token read from disk counts as valid forever: once it expires the server's
    401 starts a whole new sign-in instead of a refresh.
    """

    context: Any

    async def _initialize(self) -> None:
        await super()._initialize()  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
        expires_at = getattr(self.context.storage, "expires_at", None)  # our stores have it
        if expires_at is not None and self.context.current_tokens is not None:
            self.context.token_expiry_time = await expires_at()


class _AuthCodeProvider(_ExpiryAware, OAuthClientProvider):
    """The SDK's authorization-code provider, expiry-aware."""


class _ClientCredentialsProvider(_ExpiryAware, ClientCredentialsOAuthProvider):
    """The SDK's client-credentials provider, expiry-aware."""


class _PreRegistered:
    """A `TokenStore` that always answers with the client registered beforehand (config ``clientId``)."""

    def __init__(self, store: TokenStorage, client_info: OAuthClientInformationFull) -> None:
        self.store, self._client_info = store, client_info

    async def get_tokens(self) -> OAuthToken | None:
        return await self.store.get_tokens()

    async def set_tokens(self, tokens: OAuthToken) -> None:
        await self.store.set_tokens(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self._client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        await self.store.set_client_info(client_info)

    async def expires_at(self) -> float | None:
        expires_at = getattr(self.store, "expires_at", None)
        return await expires_at() if expires_at is not None else None


def oauth_provider(
    config: HTTPServerConfig,
    store: TokenStorage,
    *,
    redirect_uri: str,
    redirect_handler: RedirectHandler | None = None,
    callback_handler: CallbackHandler | None = None,
) -> httpx2.Auth | None:
    """The httpx ``Auth`` that signs requests to one server, following its ``oauth`` settings.

    Args:
        config: The server's entry.
        store: Where its tokens live.
        redirect_uri: The loopback URI the authorization server sends the person back to.
        redirect_handler: Shows the person the authorization URL (authorization-code grant).
        callback_handler: Waits for the redirect and returns its code and state.

    Returns:
        The provider, or None when sign-in is off (``"oauth": false``, or a configured
        ``Authorization`` header, which the SDK would otherwise overwrite).
    """
    oauth = config.oauth
    if not oauth.enabled or any(k.lower() == "authorization" for k in config.headers):
        return None
    scope = " ".join(oauth.scopes) or None
    if oauth.grant == "client_credentials":
        assert oauth.client_id and oauth.client_secret  # OAuthConfig checks this
        with warnings.catch_warnings():
            # Without an issuer the SDK warns that the server picks where the secret goes;
            # docs/README recommend setting "issuer", and the flow still checks the metadata.
            warnings.simplefilter("ignore")
            return _ClientCredentialsProvider(
                server_url=config.url,
                storage=store,
                client_id=oauth.client_id,
                client_secret=oauth.client_secret,
                scope=scope,
                issuer=oauth.issuer,
            )
    method = "client_secret_basic" if oauth.client_secret else "none"
    metadata = OAuthClientMetadata(
        client_name=CLIENT_NAME,
        redirect_uris=[AnyUrl(redirect_uri)],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method=method if oauth.client_id else None,
        scope=scope,
    )
    storage: TokenStorage = store
    if oauth.client_id:
        storage = _PreRegistered(
            store,
            OAuthClientInformationFull(
                client_id=oauth.client_id,
                client_secret=oauth.client_secret,
                redirect_uris=[AnyUrl(redirect_uri)],
                token_endpoint_auth_method=method,
                issuer=oauth.issuer,
            ),
        )
    return _AuthCodeProvider(
        config.url,
        metadata,
        storage,
        redirect_handler,
        callback_handler,
        client_metadata_url=oauth.client_metadata_url,
    )


def _not_signed_in(config: HTTPServerConfig, store: TokenStore) -> RedirectHandler:
    async def refuse(authorization_url: str) -> None:
        if store.had_tokens:
            why = "its sign-in has expired and could not be refreshed"
        else:
            why = "it demands an OAuth sign-in and nexthop is not signed in"
        raise SignInError(config.name, f"{why}; run: nexthop auth login {config.name}")

    return refuse


def default_auth(config: HTTPServerConfig) -> httpx2.Auth | None:
    """The provider a non-interactive connection uses: stored tokens, refreshed; never a browser.

    A server that needs a new sign-in makes the connection fail with `SignInError`
    ("run: nexthop auth login NAME").
    """
    store = token_store(config.name, config.url)
    port = config.oauth.callback_port or 33418  # only named in a registration; nothing listens here

    async def no_callback() -> AuthorizationCodeResult:  # pragma: no cover - refuse() raises first
        raise SignInError(config.name, f"not signed in; run: nexthop auth login {config.name}")

    return oauth_provider(
        config,
        store,
        redirect_uri=f"http://127.0.0.1:{port}/callback",
        redirect_handler=_not_signed_in(config, store),
        callback_handler=no_callback,
    )


def parse_redirect(server: str, url: str) -> AuthorizationCodeResult:
    """The code, state and issuer from the URL the authorization server redirected to.

    Raises:
        SignInError: The redirect carries an ``error`` (e.g. ``access_denied``: the sign-in
            was refused) or no code.
    """
    query = {k: v[0] for k, v in parse_qs(urlparse(url.strip()).query).items()}
    if "error" in query:
        detail = one_line(query.get("error_description", ""), 200)
        error = one_line(query["error"], 60) + (f": {detail}" if detail else "")
        raise SignInError(server, f"the authorization server refused the sign-in ({error})")
    if not query.get("code"):
        raise SignInError(server, "the redirect URL carries no authorization code; paste the whole URL")
    return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))


class LoopbackRedirect:
    """A one-shot HTTP listener on ``127.0.0.1`` that receives the sign-in redirect (RFC 8252 §7.3).

    Args:
        port: The port to bind; 0 picks a free one.

    Raises:
        OSError: The port is taken.
    """

    def __init__(self, port: int = 0) -> None:
        self._url: str | None = None
        self._got = threading.Event()
        owner = self

        class _Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                if urlparse(self.path).path != "/callback":
                    self.send_error(404)
                    return
                owner._url = self.path  # noqa: SLF001
                body = b"<html><body><p>nexthop: sign-in finished; you may close this tab.</p></body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                owner._got.set()  # noqa: SLF001

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                pass  # the query holds the code: keep it out of logs

        self._server = http.server.HTTPServer(("127.0.0.1", port), _Handler)
        self._server.timeout = 0.2
        self.port: int = self._server.server_address[1]

    @property
    def redirect_uri(self) -> str:
        """The URI to register and send in the authorization request."""
        return f"http://127.0.0.1:{self.port}/callback"

    async def wait(self) -> str:
        """Serve until the redirect arrives; returns its path and query. Cancel to give up."""

        def serve() -> None:
            while not self._got.is_set() and self._server.socket.fileno() >= 0:
                self._server.handle_request()

        try:
            await anyio.to_thread.run_sync(serve, abandon_on_cancel=True)
        finally:
            self._got.set()  # stops an abandoned thread at its next poll
        assert self._url is not None
        return self._url

    def close(self) -> None:
        """Stop listening."""
        self._got.set()
        self._server.server_close()


async def login(
    config: HTTPServerConfig,
    store: TokenStore,
    *,
    redirect_uri: str,
    show_url: Callable[[str], Awaitable[None]],
    receive_redirect: Callable[[], Awaitable[str]],
    timeout_s: float = 300.0,
) -> OAuthToken | None:
    """Sign in to one server afresh and store the tokens.

    Args:
        config: The server's entry.
        store: Its token store (the tokens in it are replaced).
        redirect_uri: Where the authorization server sends the person back.
        show_url: Opens or prints the authorization URL.
        receive_redirect: Returns the URL (or path and query) the person was sent back to.
        timeout_s: How long the whole sign-in may take (seconds).

    Returns:
        The new tokens, or None when the server let nexthop in without a sign-in.

    Raises:
        SignInError: The sign-in was refused or timed out, or the server cannot be reached.
    """

    async def callback() -> AuthorizationCodeResult:
        return parse_redirect(config.name, await receive_redirect())

    await store.load()
    fresh = _Fresh(store)
    auth = oauth_provider(
        config, fresh, redirect_uri=redirect_uri, redirect_handler=show_url, callback_handler=callback
    )
    if auth is None:
        raise SignInError(config.name, 'sign-in is off for it ("oauth": false, or an Authorization header)')
    try:
        with anyio.fail_after(timeout_s):
            http = create_mcp_http_client(headers=dict(config.headers), auth=auth)
            async with mcp.Client(streamable_http_client(config.url, http_client=http)) as client:
                await client.list_tools()
    except TimeoutError:
        raise SignInError(config.name, f"the sign-in did not finish within {timeout_s:g} s") from None
    except Exception as e:  # the SDK's flow and transports wrap errors in task-group exception groups
        inner = _sole(e)
        if isinstance(inner, SignInError):
            raise inner from None
        raise SignInError(config.name, f"sign-in failed: {one_line(describe(inner), 300)}") from None
    return await store.get_tokens() if fresh.signed_in else None


def _sole(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        error = error.exceptions[0]  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    return error  # pyright: ignore[reportUnknownVariableType]


class _Fresh:
    """A view of a store that hides its tokens, so a login always signs in anew."""

    def __init__(self, store: TokenStore) -> None:
        self._inner = store
        self.signed_in = False

    async def get_tokens(self) -> OAuthToken | None:
        return await self._inner.get_tokens() if self.signed_in else None

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.signed_in = True
        await self._inner.set_tokens(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return await self._inner.get_client_info()

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        await self._inner.set_client_info(client_info)

    async def expires_at(self) -> float | None:
        return await self._inner.expires_at()
