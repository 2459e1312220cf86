"""Asking the person behind the calling MCP client, through elicitation (MCP spec: client/elicitation).

A served host has no terminal: the person is behind the client that handed it the
task. Three kinds of question go to them: a tool call that needs approval (the
`Approver`), an upstream server's own elicitation, form or URL (forwarded, after
mcp-agent's pattern), and an upstream server's wish to sample under ``sampling: ask``.

How a question travels depends on the caller's revision:

* **2025-11-25**: an ``elicitation/create`` request sent mid-call, related to the
  ``run_task`` request.
* **2026-07-28**: stateless requests have no back channel, so ``run_task`` returns an
  ``InputRequiredResult`` holding the question, and the client answers by calling
  again with ``inputResponses`` and the ``requestState``. The run itself keeps going in
  a task group that lives as long as the server (`InputBridge`, entered as the
  server's lifespan); the retry finds it by ``requestState``, hands it the answer and
  waits for its next question or its result.

A client that cannot answer gets a clear refusal, never a hang: one without the
elicitation capability (or without URL mode, for a URL), or one that does not answer
within the timeout.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup
from mcp import MCPError
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import NoBackChannelError
from mcp_types import (
    CallToolResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitRequestURLParams,
    ElicitResult,
    InputRequiredResult,
    TextContent,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from nexthop._sanitize import one_line
from nexthop.clients._callbacks import ElicitationAnswer, ElicitationRequest, SamplingRequest
from nexthop.host._approval import ApprovalDecision, ApprovalRequest, Approver

__all__ = ["CallerQuestions", "InputBridge", "elicitation_approver"]

_APPROVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"approve": {"type": "boolean", "title": "Approve", "description": "Allow this?"}},
    "required": ["approve"],
}
_KEEP_CHANNELS = 256
"""Runs waiting on a 2026-07-28 caller kept at once; past it the oldest is forgotten (its run goes on)."""
Params = ElicitRequestFormParams | ElicitRequestURLParams


@dataclass
class _Question:
    id: str
    params: Params
    answered: anyio.Event = field(default_factory=anyio.Event)
    result: ElicitResult | None = None


class _Channel:
    """One 2026-07-28 run's questions out and answers in; its result comes out last."""

    def __init__(self) -> None:
        self.id = secrets.token_urlsafe(16)
        self._send, self._receive = anyio.create_memory_object_stream[_Question | CallToolResult](100)
        self._pending: dict[str, _Question] = {}
        self.scope = anyio.CancelScope()
        """The run's scope: cancelled when the client cancels its ``run_task`` call."""

    async def ask(self, params: Params, timeout_s: float) -> ElicitResult | None:
        question = _Question(secrets.token_urlsafe(8), params)
        self._pending[question.id] = question
        try:
            await self._send.send(question)
            with anyio.move_on_after(timeout_s):
                await question.answered.wait()
        finally:
            self._pending.pop(question.id, None)
        return question.result

    def answer(self, responses: dict[str, Any]) -> None:
        for qid, response in responses.items():
            question = self._pending.get(qid)
            if question is not None and isinstance(response, ElicitResult):
                question.result = response
                question.answered.set()

    async def finish(self, result: CallToolResult) -> None:
        await self._send.send(result)

    async def next(self) -> _Question | CallToolResult:
        return await self._receive.receive()


class InputBridge:
    """Keeps 2026-07-28 runs alive between the rounds of their ``run_task`` call.

    Enter `lifespan` as the `MCPServer`'s lifespan (it runs once per server over
    stdio, once per app over HTTP, once per in-memory client).
    """

    def __init__(self) -> None:
        self._tg: TaskGroup | None = None
        self._channels: dict[str, _Channel] = {}

    @contextlib.asynccontextmanager
    async def lifespan(self, server: MCPServer) -> AsyncGenerator[dict[str, Any]]:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                yield {}
            finally:
                self._tg = None
                tg.cancel_scope.cancel()

    def uses_rounds(self, ctx: Context) -> bool:
        """Whether this call's questions travel as input-required rounds (2026-07-28, with the bridge running)."""
        return self._tg is not None and ctx.protocol_version in MODERN_PROTOCOL_VERSIONS

    async def drive(
        self, ctx: Context, run: Callable[[CallerQuestions], Awaitable[CallToolResult]] | None
    ) -> CallToolResult | InputRequiredResult:
        """Start ``run`` (first round) or hand the client's answers to it (later rounds).

        Returns:
            The run's next question, as an ``InputRequiredResult``, or its result.

        Raises:
            ToolError: A later round names a run this server no longer holds.
        """
        assert self._tg is not None
        channel = self._channels.get(ctx.request_state or "")
        if channel is None:
            if ctx.request_state or run is None:
                raise ToolError(
                    "this run is no longer waiting for an answer (it ended or was forgotten); start it again"
                )
            channel = self._open()
            self._tg.start_soon(self._run, channel, run, CallerQuestions(ctx, channel))
        elif ctx.input_responses:
            channel.answer(dict(ctx.input_responses))
        try:
            item = await channel.next()
        except anyio.get_cancelled_exc_class():  # the client cancelled run_task: the run ends with it
            channel.scope.cancel()
            self._channels.pop(channel.id, None)
            raise
        if isinstance(item, _Question):
            return InputRequiredResult(
                input_requests={item.id: ElicitRequest(params=item.params)}, request_state=channel.id
            )
        self._channels.pop(channel.id, None)
        return item

    def _open(self) -> _Channel:
        while len(self._channels) >= _KEEP_CHANNELS:
            self._channels.pop(next(iter(self._channels)))
        channel = _Channel()
        self._channels[channel.id] = channel
        return channel

    @staticmethod
    async def _run(
        channel: _Channel, run: Callable[[CallerQuestions], Awaitable[CallToolResult]], questions: CallerQuestions
    ) -> None:
        result: CallToolResult | None = None
        with channel.scope:
            try:
                result = await run(questions)
            except Exception as e:  # the lifespan's task group must outlive any one run
                result = CallToolResult(content=[TextContent(type="text", text=f"the run failed: {e}")], is_error=True)
        if result is not None:  # None: the client cancelled, and no one waits for the result
            await channel.finish(result)


