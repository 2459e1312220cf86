"""Running the MCP server of a host: over stdio (IDEs) or streamable HTTP.

HTTP always checks Host and Origin (DNS-rebinding protection, MCP spec "Security
Warning" for the streamable HTTP transport) and, when a token is set, requires
``Authorization: Bearer <token>``. Binding to anything but loopback requires a token.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import socket

from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from nexthop._exceptions import ConfigError

__all__ = ["BearerAuth", "is_loopback", "serve_http", "serve_stdio", "http_app"]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class BearerAuth:
    """ASGI middleware: 401 unless the request carries ``Authorization: Bearer <token>``.

    The comparison is constant-time (`hmac.compare_digest`).
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")],
                    }
                )
                await send({"type": "http.response.body", "body": b"missing or wrong bearer token\n"})
                return
        await self.app(scope, receive, send)


def http_app(server: MCPServer, *, host: str, token: str | None, allowed_hosts: list[str] | None = None) -> ASGIApp:
    """The ASGI app serving ``server`` at ``/mcp``, with Host/Origin checks and optional bearer auth.

    Args:
        server: The MCP server.
        host: The address it binds to; loopback allows the usual local names.
        token: The bearer token; required when ``host`` is not loopback.
        allowed_hosts: Extra Host header values to accept (``name:port`` or ``name:*``).

    Raises:
        ConfigError: Not loopback and no token.
    """
    if not is_loopback(host) and not token:
        raise ConfigError(f"serving on {host} (not loopback) needs a bearer token: pass --token or set NEXTHOP_TOKEN")
    hosts = [f"{n}:*" for n in _host_names(host)] + list(allowed_hosts or [])
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=[f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts],
    )
    app: ASGIApp = server.streamable_http_app(transport_security=security, host=host)
    return BearerAuth(app, token) if token else app


def _host_names(host: str) -> list[str]:
    """The Host header names a client may use for an address we bind."""
    if is_loopback(host):
        return ["127.0.0.1", "localhost", "[::1]"]
    if host not in ("0.0.0.0", "::"):
        return [host]
    # Every interface: this machine's names and addresses (loopback too).
    name = socket.gethostname()
    names = {"127.0.0.1", "localhost", "[::1]", name, socket.getfqdn()}
    with contextlib.suppress(OSError):
        names.update(socket.gethostbyname_ex(name)[2])
    return sorted(names)


async def serve_http(
    server: MCPServer, *, host: str, port: int, token: str | None, allowed_hosts: list[str] | None = None
) -> None:
    """Serve over streamable HTTP at ``http://host:port/mcp`` until cancelled."""
    import uvicorn

    app = http_app(server, host=host, token=token, allowed_hosts=allowed_hosts)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve()


async def serve_stdio(server: MCPServer) -> None:
    """Serve over stdin/stdout until the client closes the stream."""
    await server.run_stdio_async()
