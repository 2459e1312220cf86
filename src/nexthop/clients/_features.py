"""The parts of an MCP connection beyond tools: health checks, resources, prompts and roots.

`MCPConnection` inherits these; they need only its client, its task group and its
state, declared here. Requests run beside their caller (`PendingCall`) within the
connection's timeout, like tool calls, and their failures become one-line
`ServerConnectionError` messages naming the server and what to do.
"""

from __future__ import annotations

import contextlib
import functools
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal

import anyio
import mcp
from anyio.abc import TaskGroup
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from nexthop._exceptions import ServerConnectionError
from nexthop._sanitize import one_line
from nexthop._toolset import ToolDef
from nexthop._trajectory import Observation, ToolCall
from nexthop.clients._callbacks import RunBinding, ServerCallbacks
from nexthop.clients._calls import PendingCall, describe, error_observation
from nexthop.clients._resources import (
    LIST_RESOURCES,
    ServerCatalog,
    catalog_listing,
    fetch_catalog,
    prompt_text,
    resource_text,
)

__all__ = ["ConnectionFeatures", "ConnectionState"]

ConnectionState = Literal["pending", "connected", "failed", "closed"]


class ConnectionFeatures:
    """Resources, prompts and roots of one connection (a base of `MCPConnection`)."""

    name: str
    state: ConnectionState
    health_interval_s: float
    _closing: bool
    _in_flight: dict[int, RunBinding | None]
    timeout_s: float
    protocol_version: str | None
    capabilities: tuple[str, ...]
    callbacks: ServerCallbacks
    _client: mcp.Client | None
    _calls: TaskGroup | None
    _tools: list[ToolDef] | None

    def _notice_blocked(self) -> None:
        raise NotImplementedError

    def _unavailable(self) -> str:
        raise NotImplementedError

    def _lost(self, reason: str) -> None:
        raise NotImplementedError

    async def _pause(self, seconds: float) -> None:
        raise NotImplementedError

    # -- health --------------------------------------------------------------------------

    async def _watch_health(self, client: mcp.Client) -> None:
        """Between calls, check the server answers; one that does not is lost (and restarted)."""
        while not self._closing:
            await self._pause(self.health_interval_s)
            if self._closing or self.state != "connected":
                return
            if self._in_flight:  # busy: its calls tell us soon enough whether it is alive
                continue
            pending = PendingCall[Any](self._notice_blocked)
            assert self._calls is not None
            self._calls.start_soon(pending.run, functools.partial(self._health_check, client))
            limit = min(self.timeout_s, 10.0)
            with anyio.move_on_after(limit):
                await pending.wait()
            if not pending.ok and not self._closing:
                why = describe(pending.error) if pending.error else f"no answer in {limit:g} s"
                self._lost(f"the server failed a health check ({why})")
                return

    async def _health_check(self, client: mcp.Client) -> None:
        if self.protocol_version in MODERN_PROTOCOL_VERSIONS:
            await client.list_tools(cache_mode="bypass")  # 2026-07-28 has no ping
        else:
            await client.session.send_ping()

    def _run_in_flight(self) -> RunBinding | None:
        """The one run with calls in flight here, if exactly one has (see `ServerCallbacks.run`)."""
        runs = {id(r): r for r in self._in_flight.values() if r is not None}
        return next(iter(runs.values())) if len(runs) == 1 else None

    # -- resources and prompts -----------------------------------------------------------

    async def _probe_resources(self, client: mcp.Client) -> bool:
        """Whether the server has any resource or template (then the model gets the built-in tools).

        Servers built on the SDK declare ``resources`` whatever they hold, so the
        capability alone would give every server two useless tools.
        """
        if "resources" not in self.capabilities:
            return False
        with contextlib.suppress(Exception):
            if (await client.list_resources()).resources:
                return True
            return bool((await client.list_resource_templates()).resource_templates)
        return False

    def _reason(self, error: ServerConnectionError) -> str:
        return str(error).removeprefix(f"server {self.name!r}: ")

    def _own(self, remote: str) -> bool:
        """Whether the server has a tool of this name itself (it then wins over a built-in)."""
        return any(t.remote_name == remote for t in self._tools or [])

    async def _request(self, fetch: Callable[[mcp.Client], Any]) -> Any:
        """Run one request in the connection's task group within ``timeout_s``.

        Raises:
            ServerConnectionError: The server is not connected, did not answer in time,
                or refused (the message names the server and says what to do).
        """
        client, calls = self._client, self._calls
        if self.state != "connected" or client is None or calls is None:
            raise ServerConnectionError(self.name, self._unavailable())
        pending = PendingCall[Any](self._notice_blocked)
        calls.start_soon(pending.run, functools.partial(fetch, client))
        with anyio.move_on_after(self.timeout_s):
            await pending.wait()
        if pending.ok:
            return pending.result
        if isinstance(pending.error, mcp.MCPError):
            raise ServerConnectionError(self.name, one_line(pending.error.error.message, 500))
        why = describe(pending.error) if pending.error else f"no answer in {self.timeout_s:g} s"
        raise ServerConnectionError(self.name, why)

    async def catalog(self) -> ServerCatalog:
        """The server's declared capabilities, resources, templates and prompts (for ``nexthop tools``).

        A listing that fails is reported in ``error``; never raises.
        """
        try:
            return await self._request(lambda c: fetch_catalog(c, self.capabilities))
        except ServerConnectionError as e:
            return ServerCatalog(capabilities=self.capabilities, error=self._reason(e))

    async def read_resource(self, uri: str) -> str:
        """One resource's content as text (cleaned; binary parts noted).

        Raises:
            ServerConnectionError: The server does not offer resources, is down, or does
                not know the URI (one line naming the server and what to do).
        """
        if "resources" not in self.capabilities:
            raise ServerConnectionError(self.name, "it offers no resources (it did not declare the capability)")
        try:
            result = await self._request(lambda c: c.read_resource(uri))
        except ServerConnectionError as e:
            raise ServerConnectionError(
                self.name,
                f"cannot read {one_line(uri, 300)}: {self._reason(e)} (list its resources with nexthop tools)",
            ) from None
        return resource_text(result, uri)

    async def get_prompt(self, name: str, arguments: dict[str, str]) -> str:
        """A prompt of the server, filled in with ``arguments``, as one task text.

        Raises:
            ServerConnectionError: The server has no prompts or no such prompt, or is down.
        """
        if "prompts" not in self.capabilities:
            raise ServerConnectionError(self.name, "it offers no prompts (it did not declare the capability)")
        try:
            result = await self._request(lambda c: c.get_prompt(name, arguments))
        except ServerConnectionError as e:
            raise ServerConnectionError(
                self.name,
                f"prompt {one_line(name, 200)!r} failed: {self._reason(e)} (list its prompts with nexthop tools)",
            ) from None
        return prompt_text(result)

    async def _resource_tool(self, call: ToolCall, remote: str, start: float) -> Observation:
        """The built-in ``list_resources`` / ``read_resource`` tools; failures are error observations."""
        try:
            if remote == LIST_RESOURCES:
                catalog = await self._request(lambda c: fetch_catalog(c, ("resources",)))
                text = catalog_listing(catalog)
            else:
                uri = call.arguments.get("uri")
                if not isinstance(uri, str) or not uri:
                    return error_observation(call, 'read_resource needs "uri", a string', start)
                text = await self.read_resource(uri)
        except ServerConnectionError as e:
            return error_observation(call, str(e), start)
        return Observation(call_id=call.id, content=text, duration_s=time.perf_counter() - start)

    # -- roots ---------------------------------------------------------------------------

    async def set_roots(self, folders: Sequence[str]) -> None:
        """Offer these folders from now on, and tell a 2025-11-25 server its roots changed.

        (On 2026-07-28 the server asks for roots with each request that needs them, so
        there is nothing to send.)
        """
        self.callbacks.roots = tuple(folders)
        client = self._client
        if client is None or self.state != "connected" or self.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return
        with warnings.catch_warnings():  # deprecated in 2026-07-28 only; this is a 2025-11-25 session
            warnings.simplefilter("ignore")
            with contextlib.suppress(Exception), anyio.move_on_after(self.timeout_s):
                await client.session.send_roots_list_changed()  # pyright: ignore[reportDeprecated]
