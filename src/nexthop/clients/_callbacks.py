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

import contextlib
import logging
from collections.abc import Awaitable, Callable, Generator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import mcp_types
from mcp.client.context import ClientRequestContext
from pydantic import BaseModel, ConfigDict, Field

from nexthop._sanitize import clean_text, one_line
from nexthop._trajectory import Usage

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
SamplingPolicy = Literal["off", "ask", "allow"]
"""Whether a server may use the host's model: never, after asking, or freely."""
_TEXT_LIMIT = 32_000
"""Characters kept of one sampled message (it goes to the host's model)."""
_FROZEN = ConfigDict(frozen=True, extra="forbid")


# -- values ------------------------------------------------------------------------------


class SamplingRequest(BaseModel):
    """A server's ``sampling/createMessage``, as nexthop's model sees it (text only, cleaned).

    Attributes:
        server: The server asking.
        messages: ``(role, text)`` pairs in order; non-text content is noted, not passed.
        system_prompt: The server's system prompt (may be empty).
        max_tokens: The most tokens the server wants back (tokens).
        temperature: Sampling temperature, if the server set one.
        stop_sequences: Where generation should stop.
    """

    model_config = _FROZEN
    kind: Literal["sampling_request"] = "sampling_request"
    server: str
    messages: tuple[tuple[str, str], ...]
    system_prompt: str = ""
    max_tokens: int = 1024
    temperature: float | None = None
    stop_sequences: tuple[str, ...] = ()


class SamplingReply(BaseModel):
    """The host model's answer to a `SamplingRequest`.

    Attributes:
        text: The reply text.
        model: The model's name.
        usage: Tokens it cost (counted in the run's usage and budgets).
        stop_reason: ``endTurn``, ``maxTokens`` or ``stopSequence``.
    """

    model_config = _FROZEN
    kind: Literal["sampling_reply"] = "sampling_reply"
    text: str
    model: str
    usage: Usage = Usage()
    stop_reason: str = "endTurn"


class ElicitationRequest(BaseModel):
    """A server's ``elicitation/create``: a form to fill in, or a URL to visit.

    Attributes:
        server: The server asking.
        mode: ``form`` (answer with ``schema``'s fields) or ``url`` (visit ``url``).
        message: Why it asks (cleaned).
        schema_: The form's JSON Schema (a flat object of primitives), for ``form``.
        url: The address to open, for ``url``.
        elicitation_id: The server's id for a URL elicitation.
    """

    model_config = _FROZEN
    kind: Literal["elicitation_request"] = "elicitation_request"
    server: str
    mode: Literal["form", "url"]
    message: str
    schema_: dict[str, Any] = Field(default_factory=dict[str, Any], alias="schema")
    url: str = ""
    elicitation_id: str = ""


class ElicitationAnswer(BaseModel):
    """The answer to an `ElicitationRequest`.

    Attributes:
        action: ``accept`` (with ``content`` for a form), ``decline`` or ``cancel``.
        content: The form's values, for an accepted form.
        reason: Why it was declined (shown in the step record; not sent to the server).
    """

    model_config = _FROZEN
    kind: Literal["elicitation_answer"] = "elicitation_answer"
    action: Literal["accept", "decline", "cancel"]
    content: dict[str, Any] | None = None
    reason: str = ""


class ServerLog(BaseModel):
    """A server's ``notifications/message`` (cleaned, one line)."""

    model_config = _FROZEN
    kind: Literal["server_log"] = "server_log"
    server: str
    level: str
    logger: str = ""
    message: str


class ServerProgress(BaseModel):
    """A progress notification for a tool call (progress and total in the server's units)."""

    model_config = _FROZEN
    kind: Literal["server_progress"] = "server_progress"
    server: str
    tool: str
    progress: float
    total: float | None = None
    message: str = ""


