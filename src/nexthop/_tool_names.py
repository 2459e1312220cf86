"""Checks on the tool names servers offer: the spec's rule, duplicates and look-alikes.

A tool's name is what the model calls and what a person approves, so a server can
attack through it: a name with invisible or bidi characters, escapes or markup; two
tools under one name (which definition is the model shown?); or a name that looks
like another one (``еcho`` with a Cyrillic ``е``, ``f1nish``). Three checks:

- `check_tool_name`: the spec's rule (SEP-986, as shipped in 2025-11-25: 1–128
  characters of ``A–Z a–z 0–9 _ - .``), using the MCP SDK's own validator;
- `screen_tools`: withholds tools with an invalid name and every tool whose name is
  offered twice, with a record for each; it holds whatever the policies;
- `confusable_with`: whether a name looks like one of a set of protected names, after
  Unicode TR39's confusable data (via the ``confusables`` package), NFKC and the removal
  of default-ignorable and control characters.

Names in records and messages go through `printable_name` (from nexthop/_sanitize.py,
re-exported here), so what a server put in a name never reaches a terminal or a model raw.
"""

from __future__ import annotations

import os
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Literal

import regex
from mcp.shared.tool_name_validation import validate_tool_name

from nexthop._sanitize import printable_name
from nexthop._toolset import ToolDef
from nexthop._trajectory import PolicyRecord

__all__ = [
    "SEPARATOR",
    "NameProblem",
    "check_tool_name",
    "confusable_with",
    "name_problems",
    "printable_name",
    "remote_name",
    "screen_tools",
]

SEPARATOR = "__"
"""Namespaced tool names are ``<server>__<tool>``; server names never contain it."""

NameProblem = Literal["duplicate", "invalid_name"]
"""Why a name is withheld whatever the policies: offered twice, or against the spec's rule."""

_NAME_LIMIT = 128  # the spec's longest tool name (characters)
# Default_Ignorable_Code_Point covers zero-width, bidi, variation selectors, tag characters
# and the Hangul fillers; Cc the escapes and newlines. Neither shows, so neither counts
# when comparing how names look.
_UNSEEN = regex.compile(r"[\p{Default_Ignorable_Code_Point}\p{Cc}]")


def check_tool_name(name: str) -> str | None:
    """Why ``name`` breaks the spec's tool-name rule, or None when it keeps it.

    Args:
        name: A server's own name for a tool (without the ``<server>__`` prefix).

    Returns:
        One line in ASCII (the offending characters escaped), e.g. ``invalid tool name
        (SEP-986): Tool name contains invalid characters: '\\u200b'``; None for a valid name.
        The SDK's warnings for valid names (a leading dash, say) are not failures.
    """
    # Checked every step, so remembered; a name past the limit is refused at once and not
    # kept, so a server cannot fill the cache with huge names.
    return _check(name) if len(name) <= _NAME_LIMIT else _reason(validate_tool_name(name).warnings)


@lru_cache(maxsize=4096)
def _check(name: str) -> str | None:
    result = validate_tool_name(name)
    return None if result.is_valid else _reason(result.warnings)


def _reason(warnings: list[str]) -> str:
    # The SDK quotes each bad character with repr(), which escapes the unprintable ones;
    # backslashreplace escapes the printable non-ASCII rest (a Cyrillic letter, say).
    reason = "; ".join(warnings).encode("ascii", "backslashreplace").decode("ascii")
    return f"invalid tool name (SEP-986): {reason}"


def remote_name(tool: ToolDef) -> str:
    """The server's own name for an MCP tool: ``remote_name``, else the part after ``<server>__``."""
    if tool.remote_name is not None:
        return tool.remote_name
    prefix = f"{tool.server}{SEPARATOR}"
    return tool.name.removeprefix(prefix) if tool.server is not None else tool.name


def name_problems(tools: Sequence[ToolDef]) -> dict[str, tuple[NameProblem, str]]:
    """The names among ``tools`` that must be withheld, with why.

    A listing with two tools of one name is malformed: neither definition can be trusted
    to be the one the model is shown, so every tool of that name is withheld. The host's
    own Python tools are not name-checked (the host chose their names) but count for
    duplicates.

    Args:
        tools: The tools on offer.

    Returns:
        Name to (``duplicate`` or ``invalid_name``, one ASCII line for people).
    """
    counts = Counter(t.name for t in tools)
    problems: dict[str, tuple[NameProblem, str]] = {}
    for t in tools:
        if counts[t.name] > 1:
            problems[t.name] = ("duplicate", f"offered {counts[t.name]} times under one name; all are withheld")
        elif t.server is not None and (problem := check_tool_name(remote_name(t))) is not None:
            problems[t.name] = ("invalid_name", problem)
    return problems


def screen_tools(tools: Sequence[ToolDef], policy: str = "tool_names") -> tuple[list[ToolDef], list[PolicyRecord]]:
    """Withhold the tools `name_problems` finds, and say so; call it wherever tools enter.

    Args:
        tools: The tools on offer, in order.
        policy: The name written on the records.

    Returns:
        The tools to offer, in order, and one record per withheld name:
        ``PolicyRecord(policy, event="blocked", data={"tool": printable_name(name),
        "server": ..., "reason": "invalid_name" | "duplicate", "detail": ...})``.
    """
    problems = name_problems(tools)
    servers = {t.name: t.server for t in tools}
    records = [
        PolicyRecord(
            policy=policy,
            event="blocked",
            data={"tool": printable_name(name), "server": servers[name], "reason": reason, "detail": detail},
        )
        for name, (reason, detail) in problems.items()
    ]
    return [t for t in tools if t.name not in problems], records


def confusable_with(name: str, protected: Iterable[str]) -> str | None:
    """The first protected name that ``name`` could be mistaken for, or None.

    Two names are confusable when, with default-ignorable and control characters
    removed, NFKC-normalised and case-folded, they look alike by Unicode's confusable
    data (UTS #39, via the ``confusables`` package, which also treats ``rn``/``m`` and
    ``l``/``1``/``I`` alike). Identical names count: a tool named ``finish`` on a server
    impersonates the host's own ``finish``.

    Args:
        name: The name to check.
        protected: Names it must not look like, e.g. ``finish`` and pinned names.

    Returns:
        The protected name it looks like, as given.
    """
    key = _look(name)
    for other in protected:
        if _alike(key, _look(other)):
            return other
    return None


@lru_cache(maxsize=4096)
def _look(name: str) -> str:
    return unicodedata.normalize("NFKC", _UNSEEN.sub("", name)).casefold()


@lru_cache(maxsize=8192)
def _alike(a: str, b: str) -> bool:
    if a == b:
        return True
    # The package's check is quadratic in the length it compares (1-2 ms for two 40-character
    # names), so the part both names share at either end, which cannot differ, is cut first.
    head = len(os.path.commonprefix([a, b]))
    tail = len(os.path.commonprefix([a[head:][::-1], b[head:][::-1]]))
    a, b = a[head : len(a) - tail], b[head : len(b) - tail]
    if not a or not b:  # one is the other with characters added: different, not alike
        return False
    # Imported on first use: the package reads its 2.7 MB table at import (~0.1 s).
    import confusables  # pyright: ignore[reportMissingTypeStubs]

    alike: object = confusables.is_confusable(a, b)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    return alike is True
