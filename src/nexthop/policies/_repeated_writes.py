"""Repeated writes: a write that succeeded is not run again unchanged while nothing else has changed.

Read step by step in the task benchmark (nexthop at 31c02b9, all 22 tools), a small model
that has done the work often makes the very same change again: the corrected ``INSERT``
of a note, run at step 2 and again at steps 3, 6, 7, 11 and 12, left six copies of the
row. A write is not a read: repeating it is not merely a wasted step, it changes the
state a second time (a row inserted twice, a line appended twice), and the doom loop
sees the repeat only after it has been made.

The same call on the same state does the same thing, so this policy remembers the
successful writes (`is_write`) of the latest step that changed anything, by tool and
canonical arguments. A later call with the same tool and arguments is skipped
(``CallVerdict(kind="skip")``) while no other write has succeeded since: the model sees
``not run: ...`` with the step and the result of the earlier call, and the tool sits out
the next step (`SkipThenWithhold`). Any other write that succeeds makes the repeat worth
running again (it may undo that write on purpose). Reads never count: they change nothing.

Records: the host's ``skipped`` (``{"tool", "reason"}``) on the step of the skipped call,
and ``withheld`` (``{"tools", "step"}``) on the next step.
"""

from __future__ import annotations

from collections.abc import Sequence

from nexthop._sanitize import one_line
from nexthop._toolset import FINISH_TOOL, ToolDef
from nexthop._trajectory import Observation, ToolCall
from nexthop.policies._base import ALLOW, GO_ON, CallVerdict, RunPolicy, RunView, ToolOffer, Verdict
from nexthop.policies._loop_shapes import CallShape
from nexthop.policies._skips import SkipThenWithhold
from nexthop.policies._transient import WriteTools, classify

__all__ = ["RepeatedWrites"]

_REASON = (
    "this exact call already succeeded at step {step} ({result}) and nothing has changed since, so running it "
    "again would make the same change twice. {tool} is not on offer for your next step: if the task is done, "
    "call finish; otherwise go on with the part not done yet."
)


class RepeatedWrites(RunPolicy):
    """Skips an exact repeat of a write that succeeded, until another write succeeds; see the module docstring."""

    name = "repeated_writes"

    def __init__(self) -> None:
        self._done: dict[str, tuple[int, str]] = {}  # CallShape.key -> (step, result) of the latest writes
        self._writes = WriteTools()
        self._skips = SkipThenWithhold(self.name)

    def filter_tools(self, view: RunView, tools: Sequence[ToolDef]) -> ToolOffer:
        """Leave out, for one step, the tool whose call was just skipped."""
        return self._skips.offer(view.step_index, tools)

    def check_call(self, view: RunView, call: ToolCall, tool: ToolDef) -> CallVerdict:
        """Skip the call when it repeats a write of the latest step that changed anything."""
        self._writes.note(call.name, tool)
        done = self._done.get(CallShape.of(call.name, call.arguments).key)
        if done is None:
            return ALLOW
        step, result = done
        return self._skips.skip(call, _REASON.format(step=step, result=one_line(result, 120), tool=call.name))

    def after_step(self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation]) -> Verdict:
        wrote: dict[str, tuple[int, str]] = {}
        for call, obs in zip(calls, observations, strict=False):
            if self._skips.seen(view.step_index, call, obs) or call.name == FINISH_TOOL.name:
                continue
            if self._writes.writes(call.name) and classify(obs) == "ok":
                wrote[CallShape.of(call.name, call.arguments).key] = (view.step_index, obs.content or "(empty)")
        if wrote:  # the state changed: only this step's writes are known to be done on it
            self._done = wrote
        return GO_ON
