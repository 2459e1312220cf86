"""Text replies: a model that answers in prose without a tool call is nudged once before its reply ends the run.

An API model may answer a step with text alone, neither calling a tool nor ``finish``.
Ending the run there (agentlib's rule) stops a model that was only thinking aloud, or
that wrote about tools instead of calling them (issue 13: 11 of 11 runs against a
server that dropped the tools). After PraisonAI's "no-tool turns" signal, the first
such reply gets a nudge, and only ``limit`` text replies in a row end the run, as
``completed`` with the last reply as the answer. The embedded model never replies in
text: its grammar forces a call.
"""

from __future__ import annotations

from collections.abc import Sequence

from nexthop._trajectory import Observation, PolicyRecord, ToolCall
from nexthop.policies._base import GO_ON, RunPolicy, RunView, Verdict

__all__ = ["NUDGE", "NoToolTurns"]

NUDGE = "You replied without calling a tool. Call a tool to go on, or call `finish` with your answer."
"""The hint a text reply gets while the run goes on."""


class NoToolTurns(RunPolicy):
    """Ends the run after ``limit`` text replies in a row, nudging the model after each earlier one.

    A reply is a text reply when the model called no tool at all (``finish`` is a tool).
    Each nudge is a hint (`NUDGE`) with ``PolicyRecord(policy="text_replies",
    event="nudge", data={"replies", "limit"})``; the stop is ``completed``, its detail
    says the run ended on text replies and its evidence is ``{"text_replies", "limit"}``.
    The loop takes the last reply as the result.

    Args:
        limit: Text replies in a row that end the run; 1 ends it at the first (agentlib's rule).

    Raises:
        ValueError: ``limit`` is below 1.
    """

    name = "text_replies"

    def __init__(self, limit: int = 2) -> None:
        if limit < 1:
            raise ValueError(f"text replies that end a run: need at least 1, got {limit}")
        self.limit = limit

    def after_step(self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation]) -> Verdict:
        """Nudge on a text reply, stop on the ``limit``-th in a row; say nothing when the model called a tool."""
        if calls:
            return GO_ON
        replies = 1 + _trailing_text_replies(view)
        if replies >= self.limit:
            times = "" if self.limit == 1 else f" {replies} times in a row"
            return Verdict(
                kind="stop",
                termination="completed",
                detail=f"the model replied without a tool call{times}; its reply is the answer",
                evidence={"text_replies": replies, "limit": self.limit},
            )
        record = PolicyRecord(policy=self.name, event="nudge", data={"replies": replies, "limit": self.limit})
        return Verdict(kind="hint", detail="nudged the model to call a tool or finish", hint=NUDGE, records=(record,))


def _trailing_text_replies(view: RunView) -> int:
    # Counted from the trajectory (the current step is not in it yet), so the policy holds no state.
    count = 0
    for step in reversed(view.trajectory.steps):
        if step.tool_calls:
            break
        count += 1
    return count
