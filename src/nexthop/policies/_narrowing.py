"""Tool narrowing: when many tools are on offer, show the model only those relevant to the task.

A small model given 20 or 60 tools picks wrong ones and fills in arguments nobody asked
for; every model pays for the definitions in prompt tokens. Past a threshold, this
policy ranks the tools offline with BM25 (Robertson & Zaragoza 2009, via ``bm25s``)
against the task, then against each step's thought, and offers the best few.

Past the count, a model that can tell what share of its context window the tool list
takes (`RunView.tool_share`, from `Model.tool_list_share`: the embedded model) may keep
the whole set while that share is at most ``max_share`` (opt-in). Measured on the task
benchmark with the embedded 1.5B model (8,192-token window): listing all 22 tools of the
filesystem and SQLite servers (16% of the window) passed 20 of 44 tasks against 16
narrowed, and all 67 of ``--tools many`` (50%) passed 8 of 12 one-step tasks against 5;
retrieval misses what a task implies but does not say ("add a product" needs
``write_query``). But the README's own task fails with the whole 22-tool list, so the
share is off by default.

A tool that a policy's hint names (the look-first hint names tools that list or
describe) joins the offer at the next step, so the model can take the advice.

The offer only ever grows during a run (tools already offered, and any tool the model
called, stay), and keeps the servers' order, so an API model's tools array changes by
insertion only and its prompt cache mostly survives. Narrowing follows the MCP client
best-practice advice to keep what the model sees small; retrieval per step is the
alternative it names to a ``search_tools`` meta-tool, and needs no extra model turn.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence, Set

from nexthop._tool_rank import ToolRanker, server_of
from nexthop._toolset import ToolDef
from nexthop._trajectory import PolicyRecord
from nexthop.policies._base import RunPolicy, RunView, ToolOffer

__all__ = ["ToolNarrowing"]

_DEPRECATED = re.compile(r"\bdeprecated\b", re.IGNORECASE)
_WORDS = re.compile(r"[\w-]+")
_EVERYDAY_SLOTS = 2
"""Most slots of the first offer kept for the everyday tools (listed first) of the servers the task touches."""


class ToolNarrowing(RunPolicy):
    """Offer at most ``top_k`` tools, chosen by relevance, once more than ``threshold`` are on offer.

    Args:
        threshold: Narrow only when more tools than this are on offer (``finish`` aside).
        top_k: Tools chosen for the task at the first step; each later step may add up
            to ``per_step`` more for its thought, until the offer holds ``threshold``.
        per_step: Tools a step's thought may add.
        max_share: Past ``threshold``, still offer every tool while listing them takes at
            most this share of the model's context window (`RunView.tool_share`); None,
            or a model that cannot tell, narrows on the count alone.

    Raises:
        ValueError: ``top_k`` or ``threshold`` is below 1, ``top_k`` exceeds
            ``threshold``, or ``max_share`` is not above 0.
    """

    name = "narrowing"

    def __init__(self, threshold: int = 12, top_k: int = 8, per_step: int = 2, max_share: float | None = None) -> None:
        if top_k < 1 or threshold < 1 or top_k > threshold:
            raise ValueError(f"need 1 <= top_k <= threshold, got top_k={top_k}, threshold={threshold}")
        if max_share is not None and max_share <= 0:
            raise ValueError(f"need max_share > 0, got {max_share}")
        self.threshold = threshold
        self.top_k = top_k
        self.per_step = per_step
        self.max_share = max_share
        self._chosen: set[str] = set()
        self._index: _Index | None = None
        self._queried_step = 0

    def filter_tools(self, view: RunView, tools: Sequence[ToolDef]) -> ToolOffer:
        """Offer every tool under the threshold or within the share; past both, the chosen ones, in order."""
        if len(tools) <= self.threshold or self._fits(view):
            return ToolOffer(tools=tuple(tools))
        index = self._index_for(tools)
        before = set(self._chosen)
        self._chosen |= {c.name for s in view.trajectory.steps for c in s.tool_calls}
        if not self._chosen:
            self._chosen |= set(index.top(_task_query(view), self.top_k, fill=True))
        elif self._queried_step < view.step_index and view.trajectory.steps:
            room = max(0, self.threshold - len(self._chosen))
            last = view.trajectory.steps[-1]
            self._chosen |= set(index.top(last.thought, min(self.per_step, room), exclude=self._chosen))
            # A policy's hint that names a tool (look first: "with fs__list_directory") is advice
            # the model must be able to take, room or not.
            self._chosen |= set(_WORDS.findall(last.hint)) & {t.name for t in tools}
        self._queried_step = view.step_index
        offered = tuple(t for t in tools if t.name in self._chosen)
        added = sorted(self._chosen - before)
        if not added:
            return ToolOffer(tools=offered)
        record = PolicyRecord(
            policy=self.name, event="offered", data={"offered": len(offered), "of": len(tools), "added": added}
        )
        return ToolOffer(tools=offered, records=(record,))

    def _fits(self, view: RunView) -> bool:
        # Once narrowed, stay narrowed: an offer that swings between all and a few would
        # undo "the offer only grows" and the prompt cache with it.
        share = view.tool_share
        return self.max_share is not None and share is not None and share <= self.max_share and not self._chosen

    def _index_for(self, tools: Sequence[ToolDef]) -> _Index:
        key = tuple((t.name, t.description) for t in tools)
        if self._index is None or self._index.key != key:
            self._index = _Index(tools)
        return self._index

    def start(self) -> ToolNarrowing:
        """Fresh state for one run (the settings are shared; the index is rebuilt lazily)."""
        return ToolNarrowing(self.threshold, self.top_k, self.per_step, self.max_share)


def _task_query(view: RunView) -> str:
    trajectory = view.trajectory
    return f"{trajectory.task}\n{trajectory.context}"


class _Index:
    """A BM25 index over one set of tool definitions."""

    def __init__(self, tools: Sequence[ToolDef]) -> None:
        self._ranker = ToolRanker(tools)
        self.key = self._ranker.key
        self.names = self._ranker.names
        # Servers keep deprecated aliases first in their listing (the filesystem server's read_file).
        self.deprecated = frozenset(t.name for t in tools if _DEPRECATED.search(t.description))

    def top(self, query: str, k: int, exclude: Set[str] = frozenset(), *, fill: bool = False) -> list[str]:
        """The names of the ``k`` best tools for ``query`` that score above zero, best first.

        With ``fill``, fewer than ``k`` hits are topped up with the other tools of the
        hits' servers, in each server's own order: a task says "summarise notes.txt", not
        "read it", so the server that can write the summary is likely the one that reads.
        Then, if slots are left, with the other servers' tools the same way: "load
        orders.csv into a table" names only the database, yet the file must be read.

        With ``fill``, a quarter of the slots (at most `_EVERYDAY_SLOTS`) are kept for the
        everyday tools of the servers the task touches, before the lower-ranked hits: a task
        that says "fill the table with the cities listed in cities.txt" ranks listing tools
        high on "listed" and never names reading (measured on the task benchmark: the model
        then called ``list_directory`` on the file until it was stopped).
        """
        ranked = [n for n in self._ranker.ranked(query) if n not in exclude]
        if not fill:
            return ranked[:k]
        reserve = min(_EVERYDAY_SLOTS, k // 4)
        hits = ranked[: k - reserve]
        hits += self._everyday(hits, reserve, exclude)
        hits += [n for n in ranked if n not in hits][: k - len(hits)]
        if len(hits) < k:
            mine = list(dict.fromkeys(server_of(n) for n in hits))
            others = [s for s in dict.fromkeys(server_of(n) for n in self.names) if s not in mine]
            for servers in (mine, others):
                queues = [
                    [n for n in self.names if server_of(n) == s and n not in hits and n not in exclude] for s in servers
                ]
                # Round-robin over the servers, each in its own listing order (servers list
                # their everyday tools first), so no single server takes every free slot.
                slots = itertools.chain.from_iterable(itertools.zip_longest(*queues))
                hits += itertools.islice((n for n in slots if n is not None), k - len(hits))
        return hits

    def _everyday(self, hits: Sequence[str], slots: int, exclude: Set[str]) -> list[str]:
        """Up to ``slots`` tools servers list first, round-robin over the hits' servers; deprecated ones skipped."""
        servers = list(dict.fromkeys(server_of(n) for n in hits))
        queues = [
            [
                n
                for n in self.names
                if server_of(n) == s and n not in hits and n not in exclude and n not in self.deprecated
            ]
            for s in servers
        ]
        slots_in_order = itertools.chain.from_iterable(itertools.zip_longest(*queues))
        return list(itertools.islice((n for n in slots_in_order if n is not None), slots))
