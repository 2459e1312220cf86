"""Server configuration, read from the JSON files MCP-aware IDEs already write.

Accepted shapes (the server map's key is the server's name)::

    {"mcpServers": {"fs": {"command": "npx", "args": [...], "env": {...}}}}   # Claude Desktop, Cursor
    {"servers": {"api": {"type": "http", "url": "https://...", "headers": {...}}}}  # VS Code
    {"mcp": {"servers": {...}}}                                               # VS Code settings.json

VS Code's JSONC (``//`` and ``/* */`` comments, trailing commas) is accepted.
Strings may use ``${VAR}``, ``${env:VAR}`` (VS Code) and ``${VAR:-default}``
(shell); ``${workspaceFolder}`` and ``${userHome}`` mean what they mean in VS Code.
Every mistake raises `ConfigError` with one line naming the file, the server and
the field, and saying how to fix it. The models are here; reading a file into them is
in nexthop/_config_file.py (the file) and nexthop/_config_entry.py (one server entry).
"""

from __future__ import annotations

import re
import shlex
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nexthop._exceptions import ConfigError

__all__ = [
    "DEFAULT_MAX_TIMEOUT_S",
    "DEFAULT_TIMEOUT_S",
    "HTTPServerConfig",
    "OAuthConfig",
    "SSEServerConfig",
    "ServerConfig",
    "StdioServerConfig",
    "name_problem",
    "parse_server_flag",
]

_NAME_PATTERN = r"^[A-Za-z0-9_-]+$"
_NAME_RE = re.compile(_NAME_PATTERN)
DEFAULT_TIMEOUT_S = 60.0
"""A server's time limit for one tool call when its entry sets none (seconds)."""
DEFAULT_MAX_TIMEOUT_S = 600.0
"""The most a tool call's limit may be raised to when the entry sets no maximum (seconds)."""
_DEFAULT_RESTART_ATTEMPTS = 3
_DEFAULT_HEALTH_INTERVAL_S = 30.0


def _check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError("a server name may hold only letters, digits, '_' and '-'")
    if "__" in name:
        raise ValueError('a server name must not contain "__" (tool names are <server>__<tool>)')
    return name


def name_problem(name: str) -> str | None:
    """What is wrong with a server's name, with a suggested fix; None when it is valid.

    Args:
        name: The name from a config file's server map or a ``--server`` flag.

    Returns:
        One line for a `ConfigError`, e.g. ``name must use only letters, digits, "_" and
        "-" (rename it, e.g. "my_server")``.
    """
    if not _NAME_RE.match(name):
        fixed = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "server1"
        return f'name must use only letters, digits, "_" and "-" (rename it, e.g. "{fixed}")'
    if "__" in name:
        fixed = re.sub(r"_{2,}", "_", name)
        return f'name must not contain "__", since tool names are <server>__<tool> (rename it, e.g. "{fixed}")'
    return None


class _ServerBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0)
    max_timeout_s: float = Field(default=DEFAULT_MAX_TIMEOUT_S, gt=0)
    tools: tuple[str, ...] | None = None
    untrusted: bool = False
    sampling: Literal["off", "ask", "allow"] | None = None
    roots: tuple[str, ...] | None = None
    restart_attempts: int = Field(default=_DEFAULT_RESTART_ATTEMPTS, ge=0)
    max_restarts: int | None = Field(default=None, ge=0)
    health_interval_s: float = Field(default=_DEFAULT_HEALTH_INTERVAL_S, ge=0)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _check_name(value)

    @model_validator(mode="after")
    def _timeouts_ordered(self) -> _ServerBase:
        if self.timeout_s > self.max_timeout_s:
            raise ValueError("timeout_s must not exceed max_timeout_s")
        return self


class StdioServerConfig(_ServerBase):
    """A server nexthop starts as a child process and talks to over stdin/stdout.

    Attributes:
        kind: Always ``"stdio"``.
        name: The server's name; its tools are offered as ``<name>__<tool>``.
            Letters, digits, ``_`` and ``-``; never ``__``.
        command: The program to run (looked up on PATH), e.g. ``"npx"``.
        args: Its arguments.
        env: Extra environment variables for the child, on top of the default ones.
        cwd: The child's working folder, absolute; None inherits nexthop's.
        timeout_s: Default time limit for one tool call, in seconds.
        max_timeout_s: The most a caller may raise a tool call's limit to, in seconds.
        tools: Only these of the server's tools are offered (names or glob patterns, e.g.
            ``["read_*", "write_file"]``); None offers all. A small model chooses better
            from fewer tools.
        untrusted: The server returns text from people nexthop does not trust (a web
            fetcher, a mail reader); once its output is read, a run's calls of tools not
            annotated ``readOnlyHint`` need approval (see the taint policy).
        sampling: Whether the server may use nexthop's model (``sampling/createMessage``):
            ``off``, ``ask`` (the person, or the delegating client when served) or
            ``allow``; None takes the host's default (``--sampling``, else ``off``).
        roots: Folders the server may work in, offered as ``roots/list``; None takes the
            host's (``--root``, else the current folder).
        restart_attempts: Connection attempts in one restart after the server died
            (exponential backoff between them); 0 never restarts it.
        max_restarts: The most restarts over the connection's life; None is unlimited.
        health_interval_s: Seconds between health checks (a ping, or a listing on
            2026-07-28) while the server is idle; 0 turns them off.
    """

    kind: Literal["stdio"] = "stdio"
    command: str = Field(min_length=1)
    args: list[str] = Field(default_factory=list[str])
    env: dict[str, str] = Field(default_factory=dict[str, str])
    cwd: str | None = None


