"""Next actions as schema-constrained JSON replies, for OpenAI-compatible servers.

Some compatible servers hold a reply to a JSON schema far better than they handle tool
calls. llama-cpp-python's server with its stock ``chatml-function-calling`` handler is the
measured case (issue 13, docs/models.md): it shows the model no tool descriptions, drops
``tool`` messages, and gives no room to reason before a call; with the embedded 1.5B
model every run of the example task failed there. Its ``response_format`` with a schema,
though, is turned into the same llama.cpp grammar the embedded model decodes under.

So with ``actions=json_object`` or ``actions=json_schema``, `OpenAIModel` speaks the
embedded model's protocol over the wire instead of tool calls:

- the messages are `nexthop.models._llama_prompt.build_messages`: a system message with
  the instructions, a compact tool list and the reply format, then the task, then each
  step as the assistant's reply and a user message with its observations;
- no ``tools`` are sent; ``response_format`` carries `build_reply_schema`'s schema (one
  branch per tool, the remaining work first), as ``{"type": "json_object", "schema": ...}``
  (llama-cpp-python's server, llama.cpp's ``llama-server``) or OpenAI's structured-output
  form ``{"type": "json_schema", "json_schema": {...}}`` (vLLM, ``llama-server``);
- the reply's ``content`` is parsed with `parse_reply`, and a pick that does not fit its
  thought is asked once more, as for the embedded model (`nexthop.models._llama_recheck`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Literal

from nexthop._toolset import ToolDef
from nexthop._trajectory import ToolCall, Usage
from nexthop.models._llama_prompt import build_messages, build_reply_schema, parse_reply
from nexthop.models._llama_recheck import Rechecker
from nexthop.models._model import ModelRequest, ModelResponse

__all__ = ["ActionFormat", "JsonActions", "reply_format"]

ActionFormat = Literal["tools", "json_object", "json_schema"]
"""How an `OpenAIModel` asks for the next action: OpenAI tool calls (the default), or a
JSON reply under a schema sent as ``response_format`` of that type."""

_MAX_KEPT_REPLIES = 512  # exact reply texts kept for replay, oldest dropped first


def reply_format(kind: Literal["json_object", "json_schema"], schema: dict[str, Any]) -> dict[str, Any]:
    """The ``response_format`` request field that holds the reply to ``schema``.

    Args:
        kind: ``json_object`` for the llama.cpp form (a ``schema`` key beside the type),
            ``json_schema`` for OpenAI's structured outputs.
        schema: The reply's JSON schema.

    Returns:
        The field's value, a JSON-ready dict.
    """
    if kind == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": "next_action", "schema": schema}}


class JsonActions:
    """The JSON-action protocol's state for one model: reply texts, ids and rechecks.

    Args:
        who: Names the server in errors, e.g. ``the server at http://127.0.0.1:8765/v1``.
        recheck: Ask once more when a writing tool's pick shares no word with its thought
            and another server's tool does (`nexthop.models._llama_recheck.misfit`).

    Attributes:
        recheck: The second-ask check and its log (`Rechecker`).
    """

    def __init__(self, who: str, *, recheck: bool = True) -> None:
        self.who = who
        self.recheck = Rechecker(recheck)
        self._ids = itertools.count(1)
        self._replies: dict[str, str] = {}

    def messages(self, request: ModelRequest) -> list[dict[str, str]]:
        """The chat messages for ``request``: system, task, then each past step."""
        return build_messages(request.instructions, request.tools, request.trajectory, self._replies)

    @staticmethod
    def schema(tools: Sequence[ToolDef], thought: str | None = None) -> dict[str, Any]:
        """The reply schema for ``tools``; with ``thought``, the thought is fixed (a second ask)."""
        return build_reply_schema(tools, thought=thought)

    def parse(self, text: str, tools: Sequence[ToolDef], usage: Usage) -> ModelResponse:
        """Turn a reply's text into the next action.

        Raises:
            ModelError: The text is not a reply under the schema (see `parse_reply`).
        """
        thought, call = parse_reply(text, tools, who=self.who)
        if call is None:
            return ModelResponse(thought=thought, usage=usage)
        tool_call = ToolCall(id=f"j{next(self._ids)}", name=call[0], arguments=call[1])
        # The exact text, so that the next prompt repeats what the server already holds
        # in its cache for this conversation.
        if len(self._replies) >= _MAX_KEPT_REPLIES:
            self._replies.pop(next(iter(self._replies)))
        self._replies[tool_call.id] = text
        return ModelResponse(thought=thought, tool_calls=(tool_call,), usage=usage)
