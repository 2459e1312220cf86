"""Requests (tool calls, listings) that run beside their caller, so a wedged server cannot stretch a timeout.

When a call is abandoned (its timeout, or the run's cancellation), mcp 2.3 sends the
server a courtesy ``notifications/cancelled`` from inside a shielded scope bounded by
5 s (``_ABANDON_WRITE_TIMEOUT`` in ``mcp/shared/jsonrpc_dispatcher.py``). A server that
stops reading its input (SIGSTOP, a full pipe) makes that write block, so a call with
a 3 s timeout returned after 8 s. Here the SDK call runs in the connection's own task
group and the caller only waits for it: at the deadline the caller abandons the call
and returns at once, while the courtesy notice goes on in the background, still
bounded by the SDK's 5 s. `call_observation` maps a call's outcome to the
`Observation` the model sees.

The SDK logs a warning for every notice that gave up. For calls made here, a logging
filter turns those into one warning per server (the first), since a wedged server
would otherwise log once per call.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Generic, TypeVar, cast

import anyio
import mcp
import mcp_types
from mcp_types import CONNECTION_CLOSED

from nexthop._trajectory import Observation, ToolCall

__all__ = ["PendingCall", "call_observation", "describe", "error_observation"]

T = TypeVar("T")

_SDK_LOGGER = "mcp.shared.jsonrpc_dispatcher"
_SDK_GAVE_UP = "%s gave up: transport write blocked"
"""The SDK's format string for a courtesy notice whose write gave up (matched exactly)."""

_LOST = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError)
"""Exceptions from a call that mean the connection itself is gone."""

_current: ContextVar[PendingCall[Any] | None] = ContextVar("nexthop_pending_call", default=None)


class PendingCall(Generic[T]):
    """One request (a tool call, a listing) running in a connection's task group, awaited by its caller.

    Args:
        on_notice_blocked: Called once the call has ended if the SDK's courtesy
            cancellation notice could not be written (the server is not reading).

    Attributes:
        done: Set when the call has ended, however it ended.
        ok: Whether it returned; ``result`` is then what it returned.
        error: The exception the SDK raised, if any. Neither is set when the
            connection's task group was cancelled under the call (the connection ended).
    """

    def __init__(self, on_notice_blocked: Callable[[], None]) -> None:
        self.done = anyio.Event()
        self.ok = False
        self.result: T | None = None
        self.error: Exception | None = None
        self.notice_blocked = False
        self._scope = anyio.CancelScope()
        self._on_notice_blocked = on_notice_blocked

    async def run(self, call: Callable[[], Awaitable[T]]) -> None:
        """Run ``call`` (in the connection's task group); never raises for the call's failure."""
        _current.set(self)  # this task's own context: the log filter finds the call here
        try:
            with self._scope:
                self.result = await call()
                self.ok = True
        except Exception as e:  # the caller maps every failure to an observation
            self.error = e
        finally:
            self.done.set()
            if self.notice_blocked:
                self._on_notice_blocked()

    async def wait(self) -> None:
        """Wait until the call ends; if this wait is cancelled (a deadline, the run's end), abandon the call.

        Abandoning cancels the call and returns at once, leaving the SDK's bounded
        courtesy notice to run in the background.
        """
        try:
            await self.done.wait()
        finally:
            if not self.done.is_set():
                self._scope.cancel()

    @property
    def connection_lost(self) -> bool:
        """Whether the call ended because the connection did (a crash, a closed pipe, the session's end)."""
        e = self.error
        if self.ok or (isinstance(e, mcp.MCPError) and e.error.code != CONNECTION_CLOSED):
            return False
        return e is None or isinstance(e, (mcp.MCPError, *_LOST))


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


def call_observation(
    pending: PendingCall[mcp_types.CallToolResult], call: ToolCall, server: str, start: float
) -> Observation:
    """An ended tool call as the model sees it; failures come back with ``is_error=True``.

    Args:
        pending: The ended call.
        call: The call as the model made it.
        server: The server's name, quoted in errors.
        start: When the call started (`time.perf_counter`, seconds).
    """
    result, e = pending.result, pending.error
    if result is not None:
        return Observation(
            call_id=call.id,
            content=_content_text(result.content),
            is_error=bool(result.is_error),
            structured=result.structured_content,
            duration_s=time.perf_counter() - start,
        )
    if pending.connection_lost:
        return error_observation(call, f"server {server!r} crashed or closed the connection during the call", start)
    if isinstance(e, mcp.MCPError):
        return error_observation(call, f"{server}: {e.error.message} (code {e.error.code})", start)
    # A malformed reply must not take the loop down.
    return error_observation(call, f"{server}: {describe(e) if e else 'no result'}", start)


def error_observation(call: ToolCall, message: str, start: float) -> Observation:
    """An error observation for ``call``, timed from ``start`` (`time.perf_counter`, seconds)."""
    return Observation(call_id=call.id, content=message, is_error=True, duration_s=time.perf_counter() - start)


def _content_text(blocks: list[Any]) -> str:
    parts: list[str] = []
    for block in blocks:
        kind = getattr(block, "type", None)
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource" and hasattr(block.resource, "text"):
            parts.append(block.resource.text)
        elif kind == "resource" and (text := _blob_text(block.resource)) is not None:
            parts.append(text)
        elif kind == "resource_link":
            parts.append(f"[resource {block.uri}]")
        else:  # images and audio cannot be shown to a text model; say they were there
            parts.append(f"[{kind} content, {len(json.dumps(block.model_dump(mode='json')))} bytes]")
    return "\n".join(parts)


_TEXT_TYPES = ("application/json", "application/xml", "application/yaml", "application/javascript")
_UNTYPED = ("", "application/octet-stream")


def _blob_text(resource: Any) -> str | None:
    """A base64 blob that holds text, as text; else None.

    Servers embed files as blobs (MCP 2025-06-18, embedded resources); a text model can
    read one of these, where "[resource content, N bytes]" would tell it nothing (and,
    measured on the task benchmark at fa7a2ba, gets copied into a file as if it were the
    content). A blob is text when its MIME type says so (``text/*``, JSON, XML,
    ``+json``/``+xml``), or when it says nothing useful (none, or
    ``application/octet-stream``, which the filesystem server's ``read_media_file`` sends
    for every unknown extension, ``.txt`` and ``.log`` included) and its bytes are UTF-8
    made only of printable characters and line breaks.
    """
    mime = (getattr(resource, "mime_type", None) or "").split(";", 1)[0].strip().lower()
    declared = mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith(("+json", "+xml"))
    if not declared and mime not in _UNTYPED:
        return None
    try:
        text = base64.b64decode(resource.blob, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError, TypeError, AttributeError):
        return None
    if not declared and not all(c.isprintable() or c in "\t\n\r" for c in text):
        return None
    return text


def _sole_member(error: BaseException) -> BaseException | None:
    """The only exception inside ``error`` when it is a one-member ExceptionGroup, else None."""
    if isinstance(error, BaseExceptionGroup):
        # isinstance cannot bind the group's type parameter; its members are BaseExceptions.
        members = cast("BaseExceptionGroup[BaseException]", error).exceptions
        if len(members) == 1:
            return members[0]
    return None


def describe(error: BaseException) -> str:
    """One line naming an exception (the sole member of nested one-member groups), for errors."""
    # ExceptionGroups from task groups hide the real cause one or more levels down.
    while (inner := _sole_member(error)) is not None:
        error = inner
    if isinstance(error, TimeoutError):
        return "timed out while connecting"
    if isinstance(error, FileNotFoundError):
        return f"command not found: {error.filename or error} (check 'command' and PATH)"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
