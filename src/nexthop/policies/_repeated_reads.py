"""Repeated reads: a closed-world read that succeeded is not run again unchanged while nothing has changed.

Read step by step in the task benchmark (nexthop at 1856c98, all 22 tools), a small model
often reads the very file it has just read, with its thought still the task text:
``read_text_file`` of ``lines.txt`` at steps 1, 2, 3, 5, 6 and 7 of a run that never
wrote ``reversed.txt``; the ``log.txt`` of another three times before it wrote anything.
Exact repeats of a read that had succeeded, with no write between, came in 5 of the 23
failed runs of that benchmark and in 1 of the 21 that passed (at its eighth step).

A read of a state nobody has changed returns what it returned before, so the repeat
adds nothing the model has not seen. This policy remembers each call that succeeded to a
tool its server marks read-only and closed-world (MCP annotations ``readOnlyHint: true``
and ``openWorldHint: false``: the result depends only on what the server manages, as for
the reference filesystem server's reads) by tool and canonical arguments. A later call
with the same tool and arguments is skipped (``CallVerdict(kind="skip")``) while no write
has succeeded since: the model sees ``not run: ...`` naming the step that holds the
result, as a failed call, and the tool sits out the next step (`KnownOutcomes`).

A tool without both claims is never skipped: a read of an open world (a web page, a
clock, a job's status) may return something new each time, and polling it is fair.

Off by default (``skip_repeated_reads: true`` turns it on): run again on the 5 benchmark
tasks where it fires, the same tasks failed as without it (`docs/policies.md`).

Records: as for every `KnownOutcomes` policy.
"""

from __future__ import annotations

from collections.abc import Sequence

from nexthop._toolset import ToolDef
from nexthop._trajectory import Observation, ToolCall
from nexthop.policies._base import CallVerdict, RunView
from nexthop.policies._loop_shapes import CallShape
from nexthop.policies._skips import KnownOutcomes
from nexthop.policies._transient import classify

__all__ = ["RepeatedReads", "closed_world_read"]

_REASON = (
    "this exact call already ran at step {step} and nothing has changed since, so it would return the same "
    "result, which step {step} shows. {tool} is not on offer for your next step: use what you have read and go "
    "on with the part of the task not done yet, or call finish if it is all done."
)


def closed_world_read(tool: ToolDef) -> bool:
    """Whether the tool's server claims it only reads the state it manages.

    MCP tool annotations (spec 2025-06-18, "Tool annotations"): ``readOnlyHint: true`` and
    ``openWorldHint: false``. The spec's default for ``openWorldHint`` is true, so a
    tool without the claim is taken to read an open world.
    """
    hints = tool.annotations or {}
    return hints.get("readOnlyHint") is True and hints.get("openWorldHint") is False


class RepeatedReads(KnownOutcomes):
    """Skips an exact repeat of a closed-world read that succeeded, until a write succeeds; see the module docstring."""

    name = "repeated_reads"

    def __init__(self) -> None:
        super().__init__()
        self._closed: set[str] = set()  # tools that are closed-world reads, noted at check_call

    def reason(self, step: int, outcome: str, tool: str) -> str:
        return _REASON.format(step=step, tool=tool)

    def check_call(self, view: RunView, call: ToolCall, tool: ToolDef) -> CallVerdict:
        if closed_world_read(tool):
            self._closed.add(call.name)
        return super().check_call(view, call, tool)

    def learn(self, step: int, pairs: Sequence[tuple[ToolCall, Observation]]) -> None:
        for call, obs in pairs:
            if classify(obs) != "ok":
                continue
            if self.writes.writes(call.name):
                self.known.clear()  # the state changed: a read may now return something new
            elif call.name in self._closed:
                self.known[CallShape.of(call.name, call.arguments).key] = (step, obs.content)
