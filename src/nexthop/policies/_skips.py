"""What the skipping policies share: a skipped call's tool sits out the next step.

A small model under a grammar that still offers a call tends to make it again whatever
it is told (the doom loop's withholding, measured at stop 18), so a policy that skips a
call (``CallVerdict(kind="skip")``) also leaves its tool out of the next step's offer.
It does so only once the observation shows the skip: every policy answers
``check_call``, and a stricter one may have denied the call instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from nexthop._toolset import ToolDef
from nexthop._trajectory import Observation, ToolCall
from nexthop.policies._base import CallVerdict, ToolOffer

__all__ = ["SkipThenWithhold"]


class SkipThenWithhold:
    """One run's skips of one policy, and the tool each leaves out of the next step."""

    def __init__(self, policy: str) -> None:
        self._policy = policy
        self._skipped: set[str] = set()  # call ids skipped this step
        self._withhold: tuple[int, str] | None = None  # (step, tool) after a skip

    def skip(self, call: ToolCall, reason: str) -> CallVerdict:
        """The verdict that skips ``call``; its tool is withheld once the skip is seen."""
        self._skipped.add(call.id)
        return CallVerdict(kind="skip", reason=reason)

    def seen(self, step: int, call: ToolCall, obs: Observation) -> bool:
        """Whether this policy skipped ``call`` (asked in ``after_step`` of ``step``); if so, withhold its tool next."""
        if call.id not in self._skipped:
            return False
        self._skipped.discard(call.id)
        if obs.skipped:
            self._withhold = (step + 1, call.name)
        return True

    def offer(self, step: int, tools: Sequence[ToolDef]) -> ToolOffer:
        """``tools`` for step ``step``, less the tool whose call was skipped the step before."""
        if self._withhold is None or self._withhold[0] != step:
            return ToolOffer(tools=tuple(tools))
        return ToolOffer.withholding(tools, frozenset({self._withhold[1]}), self._policy, step)
