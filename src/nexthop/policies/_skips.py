"""What the skipping policies share: an exact repeat of a call whose outcome is known is not run.

`KnownFailures` remembers calls that failed for good, `RepeatedWrites` writes that
succeeded; both skip an exact repeat (same tool, canonical arguments:
``CallShape.key``) with ``CallVerdict(kind="skip")``, and then leave the skipped call's
tool out of the next step's choices. A small model under a grammar that still offers a
call tends to make it again whatever it is told (the doom loop's withholding, measured
at stop 18). The tool is withheld only once the observation shows the skip: every
policy answers ``check_call``, and a stricter one may have denied the call instead.

Records: the host's ``skipped`` (``{"tool", "reason"}``) on the step of the skipped call,
and ``withheld`` (``{"tools", "step"}``) on the next step.
"""

from __future__ import annotations

from collections.abc import Sequence

from nexthop._toolset import FINISH_TOOL, ToolDef
from nexthop._trajectory import Observation, ToolCall
from nexthop.policies._base import ALLOW, GO_ON, CallVerdict, RunPolicy, RunView, ToolOffer, Verdict
from nexthop.policies._loop_shapes import CallShape
from nexthop.policies._transient import WriteTools

__all__ = ["KnownOutcomes"]


class KnownOutcomes(RunPolicy):
    """Skips an exact repeat of a call in ``known``; a subclass says what to remember (`learn`) and why (`reason`).

    Attributes:
        known: ``CallShape.key`` -> (step, the outcome's text) of each call to skip.
        writes: Whether each tool called writes (`is_write`), noted at ``check_call``.
    """

    def __init__(self) -> None:
        self.known: dict[str, tuple[int, str]] = {}
        self.writes = WriteTools()
        self._skipped: set[str] = set()  # call ids skipped this step
        self._withhold: tuple[int, str] | None = None  # (step, tool) after a skip

    def reason(self, step: int, outcome: str, tool: str) -> str:
        """Why a repeat of the call known from ``step``, with ``outcome``, is not run (shown after ``not run: ``)."""
        raise NotImplementedError

    def learn(self, step: int, pairs: Sequence[tuple[ToolCall, Observation]]) -> None:
        """Update ``known`` from the calls of ``step`` that ran (``finish`` and skipped calls left out)."""
        raise NotImplementedError

    def filter_tools(self, view: RunView, tools: Sequence[ToolDef]) -> ToolOffer:
        """Withhold, for one step, the tool whose call was just skipped."""
        if self._withhold is None or self._withhold[0] != view.step_index:
            return ToolOffer(tools=tuple(tools))
        return ToolOffer.withholding(tools, frozenset({self._withhold[1]}), self.name, view.step_index)

    def foresee(self, view: RunView, call: ToolCall) -> str | None:
        """The skip's reason when the call repeats one in ``known``."""
        known = self.known.get(CallShape.of(call.name, call.arguments).key)
        return None if known is None else self.reason(known[0], known[1], call.name)

    def check_call(self, view: RunView, call: ToolCall, tool: ToolDef) -> CallVerdict:
        """Skip the call when it repeats one in ``known``."""
        self.writes.note(call.name, tool)
        known = self.known.get(CallShape.of(call.name, call.arguments).key)
        if known is None:
            return ALLOW
        self._skipped.add(call.id)
        return CallVerdict(kind="skip", reason=self.reason(known[0], known[1], call.name))

    def after_step(self, view: RunView, calls: Sequence[ToolCall], observations: Sequence[Observation]) -> Verdict:
        ran: list[tuple[ToolCall, Observation]] = []
        for call, obs in zip(calls, observations, strict=False):
            if call.id in self._skipped:
                self._skipped.discard(call.id)
                if obs.skipped:  # not denied by a stricter policy instead
                    self._withhold = (view.step_index + 1, call.name)
            elif not obs.skipped and call.name != FINISH_TOOL.name:  # another policy's skip ran nothing either
                ran.append((call, obs))
        self.learn(view.step_index, ran)
        return GO_ON
