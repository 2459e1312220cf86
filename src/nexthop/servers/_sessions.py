"""Streamable HTTP sessions that cannot pile up: a cap, an idle timeout, and eviction of the idlest.

The MCP SDK (2.3) bounds 2025-11-25 sessions itself, with ``max_sessions`` and
``session_idle_timeout`` on `StreamableHTTPSessionManager`, but at the cap it refuses
every new session with 503 until one expires, so a flood of abandoned ``initialize``
requests locks every new legacy client out for the whole idle timeout. Here the cap
evicts instead: the session idle the longest is ended (its id answers 404 from then
on, as after an idle timeout) and the new one is admitted. Sessions with a request in
flight or a GET stream open are never evicted; only when every session is busy does a
new one get the SDK's 503. (2026-07-28 requests are stateless and hold no session.)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthorizationContext
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from nexthop._exceptions import ConfigError

__all__ = ["DEFAULT_MAX_SESSIONS", "DEFAULT_SESSION_IDLE_TIMEOUT_S", "EvictingSessionManager", "SessionLimits"]

DEFAULT_MAX_SESSIONS = 256
"""Sessions held at once by default: far more than the IDEs and agents one host serves, and ~10 MB at most."""

DEFAULT_SESSION_IDLE_TIMEOUT_S = 600.0
"""A session with no request in flight for this long is ended (seconds); the SDK's default is 30 min."""


@dataclasses.dataclass(frozen=True)
class SessionLimits:
    """How many 2025-11-25 streamable HTTP sessions are held, and for how long.

    Attributes:
        max_sessions: Most sessions held at once (sessions); at the cap the idlest is evicted.
        idle_timeout_s: A session with no request in flight for this long is ended (seconds).

    Raises:
        ValueError: ``max_sessions`` is not positive, or ``idle_timeout_s`` not positive and finite.
    """

    max_sessions: int = DEFAULT_MAX_SESSIONS
    idle_timeout_s: float = DEFAULT_SESSION_IDLE_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.max_sessions <= 0:
            raise ValueError(f"the session cap must be positive (sessions), not {self.max_sessions}")
        if not (math.isfinite(self.idle_timeout_s) and self.idle_timeout_s > 0):
            raise ValueError(f"the session idle timeout must be positive, finite seconds, not {self.idle_timeout_s}")

    @classmethod
    def from_flags(cls, max_sessions: int | None, idle_timeout_s: float | None) -> SessionLimits:
        """The limits ``--max-sessions`` and ``--session-idle-timeout`` ask for, the defaults where None.

        Raises:
            ConfigError: A limit is out of range.
        """
        default = cls()
        try:
            return cls(
                default.max_sessions if max_sessions is None else max_sessions,
                default.idle_timeout_s if idle_timeout_s is None else idle_timeout_s,
            )
        except ValueError as e:
            raise ConfigError(f"--max-sessions/--session-idle-timeout: {e}") from e


class EvictingSessionManager(StreamableHTTPSessionManager):
    """The SDK's session manager, except that at ``max_sessions`` it evicts the idlest session.

    Eviction hooks the SDK's admission step (``_admit_session``, which runs under the
    manager's session-creation lock with no await inside), so deciding, evicting and
    admitting happen at once and concurrent openings cannot race past the cap. The
    idle time is the SDK's own bookkeeping: each transport's ``idle_scope`` deadline is
    infinite while a request is in flight and ``last activity + idle timeout`` after.
    Evicting cancels that scope, exactly what the idle timeout does, so the session
    ends by the SDK's own path.

    Args:
        app: The low-level MCP server.
        limits: The cap and the idle timeout.
        **kwargs: Passed to `StreamableHTTPSessionManager` (not ``max_sessions`` or
            ``session_idle_timeout``).
    """

    def __init__(self, app: Any, limits: SessionLimits, **kwargs: Any) -> None:
        super().__init__(app, max_sessions=limits.max_sessions, session_idle_timeout=limits.idle_timeout_s, **kwargs)
        self.evicted = 0
        """How many sessions were evicted to make room (sessions)."""

    @property
    def open_sessions(self) -> int:
        """Sessions held now (sessions)."""
        return len(self._server_instances)

    def _admit_session(self, requestor: AuthorizationContext | None) -> StreamableHTTPServerTransport | None:
        if self.max_sessions is not None and len(self._server_instances) >= self.max_sessions:
            self._evict_idlest()
        return super()._admit_session(requestor)

    def _evict_idlest(self) -> None:
        """End the session idle the longest, if any is idle (the one whose idle deadline comes first)."""
        idle = [
            (transport.idle_scope.deadline, session_id)
            for session_id, transport in self._server_instances.items()
            if transport.idle_scope is not None and math.isfinite(transport.idle_scope.deadline)
        ]
        if not idle:
            return  # every session is busy or still opening: the SDK answers 503
        _, session_id = min(idle)
        transport = self._server_instances.pop(session_id)
        self._session_owners.pop(session_id, None)
        assert transport.idle_scope is not None
        # Its server task leaves serve_loop and discards the session (terminating the transport).
        transport.idle_scope.cancel()
        self.evicted += 1
