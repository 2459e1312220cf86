"""State shared by both JSON-action protocols (the embedded model and `actions=json_*`): replies and schemas.

Both ask a model for one JSON action under `build_reply_schema`'s schema and replay past
steps from the exact text the model wrote; these two small caches are that state.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nexthop._toolset import ToolDef
from nexthop._trajectory import ToolCall, Usage
from nexthop.models._llama_prompt import build_reply_schema, parse_reply
from nexthop.models._model import ModelResponse

__all__ = ["ReplyMemory", "ReplySchemas"]


class ReplyMemory:
    """Turns reply texts into actions, keeping each one's exact text by its call id.

    The next prompt repeats a past reply byte for byte (`build_messages` looks it up
    here), so the tokens already in a KV cache, llama.cpp's in process or a server's,
    still match. Oldest texts are dropped first past ``limit``; a dropped step is
    re-rendered canonically, which only costs a cache miss.

    Args:
        prefix: Starts every call id made here (``l`` embedded, ``j`` JSON actions).
        limit: Reply texts kept (a few KB each at most).
        who: Names the model in errors, e.g. ``local model``.
    """

    def __init__(self, prefix: str, limit: int, who: str) -> None:
        self.prefix, self.limit, self.who = prefix, limit, who
        self._ids = itertools.count(1)
        self._texts: dict[str, str] = {}

    @property
    def texts(self) -> Mapping[str, str]:
        """Exact reply text by the id of the call it made."""
        return self._texts

    def action(self, text: str, tools: Sequence[ToolDef], usage: Usage) -> ModelResponse:
        """The next action in ``text``, remembered for replay.

        Raises:
            ModelError: ``text`` is not a reply under the schema (see `parse_reply`).
        """
        thought, call = parse_reply(text, tools, who=self.who)
        if call is None:
            return ModelResponse(thought=thought, usage=usage)
        tool_call = ToolCall(id=f"{self.prefix}{next(self._ids)}", name=call[0], arguments=call[1])
        if len(self._texts) >= self.limit:
            self._texts.pop(next(iter(self._texts)))
        self._texts[tool_call.id] = text
        return ModelResponse(thought=thought, tool_calls=(tool_call,), usage=usage)


class ReplySchemas:
    """Reply schemas, cached per tool list: building one is pure, and the offer rarely changes between steps.

    Args:
        check: Raises for a branch the consumer's grammar converter cannot take (see
            `build_reply_schema`); None when the server converts the schema itself.
    """

    def __init__(self, check: Callable[[dict[str, Any]], object] | None = None) -> None:
        self.check = check
        self._cache: dict[tuple[str, ...], dict[str, Any]] = {}

    def __call__(
        self, tools: Sequence[ToolDef], thought: str | None = None, avoid: str | None = None
    ) -> dict[str, Any]:
        """The schema for ``tools``; with ``thought`` fixed or an opening to ``avoid``, built fresh and not kept.

        See `build_reply_schema` for ``thought`` and ``avoid``.
        """
        if thought is not None or avoid is not None:
            return build_reply_schema(tools, check=self.check, thought=thought, avoid=avoid)
        key = tuple(t.model_dump_json() for t in tools)
        if key not in self._cache:
            self._cache[key] = build_reply_schema(tools, check=self.check)
        return self._cache[key]
