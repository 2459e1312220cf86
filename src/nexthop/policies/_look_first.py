"""Look first: after a call fails because what it names does not exist, the model is told to look around.

Read step by step in the task benchmark (nexthop at 31c02b9, all 22 tools), a small model
meets "not found" with a guess: it creates what was missing (a ``city`` table, when
``cities`` held the rows; a new ``shopping_list.md``, when the list was
``shopping_list.txt``), or tries the same name through a sibling tool, or writes made-up
content. In 5 of the 10 recovery runs the run had a tool that would have shown the
right name (``list_tables``, ``list_directory``, ``describe_table``) and never called it.

This policy reads each failure with `names_missing` (``ENOENT``, ``no such table``,
``not found``, ``does not exist``, ``could not find``: the words servers use, not one
server's) and answers the step with a hint: look at what does exist before trying
again or creating anything, naming up to three of the tools on offer that list,
describe or search (read-only tools of the failing tool's server first). Each distinct
failure is hinted once; the model then decides: a folder that really is missing is
still created, one step later.

It sees the tools before narrowing does (pinning's and the skips' withholding aside),
and narrowing offers at the next step every tool a hint names, so the model can take
the advice even when the task alone did not bring those tools in.

Records: ``hint`` (``{"tool", "named"}``) on the step it answers.
"""

from __future__ import annotations

from collections.abc import Sequence

from nexthop._toolset import FINISH_TOOL, ToolDef
from nexthop._trajectory import Observation, PolicyRecord, ToolCall
from nexthop.policies._base import GO_ON, RunPolicy, RunView, ToolOffer, Verdict
from nexthop.policies._transient import is_write, name_words, names_missing

__all__ = ["LookFirst"]

_HINT = (
    "{tool} failed because something it names does not exist. Before you try again or create it, look at what "
    "does exist{named}: the task may name it slightly differently, and the exact name you find is the one to use."
)
_LOOK_WORDS = frozenset({"list", "describe", "search", "find", "tree", "schema", "info", "tables"})
_MAX_NAMED = 3


class LookFirst(RunPolicy):
    """Hints, once per distinct failure, to look at what exists after a "not found"; see the module docstring."""

    name = "look_first"

    def __init__(self) -> None:
        self._offered: tuple[ToolDef, ...] = ()
        self._hinted: set[tuple[str, str]] = set()

    def filter_tools(self, view: RunView, tools: Sequence[ToolDef]) -> ToolOffer:
        """Offer ``tools`` unchanged; note them, for the hint to name tools the run may call."""
        self._offered = tuple(tools)
        return ToolOffer(tools=self._offered)

    def after_step(self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation]) -> Verdict:
        for call, obs in zip(calls, observations, strict=False):
            if call.name == FINISH_TOOL.name or not names_missing(obs) or (call.name, obs.content) in self._hinted:
                continue
            self._hinted.add((call.name, obs.content))
            named = self._lookers(call.name)
            return Verdict(
                kind="hint",
                policy=self.name,
                detail=f"{call.name} named something that does not exist",
                hint=_HINT.format(tool=call.name, named=f" (with {_or(named)})" if named else ""),
                records=(PolicyRecord(policy=self.name, event="hint", data={"tool": call.name, "named": named}),),
            )
        return GO_ON

    def _lookers(self, failed: str) -> list[str]:
        """Up to three read-only tools on offer that list, describe or search; the failed tool's server first."""
        server = next((t.server for t in self._offered if t.name == failed), None)
        lookers = [t for t in self._offered if t.name != failed and _looks(t)]
        lookers.sort(key=lambda t: t.server != server)  # stable: the servers' own order otherwise
        return [t.name for t in lookers[:_MAX_NAMED]]


def _looks(tool: ToolDef) -> bool:
    return not is_write(tool) and bool(name_words(tool) & _LOOK_WORDS)


def _or(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
