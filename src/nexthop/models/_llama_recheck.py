"""Does the tool the embedded model picked fit the thought it just wrote?

The embedded model writes its thought first ("Insert every row into the orders table."),
then picks a tool under the reply grammar. With a few dozen tools on offer, a 1.5B model
often writes the right thought and then picks a tool of another server that shares no
word with it (measured on the README's task over both servers' whole tool sets: it wrote
that thought, then called the filesystem's ``write_file`` on ``orders.csv``, destroying
the input). The thought is the better part of the reply, so the check keeps it and asks
once more, offering only the tools that fit it.

A pick counts as a misfit only when all hold:

- the tool may change something: it is not annotated ``readOnlyHint`` (MCP 2025-06-18,
  tool annotations). A read that does not fit costs one observation; a write that does
  not fit can destroy work, and reads are often right before the thought's own step
  ("load the cities into the table" first reads ``cities.txt``);
- no tool of its server shares a word with the thought (BM25 score 0, see
  `nexthop._tool_rank`), while a tool of another server does. Within one server a good
  pick often shares no word ("get the list of users" fits ``read_query``).

This is our own heuristic, not a published method; ``local?recheck=off`` turns it off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nexthop._tool_rank import ToolRanker, server_of
from nexthop._toolset import FINISH_TOOL, ToolDef
from nexthop.models._model import ModelResponse

__all__ = ["Recheck", "Rechecker", "misfit"]

MIN_TOOLS = 4
"""Fewer tools on offer than this: no check (the model sees them all at a glance)."""
ALTERNATIVES = 4
"""Most tools offered in the second ask, best fitting first."""


@dataclass(frozen=True)
class Recheck:
    """One second ask.

    Attributes:
        thought: The thought both asks share.
        chosen: The tool picked first (a misfit).
        offered: The tools offered in the second ask.
        picked: The tool picked in the second ask.
    """

    thought: str
    chosen: str
    offered: tuple[str, ...]
    picked: str


def misfit(thought: str, chosen: str, tools: Sequence[ToolDef], ranker: ToolRanker) -> list[ToolDef] | None:
    """The tools to offer again when ``chosen`` does not fit ``thought``, else None.

    Args:
        thought: The thought the model wrote before picking.
        chosen: The name of the tool it picked.
        tools: The tools that were on offer.
        ranker: A `ToolRanker` over ``tools``.

    Returns:
        Up to `ALTERNATIVES` tools that share words with the thought, in the offer's
        order; None when the pick fits, is read-only or ``finish``, or few tools are on offer.
    """
    picked = next((t for t in tools if t.name == chosen), None)
    if picked is None or chosen == FINISH_TOOL.name or len(tools) < MIN_TOOLS:
        return None
    if (picked.annotations or {}).get("readOnlyHint") is True:
        return None
    server = server_of(chosen)
    fitting = [name for name, score in ranker.scores(thought).items() if score > 0 and name != FINISH_TOOL.name]
    if not fitting or any(server_of(name) == server for name in fitting):
        return None
    keep = set(fitting[:ALTERNATIVES])
    return [t for t in tools if t.name in keep]


class Rechecker:
    """The recheck's state for one model: its ranker (rebuilt when the tools change) and its log.

    Shared by `LlamaCppModel` and `OpenAIModel`'s JSON actions, which ask again the same way.

    Args:
        enabled: False turns the check off (``recheck=off``).

    Attributes:
        rechecks: Each second ask made, oldest first.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.rechecks: list[Recheck] = []
        self._ranker: ToolRanker | None = None

    def misfit(self, response: ModelResponse, tools: Sequence[ToolDef]) -> list[ToolDef] | None:
        """The tools to offer in a second ask, or None when the pick fits its thought (see `misfit`)."""
        if not self.enabled or len(response.tool_calls) != 1:
            return None
        key = tuple((t.name, t.description) for t in tools)
        if self._ranker is None or self._ranker.key != key:
            self._ranker = ToolRanker(tools)
        return misfit(response.thought, response.tool_calls[0].name, tools, self._ranker)

    def record(self, first: ModelResponse, offered: Sequence[ToolDef], second: ModelResponse) -> ModelResponse:
        """Log a second ask; the result is ``second`` carrying both asks' usage."""
        chosen, picked = first.tool_calls[0].name, second.tool_calls[0].name
        self.rechecks.append(Recheck(first.thought, chosen, tuple(t.name for t in offered), picked))
        return second.model_copy(update={"usage": first.usage + second.usage})
