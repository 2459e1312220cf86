"""The values that pass between nexthop and the servers that question it, and who answers.

Sampling and elicitation requests and answers, server events (logs, progress,
sampling, elicitation) and the hooks a host supplies (`ClientHooks`) or a run binds
(`RunBinding`, `bind_run`). These are nexthop's own types: the SDK's are converted to
them in `_callbacks`, which uses them to answer for one server.
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
from pydantic import BaseModel, ConfigDict, Field

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
    "ServerEvent",
    "ServerLog",
    "ServerProgress",
    "bind_run",
    "current_run",
    "root_uris",
]

_log = logging.getLogger("nexthop.clients._callbacks")
SamplingPolicy = Literal["off", "ask", "allow"]
"""Whether a server may use the host's model: never, after asking, or freely."""
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
