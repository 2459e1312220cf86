"""Stdio servers as whole process groups: nothing a server started outlives its connection.

The SDK's `stdio_client` (mcp 2.3) starts each server in a new session, so the
server's pid is also its process group's id, but it signals that group only when
the server itself outlives the shutdown grace period. A server that exits on EOF,
crashes or is killed leaves its own children running, reparented to init (npx
starts sh, which starts node). `grouped_stdio_client` wraps the SDK's transport and:

- records the process the SDK spawns, through a hook on the SDK's spawn function
  that a context variable routes to the connection that asked, so concurrent
  connections never see each other's processes;
- watches the server for an exit of its own and reports it at once, since a child
  holding the inherited stdout keeps the pipe open and the SDK would see no EOF;
- after the SDK's own shutdown (close stdin, wait, terminate a live leader), ends
  whatever is left of the group whether or not the leader still runs: SIGTERM,
  then SIGKILL after `GROUP_GRACE_S` (the SDK's own escalation, applied to the group).

A process that leaves the group (``setsid``, a double fork) escapes by design, as it
does from the SDK's own kill; a cgroup would be needed to catch those.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncGenerator, Callable
from contextvars import ContextVar
from typing import Any, TextIO

import anyio
import mcp.client.stdio as sdk_stdio
from anyio.abc import Process
from mcp.client._transport import TransportStreams
from mcp.os.posix.utilities import terminate_posix_process_tree

from nexthop._sanitize import clean_text

__all__ = ["GROUP_GRACE_S", "grouped_stdio_client", "stderr_tail"]

GROUP_GRACE_S = 2.0
"""Seconds the group's members get between SIGTERM and SIGKILL (the SDK's ``FORCE_KILL_TIMEOUT``)."""

_EXIT_POLL_S = 0.05
"""How often the watcher reads the server's return code (seconds); the SDK polls the same way,
because `Process.wait` on asyncio also waits for the pipes' EOF, which a child can withhold."""

_SPAWN_FUNCTION = "_create_platform_compatible_process"
"""The SDK function that `stdio_client` resolves at call time to start the server."""

_STDERR_TAIL_BYTES = 2000
_STDERR_LINE_LIMIT = 300
"""Characters of a server's last stderr line quoted in an error (it reaches the model and the terminal)."""

_spawned: ContextVar[list[Process] | None] = ContextVar("nexthop_stdio_spawned", default=None)
_log = logging.getLogger(__name__)


def _install_spawn_hook() -> bool:
    """Wrap the SDK's spawn function so a connection can learn its server's process; idempotent.

    Returns:
        Whether the hook is in place (False if the SDK no longer has the function).
    """
    original: Any = getattr(sdk_stdio, _SPAWN_FUNCTION, None)
    if original is None:
        return False
    if getattr(original, "__nexthop_hook__", False):
        return True

    async def spawn(*args: Any, **kwargs: Any) -> Any:
        process = await original(*args, **kwargs)
        sink = _spawned.get()
        if sink is not None and isinstance(process, Process):
            sink.append(process)
        return process

    spawn.__nexthop_hook__ = True  # pyright: ignore[reportFunctionMemberAccess]
    setattr(sdk_stdio, _SPAWN_FUNCTION, spawn)
    return True


_HOOKED = _install_spawn_hook()


@contextlib.asynccontextmanager
async def grouped_stdio_client(
    params: sdk_stdio.StdioServerParameters, errlog: TextIO, on_exit: Callable[[int], None]
) -> AsyncGenerator[TransportStreams]:
    """The SDK's stdio transport, with the server's process group ended on the way out.

    Args:
        params: How to start the server.
        errlog: Where the server's stderr goes.
        on_exit: Called once with the return code if the server exits while connected
            (not during our own shutdown).

    Yields:
        The transport's read and write streams, for `mcp.Client`.

    Raises:
        OSError: The server could not be started (from the SDK).
    """
    spawned: list[Process] = []
    if not _HOOKED:  # pragma: no cover - only a future SDK without the function
        _log.warning("cannot track stdio server processes in this mcp version; their children may outlive them")
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(_end_groups, spawned)  # runs last, after the SDK's shutdown
        token = _spawned.set(spawned)
        try:
            streams = await stack.enter_async_context(sdk_stdio.stdio_client(params, errlog=errlog))
        finally:
            _spawned.reset(token)
        async with anyio.create_task_group() as watchers:
            for process in spawned:
                watchers.start_soon(_watch_exit, process, on_exit)
            try:
                yield streams
            finally:
                watchers.cancel_scope.cancel()  # our own shutdown is not the server exiting


async def _watch_exit(process: Process, on_exit: Callable[[int], None]) -> None:
    # No event exists for a child's exit, and Process.wait() also waits for the pipes' EOF.
    while (code := process.returncode) is None:  # noqa: ASYNC110
        await anyio.sleep(_EXIT_POLL_S)
    on_exit(code)


async def _end_groups(spawned: list[Process]) -> None:
    """SIGTERM each recorded server's group, SIGKILL survivors after the grace; shielded, bounded."""
    if sys.platform == "win32":  # pragma: no cover - the SDK's Job Object already ends the tree
        return
    with anyio.CancelScope(shield=True):
        for process in spawned:
            await terminate_posix_process_tree(process, GROUP_GRACE_S)


def stderr_tail(stderr: TextIO | None) -> str:
    """The last non-blank line a server wrote to ``stderr``, cleaned and capped; "" if none.

    The server's own words reach the model and the terminal in error messages, so
    escapes and invisible characters are removed (`clean_text`).
    """
    if stderr is None or not hasattr(stderr, "seek"):
        return ""
    with contextlib.suppress(OSError, ValueError):
        stderr.seek(0, 2)
        size = stderr.tell()
        stderr.seek(max(0, size - _STDERR_TAIL_BYTES))
        lines = [ln for ln in stderr.read().splitlines() if ln.strip()]
        if lines:
            return clean_text(lines[-1].strip(), _STDERR_LINE_LIMIT)
    return ""
