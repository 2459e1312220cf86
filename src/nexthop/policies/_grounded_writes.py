"""Grounded writes: a write whose words come from nowhere is held back once.

Read step by step in the task benchmark (nexthop at 1856c98, all 22 tools), the writes
that failed tasks most often held data that neither the task nor any tool result had
given the model: "This is the content of report.md." written to ``docs/report.md`` in
place of moving the file, "This is a backup of todo.md." for a backup, "John Doe" and
"john.doe@example.com" inserted in place of ``user.json``'s values, rows for David, Eve
and Frank after the three real ones of ``people.csv``, a ``America/New_York`` time zone no
file held. The system prompt already says never to make up data that a tool should
produce; a 1.5B model writes first anyway.

Measured on those 44 trajectories, the content of every write in the 21 runs that
passed was made of words from the task or from results the run had seen; in 5 of the
23 failed runs, half or more of a write's words were new. So a write (`is_write`)
whose content is mostly new words is skipped once a run (``CallVerdict(kind="skip")``):

- content is every string argument with a space or a line break in it (a file's text,
  an edit); a bare name or path is not content. In an SQL statement only the quoted
  literals are content (``'David'``), not the keywords, tables and columns;
- its words are runs of three or more letters, digits or underscores that start with a
  letter, in any case. Numbers do not count: a total or a count is computed, not read;
- a word is new when it is in neither the task nor the content of any observation of a
  call that succeeded (a failed call's error text is no source: an ENOENT message was
  once written as a file's content);
- the call is skipped when at least one word is new and new words are at least half of
  them. The model sees ``not run: ...`` naming up to five of the new words.

The host's ``create_tool`` is exempt: a new tool's source is composed, never read.
The same call made again runs, so a task that asks the model to compose text itself
("write a haiku about autumn") costs one step. The model is not told so: told that it
may repeat the call when the task asks it to compose the text, the 1.5B model took the
way out at once ("Read the task and the result, then compose the text yourself.") and
wrote "This is the content of report.md." in place of moving ``report.md`` (45fc7cd).

Off by default (``skip_ungrounded_writes: true`` turns it on): run again on the 5
benchmark tasks where it fires, it caught the made-up write each time, and the model
made the same call again; none passed, as before (`docs/policies.md`).

Numbers stay out on purpose. A decimal that no source held (``Alice,20.25`` written to
``totals.csv`` where the query never run would give 28.24) was tried as a second trigger
beside the worked run (``local?exemplar=on``, db07e5d): on the README's task it caught
the made-up totals, the model listed the tables and wrote the same numbers again; on the
6 benchmark tasks with decimals in their data it never fired. It was not kept.

Records: the host's ``PolicyRecord(policy="grounded_writes", event="skipped", data={"tool", "reason"})``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from nexthop._toolset import CREATE_TOOL_NAME, FINISH_TOOL, ToolDef, is_write
from nexthop._trajectory import Observation, ToolCall
from nexthop.policies._base import ALLOW, GO_ON, CallVerdict, RunPolicy, RunView, Verdict
from nexthop.policies._transient import argument_strings, classify, is_content

__all__ = ["GroundedWrites", "new_words"]

_WORD = re.compile(r"\b[A-Za-z]\w{2,}")
_SQL = re.compile(r"^\s*(?:insert|update|delete|replace|create|alter|drop|with|select)\b", re.IGNORECASE)
_SQL_LITERAL = re.compile(r"'((?:[^']|'')*)'")
_SHOWN = 5
# A new tool's source is composed, never read; finish writes nothing.
_EXEMPT = frozenset({FINISH_TOOL.name, CREATE_TOOL_NAME})
_REASON = (
    "this call writes {words}, which appear neither in the task nor in any result so far. Never make up data: "
    "read what the task refers to first, and write what you read."
)


def new_words(call: ToolCall, sources: Iterable[str]) -> tuple[list[str], int]:
    """The words of a call's content that no source holds, and how many words the content has.

    Args:
        call: The call; its content is every string argument with whitespace in it, and
            in an SQL statement only the quoted literals.
        sources: The texts the words may come from (the task, results that succeeded).

    Returns:
        (the new words, lower-cased, in order of first appearance; the number of distinct
        words of the content).
    """
    words = _content_words(call)
    seen = {w for source in sources for w in _words(source)}
    return [w for w in words if w not in seen], len(words)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _content_words(call: ToolCall) -> list[str]:
    """The distinct words of a call's content, lower-cased, in order of first appearance."""
    words: dict[str, None] = {}
    for text in filter(is_content, argument_strings(call.arguments)):
        for part in _SQL_LITERAL.findall(text) if _SQL.match(text) else [text]:
            words.update(dict.fromkeys(_words(part)))
    return list(words)


class GroundedWrites(RunPolicy):
    """Skips, once a run, a write whose content is mostly new words; see the module docstring."""

    name = "grounded_writes"

    def __init__(self) -> None:
        self._done = False  # one skip a run: the same call made again runs
        self._seen: set[str] | None = None  # words of the task and of every result that succeeded so far

    def check_call(self, view: RunView, call: ToolCall, tool: ToolDef) -> CallVerdict:
        """Skip a write whose content has new words, at least half of them; once a run."""
        if self._done or call.name in _EXEMPT or not is_write(tool):
            return ALLOW
        seen = self._sources(view)
        words = _content_words(call)
        new = [w for w in words if w not in seen]
        if not new or 2 * len(new) < len(words):
            return ALLOW
        self._done = True
        more = f" and {len(new) - _SHOWN} more" if len(new) > _SHOWN else ""
        shown = ", ".join(repr(w) for w in new[:_SHOWN]) + more
        return CallVerdict(kind="skip", reason=_REASON.format(words=shown))

    def after_step(self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation]) -> Verdict:
        if not self._done:  # results are read once each, as they come, not again at every write
            self._sources(view).update(w for o in observations if classify(o) == "ok" for w in _words(o.content))
        return GO_ON

    def _sources(self, view: RunView) -> set[str]:
        if self._seen is None:
            self._seen = set(_words(view.trajectory.task))
        return self._seen
