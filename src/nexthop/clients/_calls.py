"""Tool calls that run beside their caller, so a wedged server cannot stretch a timeout.

When a call is abandoned (its timeout, or the run's cancellation), mcp 2.3 sends the
server a courtesy ``notifications/cancelled`` from inside a shielded scope bounded by
5 s (``_ABANDON_WRITE_TIMEOUT`` in ``mcp/shared/jsonrpc_dispatcher.py``). A server that
stops reading its input (SIGSTOP, a full pipe) makes that write block, so a call with
a 3 s timeout returned after 8 s. Here the SDK call runs in the connection's own task
group and the caller only waits for it: at the deadline the caller abandons the call
and returns at once, while the courtesy notice goes on in the background, still
bounded by the SDK's 5 s.

The SDK logs a warning for every notice that gave up. For calls made here, a logging
filter turns those into one warning per server (the first), since a wedged server
would otherwise log once per call.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

import anyio
import mcp_types

__all__ = ["PendingCall"]

_SDK_LOGGER = "mcp.shared.jsonrpc_dispatcher"
_SDK_GAVE_UP = "%s gave up: transport write blocked"
"""The SDK's format string for a courtesy notice whose write gave up (matched exactly)."""

_current: ContextVar[PendingCall | None] = ContextVar("nexthop_pending_call", default=None)


class PendingCall:
    """One tool call running in a connection's task group, awaited by its caller.

    Args:
        on_notice_blocked: Called once the call has ended if the SDK's courtesy
            cancellation notice could not be written (the server is not reading).

    Attributes:
        done: Set when the call has ended, however it ended.
        result: The server's result, if one came.
        error: The exception the SDK raised, if any. Neither is set when the
            connection's task group was cancelled under the call (the connection ended).
    """

    def __init__(self, on_notice_blocked: Callable[[], None]) -> None:
        self.done = anyio.Event()
        self.result: mcp_types.CallToolResult | None = None
        self.error: Exception | None = None
        self.notice_blocked = False
        self._scope = anyio.CancelScope()
        self._on_notice_blocked = on_notice_blocked

    async def run(self, call: Callable[[], Awaitable[mcp_types.CallToolResult]]) -> None:
        """Run ``call`` (in the connection's task group); never raises for the call's failure."""
        _current.set(self)  # this task's own context: the log filter finds the call here
        try:
            with self._scope:
                self.result = await call()
        except Exception as e:  # the caller maps every failure to an observation
            self.error = e
        finally:
            self.done.set()
            if self.notice_blocked:
                self._on_notice_blocked()

    def abandon(self) -> None:
        """Stop waiting for the call: cancel it, leaving the SDK's bounded courtesy notice to run."""
        self._scope.cancel()


class _NoticeFilter(logging.Filter):
    """Drops the SDK's per-call "gave up" warning for calls run by `PendingCall`, flagging the call."""

    def filter(self, record: logging.LogRecord) -> bool:
        pending = _current.get()
        if pending is None or record.msg != _SDK_GAVE_UP:
            return True
        pending.notice_blocked = True
        return False


def _install_filter() -> None:
    logger = logging.getLogger(_SDK_LOGGER)
    if not any(isinstance(f, _NoticeFilter) for f in logger.filters):
        logger.addFilter(_NoticeFilter())


_install_filter()