class CallerQuestions:
    """Questions for the person behind the MCP client of one ``run_task`` call.

    Args:
        ctx: The ``run_task`` request's context (the first round's, on 2026-07-28).
        channel: The run's input-required channel on 2026-07-28; None sends requests mid-call.
        timeout_s: How long to wait for the person (seconds); then the answer is no.
    """

    def __init__(self, ctx: Context, channel: _Channel | None = None, *, timeout_s: float = 300.0) -> None:
        self.ctx = ctx
        self.channel = channel
        self.timeout_s = timeout_s
        caps = ctx.client_capabilities
        self._form = caps is not None and caps.elicitation is not None
        self._url = self._form and caps is not None and getattr(caps.elicitation, "url", None) is not None

    async def ask(self, params: Params) -> ElicitResult | str:
        """The client's answer, or one line saying why there is none."""
        if not self._form:
            return "the calling MCP client does not support elicitation, so no one could be asked"
        if isinstance(params, ElicitRequestURLParams) and not self._url:
            return "the calling MCP client does not support URL elicitation"
        try:
            if self.channel is not None:
                result = await self.channel.ask(params, self.timeout_s)
                return result if result is not None else f"no answer from the client within {self.timeout_s:g} s"
            with anyio.fail_after(self.timeout_s):
                return await self._send(params)
        except NoBackChannelError:
            return "this MCP connection cannot ask the client mid-run (it has no back channel)"
        except TimeoutError:
            return f"no answer from the client within {self.timeout_s:g} s"
        except MCPError as e:
            return f"the client could not ask: {one_line(e.error.message, 300)}"

    async def _send(self, params: Params) -> ElicitResult:
        session = self.ctx.request_context.session
        related = self.ctx.request_id
        if isinstance(params, ElicitRequestURLParams):
            return await session.elicit_url(params.message, params.url, params.elicitation_id or "", related)
        return await session.elicit_form(params.message, params.requested_schema, related)

    async def elicit(self, request: ElicitationRequest) -> ElicitationAnswer:
        """An upstream server's elicitation, forwarded (an `Elicitor`)."""
        message = f"MCP server {request.server!r}, working on your task for nexthop, asks: {request.message}"
        params: Params = (
            ElicitRequestURLParams(message=message, url=request.url, elicitation_id=request.elicitation_id)
            if request.mode == "url"
            else ElicitRequestFormParams(message=message, requested_schema=request.schema_)
        )
        answer = await self.ask(params)
        if isinstance(answer, str):
            return ElicitationAnswer(action="decline", reason=answer)
        return ElicitationAnswer(action=answer.action, content=dict(answer.content) if answer.content else None)

    async def approve(self, request: ApprovalRequest) -> ApprovalDecision:
        """A tool call that needs approval (an `Approver`)."""
        message = (
            f"nexthop asks to call {request.tool} (server {request.server or 'python'}) for the task "
            f"{request.task!r} with these arguments:\n{json.dumps(request.arguments, indent=2)}"
        )
        answer = await self.ask(ElicitRequestFormParams(message=message, requested_schema=_APPROVAL_SCHEMA))
        if isinstance(answer, str):
            return ApprovalDecision(approved=False, reason=answer)
        if answer.action == "accept" and (answer.content or {}).get("approve") is True:
            return ApprovalDecision(approved=True, reason="approved by the client's user")
        return ApprovalDecision(approved=False, reason=f"the client's user said no ({answer.action})")

    async def approve_sampling(self, request: SamplingRequest) -> bool:
        """May an upstream server use nexthop's model (``sampling: ask``)?"""
        last = request.messages[-1][1] if request.messages else ""
        message = (
            f"MCP server {request.server!r} asks to use nexthop's model (up to {request.max_tokens} tokens) "
            f"with: {one_line(last, 500)}"
        )
        answer = await self.ask(ElicitRequestFormParams(message=message, requested_schema=_APPROVAL_SCHEMA))
        return (
            not isinstance(answer, str) and answer.action == "accept" and (answer.content or {}).get("approve") is True
        )


def elicitation_approver(ctx: Context, *, timeout_s: float = 300.0) -> Approver:
    """An `Approver` that asks the MCP client of the current request (mid-call; see `CallerQuestions`)."""
    return CallerQuestions(ctx, timeout_s=timeout_s).approve
