"""Read first: a write is held back once while a file the task names has not been touched.

Read step by step in the task benchmark (nexthop at 1856c98, all 22 tools), the writes
that failed multi-step tasks most often held data no call had produced: a backup of
``todo.md`` written as "This is a backup of todo.md." at step 1, an expenses total of
1234.56 stored without ``expenses.csv`` ever being read, rows of "John Doe" loaded in
place of ``people.csv``'s. The system prompt already says never to make up data that a
tool should produce; a 1.5B model writes first anyway.

So before a write (`is_write`) that carries content runs, this policy looks for file names
in the task (``name.ext``) that the run has not yet used: not in the arguments of any
call that succeeded (a read of it, a write of it, a move of it), and not in this call's
own arguments (the file it writes or moves), as a name or a path: content that merely
mentions a file is no use of it. If one is left, the call is skipped once
(``CallVerdict(kind="skip")``): the model sees ``not run: the task names todo.md, which
this run has not read ...``. Each name is said once; the same call made again runs, so
a task whose other file is an output ("write a.txt and b.txt") costs one step.

Content is a string argument with a space or a line break in it: a file's text, an SQL
statement, an edit. A bare path is not, so a folder made or a file moved before anything
was read is left alone.

Names that only appeared in a listing do not count as used: a listing shows a file
exists, not what it holds.

Records: the host's ``PolicyRecord(policy="read_first", event="skipped", data={"tool", "reason"})``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from nexthop._toolset import FINISH_TOOL, ToolDef, is_write
from nexthop._trajectory import Observation, ToolCall
from nexthop.policies._base import ALLOW, GO_ON, CallVerdict, RunPolicy, RunView, Verdict
from nexthop.policies._transient import argument_strings, classify

__all__ = ["ReadFirst"]

# A file name as people write one in a task: a word, a dot, an extension of 2-5 letters
# (digits after the first): notes.txt, orders.csv, todo.bak.md, data.json; not "e.g." or "v1.2".
_FILE = re.compile(r"(?<![\w.\-/])[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z][A-Za-z0-9]{1,4}\b")
_REASON = (
    "the task names {names}, which this run has not read yet, so what this call writes cannot have come from "
    "{them}. Read {them} first and use what you read; never make up data. If {names} {are} only an output "
    "of the task, make this same call again."
)


class ReadFirst(RunPolicy):
    """Skips a write once while a file the task names is unused; see the module docstring."""

    name = "read_first"

    def __init__(self) -> None:
        self._used: set[str] = set()  # task file names found in the arguments of a call that succeeded
        self._said: set[str] = set()  # names already given as a reason: never twice

    def check_call(self, view: RunView, call: ToolCall, tool: ToolDef) -> CallVerdict:
        """Skip a write while a task file is unused, once per file."""
        if call.name == FINISH_TOOL.name or not is_write(tool) or not _carries_content(call):
            return ALLOW
        named = task_files(view.trajectory.task)
        unread = sorted(n for n in named - self._used - self._said if not _mentions(call, n))
        if not unread:
            return ALLOW
        self._said.update(unread)
        names = " and ".join(unread)
        one = len(unread) == 1
        reason = _REASON.format(names=names, them="it" if one else "them", are="is" if one else "are")
        return CallVerdict(kind="skip", reason=reason)

    def after_step(self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation]) -> Verdict:
        named = task_files(view.trajectory.task)
        for call, obs in zip(calls, observations, strict=False):
            if classify(obs) == "ok":
                self._used.update(n for n in named if _mentions(call, n))
        return GO_ON


def task_files(task: str) -> frozenset[str]:
    """The file names a task mentions (``name.ext``), e.g. ``orders.csv`` and ``totals.csv``."""
    return frozenset(_FILE.findall(task))


def _carries_content(call: ToolCall) -> bool:
    """Whether an argument is text rather than a name or a path: it has a space or a line break."""
    return any(re.search(r"\s", text) for text in argument_strings(call.arguments))


def _mentions(call: ToolCall, name: str) -> bool:
    """Whether a name or path in the call's arguments holds ``name``; content that merely mentions it does not count.

    "This is a backup of todo.md." is what a backup made without reading ``todo.md`` held.
    """
    return any(name in text and not re.search(r"\s", text) for text in argument_strings(call.arguments))
