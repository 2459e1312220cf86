"""Errors raised by nexthop.

The tree::

    NexthopError                 root of everything nexthop raises
    ├── ConfigError              a user's mistake: bad config file, unknown model string,
    │   │                        missing API key, unknown server, missing extra
    │   └── MissingExtraError    an optional dependency is not installed
    ├── ModelError               the model provider failed (mapped at the boundary, ``raise ... from e``)
    └── ServerConnectionError    an MCP server could not be started or reached

A failing tool call is *not* an exception: it becomes an `Observation` with
``is_error=True`` that the model sees. A run that stops early returns its partial
trajectory in its `RunResult` instead of raising.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "MissingExtraError",
    "ModelError",
    "NexthopError",
    "ServerConnectionError",
]


class NexthopError(Exception):
    """Root of every error nexthop raises. Its message is one line that says what to fix."""


class ConfigError(NexthopError):
    """A user's mistake in configuration: a file, a flag, a model string or a key."""


class MissingExtraError(ConfigError):
    """An optional dependency is missing; the message carries the exact install command."""


class ModelError(NexthopError):
    """The model provider failed to answer (network, HTTP status, malformed reply)."""


class ServerConnectionError(NexthopError):
    """An MCP server could not be started or reached.

    Attributes:
        server: The server's name as given in the configuration.
    """

    def __init__(self, server: str, message: str) -> None:
        super().__init__(f"server {server!r}: {message}")
        self.server = server
