"""Tool pinning: withhold a server's tool that was not trusted in the form offered now.

A "rug pull" is a server that offers a harmless tool, is trusted, and later changes
the tool's description or schema (e.g. to carry hidden instructions), or adds a tool
that imitates one. `ToolPinning` asks the pin file (`PinStore`, in ``_pin_store``)
which tools are trusted; the others are not offered to the model, and the step records
why, until a person approves them (``nexthop tools --approve SERVER__TOOL``). The
model is offered descriptions cleaned by `clean_text`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from nexthop._sanitize import clean_text
from nexthop._tool_names import name_problems, printable_name
from nexthop._toolset import ToolDef
from nexthop._trajectory import PolicyRecord
from nexthop.policies._base import RunPolicy, RunView, ToolOffer
from nexthop.policies._pin_store import (
    Block,
    BlockReason,
    PinStore,
    canonical,
    default_pin_file,
    diff,
    fingerprint,
)

__all__ = [
    "DESCRIPTION_LIMIT",
    "Block",
    "BlockReason",
    "PinStore",
    "ToolPinning",
    "canonical",
    "default_pin_file",
    "diff",
    "fingerprint",
]

DESCRIPTION_LIMIT = 2000
"""Longest tool description offered to the model (characters)."""


class ToolPinning(RunPolicy):
    """Withholds the MCP tools `PinStore.check` does not trust, with a record on the step.

    Each step, `filter_tools` checks the tools it has not seen this run (connections
    hand out the same `ToolDef` objects until a server re-lists, so a step costs no
    I/O or hashing), withholds every tool whose name is offered twice, and offers
    descriptions cleaned of escapes and invisible characters (capped at
    `DESCRIPTION_LIMIT`). Each block is recorded once per run and definition:
    ``PolicyRecord(policy="pinning", event="blocked", data={"tool": printable name,
    "server": ..., "reason": BlockReason, "detail": one line, "diff": DIFF})``. A call
    of a withheld tool is answered like any unknown tool.

    Args:
        store: The pin file.
    """

    name = "pinning"

    def __init__(self, store: PinStore) -> None:
        self.store = store
        self._reported: set[tuple[str, str, str]] = set()
        # name -> (the object last checked, what is offered for it or None, why it is withheld)
        self._seen: dict[str, tuple[ToolDef, ToolDef | None, Block | None]] = {}

    def filter_tools(self, view: RunView, tools: Sequence[ToolDef]) -> ToolOffer:
        counts = Counter(t.name for t in tools)
        fresh = [
            t for t in tools if counts[t.name] == 1 and (t.name not in self._seen or self._seen[t.name][0] is not t)
        ]
        if fresh:
            _, blocked = self.store.check(fresh)
            for t in fresh:
                block = blocked.get(t.name)
                self._seen[t.name] = (t, _offered(t) if block is None else None, block)
        duplicates = name_problems([t for t in tools if counts[t.name] > 1])
        offered: list[ToolDef] = []
        records: list[PolicyRecord] = []
        for t in tools:
            if t.name in duplicates:
                reason, detail = duplicates[t.name]
                records += self._report(t, Block(reason=reason, detail=detail, approvable=False))
                continue
            _, shown, block = self._seen[t.name]
            if shown is not None:
                offered.append(shown)
            elif block is not None:
                records += self._report(t, block)
        return ToolOffer(tools=tuple(offered), records=tuple(records))

    def _report(self, tool: ToolDef, block: Block) -> list[PolicyRecord]:
        key = (tool.name, block.reason, block.diff)
        if key in self._reported:
            return []
        self._reported.add(key)
        data = {
            "tool": printable_name(tool.name),
            "server": tool.server,
            "reason": block.reason,
            "detail": block.detail,
            "diff": block.diff,
        }
        return [PolicyRecord(policy=self.name, event="blocked", data=data)]


def _offered(tool: ToolDef) -> ToolDef:
    """What the model is shown: the host's own tools as written, servers' with cleaned descriptions."""
    if tool.server is None:
        return tool
    # The cleaned copy is made once per definition, keeping its identity across steps
    # (the argument validator caches on it).
    return tool.model_copy(update={"description": clean_text(tool.description, DESCRIPTION_LIMIT)})
