"""What nexthop answers when a server asks the client something: sampling, roots, elicitation, logs.

Passing a callback to `mcp.Client` is what declares the capability (MCP spec: client
features); on 2025-11-25 the server pushes each question as a request, on 2026-07-28
it comes back inside an ``InputRequiredResult`` and the SDK calls the same callback
before retrying. Either way `ServerCallbacks` converts the SDK's types to ours
(`SamplingRequest`, `ElicitationRequest`) at this edge and back, so the rest of
nexthop never sees the SDK.

Who answers is supplied from outside, provider-neutrally:

* `ClientHooks` (one per host): the ``sampler`` that runs the host's model, the
  default sampling policy, the default ``elicitor``, the roots, and observers that
  see every `ServerEvent` as it happens (the CLI logs them with ``-v``).
* `RunBinding` (one per run): a run's own elicitor and sampling approver (a served
  run asks its delegating client), its token budget, and where its events are
  recorded (the host drains them into the step record). A callback finds the run
  it belongs to through a context variable on 2026-07-28 (the callback runs in the
  caller's task) and, on 2025-11-25, through the connection's only run with a call
  in flight; with no run, or several, the host-wide hooks answer.

With no one to ask, a question is declined at once with a reason, never left hanging.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import mcp_types
from mcp.client.context import ClientRequestContext

from nexthop._sanitize import clean_text, one_line
from nexthop.clients._client_values import (
    ClientHooks,
    ElicitationAnswer,
    ElicitationEvent,
    ElicitationRequest,
    Elicitor,
    RunBinding,
    Sampler,
    SamplingApprover,
    SamplingEvent,
    SamplingPolicy,
    SamplingReply,
    SamplingRequest,
    ServerEvent,
    ServerLog,
    ServerProgress,
    bind_run,
    current_run,
    root_uris,
)

# The values live in _client_values; they are re-exported here, where callers look for them.
__all__ = [
    "ClientHooks",
    "ElicitationAnswer",
    "ElicitationEvent",
    "ElicitationRequest",
    "Elicitor",
    "RunBinding",
    "SamplingApprover",
    "SamplingEvent",
    "SamplingPolicy",
    "SamplingReply",
    "SamplingRequest",
    "Sampler",
    "ServerCallbacks",
    "ServerEvent",
    "ServerLog",
    "ServerProgress",
    "bind_run",
    "current_run",
    "root_uris",
]

_log = logging.getLogger(__name__)
_TEXT_LIMIT = 32_000
"""Characters kept of one sampled message (it goes to the host's model)."""


# -- the callbacks given to mcp.Client -------------------------------------------------------


class ServerCallbacks:
    """The callbacks one connection hands to `mcp.Client`, answering for one server.

    Args:
        server: The server's name (recorded on every event).
        hooks: The host-wide hooks.
        sampling: This server's sampling policy; None takes ``hooks.sampling``.
        roots: This server's folders; None takes ``hooks.roots``.
        run_in_flight: Returns the one run with a call in flight on this connection,
            if exactly one has (2025-11-25 requests arrive outside the caller's task).
    """

    def __init__(
        self,
        server: str,
        hooks: ClientHooks,
        *,
        sampling: SamplingPolicy | None = None,
        roots: Sequence[str] | None = None,
        run_in_flight: Callable[[], RunBinding | None] = lambda: None,
    ) -> None:
        self.server = server
        self.hooks = hooks
        self.own_hooks = False
        """Whether ``hooks`` were chosen for this server (a host then keeps them rather than lending its own)."""
        self._sampling: SamplingPolicy | None = sampling
        self._roots = tuple(roots) if roots is not None else None
        self._run_in_flight = run_in_flight

    @property
    def sampling(self) -> SamplingPolicy:
        """This server's sampling policy: its own, else the hooks' default."""
        return self._sampling or self.hooks.sampling

    @property
    def roots(self) -> tuple[str, ...]:
        """This server's folders: its own, else the hooks' default."""
        return self._roots if self._roots is not None else self.hooks.roots

    @roots.setter
    def roots(self, folders: Sequence[str]) -> None:
        self._roots = tuple(folders)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `mcp.Client`: each callback declares its capability."""
        return {
            "sampling_callback": self.on_sampling,
            "list_roots_callback": self.on_list_roots,
            "elicitation_callback": self.on_elicitation,
            "logging_callback": self.on_log,
            "log_level": self.hooks.log_level,
        }

    def run(self) -> RunBinding | None:
        """The run a server's request belongs to: this task's, else the connection's only one in flight."""
        return current_run() or self._run_in_flight()

    def emit(self, event: ServerEvent) -> None:
        """Record ``event`` on its run (if known) and tell the host's observers."""
        run = self.run()
        if run is not None:
            run.record(event)
        self.hooks.notify(event)

    # -- roots --------------------------------------------------------------------------

    async def on_list_roots(self, context: ClientRequestContext) -> mcp_types.ListRootsResult:
        """``roots/list``: this server's folders as ``file://`` URIs."""
        return mcp_types.ListRootsResult(
            roots=[mcp_types.Root(uri=uri, name=name) for uri, name in root_uris(self.roots)]  # pyright: ignore[reportArgumentType]
        )

    # -- logging ------------------------------------------------------------------------

    async def on_log(self, params: mcp_types.LoggingMessageNotificationParams) -> None:
        """``notifications/message``: recorded, and logged (so ``-v`` shows it)."""
        data = params.data if isinstance(params.data, str) else repr(params.data)
        event = ServerLog(
            server=self.server,
            level=params.level,
            logger=one_line(params.logger or "", 100),
            message=one_line(data, 2000),
        )
        _log.info(
            "server %s [%s] %s%s", self.server, event.level, f"{event.logger}: " if event.logger else "", event.message
        )
        self.emit(event)

    # -- sampling -----------------------------------------------------------------------

    async def on_sampling(
        self, context: ClientRequestContext, params: mcp_types.CreateMessageRequestParams
    ) -> mcp_types.CreateMessageResult | mcp_types.ErrorData:
        """``sampling/createMessage``: policy, budget, then the host's model."""
        request = sampling_request(self.server, params)
        refusal = await self._sampling_refusal(request)
        if refusal is not None:
            self.emit(SamplingEvent(server=self.server, outcome="denied", reason=refusal))
            return mcp_types.ErrorData(code=mcp_types.INVALID_REQUEST, message=refusal)
        assert self.hooks.sampler is not None  # _sampling_refusal checked it
        try:
            reply = await self.hooks.sampler(request)
        except Exception as e:  # a model failure is the server's answer, not the host's crash
            reason = f"nexthop's model failed to answer server {self.server!r}: {one_line(str(e), 300)}"
            self.emit(SamplingEvent(server=self.server, outcome="failed", reason=reason))
            return mcp_types.ErrorData(code=mcp_types.INTERNAL_ERROR, message=reason)
        self.emit(SamplingEvent(server=self.server, outcome="answered", usage=reply.usage, model=reply.model))
        return mcp_types.CreateMessageResult(
            role="assistant",
            content=mcp_types.TextContent(type="text", text=reply.text),
            model=reply.model,
            stop_reason=reply.stop_reason,
        )

    async def _sampling_refusal(self, request: SamplingRequest) -> str | None:
        """Why this request is refused (one line naming the server and the fix), or None to answer it."""
        who = f"server {self.server!r}"
        if self.sampling == "off":
            return f'{who} may not use nexthop\'s model (set "sampling": "ask" or "allow" for it in the config)'
        if self.hooks.sampler is None:
            return f"{who} asked to sample, but this host has no model to answer with"
        run = self.run()
        left = run.tokens_left() if run is not None else None
        if left is not None and request.max_tokens > left:
            return (
                f"{who} asked for up to {request.max_tokens} tokens, over the run's token budget "
                f"({max(left, 0)} left); raise --max-tokens or lower the server's request"
            )
        if self.sampling == "ask":
            approver = (run.approve_sampling if run is not None else None) or self.hooks.approve_sampling
            if approver is None:
                return f'{who} needs approval to sample and no one can be asked (set "sampling": "allow" to permit it)'
            if not await approver(request):
                return f"the user refused to let {who} use nexthop's model"
        return None

    # -- elicitation --------------------------------------------------------------------

    async def on_elicitation(
        self, context: ClientRequestContext, params: mcp_types.ElicitRequestParams
    ) -> mcp_types.ElicitResult:
        """``elicitation/create``: asked of the run's elicitor, else the host's; declined when no one can answer."""
        request = elicitation_request(self.server, params)
        run = self.run()
        elicitor = (run.elicitor if run is not None else None) or self.hooks.elicitor
        if elicitor is None:
            answer = ElicitationAnswer(
                action="decline",
                reason=f"server {self.server!r} asked the user something, and this run has no one to ask "
                "(run nexthop at a terminal, or serve it to a client that supports elicitation)",
            )
        else:
            try:
                answer = await elicitor(request)
            except Exception as e:  # a broken terminal or client must not hang the server's call
                answer = ElicitationAnswer(action="cancel", reason=f"asking failed: {one_line(str(e), 300)}")
        self.emit(ElicitationEvent(server=self.server, mode=request.mode, action=answer.action, reason=answer.reason))
        content = answer.content if answer.action == "accept" and request.mode == "form" else None
        return mcp_types.ElicitResult(action=answer.action, content=content)


def sampling_request(server: str, params: mcp_types.CreateMessageRequestParams) -> SamplingRequest:
    """The SDK's sampling parameters as our `SamplingRequest` (text cleaned; other content noted)."""
    messages: list[tuple[str, str]] = []
    for m in params.messages:
        blocks: list[Any] = list(m.content) if isinstance(m.content, list) else [m.content]  # pyright: ignore[reportUnknownArgumentType]
        parts = [
            b.text if isinstance(b, mcp_types.TextContent) else f"[{getattr(b, 'type', 'content')}]" for b in blocks
        ]
        messages.append((m.role, clean_text("\n".join(parts), _TEXT_LIMIT)))
    return SamplingRequest(
        server=server,
        messages=tuple(messages),
        system_prompt=clean_text(params.system_prompt or "", _TEXT_LIMIT),
        max_tokens=params.max_tokens,
        temperature=params.temperature,
        stop_sequences=tuple(params.stop_sequences or ()),
    )


def elicitation_request(server: str, params: mcp_types.ElicitRequestParams) -> ElicitationRequest:
    """The SDK's elicitation parameters as our `ElicitationRequest` (message cleaned)."""
    message = clean_text(params.message, 4000)
    if isinstance(params, mcp_types.ElicitRequestURLParams):
        return ElicitationRequest(
            server=server, mode="url", message=message, url=params.url, elicitation_id=params.elicitation_id or ""
        )
    schema = params.requested_schema
    return ElicitationRequest(server=server, mode="form", message=message, schema=dict(schema))
