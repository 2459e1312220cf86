"""Read first: a write is held back once while the first file the task names has not been used.

Read step by step in the task benchmark (nexthop at 1856c98, all 22 tools), the writes
that failed multi-step tasks most often held data no call had produced: a backup of
``todo.md`` written as "This is a backup of todo.md." at step 1, an expenses total of
1234.56 stored without ``expenses.csv`` ever being read, rows of "John Doe" loaded in
place of ``people.csv``'s. The system prompt already says never to make up data that a
tool should produce; a 1.5B model writes first anyway.

So the first write (`is_write`) that carries content is skipped once
(``CallVerdict(kind="skip")``) when the first file the task names (``name.ext``) has not
been used yet: it is in the arguments of no call that succeeded (a read of it, a write of
it, a move of it) and not among this call's own names and paths (the file it writes).
The model sees ``not run: the task names todo.md, which this run has not read yet ...``;
the same call made again runs. Only the first file counts, because tasks name their
input before their output ("Back up todo.md as todo.bak.md", "Load people.csv into ...",
"Join part1.txt and part2.txt into full.txt"): at 34c30af, which checked every file
named, the backup's output ``todo.bak.md`` was taken for an unread input, and the model
tried to read it until it gave up.

Content is a string argument with a space or a line break in it: a file's text, an SQL
statement, an edit. A bare path is not, so a folder made or a file moved before anything
was read is left alone.

Names that only appeared in a listing do not count as used: a listing shows a file
exists, not what it holds.

Off by default (``read_first: true`` turns it on): on the task benchmark it fired in 5
of 44 runs and none of them passed with it (`docs/policies.md`).

Records: the host's ``PolicyRecord(policy="read_first", event="skipped", data={"tool", "reason"})``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from nexthop._toolset import FINISH_TOOL, ToolDef, is_write
from nexthop._trajectory import Observation, ToolCall
from nexthop.policies._base import ALLOW, GO_ON, CallVerdict, RunPolicy, RunView, Verdict
from nexthop.policies._transient import argument_strings, classify, is_content

__all__ = ["ReadFirst"]

# A file name as people write one in a task: a word, a dot, an extension of 2-5 letters
# (digits after the first): notes.txt, orders.csv, todo.bak.md, data.json; not "e.g." or "v1.2".
_FILE = re.compile(r"(?<![\w.\-/])[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z][A-Za-z0-9]{1,4}\b")
_REASON = (
    "the task names {name}, which this run has not read yet, so what this call writes cannot have come from "
    "it. Read it first and use what you read; never make up data. If {name} is only an output of the task, "
    "make this same call again."
)


class ReadFirst(RunPolicy):
    """Skips the first write with content once while the task's first file is unused; see the module docstring."""

    name = "read_first"

    def __init__(self) -> None:
        self._done = False  # the first file was used, or already named once

    def check_call(self, view: RunView, call: ToolCall, tool: ToolDef) -> CallVerdict:
        """Skip the first write with content made while the task's first file is unused; once a run."""
        if self._done or call.name == FINISH_TOOL.name or not is_write(tool) or not _carries_content(call):
            return ALLOW
        first = first_file(view.trajectory.task)
        if first is None or _mentions(call, first):
            return ALLOW
        self._done = True
        return CallVerdict(kind="skip", reason=_REASON.format(name=first))

    def after_step(self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation]) -> Verdict:
        if self._done:
            return GO_ON
        first = first_file(view.trajectory.task)
        if first is not None and any(
            classify(obs) == "ok" and _mentions(call, first) for call, obs in zip(calls, observations, strict=False)
        ):
            self._done = True
        return GO_ON


def first_file(task: str) -> str | None:
    """The first file name a task mentions (``name.ext``): ``orders.csv`` in "Read orders.csv, ... write totals.csv"."""
    found = _FILE.search(task)
    return found.group(0) if found else None


def _carries_content(call: ToolCall) -> bool:
    """Whether an argument is text rather than a name or a path: it has a space or a line break."""
    return any(is_content(text) for text in argument_strings(call.arguments))


def _mentions(call: ToolCall, name: str) -> bool:
    """Whether a name or path in the call's arguments holds ``name``; content that merely mentions it does not count.

    "This is a backup of todo.md." is what a backup made without reading ``todo.md`` held.
    """
    return any(name in text and not is_content(text) for text in argument_strings(call.arguments))