class OAuthConfig(BaseModel):
    """How nexthop signs in to a remote server that demands OAuth 2.1 (the ``oauth`` key of an HTTP entry).

    By default nothing is configured: on a 401 nexthop discovers the authorization server,
    uses ``client_metadata_url`` if given, else registers itself dynamically (RFC 7591).

    Attributes:
        enabled: False never answers a 401 with a sign-in (e.g. a static ``Authorization`` header).
        client_id: A client registered with the authorization server beforehand (skips registration).
        client_secret: Its secret, if it has one (``${VAR}`` keeps it out of the file).
        grant: ``authorization_code`` (a person signs in with ``nexthop auth login``) or
            ``client_credentials`` (machine to machine; needs ``client_id`` and ``client_secret``).
        scopes: Scopes to ask for when the server does not say which it needs.
        client_metadata_url: An https URL of this client's metadata document (CIMD), used as
            its client ID where the authorization server supports it.
        callback_port: The loopback port ``nexthop auth login`` listens on; 0 picks one.
        issuer: The authorization server the pre-registered client belongs to; tokens are
            only requested from it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    enabled: bool = True
    client_id: str | None = Field(default=None, alias="clientId", min_length=1)
    client_secret: str | None = Field(default=None, alias="clientSecret")
    grant: Literal["authorization_code", "client_credentials"] = "authorization_code"
    scopes: tuple[str, ...] = ()
    client_metadata_url: str | None = Field(default=None, alias="clientMetadataUrl", pattern=r"^https://[^/]+/.")
    callback_port: int = Field(default=0, alias="callbackPort", ge=0, le=65535)
    issuer: str | None = Field(default=None, pattern=r"^https?://")

    @model_validator(mode="after")
    def _credentials_grant(self) -> OAuthConfig:
        if self.grant == "client_credentials" and not (self.client_id and self.client_secret):
            raise ValueError("grant client_credentials needs clientId and clientSecret")
        return self


class HTTPServerConfig(_ServerBase):
    """A server reached over MCP's streamable HTTP transport.

    Attributes:
        kind: Always ``"http"``.
        name: The server's name (as for `StdioServerConfig`).
        url: Its endpoint, ``http://`` or ``https://``.
        headers: HTTP headers sent with every request (e.g. ``Authorization``).
        timeout_s: Default time limit for one tool call, in seconds.
        max_timeout_s: The most a caller may raise a tool call's limit to, in seconds.
        untrusted, sampling, roots, restart_attempts, max_restarts, health_interval_s: As
            for `StdioServerConfig`.
        oauth: How to sign in when the server demands OAuth (see `OAuthConfig`).
    """

    kind: Literal["http"] = "http"
    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict[str, str])
    oauth: OAuthConfig = Field(default_factory=OAuthConfig)


class SSEServerConfig(_ServerBase):
    """A server reached over the older HTTP+SSE transport (protocol 2024-11-05).

    Attributes:
        kind: Always ``"sse"``.
        name: The server's name (as for `StdioServerConfig`).
        url: Its SSE endpoint, ``http://`` or ``https://``.
        headers: HTTP headers sent with every request.
        timeout_s: Default time limit for one tool call, in seconds.
        max_timeout_s: The most a caller may raise a tool call's limit to, in seconds.
        untrusted, sampling, roots, restart_attempts, max_restarts, health_interval_s: As
            for `StdioServerConfig`.
    """

    kind: Literal["sse"] = "sse"
    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict[str, str])


ServerConfig = Annotated[StdioServerConfig | HTTPServerConfig | SSEServerConfig, Field(discriminator="kind")]
"""One server's configuration; ``kind`` tells which transport."""


def parse_server_flag(spec: str) -> StdioServerConfig:
    """Parse the CLI flag ``--server NAME=COMMAND`` into a stdio server.

    COMMAND is split as a shell would (`shlex.split`), without expanding
    variables: the shell that ran nexthop already did.

    Args:
        spec: The flag's value, e.g. ``'fs=npx -y @modelcontextprotocol/server-filesystem .'``.

    Returns:
        The server, with default timeouts and no extra environment.

    Raises:
        ConfigError: The spec lacks ``=``, the name is invalid, or COMMAND is
            empty or badly quoted.
    """
    form = 'use --server NAME=COMMAND, e.g. --server fs="npx -y @modelcontextprotocol/server-filesystem ."'
    name, sep, command = spec.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ConfigError(f"--server {spec!r}: expected NAME=COMMAND ({form})")
    problem = name_problem(name)
    if problem:
        raise ConfigError(f"--server {spec!r}: {problem}")
    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise ConfigError(f"--server {spec!r}: cannot split COMMAND ({e}); check its quotes") from e
    if not argv:
        raise ConfigError(f"--server {spec!r}: COMMAND is empty ({form})")
    return StdioServerConfig(name=name, command=argv[0], args=argv[1:])
