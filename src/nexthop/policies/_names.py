"""Tool-name check (always on): no tool reaches the model under a malformed or doubled name.

A tool whose server-given name breaks the spec's rule (SEP-986: 1–128 characters of
``A–Z a–z 0–9 _ - .``), e.g. one holding escapes, newlines, markup or invisible
characters, and every tool of a name offered twice, are withheld each step, whatever
the other policies (pinning may be off). See `nexthop._tool_names.name_problems`.
"""

from __future__ import annotations

from collections.abc import Sequence

from nexthop._tool_names import screen_tools
from nexthop._toolset import ToolDef
from nexthop.policies._base import RunPolicy, RunView, ToolOffer

__all__ = ["ToolNameCheck"]


class ToolNameCheck(RunPolicy):
    """Withholds tools with an invalid or doubled name; records each once per run.

    Records: ``PolicyRecord(policy="tool_names", event="blocked", data={"tool": printable
    name, "server": ..., "reason": "invalid_name" | "duplicate", "detail": one line})``.
    A call of a withheld tool is answered like any unknown tool.
    """

    name = "tool_names"

    def __init__(self) -> None:
        self._reported: set[tuple[str, str]] = set()

    def filter_tools(self, view: RunView, tools: Sequence[ToolDef]) -> ToolOffer:
        offered, records = screen_tools(tools, policy=self.name)
        fresh = [r for r in records if (r.data["tool"], r.data["reason"]) not in self._reported]
        self._reported.update((r.data["tool"], r.data["reason"]) for r in fresh)
        return ToolOffer(tools=tuple(offered), records=tuple(fresh))
