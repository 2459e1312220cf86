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

from collections.abc import Sequence
from typing import Any, Literal

from nexthop._toolset import ToolDef
from nexthop._trajectory import Usage
from nexthop.models._llama_prompt import build_messages
from nexthop.models._llama_recheck import Rechecker
from nexthop.models._llama_replies import ReplyMemory, ReplySchemas
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
        schema: The reply schema for a tool list (`ReplySchemas`, cached per list).
    """

    def __init__(self, who: str, *, recheck: bool = True) -> None:
        self.who = who
        self.recheck = Rechecker(recheck)
        self.schema = ReplySchemas()  # the server turns it into a grammar: nothing to check here
        self._replies = ReplyMemory("j", _MAX_KEPT_REPLIES, who)

    def messages(self, request: ModelRequest) -> list[dict[str, str]]:
        """The chat messages for ``request``: system, task, then each past step."""
        return build_messages(request.instructions, request.prompt_tools, request.trajectory, self._replies.texts)

    def parse(self, text: str, tools: Sequence[ToolDef], usage: Usage) -> ModelResponse:
        """Turn a reply's text into the next action, its exact text kept for replay (`ReplyMemory`).

        Raises:
            ModelError: The text is not a reply under the schema (see `parse_reply`).
        """
        return self._replies.action(text, tools, usage)
