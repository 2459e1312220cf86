"""Offline relevance of tools to a text: BM25 over each tool's name, description and parameters.

BM25 (Robertson & Zaragoza 2009, via ``bm25s``, with an English stemmer) needs no model
and no network. Tool narrowing ranks tools against the task and each step's thought; the
embedded model checks that the tool it picked fits the thought it wrote.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast

from nexthop._toolset import ToolDef

__all__ = ["ToolRanker", "server_of"]

_SPLIT = re.compile(r"[_\-.]+|(?<=[a-z])(?=[A-Z])")


class ToolRanker:
    """A BM25 index over one set of tool definitions.

    Args:
        tools: The tools to rank, in the servers' order.
    """

    def __init__(self, tools: Sequence[ToolDef]) -> None:
        import bm25s  # pyright: ignore[reportMissingTypeStubs] - numpy-backed: loaded only when ranking
        import Stemmer  # pyright: ignore[reportMissingTypeStubs]

        self.key = tuple((t.name, t.description) for t in tools)
        self.names = [t.name for t in tools]
        self._bm25s: Any = bm25s
        self._stem: Any = Stemmer.Stemmer("english").stemWords  # pyright: ignore[reportUnknownMemberType]
        self._retriever: Any = bm25s.BM25()
        self._retriever.index(self._tokenize([_document(t) for t in tools]), show_progress=False)

    def _tokenize(self, texts: list[str], *, ids: bool = True) -> Any:
        return self._bm25s.tokenize(texts, stopwords="en", stemmer=self._stem, return_ids=ids, show_progress=False)

    def scores(self, query: str) -> dict[str, float]:
        """Every tool's BM25 score for ``query`` (0.0 for no shared word), in ranking order, best first."""
        if not query.strip():
            return dict.fromkeys(self.names, 0.0)
        tokens: list[list[str]] = self._tokenize([_words(query)], ids=False)
        if not tokens[0]:
            return dict.fromkeys(self.names, 0.0)
        docs, scores = self._retriever.retrieve(tokens, k=len(self.names), show_progress=False)
        pairs = zip(cast("list[int]", docs[0].tolist()), cast("list[float]", scores[0].tolist()), strict=True)
        return {self.names[d]: s for d, s in pairs}

    def ranked(self, query: str) -> list[str]:
        """The names of the tools that share a word with ``query``, best first."""
        return [name for name, score in self.scores(query).items() if score > 0]


def server_of(name: str) -> str:
    """The server part of a namespaced tool name (``fs`` of ``fs__read_file``); "" for a host tool."""
    return name.split("__", 1)[0] if "__" in name else ""


def _words(text: str) -> str:
    # Tool names are identifiers (fs__read_text_file, listDirectory): split them into words.
    return " ".join(_SPLIT.split(text))


def _document(tool: ToolDef) -> str:
    properties: dict[str, Any] = tool.input_schema.get("properties") or {}
    remote = tool.name.split("__", 1)[-1]
    # The tool's own name counts twice: it is the densest statement of what the tool does.
    return " ".join([_words(remote), _words(remote), tool.description, _words(" ".join(properties))])