class SamplingEvent(BaseModel):
    """A server sampled (or tried to sample) the host's model.

    Attributes:
        outcome: ``answered``, ``denied`` (policy, person or budget) or ``failed`` (model error).
        reason: One line saying why, when not answered.
        usage: Tokens the answer cost.
    """

    model_config = _FROZEN
    kind: Literal["sampling"] = "sampling"
    server: str
    outcome: Literal["answered", "denied", "failed"]
    reason: str = ""
    usage: Usage = Usage()
    model: str = ""


class ElicitationEvent(BaseModel):
    """A server asked the user something; what came of it (the values are not recorded)."""

    model_config = _FROZEN
    kind: Literal["elicitation"] = "elicitation"
    server: str
    mode: Literal["form", "url"]
    action: Literal["accept", "decline", "cancel"]
    reason: str = ""


ServerEvent = ServerLog | ServerProgress | SamplingEvent | ElicitationEvent
"""What servers do besides answering tool calls, as recorded in steps and shown to observers."""

Sampler = Callable[[SamplingRequest], Awaitable[SamplingReply]]
"""Runs the host's model on a sampling request; raises `NexthopError` when the model fails."""
Elicitor = Callable[[ElicitationRequest], Awaitable[ElicitationAnswer]]
"""Asks a person (a terminal, a delegating client) and returns their answer."""
SamplingApprover = Callable[[SamplingRequest], Awaitable[bool]]
"""Asks whether a server may sample the host's model (the ``ask`` policy)."""


@dataclass
class ClientHooks:
    """Host-wide answers to servers' questions; one instance serves every connection.

    Attributes:
        sampler: Runs the host's model; None refuses every sampling request.
        sampling: The default policy for servers whose config sets none.
        approve_sampling: Asked under ``ask`` when no run supplies its own approver.
        elicitor: Asked when no run supplies its own; None declines every elicitation.
        roots: Folders offered to servers whose config sets none (absolute paths).
        observers: Called with every `ServerEvent`, as it happens.
        log_level: The least severe server log level asked for (``debug`` ... ``emergency``).
    """

    sampler: Sampler | None = None
    sampling: SamplingPolicy = "off"
    approve_sampling: SamplingApprover | None = None
    elicitor: Elicitor | None = None
    roots: tuple[str, ...] = ()
    observers: list[Callable[[ServerEvent], None]] = field(default_factory=list[Callable[[ServerEvent], None]])
    log_level: mcp_types.LoggingLevel = "info"

    def notify(self, event: ServerEvent) -> None:
        """Tell every observer; an observer's failure is logged, never raised into a server's request."""
        for observer in self.observers:
            try:
                observer(event)
            except Exception:
                _log.exception("a server-event observer failed")


@dataclass
class RunBinding:
    """One run's side of server callbacks: who it asks, its token budget, and where its events go.

    Attributes:
        record: Receives each event that belongs to this run (the host puts them in the step).
        elicitor: Who this run's elicitations go to (e.g. the delegating MCP client).
        approve_sampling: Who approves sampling under ``ask`` for this run.
        tokens_left: Tokens the run may still spend (None: no budget); a sampling
            request for more is refused.
    """

    record: Callable[[ServerEvent], None]
    elicitor: Elicitor | None = None
    approve_sampling: SamplingApprover | None = None
    tokens_left: Callable[[], int | None] = lambda: None


_current_run: ContextVar[RunBinding | None] = ContextVar("nexthop_run_binding", default=None)


@contextlib.contextmanager
def bind_run(binding: RunBinding) -> Generator[None]:
    """Make ``binding`` the current run for server callbacks made from this task (and tasks it starts)."""
    token = _current_run.set(binding)
    try:
        yield
    finally:
        _current_run.reset(token)


def current_run() -> RunBinding | None:
    """The run bound in this context, if any (`bind_run`)."""
    return _current_run.get()


def root_uris(folders: Sequence[str]) -> list[tuple[str, str]]:
    """``(file:// URI, name)`` for each folder, resolved to an absolute path."""
    out: list[tuple[str, str]] = []
    for folder in folders:
        path = Path(folder).expanduser().resolve()
        out.append((path.as_uri(), path.name or str(path)))
    return out


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
