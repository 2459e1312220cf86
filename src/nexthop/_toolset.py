"""The toolbox's shared shapes: a tool definition, the `Toolset` protocol, and ``finish``.

MCP connections (clients/) and Python functions (host/) both implement `Toolset`
(``list_tools()`` and ``call_tool(call)``), so the loop treats them alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from nexthop._trajectory import Observation, ToolCall

__all__ = ["CREATE_TOOL_NAME", "FINISH_TOOL", "ToolDef", "Toolset", "finish_outcome", "is_write", "name_words"]


class ToolDef(BaseModel):
    """A tool as offered to the model.

    Attributes:
        name: The name the model calls it by; MCP tools are ``<server>__<tool>``.
        description: What it does, for the model.
        input_schema: JSON Schema of its arguments (an object schema).
        output_schema: JSON Schema of its structured result, if declared.
        annotations: MCP tool annotations (``readOnlyHint`` ...), if any.
        server: The MCP server it comes from; None for Python tools and ``finish``.
        remote_name: The tool's own name on its server (without the prefix).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["tool_def"] = "tool_def"
    name: str
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    output_schema: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None
    server: str | None = None
    remote_name: str | None = None


CREATE_TOOL_NAME = "create_tool"
"""The host's tool for writing a new tool (`host/_synthesis.py`); named here so policies can tell it apart."""

FINISH_TOOL = ToolDef(
    name="finish",
    description=(
        "Call this once the task is done, with the final answer or a summary of what was done. It ends the run."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "result": {"type": "string", "description": "The final answer for the user."},
            "outcome": {
                "type": "string",
                "enum": ["done", "failed"],
                "description": "done if every part of the task is done, failed if any part is not.",
            },
        },
        "required": ["result"],
    },
)
"""The injected ``finish`` tool (after agentlib): calling it ends the run with its ``result``.

Its ``outcome`` says whether the task was done, after OpenHands' ``task_completed``
argument of its finish action: a model that reports failure through ``finish`` ends the
run ``gave_up``, not ``completed``, so a script that runs nexthop is not told a failed
task succeeded. ``result`` comes before ``outcome`` so that a model states what
happened before it judges it (see `finish_outcome`).

``outcome`` is optional. The embedded model is shown required arguments only, so its
prompt and grammar are as they were before the argument: measured at fa7a2ba with
``outcome`` required, it never once chose ``failed`` in 44 benchmark runs, and the
changed prompt turned the README's task from 16/16 checks to 13/16 (made-up totals)."""


def finish_outcome(arguments: Mapping[str, Any]) -> Literal["done", "failed"]:
    """How a ``finish`` call judged the task: ``failed`` only when its ``outcome`` says so.

    Args:
        arguments: The ``finish`` call's arguments, as the model sent them.

    Returns:
        ``"failed"`` when ``outcome`` is the string ``failed`` (any case, spaces
        ignored); ``"done"`` otherwise, so that a model which leaves ``outcome`` out
        (the embedded model, which is not shown it; a model or script that omits it) keeps
        the meaning ``finish`` had before the argument existed.
    """
    outcome = arguments.get("outcome")
    return "failed" if isinstance(outcome, str) and outcome.strip().lower() == "failed" else "done"


@runtime_checkable
class Toolset(Protocol):
    """Anything that offers tools: an MCP connection, a group of them, Python functions."""

    async def list_tools(self) -> list[ToolDef]:
        """Return the tools on offer now."""
        ...

    async def call_tool(self, call: ToolCall) -> Observation:
        """Run one call. A failure is returned as an `Observation` with ``is_error=True``, never raised."""
        ...


_WRITE_VERBS = frozenset(
    "write edit create update insert delete remove move rename append set put drop alter cancel add "
    "patch save upload send modify replace mkdir make".split()
)
_NAME_WORDS = re.compile(r"[_\-.\s]+|(?<=[a-z])(?=[A-Z])")


def is_write(tool: ToolDef) -> bool:
    """Whether a tool changes state: its annotations lack ``readOnlyHint: true``, or, with none, its name says so.

    With MCP annotations, the server's own claim decides (a tool not marked read-only is
    taken to write). Without any, the tool's own name (``remote_name`` for MCP tools)
    decides: a name with a verb such as write, edit, create, update, insert, delete,
    move or cancel is a write; anything else (read, list, get, search, query) is not.
    Kept this simple on purpose: it decides only what counts as progress (the policies
    that judge a run's work) and when the embedded model's thought must move on.
    """
    if tool.annotations is not None:
        return tool.annotations.get("readOnlyHint") is not True
    return bool(name_words(tool) & _WRITE_VERBS)


def name_words(tool: ToolDef) -> frozenset[str]:
    """The words of a tool's own name (``remote_name`` for MCP tools), lower-cased: ``list_tables`` -> list, tables."""
    return frozenset(word.lower() for word in _NAME_WORDS.split(tool.remote_name or tool.name) if word)
