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
the next step (`KnownOutcomes`). Any other write that succeeds makes the repeat worth
running again (it may undo that write on purpose). Reads never count: they change nothing.

Records: as for every `KnownOutcomes` policy.
"""

from __future__ import annotations

from collections.abc import Sequence

from nexthop._sanitize import one_line
from nexthop._trajectory import Observation, ToolCall
from nexthop.policies._base import RunView
from nexthop.policies._loop_shapes import CallShape
from nexthop.policies._skips import KnownOutcomes
from nexthop.policies._transient import classify

__all__ = ["RepeatedWrites"]

_REASON = (
    "this exact call already succeeded at step {step} ({result}) and nothing has changed since, so running it "
    "again would make the same change twice. {tool} is not on offer for your next step: if the task is done, "
    "call finish; otherwise go on with the part not done yet."
)


class RepeatedWrites(KnownOutcomes):
    """Skips an exact repeat of a write that succeeded, until another write succeeds; see the module docstring."""

    name = "repeated_writes"

    def reason(self, step: int, outcome: str, tool: str) -> str:
        return _REASON.format(step=step, result=one_line(outcome, 120), tool=tool)

    def foresee(self, view: RunView, call: ToolCall) -> str | None:
        """Never: a repeat of a write that succeeded is no reason to draw the action again.

        It is a sign that the work may be done, and the skip says so. A draw sampled
        there made another write instead: in the task benchmark's ``ms_merge_parts``
        the embedded model wrote ``full.txt`` right at step 4, repeated that write at
        step 7, and the redraw wrote both parts twice over (`benchmarks/tasks/results`).
        """
        return None

    def learn(self, step: int, pairs: Sequence[tuple[ToolCall, Observation]]) -> None:
        wrote = {
            CallShape.of(call.name, call.arguments).key: (step, obs.content or "(empty)")
            for call, obs in pairs
            if self.writes.writes(call.name) and classify(obs) == "ok"
        }
        if wrote:  # the state changed: only this step's writes are known to be done on it
            self.known = wrote
