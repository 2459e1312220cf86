"""Running the MCP server of a host: over stdio (IDEs) or streamable HTTP.

HTTP always checks Host and Origin (DNS-rebinding protection, MCP spec "Security
Warning" for the streamable HTTP transport) and, when a token is set, requires
exactly one ``Authorization: Bearer <token>``. Binding to anything but loopback
requires a token. Host and Origin are parsed (`urllib.parse.urlsplit`) and matched
exactly, host and port: the SDK's own check takes ``localhost:*`` as a prefix, so it
let ``localhost:P.evil.com`` and any local port's Origin through. Sessions are capped
and expire when idle (`nexthop.servers._sessions`).
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import TypeVar
from urllib.parse import urlsplit

from mcp.server import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from nexthop._exceptions import ConfigError
from nexthop.servers._sessions import EvictingSessionManager, SessionLimits

__all__ = [
    "BearerAuth",
    "HostOriginCheck",
    "check_allowed",
    "http_app",
    "is_loopback",
    "parse_host",
    "parse_origin",
    "serve_http",
    "serve_stdio",
]

_HostKey = tuple[str, int | None]  # (host name, lower case and unbracketed; port, None when absent)
_OriginKey = tuple[str, str, int]  # (scheme, host name, port, the scheme's default when absent)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_K = TypeVar("_K")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class BearerAuth:
    """ASGI middleware: 401 unless the request carries one ``Authorization: Bearer <token>``.

    The comparison is constant-time (`hmac.compare_digest`). A request with two
    ``Authorization`` headers is refused whatever they hold: servers disagree on which
    one counts (here the last won), and that disagreement is what smuggling relies on.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = [value.encode("latin-1") for value in Headers(scope=scope).getlist("authorization")]
            if len(given) != 1 or not hmac.compare_digest(given[0], self._expected):
                why = "more than one Authorization header" if len(given) > 1 else "missing or wrong bearer token"
                response = PlainTextResponse(f"{why}\n", status_code=401, headers={"www-authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class HostOriginCheck:
    """ASGI middleware: 421 unless Host is one served, 403 if an Origin is sent and is not allowed.

    The status codes and texts are the SDK's (`mcp.server.transport_security`).

    Args:
        app: The app behind the check.
        hosts: Accepted Host headers as ``(name, port)``; a port of None accepts the
            name without a port (as a reverse proxy may forward it).
        origins: Accepted origins as ``(scheme, name, port)``.
    """

    def __init__(self, app: ASGIApp, *, hosts: Iterable[_HostKey], origins: Iterable[_OriginKey]) -> None:
        self.app = app
        self.hosts = frozenset(hosts)
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            hosts, origins = headers.getlist("host"), headers.getlist("origin")
            if len(hosts) != 1 or parse_host(hosts[0]) not in self.hosts:
                await PlainTextResponse("Invalid Host header", status_code=421)(scope, receive, send)
                return
            # No Origin: not a browser (or same-origin), so no rebinding page is involved.
            if len(origins) > 1 or (origins and parse_origin(origins[0]) not in self.origins):
                await PlainTextResponse("Invalid Origin header", status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def parse_host(value: str) -> _HostKey | None:
    """``(name, port)`` of a Host header (``uri-host [":" port]``, RFC 9110 §7.2), or None if malformed.

    Only a value that reads back the same is accepted, so userinfo (``127.0.0.1:P@evil.com``),
    a non-numeric or trailing port (``localhost:P.evil.com``), a path or stray characters fail.
    """
    try:
        parts = urlsplit(f"//{value}")
        port = parts.port
    except ValueError:
        return None
    name = parts.hostname
    if not name or value.lower() != _netloc(name, port):
        return None
    return name, port


def parse_origin(value: str) -> _OriginKey | None:
    """``(scheme, name, port)`` of an origin (``scheme://host[:port]``, RFC 6454), or None if malformed or opaque."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    name, scheme = parts.hostname, parts.scheme
    if scheme not in _DEFAULT_PORTS or not name or value.lower() != f"{scheme}://{_netloc(name, port)}":
        return None
    return scheme, name, port if port is not None else _DEFAULT_PORTS[scheme]


def _netloc(name: str, port: int | None) -> str:
    host = f"[{name}]" if ":" in name else name
    return host if port is None else f"{host}:{port}"


def http_app(
    server: MCPServer,
    *,
    host: str,
    port: int,
    token: str | None,
    allowed_hosts: Iterable[str] = (),
    allowed_origins: Iterable[str] = (),
    sessions: SessionLimits | None = None,
) -> ASGIApp:
    """The ASGI app serving ``server`` at ``/mcp``, with bearer auth, Host/Origin checks and bounded sessions.

    Args:
        server: The MCP server.
        host: The address it binds to; loopback also accepts ``localhost``, 127.0.0.1 and [::1].
        port: The port it binds to; Host must name it, and so must the served origin.
        token: The bearer token; required when ``host`` is not loopback.
        allowed_hosts: Extra Host header values to accept: ``name:port``, or a bare
            ``name`` for that name with the served port or with none (a reverse proxy).
        allowed_origins: Extra origins to accept (``scheme://name[:port]``) besides the
            served ``http://<host>:<port>``.
        sessions: The session cap and idle timeout (`SessionLimits` defaults if None).

    Raises:
        ConfigError: Not loopback and no token, or a malformed allowed host or origin.
    """
    if not is_loopback(host) and not token:
        raise ConfigError(f"serving on {host} (not loopback) needs a bearer token: pass --token or set NEXTHOP_TOKEN")
    served = {_checked(parse_host, f"{name}:{port}", "--http") for name in _host_names(host)}
    hosts = served | _extra_hosts(allowed_hosts, port)
    origins = {("http", name, port) for name, _ in served}
    origins |= _extra_origins(allowed_origins)
    manager = EvictingSessionManager(
        server._lowlevel_server,  # pyright: ignore[reportPrivateUsage]  # MCPServer has no public handle on it
        sessions or SessionLimits(),
        # Host and Origin are checked exactly by HostOriginCheck; the SDK still checks Content-Type.
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    app: ASGIApp = Starlette(
        routes=[Route("/mcp", endpoint=StreamableHTTPASGIApp(manager))], lifespan=lambda _: manager.run()
    )
    app = HostOriginCheck(app, hosts=hosts, origins=origins)
    return BearerAuth(app, token) if token else app


def check_allowed(allowed_hosts: Iterable[str] = (), allowed_origins: Iterable[str] = ()) -> None:
    """Check ``--allow-host`` and ``--allow-origin`` values before anything starts.

    Raises:
        ConfigError: A value is not ``NAME[:PORT]`` or ``SCHEME://NAME[:PORT]``.
    """
    _extra_hosts(allowed_hosts, 0)
    _extra_origins(allowed_origins)


def _extra_origins(allowed: Iterable[str]) -> set[_OriginKey]:
    return {_checked(parse_origin, value, "--allow-origin", "SCHEME://NAME[:PORT]") for value in allowed}


def _extra_hosts(allowed: Iterable[str], port: int) -> set[_HostKey]:
    """Host keys for ``--allow-host`` values: ``name:port`` as given, a bare name with the served port or none."""
    keys: set[_HostKey] = set()
    for value in allowed:
        name, given = _checked(parse_host, value, "--allow-host", "NAME or NAME:PORT")
        keys |= {(name, given)} if given is not None else {(name, port), (name, None)}
    return keys


def _checked(parse: Callable[[str], _K | None], value: str, flag: str, shape: str = "HOST:PORT") -> _K:
    key = parse(value)
    if key is None:
        raise ConfigError(f"{flag} {value!r}: expected {shape}")
    return key


def _host_names(host: str) -> list[str]:
    """The Host header names a client may use for an address we bind."""
    bound = f"[{host}]" if ":" in host and not host.startswith("[") else host
    if is_loopback(host):
        return sorted({"127.0.0.1", "localhost", "[::1]", bound})
    if host not in ("0.0.0.0", "::"):
        return [bound]
    # Every interface: this machine's names and addresses (loopback too).
    name = socket.gethostname()
    names = {"127.0.0.1", "localhost", "[::1]", name, socket.getfqdn()}
    with contextlib.suppress(OSError):
        names.update(socket.gethostbyname_ex(name)[2])
    return sorted(names)


async def serve_http(
    server: MCPServer,
    *,
    host: str,
    port: int,
    token: str | None,
    allowed_hosts: Iterable[str] = (),
    allowed_origins: Iterable[str] = (),
    sessions: SessionLimits | None = None,
) -> None:
    """Serve over streamable HTTP at ``http://host:port/mcp`` until cancelled (arguments as for `http_app`)."""
    import uvicorn

    app = http_app(
        server,
        host=host,
        port=port,
        token=token,
        allowed_hosts=allowed_hosts,
        allowed_origins=allowed_origins,
        sessions=sessions,
    )
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve()


async def serve_stdio(server: MCPServer) -> None:
    """Serve over stdin/stdout until the client closes the stream."""
    await server.run_stdio_async()
